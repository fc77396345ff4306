package mixer_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/media/mixer"
)

// settle is how many ticks the jitter buffer and codecs need before the
// output is analysed.
const settle = 10

// prefill is how many ticks pass before a new participant's first packet
// plays: the jitter buffer holds DefaultJitterFrames 20 ms packets. Until
// then a listener is sent nothing (Counters.HeldBack).
const prefill = mixer.DefaultJitterFrames - 1

// Three talkers on three codecs: each hears the other two and not itself,
// at every mixing rate, with a well-formed RTP stream.
func TestMixMinus(t *testing.T) {
	for _, rate := range []int{8000, 16000, 48000} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			m := newMixer(t, mixer.Options{Rate: rate})
			a := newParty(t, "a", codecPCMU, 440)
			b := newParty(t, "b", codecPCMA, 1000)
			c := newParty(t, "c", codecOpus, 1800)
			all := []*party{a, b, c}
			for _, p := range all {
				p.add(t, m)
			}
			const ticks = 45
			run(t, m, ticks, all...)
			expect(t, a, settle, all, b, c)
			expect(t, b, settle, all, a, c)
			expect(t, c, settle, all, a, b)
			for _, p := range all {
				checkStream(t, p)
				in, out, concealed, ok := m.Stats(p.id)
				cn, _ := m.Counters(p.id)
				// the first DefaultJitterFrames-1 ticks buffer: nothing to send yet
				if !ok || in != ticks || out != ticks-prefill || cn.HeldBack != prefill || concealed != 0 {
					t.Errorf("%s: stats in %d out %d held back %d concealed %d ok %v; want %d, %d, %d, 0", p.id, in, out, cn.HeldBack, concealed, ok, ticks, ticks-prefill, prefill)
				}
			}
		})
	}
}

// checkStream checks the RTP headers the mixer sent p: its payload type,
// consecutive sequence numbers, a 20 ms timestamp step and the marker on
// the first packet only.
func checkStream(t *testing.T, p *party) {
	t.Helper()
	pkts := p.out.from(0)
	step := uint32(p.codec.Clock / 50)
	for i, b := range pkts {
		if b[0] != 0x80 || b[1]&0x7F != p.codec.PT || (b[1]&0x80 != 0) != (i == 0) {
			t.Fatalf("%s packet %d: header % x", p.id, i, b[:2])
		}
		if i == 0 {
			continue
		}
		prev := pkts[i-1]
		if binary.BigEndian.Uint16(b[2:])-binary.BigEndian.Uint16(prev[2:]) != 1 ||
			binary.BigEndian.Uint32(b[4:])-binary.BigEndian.Uint32(prev[4:]) != step {
			t.Fatalf("%s packet %d: seq/ts do not follow packet %d", p.id, i, i-1)
		}
	}
}

// A muted participant still hears everyone, and nobody hears it until
// it is unmuted.
func TestMute(t *testing.T) {
	m := newMixer(t, mixer.Options{})
	a := newParty(t, "a", codecPCMU, 440)
	b := newParty(t, "b", codecOpus, 1000)
	c := newParty(t, "c", codecPCMA, 1800)
	all := []*party{a, b, c}
	for _, p := range all {
		p.add(t, m)
	}
	run(t, m, settle, all...)
	m.SetMuted("b", true)
	i := a.out.len()
	run(t, m, 30, all...)
	expect(t, a, i, all, c)
	expect(t, b, i, all, a, c)
	expect(t, c, i, all, a)

	m.SetMuted("b", false)
	i = a.out.len()
	run(t, m, 30, all...)
	expect(t, a, i, all, b, c)
	expect(t, c, i, all, a, b)
}

