// Package sessions tests the session layer end to end in one process: a
// real hub (app.Run) with browser stand-ins speaking the session protocol
// over WebSocket and real WebRTC (pion) — customer, agents, viewer — and a
// SIP peer for the correlation paths. Chromium and the external-ACD tests
// are in test/e2e.
package sessions

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testutil.MainInNetns(m))
}

const (
	toneCustomer = 697.0
	toneAgent1   = 1209.0
	toneAgent2   = 1477.0
)

var tones = []float64{toneCustomer, toneAgent1, toneAgent2}

func hubConfig(t *testing.T, base int, dataDir string) *config.Config {
	t.Helper()
	cfg := testutil.HubConfig(testutil.PortsFrom(base, 20), dataDir, fmt.Sprintf("sip:127.0.0.1:%d", base+90), []string{"PCMU"}, []string{"PCMU", "opus"})
	cfg.WebRTC.Video = true
	cfg.Sessions.Agents = []config.Agent{{ID: "agent1", Name: "Alice", Queues: []string{"default"}}, {ID: "agent2", Name: "Bob", Queues: []string{"default"}}}
	cfg.Sessions.Demo = false
	return cfg
}

type api struct {
	t    *testing.T
	base string
}

func (a api) do(method, path string, body any) (int, map[string]any) {
	a.t.Helper()
	var r io.Reader
	if s, ok := body.(string); ok {
		r = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	req.Header.Set("Authorization", "Bearer "+testutil.HubAPIKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &out)
	return res.StatusCode, out
}

func wsURL(h *testutil.Hub, q string) string {
	return strings.Replace(h.URL, "http", "ws", 1) + "/v1/sessions/ws?" + q
}

func agentToken(t *testing.T, h *testutil.Hub, id string) string {
	t.Helper()
	code, out := api{t, h.URL}.do("POST", "/v1/tokens", map[string]any{"identity": id, "role": "agent"})
	if code != 201 {
		t.Fatalf("token for %s: %d %v", id, code, out)
	}
	return out["token"].(string)
}

func waitUntil(t *testing.T, within time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isType(typ string) func(testutil.Message) bool {
	return func(m testutil.Message) bool { return m.Type == typ }
}

// TestBuiltInQueueTransferAndRecords: customer → built-in queue → agent 1
// answers; audio and video flow both ways; agent 1 transfers to agent 2; the
// customer's video now comes from agent 2 on the same stream without a
// reconnection; records survive a hub restart.
func TestBuiltInQueueTransferAndRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	h, err := testutil.StartHub(ctx, hubConfig(t, 19100, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := api{t, h.URL}

	ag1, err := testutil.DialSession(ctx, wsURL(h, "token="+agentToken(t, h, "agent1")), toneAgent1, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ag1.Close()
	ag2, err := testutil.DialSession(ctx, wsURL(h, "token="+agentToken(t, h, "agent2")), toneAgent2, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ag2.Close()
	for _, ag := range []*testutil.SessionPeer{ag1, ag2} {
		if err := ag.Send(ctx, map[string]any{"type": "login"}); err != nil {
			t.Fatal(err)
		}
		if err := ag.Send(ctx, map[string]any{"type": "ready", "ready": true}); err != nil {
			t.Fatal(err)
		}
		if _, err := ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "ready" }); err != nil {
			t.Fatal(err)
		}
	}
	// agent 2 not ready for now, so agent 1 gets the call
	_ = ag2.Send(ctx, map[string]any{"type": "ready", "ready": false})
	if _, err := ag2.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "not_ready" }); err != nil {
		t.Fatal(err)
	}

	cust, err := testutil.DialSession(ctx, wsURL(h, "entry=default"), toneCustomer, 9, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cust.Close()
	if err := cust.Start(ctx, "Ana", map[string]any{"context": map[string]string{"order": "A-1"}}); err != nil {
		t.Fatal(err)
	}
	wait, err := cust.WaitFor(ctx, func(m testutil.Message) bool {
		return m.Type == "session" && (m.State == "waiting" || m.State == "ringing")
	})
	if err != nil {
		t.Fatal(err)
	}
	sid := wait.Session

	offer, err := ag1.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(offer.Raw), `"order":"A-1"`) || !strings.Contains(string(offer.Raw), `"name":"Ana"`) {
		t.Fatalf("offer lacks the customer's context: %s", offer.Raw)
	}
	if err := ag1.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	if _, err := cust.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "active" }); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "audio and video between customer and agent 1", func() bool {
		return cust.DominantHz(tones) == toneAgent1 && ag1.DominantHz(tones) == toneCustomer &&
			cust.VideoFrom(1) > 20 && ag1.VideoFrom(9) > 20
	})

	// Live events of the session as server-sent events.
	sse := openSSE(t, h.URL+"/v1/sessions/"+sid+"/events")
	defer sse.Close()

	// Transfer to agent 2.
	_ = ag2.Send(ctx, map[string]any{"type": "ready", "ready": true})
	waitUntil(t, 5*time.Second, "agent 2 ready again", func() bool {
		fs := ag2.Frames()
		return fs[len(fs)-1].Type == "agent" && fs[len(fs)-1].State == "ready"
	})
	if err := ag1.Send(ctx, map[string]any{"type": "transfer", "session": sid, "to": "agent:agent2"}); err != nil {
		t.Fatal(err)
	}
	offer2, err := ag2.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag2.Accept(ctx, offer2); err != nil {
		t.Fatal(err)
	}
	if _, err := ag1.WaitFor(ctx, isType("ended")); err != nil {
		t.Fatal(err)
	}
	before := cust.VideoFrom(2)
	defer func() {
		if t.Failed() {
			t.Logf("customer hears %.0f Hz, sees agent2 %d, agent1 %d packets; agent 2 hears %.0f Hz, sees %d",
				cust.DominantHz(tones), cust.VideoFrom(2), cust.VideoFrom(1), ag2.DominantHz(tones), ag2.VideoFrom(9))
		}
	}()
	waitUntil(t, 10*time.Second, "the customer to see and hear agent 2", func() bool {
		return cust.DominantHz(tones) == toneAgent2 && ag2.DominantHz(tones) == toneCustomer && cust.VideoFrom(2) > before+20 && ag2.VideoFrom(9) > 20
	})
	if n := len(cust.Frames()); n == 0 {
		t.Fatal("no frames")
	}
	for _, m := range cust.Frames() {
		if m.Type == "answer" && m.Leg != "" {
			continue
		}
	}
	if answers := countType(cust.Frames(), "answer"); answers != 1 {
		t.Fatalf("the customer negotiated %d times; a transfer must not reconnect the customer", answers)
	}
	sse.waitFor(t, "session.transferred", 5*time.Second)
	if !sse.saw("session.created") || !sse.saw("agent.offered") {
		t.Fatalf("the event stream did not replay the history first: %v", sse.types())
	}
	if gaps := cust.VideoSeqGaps(); gaps > 2 {
		t.Fatalf("the customer's video stream has %d sequence gaps across the transfer", gaps)
	}

	// REST view of the live session
	code, got := a.do("GET", "/v1/sessions/"+sid, nil)
	if code != 200 || got["state"] != "active" || got["agent"].(map[string]any)["id"] != "agent2" {
		t.Fatalf("GET session: %d %v", code, got)
	}
	code, qs := a.do("GET", "/v1/queues", nil)
	if code != 200 || len(qs["queues"].([]any)) != 1 {
		t.Fatalf("GET queues: %d %v", code, qs)
	}

	// Customer hangs up: the session ends, the agent is told, the record persists.
	if err := cust.Send(ctx, map[string]any{"type": "hangup"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ag2.WaitFor(ctx, isType("ended")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the session record to say ended", func() bool {
		_, got := a.do("GET", "/v1/sessions/"+sid, nil)
		return got["state"] == "ended"
	})
	var ev map[string]any
	waitUntil(t, 5*time.Second, "the end in the stored history", func() bool {
		_, ev = a.do("GET", "/v1/sessions/"+sid+"/events?format=json", nil)
		return strings.Contains(fmt.Sprint(ev["events"]), "session.ended")
	})
	evs := fmt.Sprint(ev["events"])
	// the browser legs' media figures are in the record, with real traffic
	for _, e := range ev["events"].([]any) {
		e := e.(map[string]any)
		if e["type"] == "leg.media" {
			if d := e["data"].(map[string]any); d["packets_received"].(float64) < 25 {
				t.Errorf("leg.media of %v: %v", e["leg"], d)
			}
		}
	}
	for _, want := range []string{"session.created", "agent.offered", "session.transferred", "session.ended", "side:webrtc"} {
		if !strings.Contains(evs, want) {
			t.Fatalf("event history lacks %s: %s", want, evs)
		}
	}

	// Restart the hub on the same data directory: the record survives.
	ag1.Close()
	ag2.Close()
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	h2, err := testutil.StartHub(ctx, hubConfig(t, 19100, dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Stop()
	a2 := api{t, h2.URL}
	code, got = a2.do("GET", "/v1/sessions/"+sid, nil)
	if code != 200 || got["state"] != "ended" || got["cause"] != "Customer hung up" || got["agent"].(map[string]any)["id"] != "agent2" {
		t.Fatalf("after restart: %d %v", code, got)
	}
	_, ev2 := a2.do("GET", "/v1/sessions/"+sid+"/events?format=json", nil)
	if len(ev2["events"].([]any)) != len(ev["events"].([]any)) {
		t.Fatalf("events after restart: %d, before: %d", len(ev2["events"].([]any)), len(ev["events"].([]any)))
	}
}

func countType(ms []testutil.Message, typ string) int {
	n := 0
	for _, m := range ms {
		if m.Type == typ {
			n++
		}
	}
	return n
}

// TestBadInput: unknown sessions, bad tokens, malformed JSON — clear errors.
func TestBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := testutil.StartHub(ctx, hubConfig(t, 19200, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}
	for _, tc := range []struct {
		method, path string
		body         any
		code         int
		errCode      string
	}{
		{"GET", "/v1/sessions/0192d6a4-0000-7000-8000-000000000000", nil, 404, "not_found"},
		{"GET", "/v1/sessions/not-an-id", nil, 404, "not_found"},
		{"DELETE", "/v1/sessions/0192d6a4-0000-7000-8000-000000000000", nil, 404, "not_found"},
		{"POST", "/v1/sessions", `{"entry_point":`, 400, "bad_request"},
		{"POST", "/v1/sessions", `{"entry_point":"nope"}`, 400, "bad_request"},
		{"POST", "/v1/sessions", `{"surprise":1}`, 400, "bad_request"},
		{"POST", "/v1/agents", `{"id":"bad id"}`, 400, "bad_request"},
		{"POST", "/v1/agents", `{"id":"x","queues":["nope"]}`, 400, "bad_request"},
		{"POST", "/v1/sessions/0192d6a4-0000-7000-8000-000000000000/transfer", `{"to":"queue:default"}`, 404, "not_found"},
	} {
		code, out := a.do(tc.method, tc.path, tc.body)
		e, _ := out["error"].(map[string]any)
		if code != tc.code || e == nil || e["code"] != tc.errCode || e["message"] == "" {
			t.Errorf("%s %s %v: got %d %v, want %d %s", tc.method, tc.path, tc.body, code, out, tc.code, tc.errCode)
		}
	}
	// no API key
	res, err := http.Get(h.URL + "/v1/sessions")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("no API key: %d", res.StatusCode)
	}
	// socket: bad token, unknown entry point
	for q, want := range map[string]int{"token=garbage": 401, "entry=nope": 404, "": 404} {
		res, err := http.Get(h.URL + "/v1/sessions/ws?" + q)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("ws ?%s: %d, want %d", q, res.StatusCode, want)
		}
	}
	// malformed frames keep the socket open with an error frame
	p, err := testutil.DialSession(ctx, wsURL(h, "entry=default"), 440, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, f := range []string{`{`, `{"type":"start"}`, `{"type":"accept","leg":"x"}`, `{"type":"fly"}`, `{"type":"start","sdp":"v=0 garbage"}`} {
		n := countType(p.Frames(), "error")
		if err := p.SendRaw(ctx, f); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 3*time.Second, "an error frame for "+f, func() bool { return countType(p.Frames(), "error") > n })
	}
	if err := p.Send(ctx, map[string]any{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitFor(ctx, isType("pong")); err != nil {
		t.Fatal("socket unusable after bad frames:", err)
	}
}

type sseStream struct {
	body io.ReadCloser
	mu   sync.Mutex
	evs  []string
	ids  []int
}

// openSSE subscribes to a session's event stream with the API key.
func openSSE(t *testing.T, url string) *sseStream {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+testutil.HubAPIKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("SSE: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sseStream{body: res.Body}
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				s.evs = append(s.evs, v)
			}
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				n, _ := strconv.Atoi(v)
				s.ids = append(s.ids, n)
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *sseStream) Close() { s.body.Close() }

func (s *sseStream) types() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.evs...)
}

