package store

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

func testNodes(t *testing.T, dsn string) {
	db := openT(t, dsn)
	ctx := t.Context()
	t0 := ms("2026-12-05T10:00:00Z")
	if ns, err := db.Nodes(ctx); err != nil || len(ns) != 0 {
		t.Fatalf("fresh store: %v %v", ns, err)
	}
	a := Node{Name: "host-a/0.0.0.0:8080", Address: "https://a.example.com", SIP: "sip:10.0.0.1:5060;transport=udp", StartedAt: t0, Heartbeat: t0}
	b := Node{Name: "host-b/0.0.0.0:8080", Address: "https://b.example.com", StartedAt: t0, Heartbeat: t0}
	for _, n := range []Node{a, b} {
		if err := db.Heartbeat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// a beats again and drains
	a.Heartbeat, a.Draining = t0.Add(20*time.Second), true
	if err := db.Heartbeat(ctx, a); err != nil {
		t.Fatal(err)
	}
	ns, err := db.Nodes(ctx)
	if err != nil || len(ns) != 2 || ns[0] != a || ns[1] != b {
		t.Fatalf("nodes: %+v %v", ns, err)
	}
	// b is silent: older than t0+10s; a is not
	before := t0.Add(10 * time.Second)
	if ok, err := db.ClaimLostNode(ctx, a.Name, before); err != nil || ok {
		t.Fatalf("a live node claimed: %v %v", ok, err)
	}
	// several survivors claim b at once: exactly one wins
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.ClaimLostNode(ctx, b.Name, before)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d survivors claimed the lost node, want 1", wins)
	}
	if ns, _ := db.Nodes(ctx); len(ns) != 1 || ns[0].Name != a.Name {
		t.Fatalf("after the claim: %+v", ns)
	}
	if err := db.RemoveNode(ctx, a.Name); err != nil {
		t.Fatal(err)
	}
	if ns, _ := db.Nodes(ctx); len(ns) != 0 {
		t.Fatalf("after removal: %+v", ns)
	}
	if err := db.Heartbeat(ctx, Node{Name: "bad\x00name"}); err == nil {
		t.Error("a NUL in a node name was stored")
	}
}

func testLeases(t *testing.T, dsn string) {
	db := openT(t, dsn)
	ctx := t.Context()
	t0 := ms("2026-12-05T10:00:00Z")
	const name = "register:acd"
	if ok, err := db.AcquireLease(ctx, name, "a", t0, t0.Add(10*time.Second)); err != nil || !ok {
		t.Fatalf("a free lease: %v %v", ok, err)
	}
	// b asks while a holds it; a renews
	if ok, err := db.AcquireLease(ctx, name, "b", t0.Add(5*time.Second), t0.Add(15*time.Second)); err != nil || ok {
		t.Fatalf("b took a held lease: %v %v", ok, err)
	}
	if ok, err := db.AcquireLease(ctx, name, "a", t0.Add(5*time.Second), t0.Add(15*time.Second)); err != nil || !ok {
		t.Fatalf("a's renewal: %v %v", ok, err)
	}
	// b before the renewed expiry: no; after it: yes, and only one of
	// several askers gets it
	if ok, _ := db.AcquireLease(ctx, name, "b", t0.Add(14*time.Second), t0.Add(24*time.Second)); ok {
		t.Fatal("b took the lease before it ran out")
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []string
	for _, h := range []string{"b", "c", "d", "e"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.AcquireLease(ctx, name, h, t0.Add(16*time.Second), t0.Add(26*time.Second))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				winners = append(winners, h)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("after expiry, %v took the lease; want one", winners)
	}
	// release by someone else does nothing; by the holder frees it
	if err := db.ReleaseLease(ctx, name, "a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := db.AcquireLease(ctx, name, "a", t0.Add(17*time.Second), t0.Add(27*time.Second)); ok {
		t.Fatal("a released a lease it did not hold")
	}
	if err := db.ReleaseLease(ctx, name, winners[0]); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.AcquireLease(ctx, name, "a", t0.Add(17*time.Second), t0.Add(27*time.Second)); err != nil || !ok {
		t.Fatalf("a released lease: %v %v", ok, err)
	}
	if _, err := db.AcquireLease(ctx, "bad\x00", "a", t0, t0); err == nil {
		t.Error("a NUL in a lease name was stored")
	}
}

func testNotifyEvents(t *testing.T, dsn string) {
	db := openT(t, dsn)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	got := make(chan string, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.ListenEvents(ctx, func(id string) { got <- id })
	}()
	if db.Engine() != EnginePostgres {
		select { // one node: nothing to listen to, it returns at once
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("ListenEvents on SQLite did not return")
		}
		if err := db.NotifyEvent(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		return
	}
	// the listener may not be listening yet: announce until it hears
	for {
		if err := db.NotifyEvent(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		select {
		case id := <-got:
			if id != "s1" {
				t.Fatalf("heard %q", id)
			}
			cancel()
			<-done // returns once its context ends
			return
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no announcement heard")
		}
	}
}

func testNotifyAgents(t *testing.T, dsn string) {
	db := openT(t, dsn)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if db.Engine() != EnginePostgres {
		if err := db.NotifyAgents(ctx, `{"kind":"offer"}`); err != nil {
			t.Fatal(err) // one node: nothing to tell, no error
		}
		return
	}
	if err := db.NotifyAgents(ctx, strings.Repeat("x", 7001)); err == nil {
		t.Error("a payload over PostgreSQL's NOTIFY size was sent")
	}
	type note struct{ ch, payload string }
	got := make(chan note, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.Listen(ctx, func(ch, p string) { got <- note{ch, p} })
	}()
	for {
		if err := db.NotifyAgents(ctx, `{"kind":"offer","agent":"a1"}`); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-got:
			if n.ch != AgentsChannel || n.payload != `{"kind":"offer","agent":"a1"}` {
				t.Fatalf("heard %+v", n)
			}
			cancel()
			<-done
			return
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no agents message heard")
		}
	}
}

func testConsoles(t *testing.T, dsn string) {
	db := openT(t, dsn)
	ctx := t.Context()
	for _, c := range []struct {
		agent, node string
		n           int
	}{{"a1", "n1", 1}, {"a1", "n2", 2}, {"a2", "n1", 1}, {"a1", "n2", 1}, {"a2", "n1", 0}} {
		if err := db.SetConsoles(ctx, c.agent, c.node, c.n); err != nil {
			t.Fatal(err)
		}
	}
	all, err := db.ConsoleNodes(ctx, "")
	if err != nil || len(all) != 1 || strings.Join(all["a1"], ",") != "n1,n2" {
		t.Fatalf("every agent: %v %v", all, err)
	}
	if one, _ := db.ConsoleNodes(ctx, "a2"); len(one) != 0 {
		t.Fatalf("a2 closed its console: %v", one)
	}
	if err := db.ForgetConsoles(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if one, _ := db.ConsoleNodes(ctx, "a1"); strings.Join(one["a1"], ",") != "n2" {
		t.Fatalf("after n1 is forgotten: %v", one)
	}
	if err := db.SetConsoles(ctx, "bad\x00", "n1", 1); err == nil {
		t.Error("a NUL in an agent id was stored")
	}
}
