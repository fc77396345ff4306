package sipua

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
)

// ringThenVanish is a far end that rings (100, 180) and then answers
// nothing more — a peer killed while it rings (an ACD's queue, a phone).
func ringThenVanish(t *testing.T, port int) {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 65535)
		rang := false
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			msg := string(buf[:n])
			if rang || !strings.HasPrefix(msg, "INVITE ") {
				continue // vanished: nothing is answered any more
			}
			rang = true
			var hdrs []string
			for _, l := range strings.Split(msg, "\r\n") {
				for _, h := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"} {
					if strings.HasPrefix(l, h) {
						if h == "To:" {
							l += ";tag=vanished"
						}
						hdrs = append(hdrs, l)
					}
				}
			}
			for _, st := range []string{"100 Trying", "180 Ringing"} {
				res := "SIP/2.0 " + st + "\r\n" + strings.Join(hdrs, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
				_, _ = conn.WriteToUDP([]byte(res), from)
			}
		}
	}()
}

// TestUnansweredCallToVanishedPeerFreesPorts: a call that is hung up before
// its answer, or rings out, while the far end has vanished. The CANCEL goes
// unanswered and its transaction lives until Timer F (64*T1), but the call
// ends at once and its RTP ports go back to the pool — a dead ACD must not
// hold a port pair per abandoned customer for half a minute.
func TestUnansweredCallToVanishedPeerFreesPorts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ring       time.Duration
		hangup     bool
		code       int
		sipP, peer int
	}{
		{"hung up", time.Minute, true, 487, 27400, 27401},
		{"rings out", 1500 * time.Millisecond, false, 408, 27410, 27411},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ringThenVanish(t, tc.peer)
			ua := testUA(t, tc.sipP, 1, &answerer{}, func(c *config.Config) {
				trunkTo(tc.peer, "")(c)
				c.SIP.RingTime = tc.ring
			})
			tr, to, _ := ua.Resolve("queue")
			c, err := ua.Dial(context.Background(), DialOptions{Trunk: tr, To: to, FromUser: "web"})
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for c.State() != StateRinging {
				if time.Now().After(deadline) {
					t.Fatalf("never rang: %s", c.State())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if n := ua.pool.InUse(); n != 1 {
				t.Fatalf("%d port pairs in use while it rings, want 1", n)
			}
			within := tc.ring + 2*time.Second // rings out
			if tc.hangup {
				c.Hangup(context.Background(), 200, "Customer abandoned")
				within = 2 * time.Second
			}
			select {
			case <-c.Done():
			case <-time.After(within):
				t.Fatalf("the call did not end at once (state %s): it waits for the unanswered CANCEL", c.State())
			}
			if code, reason := c.End(); code != tc.code {
				t.Errorf("ended %d %q, want %d", code, reason, tc.code)
			}
			if n := ua.pool.InUse(); n != 0 {
				t.Errorf("%d port pairs still in use after the call ended", n)
			}
		})
	}
}

// handOver gives each inbound call to the test at once and answers it in
// the background (Answer blocks until the caller's ACK).
type handOver struct {
	calls    chan *Call
	answered chan error
}

func (h *handOver) Incoming(c *Call) {
	h.calls <- c
	go func() { h.answered <- c.Answer(context.Background()) }()
}

// TestHangupBeforeACKSendsBYEAfterIt: the hub hangs up an inbound call it
// has answered while the caller's ACK is still on its way (an agent who
// leaves at once, a session ended from elsewhere). The BYE may not precede
// the ACK (RFC 3261 §15), and it used to be never sent at all: the caller
// kept a confirmed call that nobody would end.
func TestHangupBeforeACKSendsBYEAfterIt(t *testing.T) {
	h := &handOver{calls: make(chan *Call, 1), answered: make(chan error, 1)}
	testUA(t, 27420, 1, h, func(c *config.Config) { c.SIP.Allow = []string{"127.0.0.1"} })
	p := newRawPeer(t, 27420)
	ruri := "sip:bob@127.0.0.1:27420"
	p.send(p.request("INVITE", ruri, "late-ack", "caller1", "", 10, fmt.Sprintf(sdpOffer, 40030)))
	var c *Call
	select {
	case c = <-h.calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no call")
	}
	ok := p.response(5*time.Second, sip.INVITE)
	if ok.StatusCode != 200 {
		t.Fatalf("INVITE: %d", ok.StatusCode)
	}
	toTag, _ := ok.To().Params.Get("tag")
	c.Hangup(context.Background(), 200, "Agent left")
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the hang-up did not end the call (its ports stay taken until the ACK)")
	}
	// nothing but 200 retransmissions until the ACK
	buf := make([]byte, 65535)
	_ = p.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		n, _, err := p.c.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if strings.HasPrefix(string(buf[:n]), "BYE ") {
			t.Fatal("BYE sent before the caller's ACK")
		}
	}
	p.send(p.request("ACK", ruri, "late-ack", "caller1", toTag, 10, ""))
	m, _ := p.recv(5*time.Second, func(m sip.Message) bool {
		r, isReq := m.(*sip.Request)
		return isReq && r.Method == sip.BYE
	})
	bye := m.(*sip.Request)
	if cid := bye.CallID(); cid == nil || cid.Value() != "late-ack" {
		t.Fatalf("BYE for another call: %v", bye.CallID())
	}
	if tag, _ := bye.From().Params.Get("tag"); tag != toTag {
		t.Errorf("BYE From tag %q, want the hub's %q", tag, toTag)
	}
	res := sip.NewResponseFromRequest(bye, 200, "OK", nil)
	if _, err := p.c.WriteToUDP([]byte(res.String()), p.to); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-h.answered:
		if err == nil {
			t.Error("Answer reported success for a call hung up before its ACK")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Answer did not return after the ACK")
	}
}
