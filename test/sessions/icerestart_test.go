package sessions

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/testutil"
)

// TestICERestart: the customer's and then the agent's network changes
// mid-call; each restarts ICE on the same PeerConnection (a "restart"
// offer with new credentials). The hub answers with new credentials of its
// own, media keeps flowing both ways, nobody renegotiates a session, and
// a restart for a leg the socket does not own is refused.
func TestICERestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := testutil.StartHub(ctx, hubConfig(t, 20600, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	ag := connectAgent(ctx, t, h, "agent1", toneAgent1, 1, true)
	cust, offer := answeredCall(ctx, t, h, ag)
	waitUntil(t, 10*time.Second, "media both ways", func() bool {
		return cust.DominantHz(tones) == toneAgent1 && cust.VideoFrom(1) > 10 && ag.VideoFrom(9) > 10
	})
	for _, p := range []struct {
		name string
		peer *testutil.SessionPeer
	}{{"customer", cust}, {"agent", ag}} {
		before, after, err := p.peer.RestartICE(ctx)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if before == "" || after == "" || before == after {
			t.Fatalf("%s: the hub's ice-ufrag %q → %q, want new credentials", p.name, before, after)
		}
		a0, c0, av, cv := ag.AudioPackets(), cust.AudioPackets(), ag.VideoFrom(9), cust.VideoFrom(1)
		waitUntil(t, 10*time.Second, "media both ways after the "+p.name+"'s restart", func() bool {
			return ag.AudioPackets() > a0+50 && cust.AudioPackets() > c0+50 && ag.VideoFrom(9) > av+20 && cust.VideoFrom(1) > cv+20
		})
		if hz := ag.DominantHz(tones); hz != toneCustomer {
			t.Errorf("after the %s's restart the agent hears %.0f Hz", p.name, hz)
		}
	}
	if n := countType(cust.Frames(), "answer"); n != 1 {
		t.Errorf("the customer negotiated %d sessions, want 1", n)
	}
	ev := eventTypes(t, api{t, h.URL}, offer.Session)
	restarts := 0
	for _, e := range ev {
		if e == "leg.ice_restarted" {
			restarts++
		}
	}
	if restarts != 2 {
		t.Errorf("%d leg.ice_restarted events, want 2: %v", restarts, ev)
	}
	// a restart for someone else's leg, or without SDP
	if err := cust.Send(ctx, map[string]any{"type": "restart", "leg": offer.Leg, "sdp": "v=0"}); err != nil {
		t.Fatal(err)
	}
	if m, err := cust.WaitFor(ctx, isType("error")); err != nil || m.ErrorCode() == "" {
		t.Fatalf("restart of the agent's leg from the customer: %v %s", err, m.Raw)
	}
}

// TestICERestartAudioFastPath: the same restarts with a voice-only customer
// (no video m-line), whose leg's audio runs on the fast path
// (docs/benchmarks.md § Fast path; the agent's leg, offered video by the
// hub, may keep pion's path): the route follows the new candidate pair,
// the tones keep flowing both ways, and when the session ends no leg is
// left on it.
func TestICERestartAudioFastPath(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := testutil.StartHub(ctx, hubConfig(t, 20640, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	metric := func(sample string) float64 {
		res, err := http.Get(h.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, sample+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		t.Fatalf("/metrics has no %s", sample)
		return 0
	}
	ag, err := testutil.DialSession(ctx, wsURL(h, "token="+agentToken(t, h, "agent1")), toneAgent1, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	_ = ag.Send(ctx, map[string]any{"type": "login"})
	_ = ag.Send(ctx, map[string]any{"type": "ready", "ready": true})
	cust, offer := answeredCallWith(ctx, t, h, ag, false, func(c *testutil.SessionPeer) { c.AudioOnly = true })
	waitUntil(t, 10*time.Second, "both tones, the customer's leg on the fast path", func() bool {
		return ag.DominantHz(tones) == toneCustomer && cust.DominantHz(tones) == toneAgent1 &&
			metric("split_media_fast_path_legs") >= 1
	})
	for _, p := range []struct {
		name string
		peer *testutil.SessionPeer
	}{{"customer", cust}} { // the agent's restart: TestICERestart
		if _, _, err := p.peer.RestartICE(ctx); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		a0, c0 := ag.AudioPackets(), cust.AudioPackets()
		in0, out0 := metric(`split_media_fast_path_packets_total{direction="in"}`), metric(`split_media_fast_path_packets_total{direction="out"}`)
		waitUntil(t, 10*time.Second, "audio both ways on the fast path after the "+p.name+"'s restart", func() bool {
			return ag.AudioPackets() > a0+50 && cust.AudioPackets() > c0+50 &&
				metric(`split_media_fast_path_packets_total{direction="in"}`) > in0+100 &&
				metric(`split_media_fast_path_packets_total{direction="out"}`) > out0+100 &&
				metric("split_media_fast_path_legs") >= 1
		})
		if hz := ag.DominantHz(tones); hz != toneCustomer {
			t.Errorf("after the %s's restart the agent hears %.0f Hz", p.name, hz)
		}
		if hz := cust.DominantHz(tones); hz != toneAgent1 {
			t.Errorf("after the %s's restart the customer hears %.0f Hz", p.name, hz)
		}
	}
	if d := metric(`split_media_fast_path_packets_total{direction="dropped"}`); d != 0 {
		t.Errorf("%v packets failed SRTP on the fast path", d)
	}
	if err := cust.Send(ctx, map[string]any{"type": "hangup", "session": offer.Session}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "no leg left on the fast path after the customer hung up", func() bool {
		return metric("split_media_fast_path_legs") == 0
	})
}
