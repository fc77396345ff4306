// Package tone checks that audio really crosses the hub: a pion browser
// stand-in and a sipgo UAS each send a different sine tone through an
// in-process hub and each must hear the other's tone, on the transcoding
// path (Opus ⇄ PCMU) and on the passthrough path (PCMU ⇄ PCMU), in both call
// directions. Run with both Opus backends:
//
//	go test ./test/tone/
//	go test -tags 'libopus nolibopusfile' ./test/tone/
package tone

import (
	"context"
	"flag"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/app"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/testutil"
)

const (
	browserHz = 440.0
	sipHz     = 1000.0
	tolHz     = 20.0
	talk      = 3 * time.Second
)

type rig struct {
	hub *testutil.Hub
	uas *testutil.SIPUAS
	pc  *testutil.PionClient
}

// setup starts a UAS on base+3 and a hub laid out from base.
func setup(t *testing.T, ctx context.Context, base int, browserCodecs []string, pionCodec string) *rig {
	t.Helper()
	if testing.Short() {
		t.Skip("real-media tone test; skipped with -short")
	}
	uas, err := testutil.StartUAS(testutil.UASOptions{Listen: "127.0.0.1:" + itoa(base+3), Codec: "PCMU", ToneHz: sipHz})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uas.Close() })
	cfg := testutil.HubConfig(testutil.PortsFrom(base, 8), t.TempDir(), uas.URI(), []string{"PCMU"}, browserCodecs)
	var log *slog.Logger
	if os.Getenv("SPLIT_TONE_LOG") != "" { // hub logs on stderr, at debug level
		cfg.Log.Level = "debug"
		sip.SIPDebug = true
		log = app.NewLogger(cfg.Log, os.Stderr)
	}
	hub, err := testutil.StartHub(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := hub.Stop(); err != nil {
			t.Errorf("hub stop: %v", err)
		}
	})
	tok, err := hub.Token("alice")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := testutil.DialPion(ctx, testutil.PionOptions{Hub: hub.URL, Token: tok, Codec: pionCodec, ToneHz: browserHz,
		// An Opus browser offers only Opus, to force transcoding; a PCMU one
		// offers everything a browser does (the hub then picks PCMU).
		BrowserCodecs: pionCodec == "PCMU"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &rig{hub: hub, uas: uas, pc: pc}
}

func itoa(n int) string { return strconv.Itoa(n) }

// listen lets media flow for talk, then checks both tones.
func (r *rig) listen(t *testing.T, sc *testutil.SIPCall) {
	t.Helper()
	// Skip the start-up (jitter, codec warm-up): judge the last part only.
	time.Sleep(500 * time.Millisecond)
	r.pc.ResetReceived()
	sc.ResetReceived()
	time.Sleep(talk)
	checkTone(t, "SIP side", sc.Received(), sc.SampleRate(), browserHz)
	checkTone(t, "browser side", r.pc.Received(), r.pc.SampleRate(), sipHz)
	ps, ss := r.pc.Stats(), sc.Stats()
	t.Logf("browser: sent %d received %d lost %d other %d undecodable %d; SIP: sent %d received %d lost %d other %d",
		ps.PacketsSent, ps.PacketsReceived, ps.Lost, ps.OtherReceived, ps.DecodeErrors, ss.PacketsSent, ss.PacketsReceived, ss.Lost, ss.OtherReceived)
	if ps.PacketsReceived == 0 || ss.PacketsReceived == 0 {
		t.Errorf("no packets: browser received %d, SIP received %d", ps.PacketsReceived, ss.PacketsReceived)
	}
}

func checkTone(t *testing.T, who string, pcm []int16, rate int, want float64) {
	t.Helper()
	secs := float64(len(pcm)) / float64(rate)
	if secs < 1 {
		t.Errorf("%s: only %.2f s of audio received", who, secs)
		return
	}
	got := media.DominantFrequency(pcm, rate, nil)
	lvl := media.ToneLevel(pcm, want, rate)
	t.Logf("%s: %.2f s of audio, dominant %.0f Hz, level at %.0f Hz %.3f", who, secs, got, want, lvl)
	if math.Abs(got-want) > tolHz {
		t.Errorf("%s hears %.0f Hz, want %.0f±%.0f Hz", who, got, want, tolHz)
	}
	if lvl < 0.05 {
		t.Errorf("%s: tone level %.3f too low", who, lvl)
	}
}

// browserCall: browser offers, hub dials the UAS.
func browserCall(t *testing.T, base int, browserCodecs []string, pionCodec, wantPath string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := setup(t, ctx, base, browserCodecs, pionCodec)
	if err := r.pc.Call(ctx, "1000"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.pc.WaitState(ctx, "active"); err != nil {
		t.Fatal(err)
	}
	sc, err := r.uas.WaitCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.listen(t, sc)
	st, err := r.pc.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "stats" })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: audio_codec=%s sip_audio_codec=%s path=%s", st.AudioCodec, st.SIPAudioCodec, st.Path)
	if st.Path != wantPath {
		t.Errorf("bridge path %q, want %q", st.Path, wantPath)
	}
	if !strings.EqualFold(st.AudioCodec, pionCodec) {
		t.Errorf("browser audio codec %q, want %q", st.AudioCodec, pionCodec)
	}
	if err := r.pc.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.pc.WaitState(ctx, "ended"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sc.Done():
	case <-ctx.Done():
		t.Fatal("UAS call still up after hangup")
	}
	if !sc.ByeReceived() {
		t.Error("UAS got no BYE")
	}
}

