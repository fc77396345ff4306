package sessions

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

// TestCallRecords drives four customers through a built-in queue with real
// WebRTC peers — one answered and transferred to a second agent, one the
// agent hangs up, one whose agent's browser goes away without a word, one
// abandoned while nobody is ready — and reads the records back
// (docs/records.md): JSON and CSV agree, the filters and the cursor work,
// the transferred call lists both agents, every leg has its media figures,
// the service level is 3 of 4 (75 %), the session.ended webhook carries the
// same record, and /metrics counts the same.
func TestCallRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var mu sync.Mutex
	hooked := map[string]map[string]any{} // session → the record in its session.ended webhook
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Type      string `json:"type"`
			SessionID string `json:"session_id"`
			Data      struct {
				Record map[string]any `json:"record"`
			} `json:"data"`
		}
		b, _ := io.ReadAll(r.Body)
		if json.Unmarshal(b, &ev) == nil && ev.Type == "session.ended" {
			mu.Lock()
			hooked[ev.SessionID] = ev.Data.Record
			mu.Unlock()
		}
	}))
	defer recv.Close()
	cfg := hubConfig(t, 31100, t.TempDir())
	cfg.Sessions.Queues = []config.Queue{{Name: "default", ServiceLevel: 20 * time.Second}}
	cfg.Sessions.Webhooks = []config.Webhook{{URL: recv.URL, Secret: "whsec-test-0123456789", Events: []string{"session.ended"}}}
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	a := api{t, h.URL}

	agent := func(id string, tone float64, n byte) *testutil.SessionPeer {
		t.Helper()
		p, err := testutil.DialSession(ctx, wsURL(h, "token="+agentToken(t, h, id)), tone, n, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		_ = p.Send(ctx, map[string]any{"type": "login"})
		return p
	}
	state := func(id string) string {
		_, got := a.do("GET", "/v1/agents", nil)
		list, _ := got["agents"].([]any)
		for _, x := range list {
			if x := x.(map[string]any); x["id"] == id {
				return fmt.Sprint(x["state"])
			}
		}
		return ""
	}
	ready := func(p *testutil.SessionPeer, id string, on bool) {
		t.Helper()
		want := map[bool]string{true: "ready", false: "not_ready"}[on]
		_ = p.Send(ctx, map[string]any{"type": "ready", "ready": on})
		waitUntil(t, 10*time.Second, id+" "+want, func() bool { return state(id) == want })
	}
	ag1, ag2 := agent("agent1", toneAgent1, 1), agent("agent2", toneAgent2, 2)
	ready(ag1, "agent1", true)
	ready(ag2, "agent2", false)

	customer := func(name string) (*testutil.SessionPeer, string) {
		t.Helper()
		c, err := testutil.DialSession(ctx, wsURL(h, "entry=default"), toneCustomer, 9, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if err := c.Start(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
		m, err := c.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.Session != "" })
		if err != nil {
			t.Fatal(err)
		}
		return c, m.Session
	}
	answer := func(c, ag *testutil.SessionPeer, sid string, agentTone float64) {
		t.Helper()
		o, err := ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "offer" && m.Session == sid })
		if err != nil {
			t.Fatal(err)
		}
		if err := ag.Accept(ctx, o); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 15*time.Second, "audio both ways", func() bool {
			return c.DominantHz(tones) == agentTone && ag.DominantHz(tones) == toneCustomer
		})
	}
	ended := func(sid string) {
		t.Helper()
		waitUntil(t, 15*time.Second, "the record of "+sid, func() bool {
			_, got := a.do("GET", "/v1/records?limit=1000", nil)
			return strings.Contains(fmt.Sprint(got["records"]), sid)
		})
	}

	// 1: agent 1 answers, transfers to agent 2, the customer hangs up
	c1, s1 := customer("Ana")
	answer(c1, ag1, s1, toneAgent1)
	ready(ag2, "agent2", true)
	_ = ag1.Send(ctx, map[string]any{"type": "transfer", "session": s1, "to": "agent:agent2"})
	answer(c1, ag2, s1, toneAgent2)
	_ = c1.Send(ctx, map[string]any{"type": "hangup"})
	ended(s1)
	ready(ag2, "agent2", false)
	waitUntil(t, 10*time.Second, "agent 1 ready after the transfer", func() bool { return state("agent1") == "ready" })

	// 2: agent 1 answers and hangs up
	c2, s2 := customer("Bea")
	answer(c2, ag1, s2, toneAgent1)
	_ = ag1.Send(ctx, map[string]any{"type": "hangup", "session": s2})
	ended(s2)

	// 3: agent 2 answers; their browser's media goes away without a word (the
	// hub ends the call as the agent's hang-up)
	ready(ag1, "agent1", false)
	ready(ag2, "agent2", true)
	c3, s3 := customer("Cai")
	answer(c3, ag2, s3, toneAgent2)
	if err := ag2.CloseMedia(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "the hub to see agent 2's media gone", func() bool {
		_, got := a.do("GET", "/v1/sessions/"+s3, nil)
		legs, _ := got["legs"].([]any)
		for _, l := range legs {
			if l.(map[string]any)["role"] == "agent" {
				return false
			}
		}
		return got["state"] == "ended" || len(legs) > 0 // the hub takes it for a hang-up
	})
	_ = c3.Send(ctx, map[string]any{"type": "hangup"})
	ended(s3)

	// 4: nobody ready; the customer gives up
	ready(ag2, "agent2", false)
	c4, s4 := customer("Dov")
	if _, err := c4.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "waiting" }); err != nil {
		t.Fatal(err)
	}
	_ = c4.Send(ctx, map[string]any{"type": "hangup"})
	ended(s4)

	// JSON: every figure the test can know
	code, got := a.do("GET", "/v1/records", nil)
	if code != 200 {
		t.Fatalf("GET /v1/records: %d %v", code, got)
	}
	recs := map[string]map[string]any{}
	var order []string
	for _, r := range got["records"].([]any) {
		r := r.(map[string]any)
		recs[r["session_id"].(string)] = r
		order = append(order, r["session_id"].(string))
	}
	if !slices.Equal(order, []string{s1, s2, s3, s4}) {
		t.Fatalf("records in the order %v, want %v (oldest end first)", order, []string{s1, s2, s3, s4})
	}
	want := map[string]struct {
		outcome, agents string
		transfers       float64
		sl              any
	}{s1: {"answered", "agent1 agent2", 1, true}, s2: {"answered", "agent1", 0, true}, s3: {"answered", "agent2", 0, true}, s4: {"abandoned", "", 0, false}}
	met, queued := 0, 0
	for sid, w := range want {
		r := recs[sid]
		agents := strings.Trim(fmt.Sprint(r["agents"]), "[]")
		if r["outcome"] != w.outcome || agents != w.agents || r["transfers"] != w.transfers || r["service_level_met"] != w.sl ||
			r["queue"] != "default" || r["channel"] != "web_video" || r["queue_wait_ms"].(float64) <= 0 {
			t.Errorf("record of %s: %v", sid, r)
		}
		if r["service_level_met"] == true {
			met++
		}
		if r["queued_at"] != nil {
			queued++
		}
		if w.outcome == "answered" {
			if r["talk_ms"].(float64) <= 0 || r["answered_at"] == nil || r["ring_ms"].(float64) <= 0 {
				t.Errorf("answered record of %s without talk or ring time: %v", sid, r)
			}
			// every browser leg: real packets counted both ways
			for _, l := range r["legs"].([]any) {
				l := l.(map[string]any)
				m, _ := l["media"].(map[string]any)
				if m == nil || m["packets_received"].(float64) < 5 || m["packets_sent"].(float64) < 5 {
					t.Errorf("record of %s, leg %v (%v): media %v", sid, l["id"], l["role"], m)
				}
			}
		}
	}
	if met*100/queued != 75 {
		t.Errorf("service level %d of %d, want 75 %%", met, queued)
	}

	// CSV says the same
	req, _ := http.NewRequest("GET", h.URL+"/v1/records", nil)
	req.Header.Set("Authorization", "Bearer "+testutil.HubAPIKey)
	req.Header.Set("Accept", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(res.Body).ReadAll()
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") || len(rows) != 5 {
		t.Fatalf("CSV: %d %s, %d rows, %v", res.StatusCode, res.Header.Get("Content-Type"), len(rows), err)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	for i, row := range rows[1:] {
		r := recs[row[col["session_id"]]]
		if row[col["session_id"]] != order[i] || row[col["outcome"]] != r["outcome"] || row[col["queue_wait_ms"]] != fmt.Sprint(r["queue_wait_ms"]) ||
			row[col["talk_ms"]] != fmt.Sprint(r["talk_ms"]) || row[col["agents"]] != strings.ReplaceAll(strings.Trim(fmt.Sprint(r["agents"]), "[]"), " ", ";") ||
			row[col["customer_name"]] != r["customer"].(map[string]any)["name"] {
			t.Errorf("CSV row %d %v does not match its JSON record %v", i, row, r)
		}
	}

	// filters and the cursor
	ids := func(q string) []string {
		t.Helper()
		code, got := a.do("GET", "/v1/records?"+q, nil)
		if code != 200 {
			t.Fatalf("GET /v1/records?%s: %d %v", q, code, got)
		}
		var out []string
		for _, r := range got["records"].([]any) {
			out = append(out, r.(map[string]any)["session_id"].(string))
		}
		return out
	}
	for q, w := range map[string][]string{
		"outcome=abandoned": {s4}, "agent=agent2": {s1, s3}, "agent=agent1": {s1, s2}, "queue=default": {s1, s2, s3, s4},
		"queue=other": nil, "mode=forward&outcome=answered": {s1, s2, s3}, "channel=phone": nil,
		"from=" + recs[s2]["ended_at"].(string): {s2, s3, s4}, "to=" + recs[s2]["ended_at"].(string): {s1},
	} {
		if got := ids(q); !slices.Equal(got, w) {
			t.Errorf("?%s: %v, want %v", q, got, w)
		}
	}
	var walked []string
	for q, pages := "limit=1", 0; ; pages++ {
		if pages > 6 {
			t.Fatal("the cursor does not end")
		}
		code, got := a.do("GET", "/v1/records?"+q, nil)
		if code != 200 {
			t.Fatalf("page: %d %v", code, got)
		}
		for _, r := range got["records"].([]any) {
			walked = append(walked, r.(map[string]any)["session_id"].(string))
		}
		next, _ := got["next_cursor"].(string)
		if next == "" {
			break
		}
		q = "limit=1&cursor=" + next
	}
	if !slices.Equal(walked, order) {
		t.Errorf("pages of one: %v, want %v", walked, order)
	}
	for _, q := range []string{"limit=0", "limit=1001", "from=yesterday", "outcome=won", "channel=pigeon", "cursor=%25%25", "cursor=bm9wZQ", "format=xml"} {
		if code, got := a.do("GET", "/v1/records?"+q, nil); code != 400 {
			t.Errorf("?%s: %d %v, want 400", q, code, got)
		}
	}
	// records and the wallboard need the API key: no key, or an agent's
	// token, is refused (docs/security.md)
	tok := agentToken(t, h, "agent1")
	for _, path := range []string{"/v1/records", "/v1/records?format=csv", "/v1/wallboard", "/v1/wallboard/events"} {
		for _, bearer := range []string{"", tok} {
			req, _ := http.NewRequest("GET", h.URL+path, nil)
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 401 {
				t.Errorf("%s with bearer %.10q: %d, want 401", path, bearer, res.StatusCode)
			}
		}
	}

	// the webhook carried the same records
	waitUntil(t, 15*time.Second, "four session.ended webhooks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(hooked) == 4
	})
	mu.Lock()
	for sid, r := range recs {
		a, _ := json.Marshal(r)
		b, _ := json.Marshal(hooked[sid])
		if string(a) != string(b) {
			t.Errorf("session.ended of %s carries\n%s\nthe API says\n%s", sid, b, a)
		}
	}
	mu.Unlock()

	// and /metrics counts the same
	res, err = http.Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, line := range []string{
		`split_call_records_total{channel="web_video",outcome="answered",queue="default",service_level="met"} 3`,
		`split_call_records_total{channel="web_video",outcome="abandoned",queue="default",service_level="missed"} 1`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}
