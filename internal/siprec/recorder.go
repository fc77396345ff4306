package siprec

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/media/mixer"
	"github.com/split-hub/split/internal/media/rtpport"
	"github.com/split-hub/split/internal/sdp"
	"github.com/split-hub/split/internal/sipua"
)

// UA is what a recording needs of the SIP stack (sipua.UA).
type UA interface {
	Resolve(dest string) (*config.Trunk, sip.Uri, error)
	Dial(ctx context.Context, o sipua.DialOptions) (*sipua.Call, error)
	Ports() (*rtpport.Pair, error)
	MediaIP() netip.Addr
}

// Events is how a recording reports to the hub; called from the
// recording's goroutine.
type Events interface {
	// Recording: "started" (the SRS answered), "updated" (a re-INVITE was
	// answered), "failed" (code, reason: refused, unreachable, a re-INVITE
	// refused), "ended" (the SRS hung up first).
	Recording(event string, code int, reason string)
}

// updateDelay gathers the participant changes of one moment (a transfer:
// the new agent joins, the old one leaves) into one re-INVITE.
const updateDelay = 200 * time.Millisecond

// Recorder records one session to one SRS. Feed runs on the mixer's
// goroutine and never waits; the SIP work runs on the recorder's own.
type Recorder struct {
	ua      UA
	uri     string
	headers []sip.Header
	ev      Events
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	sdpID   uint64

	mu      sync.Mutex
	meta    Meta
	parts   map[string]*rpart // by leg id
	streams []*rstream
	dirty   bool
	wake    chan struct{}
	closed  bool
}

type rpart struct {
	p  *Participant
	st *rstream
}

type rstream struct {
	Stream
	leg    string
	pair   *rtpport.Pair
	remote netip.AddrPort // from the SRS's answer; invalid: not sending
	seq    uint16
	ts     uint32
	ssrc   uint32
	pkt    []byte
	pcm    []int16
}

// Start begins recording session sessionID to uri (a SIP URI on a trunk)
// with the participants the hub adds (Participant) before or after. The
// INVITE goes out at once; Close ends the recording.
func Start(ua UA, uri, sessionID string, headers []sip.Header, ev Events, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorder{ua: ua, uri: uri, headers: headers, ev: ev, log: log.With("session", sessionID, "siprec", uri), ctx: ctx, cancel: cancel,
		done: make(chan struct{}), sdpID: rand.Uint64() >> 2, parts: map[string]*rpart{}, wake: make(chan struct{}, 1),
		meta: Meta{RecordingSession: NewID(), SplitSession: sessionID, Start: time.Now()}}
	go r.run()
	return r
}

// Done is closed when the recording's goroutine has finished.
func (r *Recorder) Done() <-chan struct{} { return r.done }

// Participant tells the recording of a participant's change: joined (a new
// stream and label), left (its stream stops, the metadata says so).
func (r *Recorder) Participant(legID, role, name, aor, state string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	rp := r.parts[legID]
	switch {
	case state == "joined" && rp == nil:
		pair, err := r.ua.Ports()
		if err != nil {
			return fmt.Errorf("siprec: %w", err)
		}
		st := &rstream{Stream: Stream{ID: NewID(), Label: len(r.streams) + 1}, leg: legID, pair: pair, seq: uint16(rand.Uint32()),
			ts: rand.Uint32(), ssrc: rand.Uint32(), pkt: make([]byte, media.RTPHeaderSize+160), pcm: make([]int16, 0, 960)}
		p := &Participant{ID: NewID(), AOR: aor, Name: name, Role: role, Stream: st.ID, Joined: time.Now(), Changed: true}
		r.parts[legID] = &rpart{p: p, st: st}
		r.streams = append(r.streams, st)
		r.meta.Participants = append(r.meta.Participants, *p)
		r.meta.Streams = append(r.meta.Streams, st.Stream)
		r.dirty = true
	case state == "left" && rp != nil:
		rp.st.remote = netip.AddrPort{}
		for i := range r.meta.Participants {
			if r.meta.Participants[i].ID == rp.p.ID {
				r.meta.Participants[i].Left, r.meta.Participants[i].Changed = time.Now(), true
			}
		}
		delete(r.parts, legID)
		r.dirty = true
	default:
		return nil
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

// Feed is the session's tap: each stream gets its participant's 20 ms as
// PCMU (silence when it has no audio this tick).
func (r *Recorder) Feed(rate int, frames []mixer.TapFrame) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	for _, st := range r.streams {
		if !st.remote.IsValid() {
			continue
		}
		var pcm []int16
		for i := range frames {
			if frames[i].ID == st.leg && frames[i].Active {
				pcm = frames[i].PCM
			}
		}
		payload := st.pkt[media.RTPHeaderSize:]
		if pcm == nil {
			for i := range payload {
				payload[i] = 0xFF // μ-law silence
			}
		} else {
			st.pcm = down8k(st.pcm[:0], pcm, rate)
			media.EncodeUlaw(payload, st.pcm)
		}
		st.seq++
		st.ts += 160
		st.pkt[0], st.pkt[1] = 0x80, 0
		binary.BigEndian.PutUint16(st.pkt[2:], st.seq)
		binary.BigEndian.PutUint32(st.pkt[4:], st.ts)
		binary.BigEndian.PutUint32(st.pkt[8:], st.ssrc)
		_, _ = st.pair.RTP.WriteToUDPAddrPort(st.pkt, st.remote)
	}
}

// down8k brings a frame to 8 kHz (a box average: the recording is G.711).
func down8k(dst, src []int16, rate int) []int16 {
	k := rate / 8000
	if k <= 1 {
		return append(dst, src...)
	}
	for i := 0; i+k <= len(src); i += k {
		sum := 0
		for _, v := range src[i : i+k] {
			sum += int(v)
		}
		dst = append(dst, int16(sum/k))
	}
	return dst
}

// Close ends the recording (BYE, or CANCEL while it is being set up) and
// frees its ports. It does not wait; Done says when it is over.
func (r *Recorder) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
}

