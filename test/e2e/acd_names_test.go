package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
)

// TestForwardRouteToTrunkName: the route of docs/acd.md, `target:
// sip:6000@acd`, names the trunk "acd" by its name. The customer's call
// reaches the ACD (sipp) as INVITE sip:6000@<the trunk's host:port>, with
// the session reference; the ACD's early media and answer reach the
// customer and the hub sends the customer's audio to the ACD; the ACD gets
// its BYE when the customer hangs up.
func TestForwardRouteToTrunkName(t *testing.T) {
	needPeers(t, "sipp")
	startHub(t, forwardTo(pbxAddr, "sip:6000@acd"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acd := startSipp(t, "-sf", "sipp/acd_queue.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1", "-mp", "16000", "-m", "1", "-trace_logs")
	cust := startCustomer(ctx, t)
	act, err := cust.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "active" })
	if err != nil {
		t.Fatal(err)
	}
	// what the ACD received
	msgs := filepath.Join(artifacts(t), fmt.Sprintf("acd_queue_%d_messages.log", acd.cmd.Process.Pid))
	var log string
	eventually(t, 5*time.Second, "the ACD's INVITE in its message log", func() bool {
		b, _ := os.ReadFile(msgs)
		log = string(b)
		return strings.Contains(log, "INVITE sip:")
	})
	if want := "INVITE sip:6000@" + pbxAddr + " SIP/2.0"; !strings.Contains(log, want) {
		i := strings.Index(log, "INVITE sip:")
		t.Fatalf("the ACD got %q, want %q", strings.SplitN(log[i:], "\n", 2)[0], want)
	}
	if uui := acdLoggedUUI(t, act.Session); !strings.HasPrefix(uui, "00") {
		t.Errorf("the ACD got User-to-User %q", uui)
	}
	_, events := apiDo(t, "GET", "/v1/sessions/"+act.Session+"/events?format=json", nil)
	evb, _ := json.Marshal(events)
	ev := string(evb)
	if !strings.Contains(ev, `"trunk":"acd"`) || !strings.Contains(ev, `"to":"sip:6000@`+pbxAddr+`"`) {
		t.Errorf("the session's sip.dialled event does not name trunk acd and sip:6000@%s: %s", pbxAddr, ev)
	}
	// media both ways: the ACD's audio at the customer now; the customer's
	// audio sent to the ACD in the SIP leg's counters once it has ended
	eventually(t, 15*time.Second, "audio from the ACD at the customer", func() bool { return cust.AudioPackets() > 100 })
	if err := cust.Send(ctx, map[string]any{"type": "hangup"}); err != nil {
		t.Fatal(err)
	}
	if code := acd.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("ACD queue: sipp exit %d (want the hub's BYE)", code)
	}
	eventually(t, 5*time.Second, "the SIP leg's RTP counters: sent to the ACD and received from it", func() bool {
		return metricValue(t, `split_rtp_packets_total{direction="tx",side="sip"}`) > 100 && metricValue(t, `split_rtp_packets_total{direction="rx",side="sip"}`) > 100
	})
}

// TestForwardACDReferToTrunkName: the ACD's REFER names its target by the
// hub's trunk name (Refer-To: <sip:agent2@acd2?User-to-User=…>). The hub
// calls sip:agent2@<acd2's host:port> with the same reference, swaps the
// audio over, tells the ACD (NOTIFY 200) and ends the old dialog.
func TestForwardACDReferToTrunkName(t *testing.T) {
	needPeers(t, "sipp")
	startHub(t, func(c *config.Config) {
		forwardTo(pbxAddr, "sip:support@acd")(c)
		c.SIP.Trunks = append(c.SIP.Trunks, config.Trunk{Name: "acd2", URI: "sip:127.0.0.1:15091", Transport: "udp", Codecs: []string{"PCMU", "PCMA"}})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acd1 := startSipp(t, "-sf", "sipp/acd_refer_name.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1", "-mp", "16000", "-m", "1", "-trace_logs")
	acd2 := startSipp(t, "-sf", "sipp/acd_queue.xml", "-i", "127.0.0.1", "-p", "15091", "-mi", "127.0.0.1", "-mp", "16100", "-m", "1", "-trace_logs")
	cust := startCustomer(ctx, t)
	act, err := cust.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "active" })
	if err != nil {
		t.Fatal(err)
	}
	sid := act.Session
	eventually(t, 20*time.Second, "the transfer to sip:agent2@127.0.0.1:15091 (trunk acd2)", func() bool {
		legs, _ := getSession(t, sid)["legs"].([]any)
		return len(legs) == 2 && strings.Contains(fmt.Sprint(legs[1].(map[string]any)["party"]), "agent2@127.0.0.1:15091")
	})
	if uui := acdLoggedUUI(t, sid); !strings.HasPrefix(uui, "00") {
		t.Errorf("the REFER's target got User-to-User %q", uui)
	}
	if code := acd1.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("the referring ACD: sipp exit %d (REFER, NOTIFYs and BYE)", code)
	}
	before := cust.AudioPackets()
	eventually(t, 5*time.Second, "audio from the REFER's target", func() bool { return cust.AudioPackets() > before+50 })
	if err := cust.Send(ctx, map[string]any{"type": "hangup"}); err != nil {
		t.Fatal(err)
	}
	if code := acd2.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("the REFER's target: sipp exit %d", code)
	}
}
