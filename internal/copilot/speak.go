package copilot

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
)

// maxSpeak bounds what a service may queue to be spoken: 30 s.
const maxSpeak = 1500

var pcmu = leg.Codec{PT: 0, Name: "PCMU", Clock: 8000, Channels: 1}

// speaker plays what a service says into the session's mixer, paced at
// one 20 ms frame per tick, as a leg's received RTP (the AI leg's track).
type speaker struct {
	a     *Attachment
	track *leg.Track

	mu      sync.Mutex
	q       []speakItem
	partial []int16 // 8 kHz samples short of a frame
	dropped atomic.Uint64
	played  atomic.Uint64
}

type speakItem struct {
	pcm  [160]int16
	mark string
	to   *stream // mark: the socket to tell
}

// discard is the AI leg's send side: what the mixer would play to the AI
// (it hears nobody) goes nowhere.
type discard struct{}

func (discard) WriteRTP([]byte) error { return nil }

func newSpeaker(a *Attachment) *speaker {
	t := leg.NewTrack("audio", pcmu, leg.Codec{}, discard{})
	t.SetRecv([]leg.Codec{pcmu})
	return &speaker{a: a, track: t}
}

// push queues audio at rate (8000 or 16000), cut into 20 ms frames.
func (s *speaker) push(pcm []int16, rate int) {
	if rate != 8000 {
		pcm = resample(nil, pcm, rate, 8000)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, pcm...)
	for len(s.partial) >= 160 {
		if len(s.q) >= maxSpeak {
			s.dropped.Add(160)
		} else {
			var it speakItem
			copy(it.pcm[:], s.partial[:160])
			s.q = append(s.q, it)
		}
		s.partial = s.partial[160:]
	}
	s.partial = append([]int16(nil), s.partial...)
}

// mark queues a marker: the service is told when it is reached.
func (s *speaker) mark(name string, to *stream) {
	s.mu.Lock()
	s.q = append(s.q, speakItem{mark: name, to: to})
	s.mu.Unlock()
}

// clear drops everything queued (its marks are never echoed, as Twilio's
// clear does).
func (s *speaker) clear() {
	s.mu.Lock()
	s.q, s.partial = nil, nil
	s.mu.Unlock()
}

// run plays one frame every 20 ms until the attachment closes.
func (s *speaker) run() {
	t := time.NewTicker(FrameDuration)
	defer t.Stop()
	pkt := make([]byte, media.RTPHeaderSize+160)
	seq, ts, ssrc := uint16(rand.Uint32()), rand.Uint32(), rand.Uint32()
	marker := true
	for {
		select {
		case <-s.a.ctx.Done():
			return
		case <-t.C:
		}
		var it speakItem
		var marks []speakItem
		ok := false
		s.mu.Lock()
		for len(s.q) > 0 {
			it, s.q = s.q[0], s.q[1:]
			if it.to != nil {
				marks = append(marks, it)
				continue
			}
			ok = true
			break
		}
		if len(s.q) == 0 {
			s.q = nil
		}
		s.mu.Unlock()
		for _, m := range marks {
			m.to.markPlayed(m.mark)
		}
		ts += 160
		if !ok {
			marker = true
			continue
		}
		pkt[0], pkt[1] = 0x80, 0
		if marker {
			pkt[1] |= 0x80
			marker = false
		}
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], ts)
		binary.BigEndian.PutUint32(pkt[8:], ssrc)
		media.EncodeUlaw(pkt[media.RTPHeaderSize:], it.pcm[:])
		_ = s.track.Deliver(pkt)
		s.played.Add(1)
	}
}
