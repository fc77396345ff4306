//go:build linux

package sessions

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify/notifytest"
	"github.com/split-hub/split/internal/testutil"
	"github.com/split-hub/split/internal/testutil/pgtest"
)

// TestNodeLost: two hub nodes on one PostgreSQL (ports 27000-27199; the
// cluster tests use 27000-27499, free in this package). Node A (the real binary)
// is killed with SIGKILL while it owns a session; node B, which never saw
// that session live, finds A's heartbeat silent past cluster.node_timeout
// and ends the session in the store with cause node_lost — B's own session
// is untouched. A restarted A takes its place again without rewriting what
// B recorded.
func TestNodeLost(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs PostgreSQL and the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "split")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/split").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dsn := pgtest.Start(t).FreshDSN(t)
	cluster := config.Cluster{Heartbeat: 100 * time.Millisecond, NodeTimeout: time.Second}

	// B's webhook receiver (the CRM): it must hear of A's session's end
	hooks := make(chan string, 64)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case hooks <- string(b):
		default:
		}
	}))
	defer recv.Close()
	cfgB := hubConfig(t, 27000, filepath.Join(dir, "b"))
	cfgB.Sessions.Store, cfgB.Cluster = dsn, cluster
	cfgB.Sessions.Webhooks = []config.Webhook{{URL: recv.URL, Secret: "whsec-test-0123456789", Events: []string{"session.ended"}}}
	b, err := testutil.StartHub(ctx, cfgB, nil)
	if err != nil {
		t.Fatal(err)
	}
	apiB := api{t, b.URL}

	cfgA := hubConfig(t, 27100, filepath.Join(dir, "a"))
	cfgA.Sessions.Store, cfgA.Cluster = dsn, cluster
	y, err := yaml.Marshal(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(cfgPath, y, 0o600); err != nil {
		t.Fatal(err)
	}
	startA := func() (*exec.Cmd, *syncBuffer) {
		logs := &syncBuffer{}
		cmd := exec.Command(bin, "serve", "--config", cfgPath)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		waitUntil(t, 20*time.Second, "node A ready", func() bool {
			res, err := http.Get("http://" + cfgA.HTTP.Listen + "/readyz")
			if err != nil {
				return false
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return res.StatusCode == 200
		})
		return cmd, logs
	}
	a, _ := startA()
	apiA := api{t, "http://" + cfgA.HTTP.Listen}

	code, onA := apiA.do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Ana"}})
	if code != 201 {
		t.Fatalf("session on A: %d %v", code, onA)
	}
	code, onB := apiB.do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Bea"}})
	if code != 201 {
		t.Fatalf("session on B: %d %v", code, onB)
	}
	idA, idB := onA["id"].(string), onB["id"].(string)
	// B reads A's session from the store (once A's recorder stored it): not ended
	var seen map[string]any
	waitUntil(t, 10*time.Second, "A's session in the store", func() bool {
		code, s := apiB.do("GET", "/v1/sessions/"+idA, nil)
		seen = s
		return code == 200
	})
	if seen["state"] == "ended" {
		t.Fatalf("A's session seen from B: %v", seen)
	}
	// longer than node_timeout passes with A alive: nothing is ended (an
	// observation of a span, so a sleep; wall time is what the timeout measures)
	time.Sleep(3 * cluster.NodeTimeout / 2)
	if _, s := apiB.do("GET", "/v1/sessions/"+idA, nil); s["state"] == "ended" {
		t.Fatalf("a live node's session ended: %v", s)
	}

	// the operators' view: both nodes up, B says it hosts one session
	nodeStates := func() map[string]string {
		_, v := apiB.do("GET", "/v1/nodes", nil)
		out := map[string]string{}
		ns, _ := v["nodes"].([]any)
		for _, n := range ns {
			m := n.(map[string]any)
			key := "other"
			if m["self"] == true {
				key = "self"
				if m["sessions"] != float64(1) {
					t.Errorf("B's own entry: %v", m)
				}
			}
			out[key] = fmt.Sprint(m["state"])
		}
		return out
	}
	if st := nodeStates(); st["self"] != "up" || st["other"] != "up" || len(st) != 2 {
		t.Fatalf("GET /v1/nodes before the kill: %v", st)
	}

	killed := time.Now()
	if err := a.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = a.Wait()
	var s map[string]any
	waitUntil(t, 15*time.Second, "B ending A's session", func() bool {
		_, s = apiB.do("GET", "/v1/sessions/"+idA, nil)
		return s["state"] == "ended"
	})
	took := time.Since(killed)
	if s["cause"] != "node_lost" {
		t.Fatalf("A's session ended with %v, want cause node_lost", s)
	}
	// A's last heartbeat may have been up to one heartbeat before the kill
	if took < cluster.NodeTimeout-cluster.Heartbeat {
		t.Fatalf("ended %s after the kill, before node_timeout (%s) could have passed", took, cluster.NodeTimeout)
	}
	t.Logf("A's session ended by B %s after the kill (node_timeout %s)", took.Round(10*time.Millisecond), cluster.NodeTimeout)
	if _, s := apiB.do("GET", "/v1/sessions/"+idB, nil); s["state"] == "ended" {
		t.Fatalf("B's own session ended: %v", s)
	}
	if st := nodeStates(); len(st) != 1 || st["self"] != "up" {
		t.Fatalf("GET /v1/nodes after the lost node was claimed: %v", st)
	}
	if code, ev := apiB.do("GET", "/v1/sessions/"+idA+"/events?format=json", nil); code != 200 || !strings.Contains(fmt.Sprint(ev), "node_lost") {
		t.Fatalf("no session.ended node_lost event: %d %v", code, ev)
	}
	deadline := time.After(10 * time.Second)
	for got := false; !got; {
		select {
		case body := <-hooks:
			got = strings.Contains(body, idA) && strings.Contains(body, `"node_lost"`) && strings.Contains(body, `"session.ended"`)
		case <-deadline:
			t.Fatal("no session.ended webhook with cause node_lost from B")
		}
	}
	res, err := http.Get(b.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	metrics := string(mb)
	for _, want := range []string{"split_cluster_nodes_lost_total 1", "split_cluster_sessions_lost_total 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("B's /metrics lacks %q", want)
		}
	}

	// A comes back: it serves again, and what B recorded stays
	_, logs := startA()
	if strings.Contains(logs.String(), "node_restart") {
		t.Errorf("the restarted node ended sessions again:\n%s", logs.String())
	}
	if _, s := apiB.do("GET", "/v1/sessions/"+idA, nil); s["cause"] != "node_lost" {
		t.Fatalf("after A's restart: %v", s)
	}
}

// TestEventsAcrossNodes: a session's event stream opened on node B follows
// a session that lives on node A — the events A stores reach B's stream
// through PostgreSQL's LISTEN/NOTIFY — and ends with session.ended.
func TestEventsAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	dsn := pgtest.Start(t).FreshDSN(t)
	var apis []api
	for i, base := range []int{27200, 27300} {
		cfg := hubConfig(t, base, filepath.Join(dir, fmt.Sprint(i)))
		cfg.Sessions.Store = dsn
		h, err := testutil.StartHub(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		apis = append(apis, api{t, h.URL})
	}
	a, b := apis[0], apis[1]
	code, s := a.do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Ana"}})
	if code != 201 {
		t.Fatalf("session on A: %d %v", code, s)
	}
	id := s["id"].(string)
	// A stores the session on its recorder's goroutine: B finds it once stored
	waitUntil(t, 10*time.Second, "A's session in the store", func() bool {
		code, _ := b.do("GET", "/v1/sessions/"+id, nil)
		return code == 200
	})
	// B relays a request about A's live session to A, once: a request that
	// says it was relayed already (X-Split-Relayed-By) is answered by B
	relayed := func() int {
		res, err := http.Get(b.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), `split_cluster_relayed_total{kind="http"} `); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		return 0
	}
	get := func(hdr string) int {
		req, _ := http.NewRequestWithContext(ctx, "GET", b.base+"/v1/sessions/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+testutil.HubAPIKey)
		if hdr != "" {
			req.Header.Set("X-Split-Relayed-By", hdr)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	r0 := relayed()
	if code := get(""); code != 200 || relayed() != r0+1 {
		t.Fatalf("GET through B: %d, relayed %d then %d", code, r0, relayed())
	}
	if code := get("another-node"); code != 200 || relayed() != r0+1 {
		t.Fatalf("GET marked relayed: %d, relayed %d (want answered by B, not relayed again)", code, relayed()-r0)
	}
	// B's list of live sessions (the admin view) has A's
	if code, l := b.do("GET", "/v1/sessions?active=true", nil); code != 200 || !strings.Contains(fmt.Sprint(l["sessions"]), id) {
		t.Fatalf("B's live sessions lack A's: %d %v", code, l)
	}

	req, _ := http.NewRequestWithContext(ctx, "GET", b.base+"/v1/sessions/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+testutil.HubAPIKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("event stream on B: %v %v", res, err)
	}
	defer res.Body.Close()
	events := make(chan string, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if typ, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- typ
			}
		}
	}()
	next := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case typ, ok := <-events:
				if !ok {
					t.Fatalf("B's stream closed before %s", want)
				}
				if typ == want {
					return
				}
			case <-deadline:
				t.Fatalf("no %s on B's stream", want)
			}
		}
	}
	next("session.created") // the history, from the store
	// A ends it: B's stream hears it live and closes
	if code, out := a.do("DELETE", "/v1/sessions/"+id, nil); code/100 != 2 {
		t.Fatalf("end on A: %d %v", code, out)
	}
	next("session.ended")
	select {
	case _, ok := <-events:
		if ok {
			for range events {
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("B's stream stayed open after session.ended")
	}
}

// TestReadyFollowsTheStore: a node whose store stops answering (here its
// heartbeats wait on a lock another transaction holds) says so on
// /readyz within three heartbeats, so load balancers send new sessions
// elsewhere; once the store is back the node is ready again by itself.
func TestReadyFollowsTheStore(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg := pgtest.Start(t)
	cfg := hubConfig(t, 27400, t.TempDir())
	cfg.Sessions.Store = pg.FreshDSN(t)
	cfg.Cluster = config.Cluster{Heartbeat: 100 * time.Millisecond, NodeTimeout: time.Second}
	h, err := testutil.StartHub(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ready := func() int {
		res, err := http.Get(h.URL + "/readyz")
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	waitUntil(t, 10*time.Second, "ready", func() bool { return ready() == 200 })

	// the store stops answering: a transaction holds the nodes table, so
	// every heartbeat waits (as on a hung or unreachable server)
	u, err := url.Parse(cfg.Sessions.Store)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := pg.Admin.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `LOCK TABLE `+u.Query().Get("search_path")+`.nodes IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "/readyz 503 with the store not answering", func() bool { return ready() == 503 })
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "/readyz 200 with the store back", func() bool { return ready() == 200 })
	// and the store works for it again
	if code, s := (api{t, h.URL}).do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Ana"}}); code != 201 {
		t.Fatalf("a session after the store came back: %d %v", code, s)
	}
}

// TestPostgresRestartDuringCalls: two nodes on one PostgreSQL (ports
// 27500-27699); a call is active on node A when PostgreSQL stops (an
// operator's restart: every connection ends). The call's media goes on;
// /readyz says 503; the customer hangs up while the store is away. Once
// PostgreSQL is back, A is ready again and its held events reach the store
// in order — the session's record says ended, with its cause — and B,
// whose heartbeats stopped too, took nobody for lost.
func TestPostgresRestartDuringCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg := pgtest.Start(t)
	hubs := startNodes(ctx, t, pg.FreshDSN(t), 10*time.Second, nil, 27500, 27600)
	a, b := hubs[0], hubs[1]
	ready := func(h *testutil.Hub) int {
		res, err := http.Get(h.URL + "/readyz")
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	ag := connectAgent(ctx, t, a, "agent1", toneAgent1, 1, true)
	cust, offer := answeredCall(ctx, t, a, ag)
	sid := offer.Session
	waitUntil(t, 10*time.Second, "the agent in the customer's ear", func() bool { return cust.DominantHz(tones) == toneAgent1 })

	pg.Stop(t)
	waitUntil(t, 10*time.Second, "/readyz 503 on both nodes", func() bool { return ready(a) == 503 && ready(b) == 503 })
	before := ag.AudioPackets()
	waitUntil(t, 5*time.Second, "the call's media going on without the store", func() bool {
		return ag.AudioPackets() > before+100 && cust.DominantHz(tones) == toneAgent1
	})
	if err := cust.Send(ctx, map[string]any{"type": "hangup"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ag.WaitFor(ctx, isType("ended")); err != nil {
		t.Fatal(err)
	}

	pg.Resume(t)
	waitUntil(t, 15*time.Second, "/readyz 200 on both nodes", func() bool { return ready(a) == 200 && ready(b) == 200 })
	var rec map[string]any
	waitUntil(t, 15*time.Second, "the session's end in the store", func() bool {
		_, rec = (api{t, b.URL}).do("GET", "/v1/sessions/"+sid, nil)
		return rec["state"] == "ended"
	})
	if rec["cause"] == "node_lost" || rec["cause"] == "" {
		t.Fatalf("the stored end: %v", rec)
	}
	// the state above may come from the owner's live snapshot: the events
	// held while the store was away are written as it catches up
	var j []byte
	waitUntil(t, 15*time.Second, "the held events in the store", func() bool {
		_, evs := (api{t, b.URL}).do("GET", "/v1/sessions/"+sid+"/events?format=json", nil)
		j, _ = json.Marshal(evs)
		return strings.Contains(string(j), `"type":"session.ended"`)
	})
	for _, typ := range []string{`"to":"active"`, `"type":"leg.left"`, `"type":"session.ended"`} {
		if !strings.Contains(string(j), typ) {
			t.Errorf("the stored history lacks %s: %s", typ, j)
		}
	}
	// and the store takes new sessions again
	if code, s := (api{t, a.URL}).do("POST", "/v1/sessions", map[string]any{"customer": map[string]any{"name": "Bea"}}); code != 201 {
		t.Fatalf("a session after the restart: %d %v", code, s)
	}
	// the shared ACD took the call's end once the store was back: the agent
	// is ready, not busy for ever, and takes the next customer
	after := func(n int, match func(testutil.Message) bool) func(testutil.Message) bool {
		i := 0 // WaitFor matches each frame once, in order
		return func(m testutil.Message) bool { i++; return i > n && match(m) }
	}
	endedAt := frameOf(ag, sid, "ended")
	if endedAt == 0 {
		t.Fatal("the agent's ended frame is not among its frames")
	}
	if _, err := ag.WaitFor(ctx, after(endedAt, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "ready" })); err != nil {
		t.Fatal(err)
	}
	n := len(ag.Frames())
	cust2, err := testutil.DialSession(ctx, wsURL(a, "entry=default"), toneCustomer, 9, false)
	if err != nil {
		t.Fatal(err)
	}
	defer cust2.Close()
	if err := cust2.Start(ctx, "Bea", nil); err != nil {
		t.Fatal(err)
	}
	offer2, err := ag.WaitFor(ctx, after(n, isType("offer")))
	if err != nil {
		t.Fatalf("the agent was not offered the next customer: %v", err)
	}
	if err := ag.Accept(ctx, offer2); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the next call", func() bool { return ag.DominantHz(tones) == toneCustomer && cust2.DominantHz(tones) == toneAgent1 })
}

// frameOf is the 1-based index of p's first frame of type typ about
// session sid (0 if none).
func frameOf(p *testutil.SessionPeer, sid, typ string) int {
	for i, m := range p.Frames() {
		if m.Type == typ && m.Session == sid {
			return i + 1
		}
	}
	return 0
}

// TestRelayNodeStops: a customer joined a session on node A through node B
// (the join and the session socket relayed: ports 26700-26999). B stops:
// the relayed socket closes with it. The customer resumes through node C
// with the resume token of its answer (relayed to A) within the grace: the
// same session, the agent undisturbed, the media back.
func TestRelayNodeStops(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hubs := startNodes(ctx, t, pgtest.Start(t).FreshDSN(t), 5*time.Second, nil, 26700, 26800, 26900)
	a, b, c := hubs[0], hubs[1], hubs[2]
	ag := connectAgent(ctx, t, a, "agent1", toneAgent1, 1, false)
	if err := ag.Send(ctx, map[string]any{"type": "invite", "channel": "copy", "name": "Ana"}); err != nil {
		t.Fatal(err)
	}
	inv, err := ag.WaitFor(ctx, isType("invited"))
	if err != nil {
		t.Fatal(err)
	}
	var invited struct{ URL, Session string }
	_ = json.Unmarshal(inv.Raw, &invited)
	offer, err := ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	code, out := join(t, api{t, b.URL}, linkToken(t, invited.URL), nil)
	if code != 200 || out["session"] != invited.Session {
		t.Fatalf("join through B: %d %v", code, out)
	}
	cust, err := testutil.DialSession(ctx, wsURL(b, "token="+out["ws_token"].(string)), toneCustomer, 9, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cust.Close()
	if err := cust.Start(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	ans, err := cust.WaitFor(ctx, isType("answer"))
	if err != nil {
		t.Fatal(err)
	}
	var answer struct{ Resume string }
	_ = json.Unmarshal(ans.Raw, &answer)
	if answer.Resume == "" {
		t.Fatalf("no resume token in the answer: %s", ans.Raw)
	}
	waitUntil(t, 10*time.Second, "the call's media through B's relay", func() bool {
		return cust.DominantHz(tones) == toneAgent1 && ag.DominantHz(tones) == toneCustomer
	})

	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the relayed socket closed with B", cust.Closed)
	cust2, err := testutil.DialSession(ctx, wsURL(c, "token="+answer.Resume), toneCustomer, 9, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cust2.Close()
	if err := cust2.Start(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the media back through C's relay", func() bool { return cust2.DominantHz(tones) == toneAgent1 })
	before := ag.AudioPackets()
	waitUntil(t, 5*time.Second, "the agent hearing the customer again", func() bool {
		return ag.AudioPackets() > before+50 && ag.DominantHz(tones) == toneCustomer
	})
	for _, m := range ag.Frames() {
		if m.Type == "ended" {
			t.Fatalf("the agent's call ended: %s", m.Raw)
		}
	}
	_, s := (api{t, a.URL}).do("GET", "/v1/sessions/"+invited.Session, nil)
	if s["state"] != "active" {
		t.Fatalf("the session after the resume: %v", s["state"])
	}
	if err := cust2.Send(ctx, map[string]any{"type": "hangup", "session": invited.Session}); err != nil {
		t.Fatal(err)
	}
	if _, err := ag.WaitFor(ctx, isType("ended")); err != nil {
		t.Fatal(err)
	}
}

// TestRemindersOnceAcrossNodes: three nodes share the store and its
// appointments (ports 23800-24099); the reminder scan runs on one of them at
// a time (a lease), so an appointment's reminder SMS goes out once, not
// once per node.
func TestRemindersOnceAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tw := notifytest.StartTwilio(t)
	pg := pgtest.Start(t)
	dsn := pg.FreshDSN(t)
	hubs := startNodes(ctx, t, dsn, time.Second, func(cfg *config.Config) {
		withNotify(cfg, tw, nil)
		cfg.Sessions.Appointments.Reminder = 4 * time.Second // scanned every second
	}, 23800, 23900, 24000)
	a := api{t, hubs[0].URL}
	code, appt := a.do("POST", "/v1/appointments", map[string]any{"start": time.Now().Add(6 * time.Second).UTC().Format(time.RFC3339),
		"customer": map[string]any{"name": "Ana", "contact": "+34600123456"}})
	if code != 201 || appt["delivery"] != "sms" {
		t.Fatalf("appointment: %d %v", code, appt)
	}
	if _, err := tw.Wait(ctx, 2); err != nil { // the invitation, then the reminder
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the appointment marked reminded", func() bool {
		_, got := a.do("GET", "/v1/appointments/"+appt["id"].(string), nil)
		return got["state"] == "reminded"
	})
	// several more scans of every node pass: no other reminder (an
	// observation of a span, so a sleep)
	time.Sleep(3 * time.Second)
	if n := len(tw.Messages()); n != 2 {
		t.Fatalf("%d SMS: want the invitation and one reminder", n)
	}
	// the scan runs on one node: the one that holds the lease
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	var holders int
	if err := pg.Admin.QueryRowContext(ctx, `SELECT count(DISTINCT holder) FROM `+u.Query().Get("search_path")+`.leases WHERE name = 'appointments:reminders'`).Scan(&holders); err != nil || holders != 1 {
		t.Fatalf("reminder scan lease holders: %d %v", holders, err)
	}
}

// TestTransferToAgentOnAnotherNode: agent1 on node A (ports 25000-25099)
// has the customer's call and transfers it to agent:agent2, whose console is
// on node B (25300-25399). A makes the offer and delivers it on the socket
// agent2's console opens for the session after remote_offer (relayed by B):
// agent2 answers and talks with the customer; agent1 is released. Then a
// phone calls agent2 at node A: the same, for a new session.
func TestTransferToAgentOnAnotherNode(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hubs := startNodes(ctx, t, pgtest.Start(t).FreshDSN(t), 5*time.Second, nil, 25000, 25300)
	a, b := hubs[0], hubs[1]
	ag1 := connectAgent(ctx, t, a, "agent1", toneAgent1, 1, true)
	home2, err := testutil.DialSession(ctx, wsURL(b, "token="+agentToken(t, b, "agent2")), toneAgent2, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	defer home2.Close()
	waitUntil(t, 5*time.Second, "agent2 online as seen from A", func() bool {
		_, l := (api{t, a.URL}).do("GET", "/v1/agents", nil)
		return strings.Contains(fmt.Sprint(l["agents"]), "id:agent2") && strings.Contains(fmt.Sprint(l["agents"]), "online:true")
	})
	cust, offer := answeredCall(ctx, t, a, ag1)
	sid := offer.Session
	waitUntil(t, 10*time.Second, "agent1 in the customer's ear", func() bool { return cust.DominantHz(tones) == toneAgent1 })
	if err := ag1.Send(ctx, map[string]any{"type": "transfer", "session": sid, "to": "agent:agent2"}); err != nil {
		t.Fatal(err)
	}
	ro, err := home2.WaitFor(ctx, isType("remote_offer"))
	if err != nil || ro.Session != sid {
		var fs []string
		for _, m := range ag1.Frames() {
			fs = append(fs, string(m.Raw))
		}
		t.Fatalf("remote_offer: %v %s; agent1 got %s", err, ro.Raw, strings.Join(fs[max(0, len(fs)-3):], " "))
	}
	sock2, err := testutil.DialSession(ctx, wsURL(b, "token="+agentToken(t, b, "agent2")+"&session="+sid), toneAgent2, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sock2.Close()
	offer2, err := sock2.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sock2.Accept(ctx, offer2); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "agent2 (on B) and the customer (on A)", func() bool {
		return sock2.DominantHz(tones) == toneCustomer && cust.DominantHz(tones) == toneAgent2
	})
	if _, err := ag1.WaitFor(ctx, isType("ended")); err != nil {
		t.Fatalf("agent1 not released: %v", err)
	}
	if err := cust.Send(ctx, map[string]any{"type": "hangup", "session": sid}); err != nil {
		t.Fatal(err)
	}
	if _, err := sock2.WaitFor(ctx, isType("ended")); err != nil {
		t.Fatal(err)
	}

	// a phone calls agent2 at node A (as a SIP front may send it): a new
	// session on A, offered on agent2's socket for it from B
	phone, err := testutil.StartUAS(testutil.UASOptions{Listen: "127.0.0.1:25095", ToneHz: tonePhone})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	type dialed struct {
		c   *testutil.SIPCall
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := phone.Invite(ctx, "sip:agent2@"+a.Cfg.SIP.ListenUDP)
		ch <- dialed{c, err}
	}()
	n := len(home2.Frames())
	ro2, err := home2.WaitFor(ctx, func(m testutil.Message) bool { n--; return n < 0 && m.Type == "remote_offer" })
	if err != nil {
		t.Fatal(err)
	}
	sock3, err := testutil.DialSession(ctx, wsURL(b, "token="+agentToken(t, b, "agent2")+"&session="+ro2.Session), toneAgent2, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sock3.Close()
	offer3, err := sock3.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sock3.Accept(ctx, offer3); err != nil {
		t.Fatal(err)
	}
	d := <-ch
	if d.err != nil {
		t.Fatal(d.err)
	}
	waitUntil(t, 10*time.Second, "agent2 (on B) hears the phone (on A)", func() bool { return sock3.DominantHz(tones4) == tonePhone })
	if err := d.c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sock3.WaitFor(ctx, isType("ended")); err != nil {
		t.Fatal(err)
	}
}

// startNodes starts an in-process hub node per base on the store dsn, with
// heartbeats every 100 ms and nodeTimeout; mutate, if set, changes each
// node's configuration. They stop when t ends (Stop is idempotent).
func startNodes(ctx context.Context, t *testing.T, dsn string, nodeTimeout time.Duration, mutate func(*config.Config), bases ...int) []*testutil.Hub {
	t.Helper()
	dir := t.TempDir()
	var hubs []*testutil.Hub
	for i, base := range bases {
		cfg := hubConfig(t, base, filepath.Join(dir, fmt.Sprint(i)))
		cfg.Sessions.Store = dsn
		cfg.Cluster = config.Cluster{Heartbeat: 100 * time.Millisecond, NodeTimeout: nodeTimeout}
		if mutate != nil {
			mutate(cfg)
		}
		h, err := testutil.StartHub(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Stop() })
		hubs = append(hubs, h)
	}
	return hubs
}