// The listen matrix: a whisper set up before the supervisor joins never
// reaches the customer; the agent and the supervisor hear everyone.
func TestSetHears(t *testing.T) {
	m := newMixer(t, mixer.Options{})
	cust := newParty(t, "customer", codecPCMU, 440)
	agent := newParty(t, "agent", codecOpus, 1000)
	sup := newParty(t, "supervisor", codecPCMA, 1800)
	all := []*party{cust, agent, sup}
	m.SetHears("customer", "supervisor", false)
	for _, p := range all {
		p.add(t, m)
	}
	run(t, m, 40, all...)
	expect(t, cust, 0, all, agent) // from the very first packet
	expect(t, agent, settle, all, cust, sup)
	expect(t, sup, settle, all, cust, agent)

	// Barge: the customer hears the supervisor too.
	m.SetHears("customer", "supervisor", true)
	i := cust.out.len()
	run(t, m, 30, all...)
	expect(t, cust, i, all, agent, sup)

	// Silent monitoring: the supervisor hears both, nobody hears the supervisor.
	m.SetHears("customer", "supervisor", false)
	m.SetHears("agent", "supervisor", false)
	i = cust.out.len()
	run(t, m, 30, all...)
	expect(t, cust, i, all, agent)
	expect(t, agent, i, all, cust)
	expect(t, sup, i, all, cust, agent)
}

// Listeners who hear the same speakers share one mix (and, at 8 kHz, one
// G.711 encode): four silent monitors on three codecs all hear both
// parties, and the two on PCMU get the same payloads.
func TestSharedMix(t *testing.T) {
	for _, rate := range []int{8000, 48000} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			m := newMixer(t, mixer.Options{Rate: rate})
			cust := newParty(t, "customer", codecPCMU, 440)
			agent := newParty(t, "agent", codecOpus, 1000)
			all := []*party{cust, agent}
			sups := []*party{
				newParty(t, "s1", codecPCMU, 1800), newParty(t, "s2", codecPCMU, 2200),
				newParty(t, "s3", codecPCMA, 2600), newParty(t, "s4", codecOpus, 3000),
			}
			for _, p := range append(all, sups...) {
				m.SetMuted(p.id, p != cust && p != agent)
				p.add(t, m)
			}
			run(t, m, 40, append(all, sups...)...)
			for _, s := range sups {
				expect(t, s, settle, append(all, sups...), cust, agent)
			}
			expect(t, cust, settle, append(all, sups...), agent)
			expect(t, agent, settle, append(all, sups...), cust)
			p1, p2 := sups[0].out.from(0), sups[1].out.from(0)
			for i := range p1 {
				if string(p1[i][12:]) != string(p2[i][12:]) {
					t.Fatalf("packet %d: the two PCMU monitors got different audio", i)
				}
			}
		})
	}
}

// Participants leave and join a running mix: a removed one is no longer
// heard nor sent to, a new one is heard and hears the others.
func TestRemoveAdd(t *testing.T) {
	m := newMixer(t, mixer.Options{Rate: 48000})
	a := newParty(t, "a", codecPCMU, 440)
	b := newParty(t, "b", codecOpus, 1000)
	c := newParty(t, "c", codecPCMA, 1800)
	for _, p := range []*party{a, b, c} {
		p.add(t, m)
	}
	run(t, m, 30, a, b, c)

	m.Remove("c")
	m.Remove("c") // unknown now: no-op
	sent := c.out.len()
	i := a.out.len()
	run(t, m, 30, a, b, c) // c's leg keeps delivering: dropped (no output installed)
	if c.out.len() != sent {
		t.Errorf("removed participant was sent %d more packets", c.out.len()-sent)
	}
	if _, _, _, ok := m.Stats("c"); ok {
		t.Error("Stats of a removed participant")
	}
	expect(t, a, i+3, []*party{a, b, c}, b) // skip the frames still in the mix at Remove

	d := newParty(t, "d", codecPCMU, 700)
	d.add(t, m)
	i = a.out.len()
	run(t, m, 40, a, b, d)
	all := []*party{a, b, c, d}
	expect(t, a, i+settle, all, b, d)
	expect(t, d, settle, all, a, b)
	if m.Participants() != 3 {
		t.Errorf("%d participants, want 3", m.Participants())
	}
}

