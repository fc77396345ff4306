package copilot

import "sync"

// RingFrames is each stream's queue toward its service, per participant
// it carries: 1 s of 20 ms frames (docs/copilot.md §5).
const RingFrames = 50

// slot is one queued frame: a participant's 20 ms at the tap's rate.
type slot struct {
	idx     uint8
	seq     uint32
	tick    uint64 // the tap's tick: capture time is tick × 20 ms
	silence bool
	rate    int
	pcm     []int16 // rate/50 samples (unused when silence)
}

// ring is a bounded queue that drops its oldest frame when full, so that
// the media path (push) never waits for the service (pop).
type ring struct {
	mu      sync.Mutex
	s       []slot
	head, n int
	dropped uint64
	wake    chan struct{} // capacity 1: a frame is waiting
}

func newRing(n int) *ring { return &ring{s: make([]slot, n), wake: make(chan struct{}, 1)} }

// grow makes room for n frames (a participant joined the stream).
func (r *ring) grow(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n <= len(r.s) {
		return
	}
	s := make([]slot, n)
	for i := 0; i < r.n; i++ {
		s[i] = r.s[(r.head+i)%len(r.s)]
	}
	r.s, r.head = s, 0
}

// push copies one frame in; it reports whether an older frame was dropped
// to make room. pcm nil (or silence) queues a silence frame.
func (r *ring) push(idx uint8, seq uint32, tick uint64, rate int, pcm []int16, silence bool) bool {
	r.mu.Lock()
	dropped := false
	if r.n == len(r.s) {
		r.head = (r.head + 1) % len(r.s)
		r.n--
		r.dropped++
		dropped = true
	}
	sl := &r.s[(r.head+r.n)%len(r.s)]
	r.n++
	sl.idx, sl.seq, sl.tick, sl.rate, sl.silence = idx, seq, tick, rate, silence || pcm == nil
	if !sl.silence {
		if cap(sl.pcm) < len(pcm) {
			sl.pcm = make([]int16, len(pcm))
		}
		sl.pcm = sl.pcm[:len(pcm)]
		copy(sl.pcm, pcm)
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return dropped
}

// pop moves the oldest frame into dst (its PCM copied into dst's buffer).
func (r *ring) pop(dst *slot) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return false
	}
	sl := &r.s[r.head]
	r.head = (r.head + 1) % len(r.s)
	r.n--
	buf := dst.pcm
	*dst = *sl
	dst.pcm = buf
	if !sl.silence {
		if cap(dst.pcm) < len(sl.pcm) {
			dst.pcm = make([]int16, len(sl.pcm))
		}
		dst.pcm = dst.pcm[:len(sl.pcm)]
		copy(dst.pcm, sl.pcm)
	}
	return true
}

// len is the number of frames waiting.
func (r *ring) len() int { r.mu.Lock(); defer r.mu.Unlock(); return r.n }

// resample converts one frame between the tap's rate and a service's
// (8, 16, 24 or 48 kHz, integer ratios): linear interpolation up, a box
// average down. Speech analysers tolerate both; the call's own audio never
// passes here.
func resample(dst, src []int16, from, to int) []int16 {
	switch {
	case from == to:
		return append(dst[:0], src...)
	case to > from && to%from == 0:
		k := to / from
		dst = dst[:0]
		for i, v := range src {
			next := v
			if i+1 < len(src) {
				next = src[i+1]
			}
			for j := 0; j < k; j++ {
				dst = append(dst, int16((int(v)*(k-j)+int(next)*j)/k))
			}
		}
		return dst
	case from > to && from%to == 0:
		k := from / to
		dst = dst[:0]
		for i := 0; i+k <= len(src); i += k {
			sum := 0
			for _, v := range src[i : i+k] {
				sum += int(v)
			}
			dst = append(dst, int16(sum/k))
		}
		return dst
	}
	// not an integer ratio (a mixer at 24 kHz toward 16 kHz): nearest sample
	n := len(src) * to / from
	dst = dst[:0]
	for i := 0; i < n; i++ {
		dst = append(dst, src[i*from/to])
	}
	return dst
}