func (s *sseStream) saw(typ string) bool {
	for _, e := range s.types() {
		if e == typ {
			return true
		}
	}
	return false
}

func (s *sseStream) waitFor(t *testing.T, typ string, within time.Duration) {
	t.Helper()
	waitUntil(t, within, "event "+typ+" on the stream", func() bool { return s.saw(typ) })
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 1; i < len(s.ids); i++ {
		if s.ids[i] != s.ids[i-1]+1 {
			t.Fatalf("event ids not consecutive: %v", s.ids)
		}
	}
}

// TestCustomerResume: the customer's browser drops mid-call (the socket and
// the peer connection die without a hangup); the session keeps the agent
// and waits; the customer comes back with the answer's resume token and is
// connected to the same agent; an abandoned session ends after the grace.
func TestCustomerResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := hubConfig(t, 20100, t.TempDir())
	cfg.Sessions.ResumeGrace = 3 * time.Second
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}
	ag := connectAgent(ctx, t, h, "agent1", toneAgent1, 1, true)
	cust, offer := answeredCall(ctx, t, h, ag)
	waitUntil(t, 10*time.Second, "the call", func() bool { return cust.DominantHz(tones) == toneAgent1 })
	ans, _ := cust.WaitFor(ctx, isType("answer"))
	var resume struct{ Resume string }
	_ = json.Unmarshal(ans.Raw, &resume)
	if resume.Resume == "" {
		t.Fatal("the answer carries no resume token")
	}
	cust.Close() // the browser vanishes: no hangup
	time.Sleep(500 * time.Millisecond)
	_, s := a.do("GET", "/v1/sessions/"+offer.Session, nil)
	if s["state"] != "active" {
		t.Fatalf("the session did not wait for the customer: %v", s["state"])
	}
	back, err := testutil.DialSession(ctx, wsURL(h, "token="+resume.Resume), toneCustomer, 8, true)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if err := back.Start(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the resumed call's media with the same agent", func() bool {
		return back.DominantHz(tones) == toneAgent1 && ag.VideoFrom(8) > 20 && back.VideoFrom(1) > 20
	})
	if n := countType(ag.Frames(), "ended"); n != 0 {
		t.Fatalf("the agent's call was ended %d times during the drop", n)
	}
	// now the customer vanishes for good: the session ends after the grace
	// (counted from this drop, not the first one)
	time.Sleep(2 * time.Second)
	back.Close()
	gone := time.Now()
	if _, err := ag.WaitFor(ctx, isType("ended")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(gone); d < 2500*time.Millisecond {
		t.Fatalf("the session ended %s after the second drop, before its grace (3 s)", d)
	}
	waitUntil(t, 5*time.Second, "the recorded end", func() bool {
		_, s := a.do("GET", "/v1/sessions/"+offer.Session, nil)
		return s["state"] == "ended" && s["cause"] == "Customer left"
	})
}