// Membership, settings and stats change from other goroutines while the
// mix runs and packets arrive (run with -race).
func TestConcurrentChanges(t *testing.T) {
	m := newMixer(t, mixer.Options{})
	a := newParty(t, "a", codecPCMU, 440)
	b := newParty(t, "b", codecOpus, 1000)
	a.add(t, m)
	b.add(t, m)
	const n = 200
	var wg sync.WaitGroup
	for _, p := range []*party{a, b} {
		wg.Go(func() {
			for range n {
				if err := p.track.Deliver(p.packet(t)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range n {
			m.Tick()
		}
	})
	x := newParty(t, "x", codecPCMA, 1800)
	wg.Go(func() {
		for i := range n / 4 {
			if err := m.Add("x", x.track); err != nil {
				t.Error(err)
				return
			}
			x.send(t)
			m.SetMuted("a", i%2 == 0)
			m.SetHears("x", "b", i%3 == 0)
			m.Stats("x")
			x.send(t)
			m.Remove("x")
			x.send(t) // after Remove: goes nowhere
		}
	})
	wg.Wait()
	if cn, ok := m.Counters("a"); !ok || cn.In == 0 || cn.Out+cn.HeldBack != n {
		t.Errorf("a: %+v ok %v; want out + held back = %d", cn, ok, n)
	}
}

// Lost packets are concealed, malformed and non-audio packets are
// counted and dropped without disturbing the mix, and a source that stops
// contributes silence.
func TestLossBadPacketsAndSilentSource(t *testing.T) {
	for _, rate := range []int{8000, 48000} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			m := newMixer(t, mixer.Options{Rate: rate})
			a := newParty(t, "a", codecPCMU, 440)
			b := newParty(t, "b", codecOpus, 1000)
			c := newParty(t, "c", codecPCMA, 1800)
			all := []*party{a, b, c}
			for _, p := range all {
				p.add(t, m)
			}
			bad := badPackets(t, a)
			for tick := range 60 {
				for _, p := range []*party{a, b} {
					pkt := p.packet(t)
					if tick%7 != 3 { // every 7th packet lost
						if err := p.track.Deliver(pkt); err != nil {
							t.Fatal(err)
						}
					}
				}
				c.send(t)
				if tick < len(bad) {
					if err := a.track.Deliver(bad[tick]); err != nil {
						t.Fatal(err)
					}
				}
				m.Tick()
			}
			expect(t, c, settle, all, a, b)
			for _, p := range []*party{a, b} {
				cn, _ := m.Counters(p.id)
				if cn.Concealed < 7 || cn.Errors != 0 {
					t.Errorf("%s: %+v; want about 9 concealed, no errors", p.id, cn)
				}
			}
			ca, _ := m.Counters("a")
			if ca.Dropped != uint64(len(bad)-1) || ca.Ignored != 1 {
				t.Errorf("a: %+v; want %d dropped, 1 ignored (DTMF)", ca, len(bad)-1)
			}

			// c's source goes quiet: after the jitter buffer drains it is silence.
			in, _, _, _ := m.Stats("c")
			i := a.out.len()
			run(t, m, 30, a, b)
			expect(t, a, i+5, all, b)
			expect(t, b, i+5, all, a)
			if in2, _, _, _ := m.Stats("c"); in2 != in {
				t.Errorf("c received %d packets while silent", in2-in)
			}
		})
	}
}

// badPackets returns packets a mixer must count and drop: malformed RTP,
// an unknown payload type, bad payloads, and one telephone-event (ignored).
func badPackets(t *testing.T, p *party) [][]byte {
	good := append([]byte(nil), p.packet(t)...)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	return [][]byte{
		good[:5], // shorter than a header
		mod(func(b []byte) []byte { b[0] = 0x40; return b }),                     // version 1
		mod(func(b []byte) []byte { b[0] |= 0x20; b[len(b)-1] = 255; return b }), // padding overruns
		mod(func(b []byte) []byte { b[0] |= 0x0F; return b[:20] }),               // CSRCs overrun
		mod(func(b []byte) []byte { b[1] = 99; return b }),                       // not negotiated
		mod(func(b []byte) []byte { return b[:12] }),                             // empty payload
		mod(func(b []byte) []byte { return append(b, make([]byte, 1000)...) }),   // 145 ms of G.711
		mod(func(b []byte) []byte { b[1] = codecDTMF.PT; return b[:16] }),        // DTMF: ignored, not dropped
	}
}