// offer is the current SDP and metadata (under r.mu).
func (r *Recorder) offer(partial bool, version uint64) (string, []byte) {
	ports := make([]int, len(r.streams))
	for i, st := range r.streams {
		ports[i] = st.pair.Port
	}
	m := r.meta
	m.Partial = partial
	ct, body := Multipart(SDP(r.sdpID, version, r.ua.MediaIP().String(), r.meta.Streams, ports), m.XML())
	for i := range r.meta.Participants {
		r.meta.Participants[i].Changed = false
	}
	r.dirty = false
	return ct, body
}

// answer points the streams at the SRS's answer, m-line by m-line.
func (r *Recorder) answer(body []byte) error {
	s, err := sdp.Parse(body)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var audio []sdp.Media
	for _, m := range s.Media {
		if m.Kind == "audio" {
			audio = append(audio, m)
		}
	}
	if len(audio) < len(r.streams) {
		return fmt.Errorf("siprec: the SRS answered %d audio streams of %d", len(audio), len(r.streams))
	}
	for i, st := range r.streams {
		m := audio[i]
		if m.Port == 0 || !m.Addr.IsValid() || m.Direction == sdp.Inactive || m.Direction == sdp.SendOnly {
			st.remote = netip.AddrPort{} // refused or not receiving
			continue
		}
		left := true
		for _, rp := range r.parts {
			if rp.st == st {
				left = false
			}
		}
		if !left {
			st.remote = netip.AddrPortFrom(m.Addr, uint16(m.Port))
		}
	}
	return nil
}

func (r *Recorder) run() {
	defer close(r.done)
	defer func() {
		r.mu.Lock()
		for _, st := range r.streams {
			st.remote = netip.AddrPort{}
			_ = st.pair.Close()
		}
		r.mu.Unlock()
	}()
	// wait for a first participant
	for {
		r.mu.Lock()
		n := len(r.streams)
		r.mu.Unlock()
		if n > 0 {
			break
		}
		select {
		case <-r.ctx.Done():
			return
		case <-r.wake:
		}
	}
	trunk, to, err := r.ua.Resolve(r.uri)
	if err != nil {
		r.ev.Recording("failed", 0, "SRS "+r.uri+": "+err.Error())
		return
	}
	r.mu.Lock()
	ct, body := r.offer(false, 1)
	r.mu.Unlock()
	answered := make(chan struct{})
	var once sync.Once
	ended := make(chan [2]any, 1)
	call, err := r.ua.Dial(r.ctx, sipua.DialOptions{Trunk: trunk, To: to, FromUser: "split-src", Offer: body, ContentType: ct,
		ContactFeature: "+sip.src", Headers: append([]sip.Header{sip.NewHeader("Require", "siprec"),
			sip.NewHeader("Accept", "application/sdp, application/rs-metadata, application/rs-metadata-request")}, r.headers...),
		OnAnswer: func(b []byte) error { return r.answer(b) },
		Events: sipua.Events{OnState: func(s sipua.State, code int, reason string) {
			switch s {
			case sipua.StateActive:
				once.Do(func() { close(answered) })
			case sipua.StateEnded:
				select {
				case ended <- [2]any{code, reason}:
				default:
				}
			}
		}}})
	if err != nil {
		r.ev.Recording("failed", 0, err.Error())
		return
	}
	hangup := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		call.Hangup(ctx, 200, "Session ended")
	}
	select {
	case <-r.ctx.Done():
		hangup()
		return
	case e := <-ended:
		r.ev.Recording("failed", e[0].(int), e[1].(string))
		return
	case <-answered:
	}
	r.ev.Recording("started", 200, "")
	version := uint64(1)
	for {
		select {
		case <-r.ctx.Done():
			hangup()
			return
		case e := <-ended:
			r.ev.Recording("ended", e[0].(int), e[1].(string))
			return
		case <-r.wake:
		}
		select { // gather the changes of this moment
		case <-r.ctx.Done():
			hangup()
			return
		case <-time.After(updateDelay):
		}
		r.mu.Lock()
		if !r.dirty {
			r.mu.Unlock()
			continue
		}
		version++
		ct, body := r.offer(true, version)
		r.mu.Unlock()
		ans, err := call.Reinvite(r.ctx, ct, body)
		if err == nil {
			err = r.answer(ans)
		}
		if err != nil {
			if errors.Is(r.ctx.Err(), context.Canceled) {
				hangup()
				return
			}
			r.log.Warn("siprec: metadata update refused; recording the streams known", "err", err)
			r.ev.Recording("failed", 0, err.Error())
			continue
		}
		r.ev.Recording("updated", 200, "")
	}
}
