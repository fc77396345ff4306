package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/testutil"
)

// TestForwardACDAgentEndsInConsole (issue 8 item 15): a session forwarded
// into an external ACD (sipp) that delivered it to agent1's console. The
// agent hangs up in the console — or the console's socket closes without a
// hangup — and the hub must BYE the agent's SIP leg from the ACD (sipp fails
// unless that BYE comes), so that the ACD frees the agent; the customer
// stays with the ACD (its queue leg), which may deliver another agent. Then
// the customer hangs up: the ACD's queue leg gets its BYE and the session
// ends, leaving no leg, no RTP port and no goroutine behind.
func TestForwardACDAgentEndsInConsole(t *testing.T) {
	needPeers(t, "sipp")
	for _, how := range []string{"hangup", "disconnect"} {
		t.Run(how, func(t *testing.T) {
			h := startHub(t, forwardTo(pbxAddr, "sip:support@"+pbxAddr, "agent1"))
			base := testutil.IdleNow()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			acd := startSipp(t, "-sf", "sipp/acd_queue.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1", "-mp", "16000", "-m", "1", "-trace_logs")
			agent, err := testutil.DialSession(ctx, sessionWS("token="+h.agentToken("agent1")), toneAgent, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			defer agent.Close()
			cust, err := testutil.DialSession(ctx, sessionWS("entry=default"), toneCustomer, 9, true)
			if err != nil {
				t.Fatal(err)
			}
			defer cust.Close()
			if err := cust.Start(ctx, "Ana", nil); err != nil {
				t.Fatal(err)
			}
			act, err := cust.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "active" })
			if err != nil {
				t.Fatal(err)
			}
			sid := act.Session
			uui := acdLoggedUUI(t, sid)
			leg := startSipp(t, hubSIP, "-sf", "sipp/acd_agent_waitbye.xml", "-s", "agent1", "-key", "uui", uui,
				"-i", "127.0.0.1", "-p", "15094", "-mi", "127.0.0.1", "-mp", "16100", "-m", "1")
			offer, err := agent.WaitFor(ctx, frameIs("offer"))
			if err != nil {
				t.Fatal(err)
			}
			if err := agent.Accept(ctx, offer); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the ACD's audio at the agent and video both ways", func() bool {
				return agent.AudioPackets() > 25 && cust.VideoFrom(1) > 10 && agent.VideoFrom(9) > 10
			})
			if how == "hangup" {
				if err := agent.Send(ctx, map[string]any{"type": "hangup", "session": sid}); err != nil {
					t.Fatal(err)
				}
				if _, err := agent.WaitFor(ctx, frameIs("ended")); err != nil {
					t.Fatal(err)
				}
			} else {
				agent.Close()
			}
			if code := leg.wait(t, 15*time.Second); code != 0 {
				t.Fatalf("the ACD's agent leg got no BYE after the agent %s (sipp exit %d)", how, code)
			}
			eventually(t, 5*time.Second, "the session back with the ACD alone", func() bool {
				s := getSession(t, sid)
				return s["state"] == "active" && legRoles(s) == "customer,acd"
			})
			if s := getSession(t, sid); s["agent"] != nil {
				t.Errorf("the session still names an agent: %v", s["agent"])
			}
			if err := cust.Send(ctx, map[string]any{"type": "hangup"}); err != nil {
				t.Fatal(err)
			}
			if _, err := cust.WaitFor(ctx, frameIs("ended")); err != nil {
				t.Fatal(err)
			}
			if code := acd.wait(t, 15*time.Second); code != 0 {
				t.Fatalf("the ACD's queue leg: sipp exit %d (want its BYE)", code)
			}
			s := getSession(t, sid)
			if s["state"] != "ended" || s["cause"] != "Customer hung up" || len(s["legs"].([]any)) != 0 {
				t.Fatalf("session after the customer left: %v cause %v legs %v", s["state"], s["cause"], s["legs"])
			}
			_, list := apiDo(t, "GET", "/v1/sessions?active=true", nil)
			if n := len(list["sessions"].([]any)); n != 0 {
				t.Fatalf("%d live sessions left", n)
			}
			agent.Close()
			cust.Close()
			if left := testutil.WaitIdle(base, 20*time.Second); left != "" {
				t.Fatal(left)
			}
			if !strings.Contains(h.logs.String(), "session ended") {
				t.Error("no session end in the hub's log")
			}
		})
	}
}
