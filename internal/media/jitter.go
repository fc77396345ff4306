package media

import (
	"fmt"
	"sync"
)

// JitterConfig configures a JitterBuffer. Zero fields take the defaults
// noted below; sizes are in packets, i.e. 20 ms frames on the SPLIT media
// path.
type JitterConfig struct {
	// Capacity is the number of packet slots (default 64, rounded up to a
	// power of two; at most 4096).
	Capacity int
	// MaxPayload is the largest payload a slot holds, in bytes (default 1500).
	// Larger payloads are dropped and counted as TooLarge.
	MaxPayload int
	// TargetDelay is the playout delay in frames: Pop starts returning
	// packets once the buffered packets span this many frames (default 3).
	TargetDelay int
	// MaxDelay bounds the delay: when a Push makes the buffer span more
	// than MaxDelay frames, the oldest packets are dropped (counted as
	// Overflow) until it spans TargetDelay again. Default 2*TargetDelay+4,
	// capped at Capacity-1; must be >= TargetDelay and < Capacity.
	MaxDelay int
	// ResetJump is the sequence distance (either direction) from the next
	// expected packet at which a packet is taken as the start of a new stream
	// and the buffer is flushed (default 100; must exceed MaxDelay). Ten
	// consecutive late packets also reset the buffer.
	ResetJump int
	// MaxTSJump, if non-zero, also resets the buffer when a packet's RTP
	// timestamp differs from the newest packet's by more than this many clock
	// ticks (wrap-safe), which catches a new stream whose sequence numbers
	// happen to continue. Choose well above any silence (DTX) gap, e.g.
	// 30 s of the codec clock. Default 0 (off).
	MaxTSJump uint32
}

// JitterStats counts what a JitterBuffer did with its packets.
type JitterStats struct {
	Pushed    uint64 // Push calls
	Popped    uint64 // packets returned by Pop
	Late      uint64 // dropped: arrived after their playout time
	Duplicate uint64 // dropped: already buffered or already played
	Lost      uint64 // never arrived: reported by Pop as lost, or skipped
	Overflow  uint64 // dropped: buffer exceeded MaxDelay
	TooLarge  uint64 // dropped: payload larger than MaxPayload
	Underrun  uint64 // Pop found the buffer empty while playing
	Resets    uint64 // new stream detected, or Reset called
}

// PushResult says what Push did with a packet.
type PushResult uint8

// Push results.
const (
	PushOK        PushResult = iota // buffered
	PushReset                       // buffered as the first packet of a new stream
	PushLate                        // dropped: too late
	PushDuplicate                   // dropped: duplicate
	PushTooLarge                    // dropped: payload larger than MaxPayload
)

func (r PushResult) String() string {
	switch r {
	case PushOK:
		return "ok"
	case PushReset:
		return "reset"
	case PushLate:
		return "late"
	case PushDuplicate:
		return "duplicate"
	case PushTooLarge:
		return "too-large"
	}
	return fmt.Sprintf("PushResult(%d)", uint8(r))
}

const jitterMaxConsecutiveLate = 10

type jitterSlot struct {
	buf    []byte
	n      int
	ts     uint32
	seq    uint16
	full   bool // holds an unplayed packet
	played bool // held seq and was returned by Pop
}

// JitterBuffer reorders the packets of one RTP stream and releases them at a
// fixed delay, one per Pop, for the transcode and mix paths.
//
// It is clock-free: Push is called for each received packet and Pop once per
// 20 ms tick of the caller's clock. Sequence numbers are compared modulo
// 2^16 and timestamps modulo 2^32, so wrap-around is transparent. Payloads
// are copied into preallocated slots, so neither call allocates.
//
// Pop returns one of:
//   - payload, ok=true: the next packet in sequence;
//   - lost=true: the next packet is missing but later ones are buffered;
//     the caller conceals one frame (Transcoder.Conceal, Opus PLC);
//   - neither: nothing to play (still buffering, or underrun); the caller
//     plays nothing or comfort noise. Playout resumes after TargetDelay
//     frames are buffered again.
//
// A JitterBuffer is safe for one goroutine calling Push and another calling
// Pop (it holds a mutex for each call).
type JitterBuffer struct {
	mu    sync.Mutex
	cfg   JitterConfig
	slots []jitterSlot
	mask  uint16
	out   []byte

	started bool // next/high are valid
	playing bool // playout running
	rewind  bool // playout never started for this stream: early packets may move next back
	next    uint16
	high    uint16
	highTS  uint32
	count   int
	lateRun int
	lastSeq uint16
	lastTS  uint32
	stats   JitterStats
}