func TestToneTranscodeBrowserToSIP(t *testing.T) {
	browserCall(t, 14100, []string{"opus"}, "opus", "transcode")
}

func TestTonePassthroughBrowserToSIP(t *testing.T) {
	browserCall(t, 14200, []string{"PCMU"}, "PCMU", "passthrough")
}

// sipCall: the UAS calls sip:alice@hub, the browser answers.
func sipCall(t *testing.T, base int, browserCodecs []string, pionCodec string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r := setup(t, ctx, base, browserCodecs, pionCodec)
	type res struct {
		sc  *testutil.SIPCall
		err error
	}
	ch := make(chan res, 1)
	go func() {
		sc, err := r.uas.Invite(ctx, "sip:alice@127.0.0.1:"+itoa(base+1))
		ch <- res{sc, err}
	}()
	in, err := r.pc.Answer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("incoming from %s", in.From)
	call := in.Call
	failed := make(chan testutil.Message, 1)
	go func() {
		if m, err := r.pc.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "error" && m.Call == call }); err == nil {
			failed <- m
		}
	}()
	var rs res
	select {
	case rs = <-ch:
	case m := <-failed:
		t.Fatalf("hub refused the answer: %s %s", m.ErrorCode(), m.Message)
	case <-ctx.Done():
		t.Fatal("no answer to the INVITE")
	}
	if rs.err != nil {
		t.Fatal(rs.err)
	}
	if _, err := r.pc.WaitState(ctx, "active"); err != nil {
		t.Fatal(err)
	}
	r.listen(t, rs.sc)
	// The SIP side hangs up this time.
	if err := rs.sc.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if m, err := r.pc.WaitState(ctx, "ended"); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("ended: %d %s", m.Code(), m.Reason)
	}
}

func TestToneSIPToBrowserPassthrough(t *testing.T) {
	sipCall(t, 14300, []string{"PCMU"}, "PCMU")
}

func TestToneSIPToBrowserTranscode(t *testing.T) {
	sipCall(t, 14400, []string{"opus"}, "opus")
}

// TestToneNoLeak runs calls through one hub and checks that, once the hub
// and the peers have stopped, the goroutine count is back near where it was.
func TestToneNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	runtime.GC()
	before := runtime.NumGoroutine()
	t.Run("calls", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		r := setup(t, ctx, 14500, []string{"PCMU"}, "PCMU")
		for i := 0; i < 5; i++ {
			if i > 0 {
				tok, _ := r.hub.Token("alice")
				pc, err := testutil.DialPion(ctx, testutil.PionOptions{Hub: r.hub.URL, Token: tok, Codec: "PCMU", BrowserCodecs: true, ToneHz: browserHz, Record: -1})
				if err != nil {
					t.Fatal(err)
				}
				r.pc = pc
			}
			if err := r.pc.Call(ctx, "1000"); err != nil {
				t.Fatal(err)
			}
			if _, err := r.pc.WaitState(ctx, "active"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			if err := r.pc.Hangup(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := r.pc.WaitState(ctx, "ended"); err != nil {
				t.Fatal(err)
			}
			r.pc.Close()
		}
	})
	var after int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		runtime.GC()
		if after = runtime.NumGoroutine(); after <= before+5 {
			break
		}
	}
	t.Logf("goroutines: %d before, %d after", before, after)
	if after > before+5 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines: %d before, %d after the hub stopped\n%s", before, after, buf[:n])
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testutil.MainInNetns(m))
}
