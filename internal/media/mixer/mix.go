package mixer

import (
	"encoding/binary"
	"math"

	"github.com/split-hub/split/internal/media"
)

// tick produces one 20 ms frame for every participant: pull a frame from
// each, mix per listener and send. It runs under mu, so membership and
// settings cannot change during a tick and nothing is sent to a
// participant after Remove returns. It does not allocate, except when a
// participant's codec changes.
func (m *Mixer) tick() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	ps := m.parts
	needTotal := false
	for _, p := range ps {
		p.pull(m)
		needTotal = needTotal || len(p.excl) < len(p.heard)
	}
	if m.tap != nil {
		m.tapped = m.tapped[:0]
		for _, p := range ps {
			m.tapped = append(m.tapped, TapFrame{ID: p.id, PCM: p.rx.pcm, Active: p.rx.active && !p.muted})
		}
		m.tap(m.f.rate, m.tapped)
	}
	if needTotal {
		clear(m.total)
		for _, s := range ps {
			if s.rx.active && !s.muted {
				addPCM(m.total, s.rx.pcm)
			}
		}
	}
	// Listeners who hear the same set of active speakers get the same mix;
	// the set is a bitmask of participant indexes, so sharing stops above
	// 64 participants (each then mixes on its own).
	keyed := len(ps) <= 64
	for i, l := range ps {
		if l.refreshSend(m) != nil || !l.tx.ok || l.holdBack(ps) {
			continue
		}
		var share *participant
		if keyed {
			var key uint64
			for _, s := range l.heard {
				if ps[s].rx.active {
					key |= 1 << uint(s)
				}
			}
			l.mx.key, l.mx.keyed = key, true
			for _, o := range ps[:i] { // prefer one in the same codec (its payload can be shared too)
				if o.mx.keyed && o.mx.key == key {
					if share == nil || o.tx.kind == l.tx.kind {
						share = o
					}
					if o.tx.kind == l.tx.kind {
						break
					}
				}
			}
		}
		if share != nil {
			l.mx.owner = share.mx.owner
		} else {
			l.mx.owner = l
			l.mixFor(m, ps)
		}
		l.send(m, share)
	}
}

// leadingSilence is how long a new listener may wait for its first audio.
// A mix that replaces a two-party bridge (a third party joins, a voice
// moves to another device) starts with empty jitter buffers; sending the
// silence of those first ticks would put a hole in what the listener was
// hearing, while sending nothing lets its receiver conceal the pause. After
// leadingSilence ticks silence is sent anyway, so that a far end's RTP
// timeout never fires on a listener whose speakers are all quiet.
const leadingSilence = 10 // ticks (200 ms)

// holdBack reports whether l's first packet should wait: none of its
// speakers has produced audio yet, and it has not waited leadingSilence
// ticks.
func (l *participant) holdBack(ps []*participant) bool {
	if l.tx.started {
		return false
	}
	for _, s := range l.heard {
		if ps[s].rx.active {
			l.tx.started = true
			return false
		}
	}
	if l.tx.waited++; l.tx.waited > leadingSilence {
		l.tx.started = true
		return false
	}
	l.c.heldBack.Add(1)
	return true
}

// mixFor computes l's mix into l.mx.mix and l.mx.mix16: the total minus
// the speakers l does not hear, or the sum of those it hears, whichever
// takes fewer frames.
func (l *participant) mixFor(m *Mixer, ps []*participant) {
	mix := l.mx.mix
	if len(l.excl) < len(l.heard) {
		copy(mix, m.total)
		for _, s := range l.excl {
			if sp := ps[s]; sp.rx.active {
				subPCM(mix, sp.rx.pcm)
			}
		}
	} else {
		clear(mix)
		for _, s := range l.heard {
			if sp := ps[s]; sp.rx.active {
				addPCM(mix, sp.rx.pcm)
			}
		}
	}
	saturate(l.mx.mix16, mix)
}

// refreshSend follows a change of the track's send format (re-INVITE),
// creating an Opus encoder when needed. It allocates only on a change.
func (p *participant) refreshSend(m *Mixer) error {
	tx := &p.tx
	g := p.t.Gen()
	if g == tx.gen {
		return nil
	}
	tx.gen = g
	c := p.t.Send()
	k := codecKind(c)
	if k == tx.kind && c.PT&0x7F == tx.pt && tx.ok {
		return nil
	}
	tx.ok = false
	switch k {
	case kindPCMU, kindPCMA:
	case kindOpus:
		if tx.enc == nil {
			enc, err := media.NewOpusEncoderComplexity(m.f.rate, m.f.opusRate, m.opts.Transcode.OpusComplexity)
			if err != nil {
				p.c.errors.Add(1)
				m.log.Warn("mixer: opus encoder", "participant", p.id, "err", err)
				return err
			}
			tx.enc = enc
		}
	default:
		p.c.errors.Add(1)
		m.log.Warn("mixer: participant sends an unsupported codec; not sending to it", "participant", p.id, "codec", c.Name, "clock", c.Clock)
		return media.ErrUnsupportedCodec
	}
	if tx.kind != kindNone && tx.kind != k {
		m.log.Info("mixer: participant codec changed", "participant", p.id, "from", tx.kind.String(), "to", k.String())
	}
	tx.kind, tx.pt, tx.ok = k, c.PT&0x7F, true
	tx.marker = true
	return nil
}

// send encodes l's mix in its codec and writes one RTP packet to its track.
// share is an earlier listener with the same mix this tick, if any: at
// 8 kHz a G.711 listener with the same codec copies its payload.
func (l *participant) send(m *Mixer, share *participant) {
	tx, own := &l.tx, &l.mx.owner.mx
	out := tx.pkt[media.RTPHeaderSize:]
	spf := uint32(160)
	var n int
	switch {
	case tx.kind == kindOpus:
		spf = 960
		var err error
		if n, err = tx.enc.Encode(own.mix16, out); err != nil {
			n = 0
		}
	case share != nil && m.f.up == 1 && share.tx.kind == tx.kind && share.tx.encoded > 0:
		n = copy(out, share.tx.pkt[media.RTPHeaderSize:media.RTPHeaderSize+share.tx.encoded])
	default:
		pcm := own.mix16
		if tx.dcm != nil {
			pcm = tx.pcm8[:tx.dcm.process(own.mix, tx.pcm8)]
		}
		if tx.kind == kindPCMU {
			n = media.EncodeUlaw(out[:len(pcm)], pcm)
		} else {
			n = media.EncodeAlaw(out[:len(pcm)], pcm)
		}
	}
	ts := tx.ts
	tx.ts += spf // a frame that fails to encode shows up as one lost packet
	tx.encoded = n
	if n == 0 || l.t.In == nil {
		l.c.errors.Add(1)
		return
	}
	b := tx.pkt[:media.RTPHeaderSize+n]
	b[0] = 0x80
	b[1] = tx.pt
	if tx.marker {
		b[1] |= 0x80
		tx.marker = false
	}
	tx.seq++
	binary.BigEndian.PutUint16(b[2:], tx.seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], 0) // the leg sets its SSRC
	if err := l.t.In.WriteRTP(b); err != nil {
		l.c.errors.Add(1)
		return
	}
	l.c.out.Add(1)
}

func addPCM(dst []int32, src []int16) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += int32(v)
	}
}

func subPCM(dst []int32, src []int16) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] -= int32(v)
	}
}

// saturate clamps the int32 mix to int16.
func saturate(dst []int16, src []int32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = int16(min(max(v, math.MinInt16), math.MaxInt16))
	}
}
