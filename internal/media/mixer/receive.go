package mixer

import "github.com/split-hub/split/internal/media"

// pull fills p.rx.pcm with this tick's 20 ms at the mixing rate: decoded or
// concealed packets from the jitter buffer, or silence (active false).
//
// Packets need not be 20 ms long: decoded samples queue in a FIFO, and the
// jitter buffer is popped only while the FIFO holds less than a frame, so
// a phone's 30 ms packets are popped twice every three ticks and 10 ms
// packets twice a tick. (The jitter buffer's depth counts packets, so its
// delay is JitterFrames times the packet duration.)
func (p *participant) pull(m *Mixer) {
	r := &p.rx
	frame := m.f.frame
	r.active, p.mx.keyed, p.tx.encoded = false, false, 0
	for r.fifoN < frame {
		payload, ok, lost := p.in.jb.Pop()
		switch {
		case ok:
			p.decode(m, payload)
		case lost:
			p.conceal(m)
		default:
			if r.fifoN == 0 {
				return // silence: nothing buffered (not started, underrun, source stopped)
			}
			// Underrun mid-frame: play what there is, padded with silence.
			copy(r.pcm, r.fifo[:r.fifoN])
			clear(r.pcm[r.fifoN:])
			r.fifoN = 0
			r.active = true
			return
		}
	}
	copy(r.pcm, r.fifo[:frame])
	r.fifoN = copy(r.fifo, r.fifo[frame:r.fifoN])
	r.active = true
}

// decode appends one tagged payload (see input) to the FIFO.
func (p *participant) decode(m *Mixer, tagged []byte) {
	r := &p.rx
	if len(tagged) < 2 {
		p.c.errors.Add(1)
		return
	}
	k, payload := kind(tagged[0]), tagged[1:]
	room := r.fifo[r.fifoN:]
	switch k {
	case kindPCMU, kindPCMA:
		if k != r.lastKind && r.ups != nil {
			r.ups.reset()
		}
		n := len(payload)
		if n*m.f.up > len(room) {
			p.c.dropped.Add(1)
			return
		}
		dst := room
		if r.ups != nil {
			dst = r.g711
		}
		if k == kindPCMU {
			media.DecodeUlaw(dst[:n], payload)
		} else {
			media.DecodeAlaw(dst[:n], payload)
		}
		if r.ups != nil {
			n = r.ups.process(dst[:n], room)
		}
		r.fifoN += n
		r.lastDur = n
	case kindOpus:
		if r.dec == nil {
			dec, err := media.NewOpusDecoder(m.f.rate) // first Opus packet of a non-Opus sender
			if err != nil {
				p.c.errors.Add(1)
				return
			}
			r.dec = dec
		}
		ns, err := media.OpusPacketSamples(payload, m.f.rate)
		if err != nil || ns > len(room) {
			p.c.dropped.Add(1)
			return
		}
		n, err := r.dec.Decode(payload, room[:ns])
		if err != nil {
			p.c.errors.Add(1)
			return
		}
		r.fifoN += n
		r.lastDur = n
	default:
		p.c.errors.Add(1)
		return
	}
	r.lastKind = k
}

// conceal appends one lost packet's worth of audio to the FIFO: the Opus
// decoder's concealment, or silence for G.711 (fed through the upsampler so
// its history stays continuous).
func (p *participant) conceal(m *Mixer) {
	r := &p.rx
	p.c.concealed.Add(1)
	n := r.lastDur
	if n <= 0 || n > m.f.maxChunk {
		n = m.f.frame
	}
	room := r.fifo[r.fifoN:]
	if r.lastKind == kindOpus && r.dec != nil {
		if got, err := r.dec.DecodePLC(room[:n]); err == nil {
			r.fifoN += got
			return
		}
		p.c.errors.Add(1)
	}
	if r.ups != nil && r.lastKind != kindOpus {
		z := r.g711[:n/m.f.up]
		clear(z)
		r.fifoN += r.ups.process(z, room)
		return
	}
	clear(room[:n])
	r.fifoN += n
}
