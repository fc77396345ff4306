package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/auth"
	"github.com/split-hub/split/internal/config"
	splithub "github.com/split-hub/split/internal/hub"
	"github.com/split-hub/split/internal/testutil"
)

// Forward mode through an external ACD. The hub's INVITE for the queue
// carries the session reference; the ACD hands the call to an agent
// endpoint; the agent leg that comes back joins the same session, so the
// customer's video reaches whichever agent the ACD chose while the audio
// takes the ACD path.

const (
	toneCustomer = 697.0
	toneAgent    = 1209.0
	toneAgent2   = 1477.0
)

var acdTones = []float64{toneCustomer, toneAgent, toneAgent2}

// forwardTo routes the default entry point to target on trunk "acd" at addr.
func forwardTo(addr, target string, agents ...string) func(*config.Config) {
	return func(c *config.Config) {
		c.Log.Level = "debug"
		c.WebRTC.Video = true
		c.SIP.Trunks = append(c.SIP.Trunks, config.Trunk{Name: "acd", URI: "sip:" + addr, Transport: "udp", Codecs: []string{"PCMU", "PCMA"},
			VideoCodecs: []string{"H264", "VP8"}, InboundFrom: []string{"127.0.0.1"}, RegisterExpiry: 300 * time.Second})
		c.Sessions.Routes = []config.Route{{Name: "acd", Entry: "default", Target: target}}
		c.Sessions.Demo = false
		for _, a := range agents {
			c.Sessions.Agents = append(c.Sessions.Agents, config.Agent{ID: a, Name: strings.ToUpper(a[:1]) + a[1:], Queues: []string{"default"}})
		}
	}
}

func sessionWS(q string) string { return "ws://" + hubHTTP + "/v1/sessions/ws?" + q }