// NewJitterBuffer returns an empty buffer configured by cfg.
func NewJitterBuffer(cfg JitterConfig) (*JitterBuffer, error) {
	if cfg.Capacity == 0 {
		cfg.Capacity = 64
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = 1500
	}
	if cfg.TargetDelay == 0 {
		cfg.TargetDelay = 3
	}
	if cfg.Capacity < 2 || cfg.Capacity > 4096 || cfg.MaxPayload < 0 || cfg.TargetDelay < 1 {
		return nil, fmt.Errorf("%w: jitter capacity %d, max payload %d, target delay %d", ErrInvalidArgument, cfg.Capacity, cfg.MaxPayload, cfg.TargetDelay)
	}
	c := 2
	for c < cfg.Capacity {
		c <<= 1
	}
	cfg.Capacity = c
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = min(2*cfg.TargetDelay+4, cfg.Capacity-1)
	}
	if cfg.ResetJump == 0 {
		cfg.ResetJump = max(100, cfg.MaxDelay+1)
	}
	if cfg.MaxDelay < cfg.TargetDelay || cfg.MaxDelay >= cfg.Capacity || cfg.ResetJump <= cfg.MaxDelay || cfg.ResetJump > 32767 {
		return nil, fmt.Errorf("%w: jitter target %d, max delay %d, capacity %d, reset jump %d", ErrInvalidArgument, cfg.TargetDelay, cfg.MaxDelay, cfg.Capacity, cfg.ResetJump)
	}
	j := &JitterBuffer{cfg: cfg, slots: make([]jitterSlot, cfg.Capacity), mask: uint16(cfg.Capacity - 1), out: make([]byte, cfg.MaxPayload)}
	backing := make([]byte, cfg.Capacity*cfg.MaxPayload)
	for i := range j.slots {
		j.slots[i].buf = backing[i*cfg.MaxPayload : (i+1)*cfg.MaxPayload : (i+1)*cfg.MaxPayload]
	}
	return j, nil
}

// Config returns the effective configuration (defaults filled in).
func (j *JitterBuffer) Config() JitterConfig { return j.cfg }

// SeqDiff returns a-b as a signed distance modulo 2^16: positive when a is
// after b (RFC 3550 sequence number arithmetic).
func SeqDiff(a, b uint16) int { return int(int16(a - b)) }

// TSDiff returns a-b as a signed distance modulo 2^32: positive when a is
// after b.
func TSDiff(a, b uint32) int64 { return int64(int32(a - b)) }

// Push buffers one packet, copying payload into a slot. It returns what it
// did; drops are also counted in Stats.
func (j *JitterBuffer) Push(seq uint16, ts uint32, payload []byte) PushResult {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stats.Pushed++
	if len(payload) > j.cfg.MaxPayload {
		j.stats.TooLarge++
		return PushTooLarge
	}
	if !j.started {
		j.startStream(seq, ts)
		j.store(seq, ts, payload)
		return PushOK
	}
	d := SeqDiff(seq, j.next)
	tsJump := j.cfg.MaxTSJump != 0 && uint64(abs64(TSDiff(ts, j.highTS))) > uint64(j.cfg.MaxTSJump)
	if d > j.cfg.ResetJump || d < -j.cfg.ResetJump || tsJump {
		return j.resetWith(seq, ts, payload)
	}
	if d < 0 {
		// Before the playout point. Before playout starts, a reordered
		// early packet just moves the start back, if the window allows.
		if j.rewind && SeqDiff(j.high, seq) < j.cfg.MaxDelay {
			j.next = seq
			j.lateRun = 0
			j.store(seq, ts, payload)
			return PushOK
		}
		s := &j.slots[seq&j.mask]
		if s.played && s.seq == seq {
			j.stats.Duplicate++
			return PushDuplicate
		}
		j.lateRun++
		if j.lateRun >= jitterMaxConsecutiveLate {
			return j.resetWith(seq, ts, payload)
		}
		j.stats.Late++
		return PushLate
	}
	j.lateRun = 0
	if s := &j.slots[seq&j.mask]; s.full && s.seq == seq {
		j.stats.Duplicate++
		return PushDuplicate
	}
	newHigh := j.high
	if SeqDiff(seq, j.high) > 0 {
		newHigh = seq
	}
	if span := SeqDiff(newHigh, j.next) + 1; span > j.cfg.MaxDelay {
		// Too deep (burst or sender clock drift): drop the oldest so the
		// buffer spans TargetDelay frames ending at newHigh.
		j.skipTo(newHigh-uint16(j.cfg.TargetDelay)+1, &j.stats.Overflow)
		if SeqDiff(seq, j.next) < 0 { // the packet itself fell out
			j.stats.Overflow++
			return PushOK
		}
	}
	j.store(seq, ts, payload)
	return PushOK
}