// connectAgent opens agent id's console (sending toneHz, video tagged tag)
// and, with ready, logs it in to the built-in ACD and makes it ready.
func connectAgent(ctx context.Context, t *testing.T, h *testutil.Hub, id string, toneHz float64, tag byte, ready bool) *testutil.SessionPeer {
	t.Helper()
	p, err := testutil.DialSession(ctx, wsURL(h, "token="+agentToken(t, h, id)), toneHz, tag, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if ready {
		_ = p.Send(ctx, map[string]any{"type": "login"})
		_ = p.Send(ctx, map[string]any{"type": "ready", "ready": true})
	}
	return p
}

// answeredCall: a customer (tone toneCustomer, video tag 9) enters at the
// default entry point and ag accepts the offer; it returns the customer and
// the offer (whose Session is the session id) once the agent hears them.
func answeredCall(ctx context.Context, t *testing.T, h *testutil.Hub, ag *testutil.SessionPeer) (*testutil.SessionPeer, testutil.Message) {
	t.Helper()
	return answeredCallWith(ctx, t, h, ag, true, nil)
}

// answeredCallWith is answeredCall with the customer's video and a change
// to the customer before it starts (nil: none).
func answeredCallWith(ctx context.Context, t *testing.T, h *testutil.Hub, ag *testutil.SessionPeer, video bool, prep func(*testutil.SessionPeer)) (*testutil.SessionPeer, testutil.Message) {
	t.Helper()
	cust, err := testutil.DialSession(ctx, wsURL(h, "entry=default"), toneCustomer, 9, video)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cust.Close)
	if prep != nil {
		prep(cust)
	}
	if err := cust.Start(ctx, "Ana", nil); err != nil {
		t.Fatal(err)
	}
	offer, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the answered call", func() bool { return ag.DominantHz(tones) == toneCustomer })
	return cust, offer
}