// Packets of 10, 30 and 40 ms (a phone's ptime 30, a multi-frame Opus
// packet), arriving in real-time order, are re-framed into 20 ms ticks; a
// sender that changes SSRC or codec mid-call keeps being heard.
func TestPacketSizesAndSourceChanges(t *testing.T) {
	for _, rate := range []int{8000, 48000} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			m := newMixer(t, mixer.Options{Rate: rate})
			a := newParty(t, "a", codecPCMU, 440)
			a.ptime = 30
			b := newParty(t, "b", codecOpus, 1000)
			b.ptime = 40
			c := newParty(t, "c", codecPCMA, 1800)
			c.ptime = 10
			all := []*party{a, b, c}
			for _, p := range all {
				p.add(t, m)
			}
			// live advances the clock in 10 ms steps: each party sends when a
			// packet's worth of time has passed, the mixer ticks every 20 ms.
			var now int
			live := func(ms int, ps ...*party) {
				for end := now + ms; now < end; {
					now += 10
					for _, p := range ps {
						if now%p.ptime == 0 {
							p.send(t)
						}
					}
					if now%20 == 0 {
						m.Tick()
					}
				}
			}
			live(900, all...)
			skip := 10 // 30 ms packets × 3 frames of jitter buffer, and Opus start-up
			expect(t, a, skip, all, b, c)
			expect(t, b, skip, all, a, c)
			expect(t, c, skip, all, a, b)
			for _, p := range all {
				if cn, _ := m.Counters(p.id); cn.Concealed != 0 || cn.Dropped != 0 || cn.Errors != 0 || cn.Out+cn.HeldBack != 45 || cn.HeldBack == 0 {
					t.Errorf("%s: %+v", p.id, cn)
				}
			}

			// a's phone restarts its stream (new SSRC, new sequence numbers);
			// c's leg switches from PCMA to Opus on the same track.
			a.ssrc++
			a.seq += 30000
			c2 := newParty(t, "c", codecOpus, 1800)
			c2.track, c2.out = c.track, c.out
			c.track.SetRecv([]leg.Codec{codecPCMA, codecOpus, codecDTMF})
			c2.ptime = 20
			i := b.out.len()
			live(700, a, b, c2)
			expect(t, b, i+10, all, a, c)
			expect(t, c, i+10, all, a, b)
			if cn, _ := m.Counters("c"); cn.Errors != 0 {
				t.Errorf("c: %+v", cn)
			}

			// Everyone stops: the mix drains to silence without errors.
			i = a.out.len()
			for range 20 {
				m.Tick()
			}
			pcm, _ := decode(t, a.out.from(i+10))
			for _, v := range pcm {
				if v > 200 || v < -200 {
					t.Fatalf("not silent after the sources stopped: sample %d", v)
				}
			}
		})
	}
}

// A bad Opus payload is dropped; garbage that passes the TOC check fails in
// the decoder and is counted as an error, without a panic.
func TestBadOpus(t *testing.T) {
	m := newMixer(t, mixer.Options{})
	a := newParty(t, "a", codecOpus, 440)
	b := newParty(t, "b", codecPCMU, 1000)
	a.add(t, m)
	b.add(t, m)
	for i := range 40 {
		pkt := a.packet(t)
		switch i % 4 {
		case 1:
			pkt[12] = 0x03 // code 3 …
			pkt = pkt[:13] // … without a frame count
		case 2:
			for k := 13; k < len(pkt); k++ {
				pkt[k] = byte(k * 37)
			}
		}
		if err := a.track.Deliver(pkt); err != nil {
			t.Fatal(err)
		}
		b.send(t)
		m.Tick()
	}
	ca, _ := m.Counters("a")
	if ca.Dropped < 10 {
		t.Errorf("a: %+v; want 10 dropped", ca)
	}
	if cb, _ := m.Counters("b"); cb.Out != 40-prefill {
		t.Errorf("b was sent %d packets, want %d", cb.Out, 40-prefill)
	}
}

// A listener's codec changes (re-INVITE): the mixer follows on the next
// tick, with the marker bit, and the mix is intact.
func TestSendCodecChange(t *testing.T) {
	m := newMixer(t, mixer.Options{})
	a := newParty(t, "a", codecPCMU, 440)
	b := newParty(t, "b", codecOpus, 1000)
	c := newParty(t, "c", codecPCMA, 1800)
	all := []*party{a, b, c}
	for _, p := range all {
		p.add(t, m)
	}
	run(t, m, 20, all...)
	a.track.SetSend(codecOpus, codecDTMF)
	i := a.out.len()
	run(t, m, 30, all...)
	first := a.out.from(i)[0]
	if first[1] != 0x80|codecOpus.PT {
		t.Fatalf("first packet after the change: % x", first[:2])
	}
	expect(t, a, i, all, b, c)

	// An unsupported codec: the mixer stops sending to it but keeps mixing its voice.
	a.track.SetSend(leg.Codec{PT: 9, Name: "G722", Clock: 8000}, codecDTMF)
	i = a.out.len()
	run(t, m, 5, all...)
	if a.out.len() != i {
		t.Errorf("sent %d packets in an unsupported codec", a.out.len()-i)
	}
	j := b.out.len()
	run(t, m, 20, all...)
	expect(t, b, j, all, a, c)
}

