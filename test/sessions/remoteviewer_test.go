package sessions

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/testutil"
)

// TestRemoteViewerAudioMoveNoGap: a phone call to a hosted agent is
// escalated to video; the customer's browser joins and moves the voice to
// itself. The agent must hear the phone, then the browser, with no silent
// audio in between: every audio packet the agent receives from the move
// request until well after the phone leg is gone carries one of the two
// voices. The longest pause in arrivals is measured and logged (a figure
// for docs/benchmarks.md), not asserted.
func TestRemoteViewerAudioMoveNoGap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := hubConfig(t, 20400, t.TempDir())
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	phoneUA, err := testutil.StartUAS(testutil.UASOptions{Listen: "127.0.0.1:20490", ToneHz: tonePhone})
	if err != nil {
		t.Fatal(err)
	}
	defer phoneUA.Close()
	ag := connectAgent(ctx, t, h, "agent1", toneAgent1, 1, true)
	type dialed struct {
		call *testutil.SIPCall
		err  error
	}
	answered := make(chan dialed, 1)
	go func() { // Invite returns on the 200 OK
		c, err := phoneUA.Invite(ctx, "sip:agent1@"+cfg.SIP.ListenUDP)
		answered <- dialed{c, err}
	}()
	offer, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	d := <-answered
	if d.err != nil {
		t.Fatal(d.err)
	}
	call := d.call
	waitUntil(t, 10*time.Second, "the phone and the agent hearing each other", func() bool {
		p := call.Received()
		return ag.DominantHz(tones) == tonePhone && len(p) >= 8000 && ag.ToneLevel(tonePhone) > 0.02
	})
	if err := ag.Send(ctx, map[string]any{"type": "escalate", "session": offer.Session, "channel": "copy"}); err != nil {
		t.Fatal(err)
	}
	inv, err := ag.WaitFor(ctx, isType("invited"))
	if err != nil {
		t.Fatal(err)
	}
	var invited struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(inv.Raw, &invited); err != nil || invited.URL == "" {
		t.Fatalf("invited frame %s: %v", inv.Raw, err)
	}
	a := api{t, h.URL}
	code, out := join(t, a, linkToken(t, invited.URL), nil)
	if code != 200 {
		t.Fatalf("join: %d %v", code, out)
	}
	cust := startJoined(ctx, t, h, out)
	waitUntil(t, 15*time.Second, "video between the browser and the agent", func() bool {
		return ag.VideoFrom(9) > 20 && cust.VideoFrom(1) > 20
	})
	if lvl := ag.ToneLevel(toneCustomer); lvl > 0.02 {
		t.Fatalf("the agent hears the browser (%.3f) before the move", lvl)
	}

	moveAt := time.Now()
	if err := cust.Send(ctx, map[string]any{"type": "move_audio"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cust.WaitFor(ctx, isType("audio_moved")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-call.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the phone leg was not released after the move")
	}
	if !call.ByeReceived() {
		t.Error("the phone leg ended without the hub's BYE")
	}
	releasedAt := time.Now()
	waitUntil(t, 10*time.Second, "the agent hearing the browser only", func() bool {
		return ag.DominantHz(tones) == toneCustomer && ag.ToneLevel(tonePhone) < 0.005
	})
	time.Sleep(time.Second) // a second of the browser alone

	// Every packet from the move request on carries a voice.
	const quiet = 0.01 // RMS, of full scale; each tone is about 0.18
	var frames, silent, phoneOnly, both, browserOnly int
	var maxPause time.Duration
	var last time.Time
	var trace []byte // per packet: p phone, c browser, B both, . silent
	for _, f := range ag.AudioLog() {
		if f.At.Before(moveAt) {
			last = f.At
			continue
		}
		frames++
		if !last.IsZero() && f.At.Sub(last) > maxPause {
			maxPause = f.At.Sub(last)
		}
		last = f.At
		if rms(f.PCM) < quiet {
			silent++
			trace = append(trace, '.')
			continue
		}
		p, c := media.ToneLevel(f.PCM, tonePhone, 8000), media.ToneLevel(f.PCM, toneCustomer, 8000)
		switch {
		case p > quiet && c > quiet:
			both++
			trace = append(trace, 'B')
		case p > quiet:
			phoneOnly++
			trace = append(trace, 'p')
		case c > quiet:
			browserOnly++
			trace = append(trace, 'c')
		default:
			trace = append(trace, '?')
		}
	}
	t.Logf("from the move request: %d packets at the agent: phone %d, phone+browser %d, browser %d, silent %d; longest pause between packets %v; phone released %v after the request",
		frames, phoneOnly, both, browserOnly, silent, maxPause.Round(time.Millisecond), releasedAt.Sub(moveAt).Round(time.Millisecond))
	if frames < 50 || browserOnly < 25 {
		t.Fatalf("too little audio at the agent after the move: %d packets, %d of the browser alone", frames, browserOnly)
	}
	if silent > 0 {
		t.Errorf("the agent received %d silent packets while the voice moved: %s", silent, trace)
	}
	if both == 0 {
		t.Errorf("the phone and the browser were never heard together: the phone was released before the browser's voice arrived")
	}
	if ev := eventTypes(t, a, offer.Session); !contains(ev, "audio.moving") || !contains(ev, "audio.moved") {
		t.Errorf("history lacks the move: %v", ev)
	}
}

// rms is the root mean square of pcm, 0..1 of full scale.
func rms(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var s float64
	for _, v := range pcm {
		f := float64(v) / 32768
		s += f * f
	}
	return math.Sqrt(s / float64(len(pcm)))
}

func eventTypes(t *testing.T, a api, sid string) []string {
	t.Helper()
	code, out := a.do("GET", "/v1/sessions/"+sid+"/events?format=json", nil)
	if code != 200 {
		t.Fatalf("events: %d %v", code, out)
	}
	var types []string
	evs, _ := out["events"].([]any)
	for _, e := range evs {
		if m, ok := e.(map[string]any); ok {
			if s, ok := m["type"].(string); ok {
				types = append(types, s)
			}
		}
	}
	return types
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
