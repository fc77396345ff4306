package sessions

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/testutil"
	"github.com/split-hub/split/internal/webhook"
)

const tonePhone = 1477.0

type hookSink struct {
	mu     sync.Mutex
	types  []string
	bodies []string
	badSig int
}

func (k *hookSink) handler(secret string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		k.mu.Lock()
		defer k.mu.Unlock()
		if err := webhook.Verify(secret, r.Header.Get("X-Split-Signature"), b, time.Now(), time.Minute); err != nil {
			k.badSig++
			w.WriteHeader(400)
			return
		}
		var e struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(b, &e)
		k.types = append(k.types, e.Type)
		k.bodies = append(k.bodies, string(b))
	}
}

func (k *hookSink) has(typ string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, t := range k.types {
		if t == typ {
			return true
		}
	}
	return false
}

// TestConferenceMixAndWebhooks: a third voice (a phone added through the
// API) turns the two-party bridge into a mix-minus conference: everyone
// hears the two others and not themselves. Lifecycle webhooks arrive signed.
func TestConferenceMixAndWebhooks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const secret = "whsec_0123456789abcdef"
	sink := &hookSink{}
	srv := httptest.NewServer(sink.handler(secret))
	defer srv.Close()
	phone, err := testutil.StartUAS(testutil.UASOptions{Listen: "127.0.0.1:19390", ToneHz: tonePhone})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	cfg := hubConfig(t, 19300, t.TempDir())
	cfg.Sessions.Webhooks = []config.Webhook{{URL: srv.URL, Secret: secret, Events: []string{"session.*"}}}
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}
	ag := connectAgent(ctx, t, h, "agent1", toneAgent1, 1, true)
	cust, offer := answeredCall(ctx, t, h, ag)
	waitUntil(t, 10*time.Second, "a two-party call", func() bool { return cust.DominantHz(tones) == toneAgent1 })

	code, out := a.do("POST", "/v1/sessions/"+offer.Session+"/participants", map[string]any{"to": "1000"})
	if code != 202 {
		t.Fatalf("add participant: %d %v", code, out)
	}
	call, err := phone.WaitCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if uui := call.Header("User-to-User"); !strings.HasPrefix(uui, "00") {
		t.Errorf("the phone party's INVITE lacks the session's UUI: %q", uui)
	}
	const heard = 0.02
	level := func(pcm []int16, f float64) float64 {
		if len(pcm) < 8000 {
			return 0
		}
		return media.ToneLevel(pcm[len(pcm)-8000:], f, 8000)
	}
	defer func() {
		if t.Failed() {
			p := call.Received()
			t.Logf("customer hears agent %.3f phone %.3f; agent hears customer %.3f phone %.3f; phone hears customer %.3f agent %.3f (%d samples)",
				cust.ToneLevel(toneAgent1), cust.ToneLevel(tonePhone), ag.ToneLevel(toneCustomer), ag.ToneLevel(tonePhone),
				level(p, toneCustomer), level(p, toneAgent1), len(p))
		}
	}()
	waitUntil(t, 15*time.Second, "everyone to hear the two others", func() bool {
		p := call.Received()
		return cust.ToneLevel(toneAgent1) > heard && cust.ToneLevel(tonePhone) > heard &&
			ag.ToneLevel(toneCustomer) > heard && ag.ToneLevel(tonePhone) > heard &&
			level(p, toneCustomer) > heard && level(p, toneAgent1) > heard
	})
	// mix-minus: nobody hears themselves
	if own := cust.ToneLevel(toneCustomer); own > heard/4 {
		t.Errorf("the customer hears their own voice at %.3f", own)
	}
	if own := ag.ToneLevel(toneAgent1); own > heard/4 {
		t.Errorf("the agent hears their own voice at %.3f", own)
	}
	if own := level(call.Received(), tonePhone); own > heard/4 {
		t.Errorf("the phone hears its own voice at %.3f", own)
	}
	_, s := a.do("GET", "/v1/sessions/"+offer.Session, nil)
	if n := len(s["legs"].([]any)); n != 3 {
		t.Fatalf("%d legs, want customer, agent, phone-party", n)
	}
	code, _ = a.do("DELETE", "/v1/sessions/"+offer.Session, nil)
	if code != 204 {
		t.Fatalf("DELETE: %d", code)
	}
	select {
	case <-call.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the phone party was not hung up when the session ended")
	}
	waitUntil(t, 10*time.Second, "signed lifecycle webhooks", func() bool {
		return sink.has("session.created") && sink.has("session.waiting") && sink.has("session.active") && sink.has("session.ended")
	})
	if sink.badSig != 0 {
		t.Fatalf("%d webhooks failed signature verification", sink.badSig)
	}
	if sink.has("leg.joined") {
		t.Fatal("the endpoint's event filter (session.*) was not applied")
	}
}

