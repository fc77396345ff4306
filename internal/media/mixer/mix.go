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
	if needTotal {
		clear(m.total)
		for _, s := range ps {
			if s.active && !s.muted {
				addPCM(m.total, s.pcm)
			}
		}
	}
	// Listeners who hear the same set of active speakers get the same mix;
	// the set is a bitmask of participant indexes, so sharing stops above
	// 64 participants (each then mixes on its own).
	keyed := len(ps) <= 64
	for i, l := range ps {
		if l.refreshSend(m) != nil || !l.sendOK {
			continue
		}
		var share *participant
		if keyed {
			var key uint64
			for _, s := range l.heard {
				if ps[s].active {
					key |= 1 << uint(s)
				}
			}
			l.key, l.keyed = key, true
			for _, o := range ps[:i] {
				if o.keyed && o.key == key {
					share = o
					break
				}
			}
		}
		if share != nil {
			l.owner = share.owner
		} else {
			l.owner = l
			l.mixFor(m, ps)
		}
		l.send(m, share)
	}
}

// mixFor computes l's mix into l.mix and l.mix16: the total minus the
// speakers l does not hear, or the sum of those it hears, whichever takes
// fewer frames.
func (l *participant) mixFor(m *Mixer, ps []*participant) {
	if len(l.excl) < len(l.heard) {
		copy(l.mix, m.total)
		for _, s := range l.excl {
			if sp := ps[s]; sp.active {
				subPCM(l.mix, sp.pcm)
			}
		}
	} else {
		clear(l.mix)
		for _, s := range l.heard {
			if sp := ps[s]; sp.active {
				addPCM(l.mix, sp.pcm)
			}
		}
	}
	saturate(l.mix16, l.mix)
}

// send encodes l's mix in its codec and writes one RTP packet to its track.
// share is an earlier listener with the same mix this tick, if any: at
// 8 kHz a G.711 listener with the same codec copies its payload.
func (l *participant) send(m *Mixer, share *participant) {
	out := l.pkt[media.RTPHeaderSize:]
	spf := uint32(160)
	var n int
	switch {
	case l.sendK == kindOpus:
		spf = 960
		var err error
		if n, err = l.enc.Encode(l.owner.mix16, out); err != nil {
			n = 0
		}
	case share != nil && m.up == 1 && share.sendK == l.sendK && share.encoded > 0:
		n = copy(out, share.pkt[media.RTPHeaderSize:media.RTPHeaderSize+share.encoded])
	default:
		pcm := l.owner.mix16
		if l.dcm != nil {
			pcm = l.pcm8[:l.dcm.process(l.owner.mix, l.pcm8)]
		}
		if l.sendK == kindPCMU {
			n = media.EncodeUlaw(out[:len(pcm)], pcm)
		} else {
			n = media.EncodeAlaw(out[:len(pcm)], pcm)
		}
	}
	ts := l.ts
	l.ts += spf // a frame that fails to encode shows up as one lost packet
	l.encoded = n
	if n == 0 || l.t.In == nil {
		l.c.errors.Add(1)
		return
	}
	b := l.pkt[:media.RTPHeaderSize+n]
	b[0] = 0x80
	b[1] = l.sendPT
	if l.marker {
		b[1] |= 0x80
		l.marker = false
	}
	l.seq++
	binary.BigEndian.PutUint16(b[2:], l.seq)
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
