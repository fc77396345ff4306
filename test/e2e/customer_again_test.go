package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

// offerSDP is a browser-like offer (audio and video, receive only) with its
// ICE candidates; the hub answers it without any media being exchanged.
func offerSDP(t *testing.T) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-done
	return pc.LocalDescription().SDP
}

// startFrame sends a customer's start and returns the hub's reply to it:
// its answer or its error.
func startFrame(ctx context.Context, t *testing.T, p *testutil.SessionPeer, sdp string) testutil.Message {
	t.Helper()
	n := len(p.Frames())
	if err := p.Send(ctx, map[string]any{"type": "start", "sdp": sdp, "name": "Ana"}); err != nil {
		t.Fatal(err)
	}
	i := 0
	m, err := p.WaitFor(ctx, func(m testutil.Message) bool {
		i++
		return i > n && (m.Type == "answer" || m.Type == "error")
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCustomerSocketStartsAgain: an entry point's socket makes one call at
// a time and may start the next once its session has ended (the customer
// page's "Start a new call"); a start while the session is live is refused;
// every new session still counts toward the entry point's per-address
// rate_limit, whichever socket it comes from.
func TestCustomerSocketStartsAgain(t *testing.T) {
	const limit = 3
	startHub(t, func(c *config.Config) {
		forwardTo(pbxAddr, "queue:default", "agent1")(c)
		c.Sessions.EntryPoints = []config.EntryPoint{{Name: "default", Public: true, RateLimit: limit}}
	})
	// The limiter counts per wall-clock minute: keep the whole test in one.
	if s := time.Now().Second(); s > 45 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sdp := offerSDP(t)
	cust, err := testutil.DialSession(ctx, sessionWS("entry=default"), toneCustomer, 9, false)
	if err != nil {
		t.Fatal(err)
	}
	defer cust.Close()

	seen := map[string]bool{}
	for i := 1; i <= limit; i++ {
		m := startFrame(ctx, t, cust, sdp)
		if m.Type != "answer" || m.Session == "" || seen[m.Session] {
			t.Fatalf("start %d on the same socket: %s (sessions so far %v)", i, m.Raw, seen)
		}
		seen[m.Session] = true
		if _, err := cust.WaitFor(ctx, func(m2 testutil.Message) bool {
			return m2.Type == "session" && m2.Session == m.Session && m2.State == "waiting"
		}); err != nil {
			t.Fatal(err)
		}
		// one call at a time
		if e := startFrame(ctx, t, cust, sdp); e.Type != "error" || frameField(e, "code") != "conflict" {
			t.Fatalf("start %d while the session is live: %s, want a conflict error", i, e.Raw)
		}
		if err := cust.Send(ctx, map[string]any{"type": "hangup"}); err != nil {
			t.Fatal(err)
		}
		if _, err := cust.WaitFor(ctx, func(m2 testutil.Message) bool { return m2.Type == "ended" && m2.Session == m.Session }); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, fmt.Sprintf("session %d recorded as ended", i), func() bool { return getSession(t, m.Session)["state"] == "ended" })
	}
	// The address used its rate_limit: neither this socket nor a new one
	// starts another session this minute.
	if e := startFrame(ctx, t, cust, sdp); e.Type != "error" || frameField(e, "code") != "unavailable" {
		t.Fatalf("start %d on the same socket: %s, want the rate limit's unavailable error", limit+1, e.Raw)
	}
	other, err := testutil.DialSession(ctx, sessionWS("entry=default"), toneCustomer, 8, false)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if e := startFrame(ctx, t, other, sdp); e.Type != "error" || frameField(e, "code") != "unavailable" {
		t.Fatalf("start from a new socket of the same address: %s, want the rate limit's unavailable error", e.Raw)
	}
}
