package mixer

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
)

// Frame is the mixer's tick and packet duration.
const Frame = 20 * time.Millisecond

// Limits of Options.
const (
	// DefaultRate is the mixing rate when Options.Rate is 0 (G.711-native).
	DefaultRate = 8000
	// DefaultJitterFrames is the jitter buffer depth when Options.JitterFrames is 0.
	DefaultJitterFrames = 3
	// MaxJitterFrames is the deepest jitter buffer Options.JitterFrames allows.
	MaxJitterFrames = 13
)

// Defaults for the Opus encoders when Options.Transcode.OpusBitrate is 0.
const (
	opusBitrateNarrow = media.TranscodeOpusBitrate // Rate 8000
	opusBitrateWide   = 32000                      // Rate above 8000
)

// Options configure a Mixer.
type Options struct {
	// Rate is the internal mixing rate in Hz: 8000 (0 means 8000; G.711
	// participants need no resampling, Opus ones are narrowband), 16000,
	// 24000 or 48000 (wideband/fullband Opus; G.711 is resampled).
	Rate int
	// Transcode tunes the Opus encoders. OpusBitrate 0 means 24 kbit/s at
	// Rate 8000 and 32 kbit/s above.
	Transcode media.TranscodeOptions
	// JitterFrames is each participant's jitter buffer depth in packets
	// (20 ms frames on the SPLIT media path): 0 means DefaultJitterFrames,
	// 1..MaxJitterFrames are allowed.
	JitterFrames int
	// Logger gets participant and codec changes (nothing per packet);
	// nil means slog.Default().
	Logger *slog.Logger

	manualTick bool // tests call tick themselves; no goroutine
}

// Counters of one participant, as returned by Mixer.Counters.
type Counters struct {
	In        uint64 // audio packets received and buffered
	Out       uint64 // packets sent to the participant
	Concealed uint64 // lost packets concealed (Opus PLC, or silence)
	Ignored   uint64 // telephone-event, comfort noise, red/rtx packets: not audio
	Dropped   uint64 // malformed, unknown payload type, too large, late, duplicate or overflow
	Errors    uint64 // decode, encode or send failures
	HeldBack  uint64 // ticks at the start with nothing sent: no speaker had audio yet (at most 10)
}

// Mixer is a mix-minus audio conference of any number of legs' tracks. One
// goroutine, started by the first Add and stopped by Close, produces a
// 20 ms frame for every participant on each tick. All methods are safe for
// concurrent use.
type Mixer struct {
	opts Options
	log  *slog.Logger
	err  error // invalid options, returned by Add
	f    format

	mu     sync.Mutex // guards all below and the tick (which runs under it)
	parts  []*participant
	byID   map[string]*participant
	muted  map[string]bool
	deaf   map[pair]struct{} // listener does not hear speaker
	total  []int32           // tick scratch: sum of all speakers
	tap    Tap               // each participant's frame, every tick (nil: none)
	tapped []TapFrame        // tick scratch for the tap
	closed bool
	stop   chan struct{} // non-nil while the goroutine runs
	wg     sync.WaitGroup
}

// format is the mixing format derived from Options.
type format struct {
	rate     int
	frame    int // samples per 20 ms at rate
	up       int // rate / 8000
	maxChunk int // samples of the longest packet (120 ms) at rate
	opusRate int // Opus encoder bitrate
}

type pair struct{ listener, speaker string }