func TestAddErrors(t *testing.T) {
	m := newMixer(t, mixer.Options{})
	a := newParty(t, "a", codecPCMU, 440)
	a.add(t, m)
	g722 := leg.NewTrack("audio", leg.Codec{PT: 9, Name: "G722", Clock: 8000}, leg.Codec{}, &capture{})
	for _, tc := range []struct {
		name string
		id   string
		tr   *leg.Track
		want error
	}{
		{"duplicate id", "a", newParty(t, "a", codecPCMU, 1).track, mixer.ErrDuplicate},
		{"duplicate track", "b", a.track, mixer.ErrDuplicate},
		{"nil track", "c", nil, mixer.ErrNilTrack},
		{"unsupported codec", "d", g722, media.ErrUnsupportedCodec},
	} {
		if err := m.Add(tc.id, tc.tr); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	m.Close()
	if err := m.Add("e", newParty(t, "e", codecPCMU, 1).track); !errors.Is(err, mixer.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	for _, o := range []mixer.Options{{Rate: 44100}, {JitterFrames: -1}, {JitterFrames: mixer.MaxJitterFrames + 1}} {
		if err := mixer.New(o).Add("a", newParty(t, "a", codecPCMU, 1).track); !errors.Is(err, mixer.ErrInvalidOptions) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// The mixer's own goroutine sends every 20 ms; Close stops it, waits for
// it, clears the tracks' outputs and can be called again.
func TestCloseStopsGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	m := mixer.New(mixer.Options{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if m.Running() {
		t.Fatal("New started a goroutine")
	}
	a := newParty(t, "a", codecPCMU, 440)
	b := newParty(t, "b", codecPCMA, 1000)
	a.out.notify = make(chan struct{}, 1)
	a.add(t, m)
	b.add(t, m)
	for range 3 { // three real ticks
		select {
		case <-a.out.notify:
		case <-time.After(5 * time.Second):
			t.Fatal("the mixer sent nothing")
		}
	}
	m.Close()
	m.Close()
	if m.Running() {
		t.Fatal("still running after Close")
	}
	n := a.out.len()
	a.send(t) // the track's output is cleared: the packet goes nowhere
	if _, _, _, ok := m.Stats("a"); ok {
		t.Error("participants remain after Close")
	}
	// wg.Wait has returned; give the exiting goroutine a moment to vanish.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before || goroutineRunning() {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before, %d after Close", before, runtime.NumGoroutine())
		}
		runtime.Gosched()
	}
	if a.out.len() != n {
		t.Error("sent after Close")
	}
}

func goroutineRunning() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "mixer.(*Mixer).run")
}

// The steady state (packets in, one tick) does not allocate.
func TestTickNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, c := range []leg.Codec{codecPCMU, codecOpus} {
		for _, rate := range []int{8000, 48000} {
			t.Run(fmt.Sprintf("%s/%d", c.Name, rate), func(t *testing.T) {
				m := newMixer(t, mixer.Options{Rate: rate})
				ps := []*party{newParty(t, "a", c, 440), newParty(t, "b", c, 1000), newParty(t, "c", codecPCMA, 1800)}
				for _, p := range ps {
					p.add(t, m)
				}
				fs := make([][][]byte, len(ps))
				for k, p := range ps {
					for range 50 {
						fs[k] = append(fs[k], append([]byte(nil), p.packet(t)...))
					}
				}
				sink := leg.WriterFunc(func([]byte) error { return nil })
				for _, p := range ps {
					p.track.In = sink
				}
				var i int
				step := func() {
					for k, p := range ps {
						pkt := fs[k][i%50]
						binary.BigEndian.PutUint16(pkt[2:], uint16(i))
						binary.BigEndian.PutUint32(pkt[4:], uint32(i)*uint32(p.codec.Clock/50))
						_ = p.track.Deliver(pkt)
					}
					m.Tick()
					i++
				}
				for range 100 {
					step() // warm up: jitter buffers, codec state
				}
				if n := testing.AllocsPerRun(200, step); n != 0 {
					t.Errorf("%.1f allocations per tick", n)
				}
			})
		}
	}
}