// TestQueuePositionsAndOverflow: customers see their place in the queue
// move up; a queue with nobody logged in overflows to its SIP target.
func TestQueuePositionsAndOverflow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	phone, err := testutil.StartUAS(testutil.UASOptions{Listen: "127.0.0.1:19490", ToneHz: tonePhone})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	cfg := hubConfig(t, 19400, t.TempDir())
	cfg.Sessions.EntryPoints = append(cfg.Sessions.EntryPoints, config.EntryPoint{Name: "after-hours", Public: true, RateLimit: 10})
	cfg.Sessions.Queues = append(cfg.Sessions.Queues, config.Queue{Name: "night", RingTimeout: 20 * time.Second, Overflow: "1000"})
	cfg.Sessions.Routes = []config.Route{{Name: "night", Entry: "after-hours", Target: "queue:night"}, {Name: "day", Target: "queue:default"}}
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()

	// overflow: nobody serves "night"
	night, err := testutil.DialSession(ctx, wsURL(h, "entry=after-hours"), toneCustomer, 9, false)
	if err != nil {
		t.Fatal(err)
	}
	defer night.Close()
	if err := night.Start(ctx, "Owl", nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the overflow call to be answered and heard", func() bool { return night.DominantHz(tones) == tonePhone })
	if n, _, _ := phone.Counts(); n != 1 {
		t.Fatalf("overflow target got %d calls", n)
	}

	// positions: agent logged in but not ready; two customers wait
	ag, err := testutil.DialSession(ctx, wsURL(h, "token="+agentToken(t, h, "agent1")), toneAgent1, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	_ = ag.Send(ctx, map[string]any{"type": "login"})
	if _, err := ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "not_ready" }); err != nil {
		t.Fatal(err)
	}
	c1, err := testutil.DialSession(ctx, wsURL(h, "entry=default"), toneCustomer, 9, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if err := c1.Start(ctx, "First", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.Position == 1 && m.EWT > 0 }); err != nil {
		t.Fatal(err)
	}
	c2, err := testutil.DialSession(ctx, wsURL(h, "entry=default"), toneCustomer, 8, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Start(ctx, "Second", nil); err != nil {
		t.Fatal(err)
	}
	p2, err := c2.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.Position == 2 })
	if err != nil {
		t.Fatal(err)
	}
	_ = ag.Send(ctx, map[string]any{"type": "ready", "ready": true})
	offer, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(offer.Raw), `"name":"First"`) {
		t.Fatalf("the agent was offered %s, want the first in line", offer.Raw)
	}
	if err := ag.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	p1, err := c2.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.Position == 1 })
	if err != nil {
		t.Fatal(err)
	}
	if p1.EWT > p2.EWT {
		t.Errorf("estimated wait grew from %d s to %d s as the customer moved up", p2.EWT, p1.EWT)
	}
	// c2 abandons: the queue statistics count it
	c2.Close()
	a := api{t, h.URL}
	waitUntil(t, 5*time.Second, "the abandon to be counted", func() bool {
		_, qs := a.do("GET", "/v1/queues", nil)
		for _, q := range qs["queues"].([]any) {
			q := q.(map[string]any)
			if q["name"] == "default" && q["abandoned"].(float64) == 1 && q["answered"].(float64) == 1 {
				return true
			}
		}
		return false
	})
}