// New returns an empty mixer. It starts no goroutine; the first Add does.
// Invalid options are reported by Add (New cannot fail, so a mixer can be
// built in a struct literal).
func New(o Options) *Mixer {
	m := &Mixer{opts: o, log: o.Logger, byID: map[string]*participant{}, muted: map[string]bool{}, deaf: map[pair]struct{}{}}
	if m.log == nil {
		m.log = slog.Default()
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.JitterFrames == 0 {
		o.JitterFrames = DefaultJitterFrames
	}
	switch o.Rate {
	case 8000, 16000, 24000, 48000:
	default:
		m.err = fmt.Errorf("%w: rate %d (want 8000, 16000, 24000 or 48000)", ErrInvalidOptions, o.Rate)
	}
	if o.JitterFrames < 1 || o.JitterFrames > MaxJitterFrames {
		m.err = fmt.Errorf("%w: jitter frames %d (want 1..%d)", ErrInvalidOptions, o.JitterFrames, MaxJitterFrames)
	}
	if m.err != nil {
		o.Rate, o.JitterFrames = DefaultRate, DefaultJitterFrames // keep the fields usable
	}
	m.opts = o
	m.f = format{rate: o.Rate, frame: o.Rate / 50, up: o.Rate / 8000, maxChunk: media.OpusMaxFrameSamples(o.Rate), opusRate: o.Transcode.OpusBitrate}
	if m.f.opusRate == 0 {
		m.f.opusRate = opusBitrateNarrow
		if o.Rate > 8000 {
			m.f.opusRate = opusBitrateWide
		}
	}
	m.total = make([]int32, m.f.frame)
	return m
}

// Rate returns the mixing rate in Hz.
func (m *Mixer) Rate() int { return m.f.rate }

// Add makes t a participant called id: its received audio is mixed into
// what the others hear, and it is sent, 20 ms at a time, the mix of the
// others in t.Send()'s codec (PCMU, PCMA or opus/48000). Add installs the
// mixer as t's output (t.SetOutput), replacing any bridge link.
//
// Settings made with SetMuted and SetHears before Add apply from the first
// tick, so a whisper can be set up before the supervisor joins. Add fails
// with ErrDuplicate for a known id or track, ErrClosed after Close,
// ErrInvalidOptions for bad Options, and media.ErrUnsupportedCodec when
// t.Send() is not a supported codec.
func (m *Mixer) Add(id string, t *leg.Track) error {
	if m.err != nil {
		return m.err
	}
	if t == nil {
		return ErrNilTrack
	}
	send := t.Send()
	if codecKind(send) > kindOpus || codecKind(send) == kindNone {
		return fmt.Errorf("mixer: participant %q sends %s/%d: %w", id, send.Name, send.Clock, media.ErrUnsupportedCodec)
	}
	p, err := newParticipant(m, id, t)
	if err != nil {
		return fmt.Errorf("mixer: participant %q: %w", id, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if _, ok := m.byID[id]; ok {
		return fmt.Errorf("%w: id %q", ErrDuplicate, id)
	}
	for _, o := range m.parts {
		if o.t == t {
			return fmt.Errorf("%w: track of %q added again as %q", ErrDuplicate, o.id, id)
		}
	}
	m.byID[id] = p
	m.parts = append(m.parts, p)
	m.rebuild()
	t.SetOutput(p.in)
	if m.stop == nil && !m.opts.manualTick {
		m.stop = make(chan struct{})
		m.wg.Add(1)
		go m.run(m.stop)
	}
	m.log.Debug("mixer: participant added", "participant", id, "codec", send.Name, "participants", len(m.parts))
	return nil
}

// Remove takes participant id out of the mix: its track's output is
// cleared (t.SetOutput(nil)) and nothing more is sent to it once Remove
// returns. Its SetMuted and SetHears settings (as listener and as speaker)
// are forgotten. Unknown ids are ignored.
func (m *Mixer) Remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.muted, id)
	for k := range m.deaf {
		if k.listener == id || k.speaker == id {
			delete(m.deaf, k)
		}
	}
	p, ok := m.byID[id]
	if !ok {
		return
	}
	delete(m.byID, id)
	parts := make([]*participant, 0, len(m.parts))
	for _, o := range m.parts {
		if o != p {
			parts = append(parts, o)
		}
	}
	m.parts = parts
	m.rebuild()
	p.t.SetOutput(nil)
	m.log.Debug("mixer: participant removed", "participant", id, "participants", len(m.parts))
}

// SetMuted sets whether id's voice is left out of every mix. A muted
// participant still hears the others. It may be called before Add.
func (m *Mixer) SetMuted(id string, muted bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if muted {
		m.muted[id] = true
	} else {
		delete(m.muted, id)
	}
	m.rebuild()
}

// SetHears sets whether listener hears speaker; by default everyone hears
// everyone else. For a supervisor whisper, the customer does not hear the
// supervisor: SetHears(customer, supervisor, false); for silent monitoring
// also SetHears(agent, supervisor, false) (or SetMuted(supervisor, true)).
// It may be called before either participant is added. A participant never
// hears itself, whatever the matrix says.
func (m *Mixer) SetHears(listener, speaker string, hears bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := pair{listener, speaker}
	if hears {
		delete(m.deaf, k)
	} else {
		m.deaf[k] = struct{}{}
	}
	m.rebuild()
}

// TapFrame is one participant's 20 ms in a tick, as a Tap sees it.
type TapFrame struct {
	ID     string
	PCM    []int16 // at the mixing rate; not meaningful when !Active
	Active bool    // false: no audio from it this tick, or it is muted
}

// Tap receives every participant's own audio, decoded, at the mixing rate,
// before mixing: once per tick, one frame per participant. A tap runs on
// the mixer's goroutine under its lock: it must copy what it keeps (frames
// and PCM are reused) and never block (a Copilot AI's fork, an analyser).
type Tap func(rate int, frames []TapFrame)

// SetTap installs t (nil removes it) from the next tick on.
func (m *Mixer) SetTap(t Tap) {
	m.mu.Lock()
	m.tap = t
	m.mu.Unlock()
}

// Close stops the mixer's goroutine and waits for it, and clears the
// output of every participant's track. It is idempotent; Add fails
// afterwards.
func (m *Mixer) Close() {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		for _, p := range m.parts {
			p.t.SetOutput(nil)
		}
		m.parts = nil
		clear(m.byID)
		if m.stop != nil {
			close(m.stop)
			m.stop = nil
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// Stats returns participant id's audio packets received, packets sent to
// it and lost packets concealed; ok is false for an unknown id.
func (m *Mixer) Stats(id string) (in, out, concealed uint64, ok bool) {
	c, ok := m.Counters(id)
	return c.In, c.Out, c.Concealed, ok
}

// Counters returns all of participant id's counters; ok is false for an
// unknown id.
func (m *Mixer) Counters(id string) (Counters, bool) {
	m.mu.Lock()
	p, ok := m.byID[id]
	m.mu.Unlock()
	if !ok {
		return Counters{}, false
	}
	return p.counters(), true
}

// Participants returns the number of participants.
func (m *Mixer) Participants() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.parts)
}

// run is the mixer's goroutine: one tick every 20 ms until stop closes.
// time.Ticker drops ticks if a tick overruns, so a slow host sends fewer
// packets rather than a burst.
func (m *Mixer) run(stop <-chan struct{}) {
	defer m.wg.Done()
	t := time.NewTicker(Frame)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			m.tick()
		}
	}
}

// rebuild recomputes, under mu, each participant's index, mute flag and
// its lists of heard and excluded speakers (by index).
func (m *Mixer) rebuild() {
	for i, p := range m.parts {
		p.idx = i
		p.muted = m.muted[p.id]
	}
	for _, l := range m.parts {
		l.heard, l.excl = l.heard[:0], l.excl[:0]
		for _, s := range m.parts {
			if s.muted {
				continue
			}
			_, deaf := m.deaf[pair{l.id, s.id}]
			if s == l || deaf {
				l.excl = append(l.excl, s.idx)
			} else {
				l.heard = append(l.heard, s.idx)
			}
		}
	}
}