// A new mix starts without a hole: a listener is sent nothing until one of
// its speakers has audio (so its first packet already carries a voice),
// and silence only if none has after 200 ms, so that a far end's RTP
// timeout never fires.
func TestNoLeadingSilence(t *testing.T) {
	m := newMixer(t, mixer.Options{})
	a := newParty(t, "a", codecPCMU, 440)
	b := newParty(t, "b", codecPCMA, 1000)
	a.add(t, m)
	b.add(t, m)
	run(t, m, 20, a) // only a talks
	cb, _ := m.Counters("b")
	if cb.HeldBack != prefill || cb.Out != 20-prefill {
		t.Fatalf("b: %+v; want %d held back, %d sent", cb, prefill, 20-prefill)
	}
	first, _ := decode(t, b.out.from(0)[:1])
	if lvl := media.ToneLevel(first, 440, 8000); lvl < toneAmp/2 {
		t.Errorf("b's first packet carries a's tone at %.3f, want about %.2f", lvl, toneAmp)
	}
	// a hears nobody: after 10 ticks of waiting it gets silence every tick.
	ca, _ := m.Counters("a")
	if ca.HeldBack != 10 || ca.Out != 10 {
		t.Errorf("a: %+v; want 10 held back, then 10 sent", ca)
	}
	if pcm, _ := decode(t, a.out.from(0)); media.ToneLevel(pcm, 1000, 8000) > 0.01 {
		t.Errorf("a hears a tone nobody sent")
	}
}

// The tap gets each participant's own voice, separately and before the
// mix, at the mixing rate; a muted participant is inactive in it.
func TestTap(t *testing.T) {
	for _, rate := range []int{8000, 16000} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			m := newMixer(t, mixer.Options{Rate: rate})
			a := newParty(t, "a", codecPCMU, 440)
			b := newParty(t, "b", codecOpus, 1000)
			all := []*party{a, b}
			got := map[string][]int16{}
			inactive := map[string]int{}
			ticks := 0
			m.SetTap(func(r int, frames []mixer.TapFrame) {
				ticks++
				if r != rate || len(frames) != 2 {
					t.Errorf("tapped %d frames at %d Hz", len(frames), r)
				}
				for _, f := range frames {
					if len(f.PCM) != rate/50 {
						t.Errorf("%s: a %d-sample frame at %d Hz", f.ID, len(f.PCM), rate)
					}
					if !f.Active {
						inactive[f.ID]++
						continue
					}
					got[f.ID] = append(got[f.ID], f.PCM...)
				}
			})
			for _, p := range all {
				p.add(t, m)
			}
			run(t, m, 40, all...)
			if ticks != 40 {
				t.Errorf("the tap ran %d times in 40 ticks", ticks)
			}
			for _, c := range []struct {
				id         string
				own, other float64
			}{{"a", 440, 1000}, {"b", 1000, 440}} {
				pcm := got[c.id]
				if len(pcm) < rate/2 {
					t.Fatalf("%s: %d samples tapped", c.id, len(pcm))
				}
				pcm = pcm[len(pcm)-rate/2:]
				if own, other := media.ToneLevel(pcm, c.own, rate), media.ToneLevel(pcm, c.other, rate); own < 0.1 || other > 0.01 {
					t.Errorf("%s's tap: own tone %.3f, the other's %.3f", c.id, own, other)
				}
			}
			m.SetMuted("a", true)
			before := inactive["a"]
			run(t, m, 5, all...)
			if inactive["a"] != before+5 {
				t.Errorf("a muted: %d inactive frames of 5", inactive["a"]-before)
			}
			m.SetTap(nil)
			n := len(got["b"])
			run(t, m, 5, all...)
			if len(got["b"]) != n {
				t.Error("the tap was called after SetTap(nil)")
			}
		})
	}
}