// TestSupervisorBarge: a supervisor joins from their console through the
// API: the three voices are mixed mix-minus, the supervisor sees the
// customer, and the customer keeps seeing their agent.
func TestSupervisorBarge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := testutil.StartHub(ctx, hubConfig(t, 20200, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}
	ag := connectAgent(ctx, t, h, "agent1", toneAgent1, 1, true)
	sup := connectAgent(ctx, t, h, "agent2", toneAgent2, 2, false)
	cust, offer := answeredCall(ctx, t, h, ag)
	waitUntil(t, 10*time.Second, "the call", func() bool { return cust.DominantHz(tones) == toneAgent1 })
	if code, out := a.do("POST", "/v1/sessions/"+offer.Session+"/participants", map[string]any{"to": "agent:agent2", "role": "supervisor"}); code != 202 {
		t.Fatalf("barge: %d %v", code, out)
	}
	so, err := sup.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Accept(ctx, so); err != nil {
		t.Fatal(err)
	}
	const heard = 0.02
	waitUntil(t, 15*time.Second, "three voices mixed mix-minus", func() bool {
		return cust.ToneLevel(toneAgent1) > heard && cust.ToneLevel(toneAgent2) > heard &&
			ag.ToneLevel(toneCustomer) > heard && ag.ToneLevel(toneAgent2) > heard &&
			sup.ToneLevel(toneCustomer) > heard && sup.ToneLevel(toneAgent1) > heard &&
			sup.VideoFrom(9) > 20
	})
	if own := sup.ToneLevel(toneAgent2); own > heard/4 {
		t.Errorf("the supervisor hears themselves at %.3f", own)
	}
	if n := cust.VideoFrom(2); n > 0 {
		t.Errorf("the customer received %d packets of the supervisor's camera; they should keep seeing their agent", n)
	}
	// the supervisor leaves; the call goes on between customer and agent
	if err := sup.Send(ctx, map[string]any{"type": "hangup", "session": offer.Session}); err != nil {
		t.Fatal(err)
	}
	if _, err := sup.WaitFor(ctx, isType("ended")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the two-party call again", func() bool {
		return cust.ToneLevel(toneAgent2) < heard/4 && cust.DominantHz(tones) == toneAgent1
	})
	if n := countType(ag.Frames(), "ended"); n != 0 {
		t.Fatal("the agent's call ended with the supervisor's")
	}
}

// TestEndedRecordNeverStale: a session that has left the live list is read
// from the store, and the store must already say how it ended. Before the
// fix, a session left the hub's live table as soon as its goroutine stopped,
// while the event recorder could still be behind: a GET then returned an
// older record (state waiting, no cause). Ending many sessions at once puts
// the recorder behind.
func TestEndedRecordNeverStale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := testutil.StartHub(ctx, hubConfig(t, 24800, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}
	const n = 40
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		code, s := a.do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": fmt.Sprintf("c%d", i)}})
		if code != 201 {
			t.Fatalf("session %d: %d %v", i, code, s)
		}
		ids = append(ids, s["id"].(string))
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "DELETE", h.URL+"/v1/sessions/"+id, nil)
			req.Header.Set("Authorization", "Bearer "+testutil.HubAPIKey)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}()
	}
	wg.Wait()
	pending := map[string]bool{}
	for _, id := range ids {
		pending[id] = true
	}
	waitUntil(t, 30*time.Second, "every session off the live list", func() bool {
		code, list := a.do("GET", "/v1/sessions?active=true", nil)
		if code != 200 {
			return false
		}
		live := map[string]bool{}
		for _, s := range list["sessions"].([]any) {
			live[s.(map[string]any)["id"].(string)] = true
		}
		for id := range pending {
			if live[id] {
				continue
			}
			_, s := a.do("GET", "/v1/sessions/"+id, nil)
			if s["state"] != "ended" || s["cause_code"] != float64(200) || s["cause"] != "Ended by API" {
				t.Errorf("session %s is off the live list but reads state %v, %v %q", id, s["state"], s["cause_code"], s["cause"])
			}
			delete(pending, id)
		}
		return len(pending) == 0
	})
}