func (h *hub) agentToken(id string) string {
	tok, _, err := h.signer.Mint(auth.Claims{Identity: id, Role: "agent"}, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// startCustomer starts a customer's call at the default entry point (audio
// and video, as "Ana"); the peer closes when t ends.
func startCustomer(ctx context.Context, t *testing.T) *testutil.SessionPeer {
	t.Helper()
	cust, err := testutil.DialSession(ctx, sessionWS("entry=default"), toneCustomer, 9, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cust.Close)
	if err := cust.Start(ctx, "Ana", nil); err != nil {
		t.Fatal(err)
	}
	return cust
}

func getSession(t *testing.T, id string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+hubHTTP+"/v1/sessions/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return out
}

func legRoles(s map[string]any) string {
	var roles []string
	legs, _ := s["legs"].([]any)
	for _, l := range legs {
		roles = append(roles, fmt.Sprint(l.(map[string]any)["role"]))
	}
	return strings.Join(roles, ",")
}

func eventually(t *testing.T, within time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func frameIs(typ string) func(testutil.Message) bool {
	return func(m testutil.Message) bool { return m.Type == typ }
}

var acdQueueRE = regexp.MustCompile(`ACD-QUEUE uui=\[([^\]]*)\] session=\[([^\]]*)\] info=\[([^\]]*)\]`)

// TestForwardKamailioACDToConsole: Kamailio is the ACD's SIP front end; it
// delivers the queue call to sip:agent1@hub, where agent1's console is
// connected. Audio goes customer → hub → Kamailio-routed SIP dialog → hub →
// agent; video goes customer ⇄ agent directly.
func TestForwardKamailioACDToConsole(t *testing.T) {
	needPeers(t, "kamailio", "kamcmd")
	k := startKamailioCfg(t, "acd.cfg.tmpl", map[string]string{"Agent": "sip:agent1@" + hubSIP})
	h := startHub(t, forwardTo(kamAddr, "sip:support@"+kamAddr, "agent1"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	agent, err := testutil.DialSession(ctx, sessionWS("token="+h.agentToken("agent1")), toneAgent, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	cust := startCustomer(ctx, t)
	offer, err := agent.WaitFor(ctx, frameIs("offer"))
	if err != nil {
		t.Fatal(err)
	}
	sid := offer.Session
	// What the ACD saw on the hub's INVITE (its log is read as it comes:
	// the delivery may reach the console before the line reaches the test).
	m := waitKamLog(t, k, acdQueueRE, "ACD-DELIVER to ")
	uui, xs, info := m[1], m[2], m[3]
	if got, err := splithub.ParseUUI(uui); err != nil || got != sid {
		t.Fatalf("User-to-User %q decodes to %q (%v), want session %s", uui, got, err, sid)
	}
	if !strings.HasPrefix(uui, "00") || !strings.Contains(uui, ";encoding=hex") || len(uui) > 128 {
		t.Fatalf("User-to-User %q: want 00-prefixed hex with encoding=hex, ≤128 chars", uui)
	}
	if xs != sid || !strings.Contains(info, "/agent.html#view=") || !strings.Contains(info, "purpose=info") {
		t.Fatalf("X-Split-Session %q / Call-Info %q", xs, info)
	}
	if !strings.Contains(k.log.String(), "ACD-DELIVER to sip:agent1@"+hubSIP) {
		t.Fatal("Kamailio did not deliver to the agent endpoint")
	}
	if err := agent.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "audio through the ACD path and video between customer and agent", func() bool {
		return agent.DominantHz(acdTones) == toneCustomer && cust.DominantHz(acdTones) == toneAgent &&
			cust.VideoFrom(1) > 20 && agent.VideoFrom(9) > 20
	})
	s := getSession(t, sid)
	if s["state"] != "active" || legRoles(s) != "customer,acd,agent-path,agent" {
		t.Fatalf("session: state %v legs %s", s["state"], legRoles(s))
	}
	// The in-dialog requests followed the ACD's Record-Route.
	if !strings.Contains(k.log.String(), "REQ ACK") {
		t.Error("no ACK passed the ACD")
	}
	// The customer leaves: the ACD dialog is torn down and the agent is told.
	if err := cust.Send(ctx, map[string]any{"type": "hangup"}); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.WaitFor(ctx, frameIs("ended")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "BYE through the ACD", func() bool { return strings.Contains(k.log.String(), "REQ BYE") })
	eventually(t, 5*time.Second, "the session record", func() bool { return getSession(t, sid)["state"] == "ended" })
}

// TestForwardKamailioACDToDeskPhone: the ACD rings an agent's desk phone
// (baresip registered at Kamailio); the agent opens the agent-view URL the
// hub put in Call-Info in Chromium and gets the customer's video, while the
// audio stays on the phone. The customer is the customer page in Chromium.
func TestForwardKamailioACDToDeskPhone(t *testing.T) {
	needPeers(t, "kamailio", "kamcmd", "baresip")
	k := startKamailioCfg(t, "acd.cfg.tmpl", map[string]string{"Agent": "desk"})
	h := startHub(t, forwardTo(kamAddr, "sip:support@"+kamAddr))
	_ = h
	phone := startBaresip(t, baresipOpts{Name: "desk", SIPPort: 15093, RTPPorts: "20200-20299", CtrlPort: 14446,
		Account: "<sip:desk@" + kamAddr + ">;regint=60;answermode=auto;audio_codecs=pcmu,pcma", Modules: []string{"g711"}, ToneHz: toneAgent})
	k.waitBinding(t, "desk", "@127.0.0.1:15093", 15*time.Second)
	d := startPages(t)
	base := "http://" + hubHTTP
	d.do(map[string]any{"cmd": "open", "page": "cust", "url": base + "/customer.html?entry=default&name=Ana&autostart=1"})
	d.waitJS("cust", "window.splitApp.state === 'active'", 30*time.Second)

	// Screen pop: the agent opens the Call-Info URL.
	m := acdQueueRE.FindStringSubmatch(k.log.String())
	if m == nil {
		t.Fatal("no queue INVITE logged")
	}
	link := strings.TrimSuffix(strings.TrimPrefix(strings.Split(m[3], ";")[0], "<"), ">")
	u, err := url.Parse(link)
	if err != nil || u.Path != "/agent.html" || !strings.HasPrefix(u.Fragment, "view=") {
		t.Fatalf("agent-view URL %q", link)
	}
	d.do(map[string]any{"cmd": "open", "page": "view", "url": link})
	eventually(t, 25*time.Second, "video between the customer page and the agent view, phone audio at the customer", func() bool {
		c, v := d.stats("cust"), d.stats("view")
		return v.VideoIn.FramesDecoded > 30 && c.VideoIn.FramesDecoded > 30 && c.AudioIn.PacketsReceived > 100
	})
	if v := d.stats("view"); v.AudioIn.PacketsReceived > 0 {
		t.Errorf("the agent view received %d audio packets; the desk phone has the audio", v.AudioIn.PacketsReceived)
	}
	// A tampered view token is refused before the upgrade.
	viewTok, _ := url.QueryUnescape(strings.TrimPrefix(u.Fragment, "view="))
	res, err := http.Get("http://" + hubHTTP + "/v1/sessions/ws?token=" + url.QueryEscape(viewTok[:len(viewTok)-2]+"xx"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("tampered view token: %d, want 401", res.StatusCode)
	}
	// The customer hangs up: the desk phone's call ends (BYE through the
	// ACD), baresip saw the customer's audio, the view is told.
	d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Hang up"]`})
	d.waitJS("view", "!!window.splitApp.ended", 15*time.Second)
	if _, err := phone.waitEvent("CALL_CLOSED", "", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := phone.rtpStats("audio"); !st.Found || st.RX.Packets < 100 || st.TX.Packets < 100 {
		t.Errorf("desk phone audio: %+v, want packets both ways", st)
	}
}

// TestForwardACDTransfer: sipp plays the ACD: its queue answers the hub's
// INVITE (after an announcement as early media), then delivers the session
// to agent1's console with the User-to-User it received, later moves it to
// agent2 (BYE to agent1's leg, a new INVITE with the same UUI). The video
// moves to agent2 without the customer renegotiating. Finally an agent leg
// for the ended session is refused with 410.
func TestForwardACDTransfer(t *testing.T) {
	needPeers(t, "sipp")
	h := startHub(t, forwardTo(pbxAddr, "sip:support@"+pbxAddr, "agent1", "agent2"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	acd := startSipp(t, "-sf", "sipp/acd_queue.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1", "-mp", "16000", "-m", "1", "-trace_logs")

	ag1, err := testutil.DialSession(ctx, sessionWS("token="+h.agentToken("agent1")), toneAgent, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ag1.Close()
	ag2, err := testutil.DialSession(ctx, sessionWS("token="+h.agentToken("agent2")), toneAgent2, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ag2.Close()
	cust := startCustomer(ctx, t)
	w, err := cust.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "waiting" })
	if err != nil {
		t.Fatal(err)
	}
	sid := w.Session
	// early media: the announcement reaches the customer before the answer
	eventually(t, 10*time.Second, "early media at the customer", func() bool { return cust.AudioPackets() > 25 })
	if _, err := cust.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "active" }); err != nil {
		t.Fatal(err)
	}
	// The UUI the ACD received, from its own log.
	uui := acdLoggedUUI(t, sid)

	leg1 := startSipp(t, hubSIP, "-sf", "sipp/acd_agent.xml", "-s", "agent1", "-key", "uui", uui, "-d", "6000",
		"-i", "127.0.0.1", "-p", "15094", "-mi", "127.0.0.1", "-mp", "16100", "-m", "1")
	o1, err := ag1.WaitFor(ctx, frameIs("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if o1.Session != sid {
		t.Fatalf("agent1's offer is for %s, want %s", o1.Session, sid)
	}
	if err := ag1.Accept(ctx, o1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "video between customer and agent1, ACD audio at agent1", func() bool {
		return cust.VideoFrom(1) > 20 && ag1.VideoFrom(9) > 20 && ag1.AudioPackets() > 50
	})
	if code := leg1.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("ACD agent1 leg: sipp exit %d", code)
	}
	if _, err := ag1.WaitFor(ctx, frameIs("ended")); err != nil {
		t.Fatal(err)
	}
	// The ACD transfers: a new agent leg with the same reference.
	leg2 := startSipp(t, hubSIP, "-sf", "sipp/acd_agent.xml", "-s", "agent2", "-key", "uui", uui, "-d", "4000",
		"-i", "127.0.0.1", "-p", "15095", "-mi", "127.0.0.1", "-mp", "16200", "-m", "1")
	o2, err := ag2.WaitFor(ctx, frameIs("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag2.Accept(ctx, o2); err != nil {
		t.Fatal(err)
	}
	before := cust.VideoFrom(2)
	eventually(t, 10*time.Second, "the customer's video to move to agent2", func() bool {
		return cust.VideoFrom(2) > before+20 && ag2.VideoFrom(9) > 20 && ag2.AudioPackets() > 50
	})
	if n := countFrames(cust.Frames(), "answer"); n != 1 {
		t.Fatalf("the customer negotiated %d times", n)
	}
	if code := leg2.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("ACD agent2 leg: sipp exit %d", code)
	}
	// customer leaves; the ACD queue leg gets its BYE
	if err := cust.Send(ctx, map[string]any{"type": "hangup"}); err != nil {
		t.Fatal(err)
	}
	if code := acd.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("ACD queue: sipp exit %d", code)
	}
	eventually(t, 5*time.Second, "the session to end", func() bool { return getSession(t, sid)["state"] == "ended" })
	// The SIP legs' media counters: metrics and the call record.
	eventually(t, 5*time.Second, "RTP counters of the ended SIP legs", func() bool {
		return metricValue(t, `split_rtp_packets_total{direction="rx",side="sip"}`) > 200 && metricValue(t, `split_rtp_packets_total{direction="tx",side="sip"}`) > 200
	})
	var body []byte
	eventually(t, 5*time.Second, "leg.media events for the SIP legs in the call record", func() bool {
		req, _ := http.NewRequest("GET", "http://"+hubHTTP+"/v1/sessions/"+sid+"/events?format=json", nil)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
		return strings.Count(string(body), `"type":"leg.media"`) >= 3 // the ACD queue leg and both agent legs
	})
	// A stale agent leg for the ended session: 410 Gone.
	gone := startSipp(t, hubSIP, "-sf", "sipp/acd_agent_gone.xml", "-s", "agent1", "-key", "uui", uui,
		"-i", "127.0.0.1", "-p", "15096", "-mi", "127.0.0.1", "-mp", "16300", "-m", "1")
	if code := gone.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("stale agent leg: sipp exit %d (want a 410 from the hub)", code)
	}
}

func countFrames(ms []testutil.Message, typ string) int {
	n := 0
	for _, m := range ms {
		if m.Type == typ {
			n++
		}
	}
	return n
}

// TestForwardACDReferTransfer: the ACD transfers the customer's call away
// with REFER, the call's User-to-User embedded in Refer-To. The hub calls
// the new target (a second ACD on another trunk) with the same reference,
// swaps the audio over when it answers, tells the ACD (NOTIFY 200) and ends
// the old dialog; the customer never renegotiates.
func TestForwardACDReferTransfer(t *testing.T) {
	needPeers(t, "sipp")
	h := startHub(t, func(c *config.Config) {
		forwardTo(pbxAddr, "sip:support@"+pbxAddr)(c)
		c.SIP.Trunks = append(c.SIP.Trunks, config.Trunk{Name: "acd2", URI: "sip:127.0.0.1:15091", Transport: "udp", Codecs: []string{"PCMU", "PCMA"},
			VideoCodecs: []string{"H264", "VP8"}, RegisterExpiry: 300 * time.Second})
	})
	_ = h
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acd1 := startSipp(t, "-sf", "sipp/acd_refer.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1", "-mp", "16000", "-m", "1", "-trace_logs")
	acd2 := startSipp(t, "-sf", "sipp/acd_queue.xml", "-i", "127.0.0.1", "-p", "15091", "-mi", "127.0.0.1", "-mp", "16100", "-m", "1", "-trace_logs")
	cust := startCustomer(ctx, t)
	act, err := cust.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "active" })
	if err != nil {
		t.Fatal(err)
	}
	sid := act.Session
	eventually(t, 20*time.Second, "the transfer to the second ACD", func() bool {
		s := getSession(t, sid)
		legs, _ := s["legs"].([]any)
		if len(legs) != 2 {
			return false
		}
		party := fmt.Sprint(legs[1].(map[string]any)["party"])
		return strings.Contains(party, "agent2@127.0.0.1:15091")
	})
	// the second ACD got this session's reference, with the discriminator octet
	if uui := acdLoggedUUI(t, sid); !strings.HasPrefix(uui, "00") {
		t.Errorf("the new target got User-to-User %q", uui)
	}
	if code := acd1.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("the referring ACD: sipp exit %d (REFER, NOTIFYs and BYE)", code)
	}
	before := cust.AudioPackets()
	eventually(t, 5*time.Second, "audio from the second ACD", func() bool { return cust.AudioPackets() > before+50 })
	if n := countFrames(cust.Frames(), "answer"); n != 1 {
		t.Fatalf("the customer negotiated %d times", n)
	}
	if err := cust.Send(ctx, map[string]any{"type": "hangup"}); err != nil {
		t.Fatal(err)
	}
	if code := acd2.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("second ACD: sipp exit %d", code)
	}
}

// metricValue reads one sample from /metrics (0 when absent).
func metricValue(t *testing.T, series string) float64 {
	t.Helper()
	res, err := http.Get("http://" + hubHTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// acdLoggedUUI waits for the User-to-User that a sipp ACD (acd_queue.xml,
// -trace_logs) logged for session sid, and returns it as received.
func acdLoggedUUI(t *testing.T, sid string) string {
	t.Helper()
	var uui string
	eventually(t, 5*time.Second, "the ACD's log of the session's UUI", func() bool {
		logs, _ := filepath.Glob(filepath.Join(artifacts(t), "acd_queue_*_logs.log"))
		for _, p := range logs {
			b, _ := os.ReadFile(p)
			for _, m := range regexp.MustCompile(`UUI=\s*(\S+)`).FindAllSubmatch(b, -1) {
				if got, err := splithub.ParseUUI(string(m[1])); err == nil && got == sid {
					uui = string(m[1])
					return true
				}
			}
		}
		return false
	})
	return uui
}

// TestForwardACDAgentHold: an agent whose call came through the ACD holds
// and resumes from the console: the hub re-INVITEs the ACD's leg with
// sendonly, then sendrecv, as a SIP phone would (the ACD plays its music on
// hold to the customer).
func TestForwardACDAgentHold(t *testing.T) {
	needPeers(t, "sipp")
	h := startHub(t, forwardTo(pbxAddr, "sip:support@"+pbxAddr, "agent1"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acd := startSipp(t, "-sf", "sipp/acd_queue.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1", "-mp", "16000", "-m", "1", "-trace_logs")
	agent, err := testutil.DialSession(ctx, sessionWS("token="+h.agentToken("agent1")), toneAgent, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	cust := startCustomer(ctx, t)
	act, err := cust.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "active" })
	if err != nil {
		t.Fatal(err)
	}
	uui := acdLoggedUUI(t, act.Session)
	leg := startSipp(t, hubSIP, "-sf", "sipp/acd_agent_hold.xml", "-s", "agent1", "-key", "uui", uui,
		"-i", "127.0.0.1", "-p", "15094", "-mi", "127.0.0.1", "-mp", "16100", "-m", "1", "-trace_logs")
	offer, err := agent.WaitFor(ctx, frameIs("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the agent's call", func() bool {
		return strings.HasSuffix(legRoles(getSession(t, act.Session)), "agent-path,agent")
	})
	time.Sleep(300 * time.Millisecond) // the ACK of the 200 has reached the hub
	for _, hold := range []bool{true, false} {
		if err := agent.Send(ctx, map[string]any{"type": "hold", "session": act.Session, "hold": hold}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if code := leg.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("the ACD's agent leg: sipp exit %d (want a sendonly then a sendrecv re-INVITE)", code)
	}
	_ = cust.Send(ctx, map[string]any{"type": "hangup"})
	if code := acd.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("ACD queue: sipp exit %d", code)
	}
}

// TestForwardACDCallerIDCorrelation: an ACD that passes no header to its
// agent legs (no User-to-User, no X-Split-Session) but keeps the caller ID.
// The route's caller_id_pool gives the session a number of its own toward
// the ACD; the agent leg that arrives from that number joins the session,
// and the customer's video reaches the agent.
func TestForwardACDCallerIDCorrelation(t *testing.T) {
	needPeers(t, "sipp")
	h := startHub(t, func(c *config.Config) {
		forwardTo(pbxAddr, "sip:support@"+pbxAddr, "agent1")(c)
		c.Sessions.Routes[0].CallerIDPool = []string{"+34910000100-+34910000104"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acd := startSipp(t, "-sf", "sipp/acd_queue.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1", "-mp", "16000", "-m", "1", "-trace_logs")
	ag, err := testutil.DialSession(ctx, sessionWS("token="+h.agentToken("agent1")), toneAgent, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	cust := startCustomer(ctx, t)
	w, err := cust.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "session" && m.State == "active" })
	if err != nil {
		t.Fatal(err)
	}
	sid := w.Session
	acdLoggedUUI(t, sid) // the headers are still sent; this ACD just drops them
	var cli string
	eventually(t, 5*time.Second, "the ACD's log of the caller ID", func() bool {
		logs, _ := filepath.Glob(filepath.Join(artifacts(t), "acd_queue_*_logs.log"))
		for _, p := range logs {
			b, _ := os.ReadFile(p)
			if m := regexp.MustCompile(`CLI=\s*(\S+)`).FindSubmatch(b); m != nil {
				cli = string(m[1])
				return true
			}
		}
		return false
	})
	if !regexp.MustCompile(`^\+3491000010[0-4]$`).MatchString(cli) {
		t.Fatalf("the ACD saw caller ID %q, want a number of the pool", cli)
	}

	leg := startSipp(t, hubSIP, "-sf", "sipp/acd_agent_cli.xml", "-s", "agent1", "-key", "cli", cli, "-d", "5000",
		"-i", "127.0.0.1", "-p", "15094", "-mi", "127.0.0.1", "-mp", "16100", "-m", "1")
	o, err := ag.WaitFor(ctx, frameIs("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Session != sid {
		t.Fatalf("agent1's offer is for %s, want %s (correlated by caller ID)", o.Session, sid)
	}
	if err := ag.Accept(ctx, o); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "video between customer and agent1, ACD audio at agent1", func() bool {
		return cust.VideoFrom(1) > 20 && ag.VideoFrom(9) > 20 && ag.AudioPackets() > 50
	})
	if code := leg.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("ACD agent leg: sipp exit %d", code)
	}
	if err := cust.Send(ctx, map[string]any{"type": "hangup"}); err != nil {
		t.Fatal(err)
	}
	if code := acd.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("ACD queue: sipp exit %d", code)
	}
	_, ev := apiDo(t, "GET", "/v1/sessions/"+sid+"/events?format=json", nil)
	found := false
	for _, e := range ev["events"].([]any) {
		e := e.(map[string]any)
		if e["type"] == "acd.correlated" && e["data"].(map[string]any)["by"] == "caller_id" {
			found = true
		}
	}
	if !found {
		t.Fatalf("the history does not say the agent leg was correlated by caller ID: %v", ev["events"])
	}
}

// waitKamLog waits until Kamailio's log has a match of re and contains
// after (a later line), and returns the match.
func waitKamLog(t *testing.T, k *kamailio, re *regexp.Regexp, after string) []string {
	t.Helper()
	var m []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := k.log.String()
		if m = re.FindStringSubmatch(l); m != nil && strings.Contains(l, after) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("Kamailio logged no %q:\n%s", re.String(), tail(l, 3000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