// Pop returns the packet due at this tick; see JitterBuffer for the three
// outcomes. payload aliases an internal buffer valid until the next Pop.
func (j *JitterBuffer) Pop() (payload []byte, ok bool, lost bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.started || j.count == 0 {
		if j.playing {
			j.stats.Underrun++
			j.playing = false
		}
		return nil, false, false
	}
	if !j.playing {
		// Start at the oldest buffered packet once enough is buffered.
		j.skipTo(j.oldest(), &j.stats.Lost)
		if SeqDiff(j.high, j.next)+1 < j.cfg.TargetDelay {
			return nil, false, false
		}
		j.playing, j.rewind = true, false
	}
	s := &j.slots[j.next&j.mask]
	if !s.full || s.seq != j.next {
		j.stats.Lost++
		j.next++
		return nil, false, true
	}
	n := copy(j.out, s.buf[:s.n])
	s.full, s.played = false, true
	j.count--
	j.lastSeq, j.lastTS = s.seq, s.ts
	j.next++
	j.stats.Popped++
	return j.out[:n], true, false
}

// LastPopped returns the sequence number and timestamp of the packet most
// recently returned by Pop.
func (j *JitterBuffer) LastPopped() (seq uint16, ts uint32) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastSeq, j.lastTS
}

// Len returns the number of buffered packets.
func (j *JitterBuffer) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.count
}

// Stats returns a snapshot of the counters.
func (j *JitterBuffer) Stats() JitterStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.stats
}

// Reset flushes the buffer; the next Push starts a new stream. Call it when
// the source's SSRC changes.
func (j *JitterBuffer) Reset() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.flush()
	j.stats.Resets++
}

func (j *JitterBuffer) resetWith(seq uint16, ts uint32, payload []byte) PushResult {
	j.flush()
	j.stats.Resets++
	j.startStream(seq, ts)
	j.store(seq, ts, payload)
	return PushReset
}

func (j *JitterBuffer) flush() {
	for i := range j.slots {
		j.slots[i].full, j.slots[i].played = false, false
	}
	j.count, j.lateRun = 0, 0
	j.started, j.playing = false, false
}

func (j *JitterBuffer) startStream(seq uint16, ts uint32) {
	j.started, j.rewind = true, true
	j.next, j.high, j.highTS = seq, seq, ts
}

func (j *JitterBuffer) store(seq uint16, ts uint32, payload []byte) {
	s := &j.slots[seq&j.mask]
	s.n = copy(s.buf, payload)
	s.seq, s.ts, s.full, s.played = seq, ts, true, false
	j.count++
	if SeqDiff(seq, j.high) >= 0 {
		j.high, j.highTS = seq, ts
	}
}

// skipTo advances the playout point to seq, counting dropped buffered
// packets in *dropped and missing ones as Lost.
func (j *JitterBuffer) skipTo(seq uint16, dropped *uint64) {
	for SeqDiff(seq, j.next) > 0 {
		s := &j.slots[j.next&j.mask]
		if s.full && s.seq == j.next {
			s.full = false
			j.count--
			*dropped++
		} else {
			j.stats.Lost++
		}
		j.next++
	}
}

// oldest returns the sequence number of the oldest buffered packet
// (count must be > 0).
func (j *JitterBuffer) oldest() uint16 {
	seq := j.next
	for range j.slots {
		if s := &j.slots[seq&j.mask]; s.full && s.seq == seq {
			return seq
		}
		seq++
	}
	return j.next
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
