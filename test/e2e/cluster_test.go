package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/testutil"
	"github.com/split-hub/split/internal/testutil/pgtest"
)

// Several hub nodes on one PostgreSQL behind the SIP front in
// deploy/kamailio (docs/deploy.md, "Several nodes"). Each node has its own
// loopback address; the front is 127.0.0.10.

const frontSIP = "127.0.0.10:5060"

// clusterNode is node n (1, 2, 3…) of a cluster on dsn: HTTP, SIP, ICE and
// RTP on 127.0.0.1n, heartbeats every 200 ms.
func clusterNode(dsn string, n int, more ...func(*config.Config)) func(*config.Config) {
	ip := fmt.Sprintf("127.0.0.%d", 10+n)
	return func(c *config.Config) {
		c.HTTP.Listen = ip + ":8080"
		c.SIP.Host = ip
		c.SIP.ListenUDP, c.SIP.ListenTCP = ip+":5060", ip+":5060"
		c.SIP.Allow = []string{"127.0.0.0/8"}
		c.RTP.BindIP = ip
		c.RTP.PortMin, c.RTP.PortMax = 31000+200*n, 31199+200*n
		c.WebRTC.BindIP = ip
		c.WebRTC.UDPPort = 20000 + n
		c.Sessions.Store = dsn
		c.Cluster = config.Cluster{Heartbeat: 200 * time.Millisecond, NodeTimeout: 2 * time.Second}
		for _, m := range more {
			m(c)
		}
	}
}

// startFront runs deploy/kamailio/kamailio.cfg as the cluster's SIP front
// on frontSIP with dispatcher.list lines list (set 1) and the dispatcher
// algorithm alg, probing every second.
func startFront(t *testing.T, alg string, list ...string) *kamailio {
	t.Helper()
	dir := t.TempDir()
	ds := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(ds, []byte(strings.Join(list, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k := &kamailio{log: &syncBuffer{}, dir: dir, ctl: filepath.Join(dir, "kamailio_ctl"), done: make(chan struct{})}
	cfg, err := filepath.Abs("../../deploy/kamailio/kamailio.cfg")
	if err != nil {
		t.Fatal(err)
	}
	return runKamailio(t, k, cfg, "-A", "LISTEN=udp:"+frontSIP, "-A", `DSLIST="`+ds+`"`, "-A", `CTL="unix:`+k.ctl+`"`,
		"-A", `DS_ALG="`+alg+`"`, "-A", "PROBE_INTERVAL=1", "-A", `TRUSTED="127.0.0.0/8"`)
}

// waitProbed waits until every destination uri answers the front's probes.
func (k *kamailio) waitProbed(t *testing.T, uris ...string) {
	t.Helper()
	for _, u := range uris {
		eventually(t, 10*time.Second, "the front's probes answered by "+u, func() bool { return k.dsState(t, u) == "AP" })
	}
}

// dsState is the front's view of destination uri: its dispatcher flags
// (AP active and probing, IP inactive, …), "" if not listed.
func (k *kamailio) dsState(t *testing.T, uri string) string {
	t.Helper()
	out, err := k.rpc("dispatcher.list")
	if err != nil {
		t.Fatalf("dispatcher.list: %v %s", err, out)
	}
	i := strings.Index(out, "URI: "+uri)
	if i < 0 {
		return ""
	}
	m := regexp.MustCompile(`FLAGS: (\w+)`).FindStringSubmatch(out[i:])
	if m == nil {
		return ""
	}
	return m[1]
}

// TestClusterACDLegAtTheWrongNode: a customer's call on node A goes to the
// external ACD (Kamailio acd.cfg) over SIP; the ACD delivers the agent leg
// to the cluster's front, whose dispatcher sends it to node B (first by
// priority). B does not host the session: it answers 302 with A's SIP
// address, the front follows it, and agent1's console on A gets the call:
// audio through the ACD, video between customer and agent, both asserted
// from decoded media. Then the REST call that ends the session reaches B
// and is relayed to A; every SIP dialog sees its BYE.
func TestClusterACDLegAtTheWrongNode(t *testing.T) {
	needPeers(t, "kamailio", "kamcmd")
	dsn := pgtest.Start(t).FreshDSN(t)
	acd := startKamailioCfg(t, "acd.cfg.tmpl", map[string]string{"Agent": "sip:agent1@" + frontSIP})
	a := startHub(t, clusterNode(dsn, 1, forwardTo(kamAddr, "sip:support@"+kamAddr, "agent1")))
	b := startHub(t, clusterNode(dsn, 2, forwardTo(kamAddr, "sip:support@"+kamAddr, "agent1")))
	front := startFront(t, "8", "1 sip:127.0.0.12:5060 0 10", "1 sip:127.0.0.11:5060 0 5")
	front.waitProbed(t, "sip:127.0.0.12:5060", "sip:127.0.0.11:5060")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws := func(h *hub, q string) string { return "ws://" + h.cfg.HTTP.Listen + "/v1/sessions/ws?" + q }

	agent, err := testutil.DialSession(ctx, ws(a, "token="+a.agentToken("agent1")), toneAgent, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	cust, err := testutil.DialSession(ctx, ws(a, "entry=default"), toneCustomer, 9, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cust.Close()
	if err := cust.Start(ctx, "Ana", nil); err != nil {
		t.Fatal(err)
	}
	offer, err := agent.WaitFor(ctx, frameIs("offer"))
	if err != nil {
		t.Fatal(err)
	}
	sid := offer.Session
	if !strings.Contains(b.logs.String(), "INVITE for a session on another node: redirected") {
		t.Error("node B did not redirect the agent leg")
	}
	front.waitLog(t, "REDIRECT INVITE to <sip:agent1@127.0.0.11:5060>", 5*time.Second)
	if err := agent.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "audio through the ACD path and video between customer and agent", func() bool {
		return agent.DominantHz(acdTones) == toneCustomer && cust.DominantHz(acdTones) == toneAgent &&
			cust.VideoFrom(1) > 20 && agent.VideoFrom(9) > 20
	})
	if code, s := apiAt(t, "GET", b.cfg.HTTP.Listen, "/v1/sessions/"+sid, nil); code != 200 || legRoles(s) != "customer,acd,agent-path,agent" {
		t.Fatalf("the session seen from B: %d %s", code, legRoles(s))
	}
	b.waitMetric(`split_cluster_relayed_total{kind="sip"} 1`, 5*time.Second)

	// ended from B: relayed to A, which hangs every leg up
	if code, out := apiAt(t, "DELETE", b.cfg.HTTP.Listen, "/v1/sessions/"+sid, nil); code/100 != 2 {
		t.Fatalf("DELETE through B: %d %v", code, out)
	}
	for _, p := range []*testutil.SessionPeer{agent, cust} {
		if _, err := p.WaitFor(ctx, frameIs("ended")); err != nil {
			t.Fatal(err)
		}
	}
	b.waitMetric(`split_cluster_relayed_total{kind="http"} 2`, 5*time.Second) // the GET and the DELETE
	eventually(t, 5*time.Second, "the BYEs through the ACD", func() bool {
		return strings.Count(acd.log.String(), "REQ BYE") >= 2
	})
	eventually(t, 5*time.Second, "the session record", func() bool {
		_, s := apiAt(t, "GET", b.cfg.HTTP.Listen, "/v1/sessions/"+sid, nil)
		return s["state"] == "ended"
	})
}

// TestClusterCustomerPageAtTheWrongNode: agent1 on node A invites a
// customer (Reverse mode); the customer opens the link on node B (as a load
// balancer may send it) in Chromium and in Firefox ESR. B relays the page's
// join and its session socket to A; the browser's media goes straight to
// A: audio and video reach the agent, the agent's audio reaches the page.
// The customer hangs up in the page: the agent is told, the session ends.
func TestClusterCustomerPageAtTheWrongNode(t *testing.T) {
	for _, br := range []string{"chromium", "firefox"} {
		t.Run(br, func(t *testing.T) {
			dsn := pgtest.Start(t).FreshDSN(t)
			a := startHub(t, clusterNode(dsn, 1, forwardTo(pbxAddr, "queue:default", "agent1")))
			b := startHub(t, clusterNode(dsn, 2, forwardTo(pbxAddr, "queue:default", "agent1")))
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			agent, err := testutil.DialSession(ctx, "ws://"+a.cfg.HTTP.Listen+"/v1/sessions/ws?token="+a.agentToken("agent1"), toneAgent, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			defer agent.Close()
			if err := agent.Send(ctx, map[string]any{"type": "invite", "channel": "copy", "name": "Ana"}); err != nil {
				t.Fatal(err)
			}
			inv, err := agent.WaitFor(ctx, frameIs("invited"))
			if err != nil {
				t.Fatal(err)
			}
			link := frameField(inv, "url")
			if !strings.HasPrefix(link, "http://"+a.cfg.HTTP.Listen+"/j/") {
				t.Fatalf("link %q", link)
			}
			offer, err := agent.WaitFor(ctx, frameIs("offer"))
			if err != nil {
				t.Fatal(err)
			}
			if err := agent.Accept(ctx, offer); err != nil {
				t.Fatal(err)
			}
			atB := strings.Replace(link, a.cfg.HTTP.Listen, b.cfg.HTTP.Listen, 1)
			d := startPagesIn(t, br)
			d.do(map[string]any{"cmd": "open", "page": "cust", "url": atB})
			d.waitJS("cust", "window.splitApp && window.splitApp.link && window.splitApp.link.state === 'ready'", 15*time.Second)
			d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Video call"]`})
			d.waitJS("cust", "window.splitApp && window.splitApp.state === 'active'", 30*time.Second)
			if got := d.do(map[string]any{"cmd": "eval", "page": "cust", "js": "() => location.host"}); !strings.Contains(string(got), b.cfg.HTTP.Listen) {
				t.Fatalf("the page left node B: %s", got)
			}
			var c pageStats
			eventually(t, 30*time.Second, "the page's audio and video at the agent, the agent's audio in the page", func() bool {
				c = d.stats("cust")
				return agent.AudioPackets() > 100 && agent.VideoPackets() > 100 && c.AudioIn.PacketsReceived > 50 && c.VideoOut.FramesEncoded > 30
			})
			t.Logf("%s on node B, session on node A: page received %d audio packets (%s); agent received %d audio and %d video packets",
				browserName(d), c.AudioIn.PacketsReceived, c.AudioIn.Codec, agent.AudioPackets(), agent.VideoPackets())
			if code, s := apiAt(t, "GET", b.cfg.HTTP.Listen, "/v1/sessions/"+offer.Session, nil); code != 200 || s["state"] != "active" || !strings.Contains(legRoles(s), "customer") {
				t.Fatalf("the session seen from B: %d %v %s", code, s["state"], legRoles(s))
			}
			b.waitMetric(`split_cluster_relayed_total{kind="http"}`, 5*time.Second)
			d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Hang up"]`})
			if _, err := agent.WaitFor(ctx, frameIs("ended")); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the session ended in the store", func() bool {
				_, s := apiAt(t, "GET", b.cfg.HTTP.Listen, "/v1/sessions/"+offer.Session, nil)
				return s["state"] == "ended"
			})
		})
	}
}

// TestClusterRegistersOnce: two nodes with the same registering trunk; the
// registrar (Kamailio) holds one binding, from whichever node holds the
// lease, and no other node registers. When that node stops, it removes its
// binding and the other registers within a few heartbeats.
func TestClusterRegistersOnce(t *testing.T) {
	needPeers(t, "kamailio", "kamcmd")
	k := startKamailio(t)
	dsn := pgtest.Start(t).FreshDSN(t)
	nodes := []*hub{startHub(t, clusterNode(dsn, 1, kamTrunk(kamPass, true))), startHub(t, clusterNode(dsn, 2, kamTrunk(kamPass, true)))}
	contact := func(h *hub) string { return "sip:" + kamUser + "@" + h.cfg.SIP.ListenUDP }
	var holder, other *hub
	eventually(t, 15*time.Second, "one node's binding", func() bool {
		out, _ := k.rpc("ul.lookup", "location", kamUser)
		for i, h := range nodes {
			if strings.Contains(out, contact(h)) {
				holder, other = h, nodes[1-i]
				return true
			}
		}
		return false
	})
	// several lease periods (200 ms heartbeats) pass: still one binding, and
	// the other node never sent a REGISTER
	time.Sleep(2 * time.Second)
	out, _ := k.rpc("ul.lookup", "location", kamUser)
	if strings.Contains(out, contact(other)) || strings.Count(k.log.String(), "AUTH-REG ok user="+kamUser) != 1 ||
		strings.Contains(other.logs.String(), "msg=registered") {
		t.Fatalf("more than one node registered:\n%s", out)
	}
	holder.stop()
	k.waitBinding(t, kamUser, contact(other), 10*time.Second)
	waitHubLog(other, "this node holds the lease: starting its job", time.Second)
	if out, _ := k.rpc("ul.lookup", "location", kamUser); strings.Contains(out, contact(holder)) {
		t.Fatalf("the stopped node's binding is still there:\n%s", out)
	}
}

// TestClusterDrainLeavesTheFront: node A drains (SIGTERM) with a call in
// progress. It answers the front's probes 503, so the front sends the next
// call to node B, and it hands the trunk's registration over to B; A's call
// goes on until the phone hangs up, then A stops.
func TestClusterDrainLeavesTheFront(t *testing.T) {
	needPeers(t, "kamailio", "kamcmd")
	dsn := pgtest.Start(t).FreshDSN(t)
	reg := startKamailio(t) // the trunk's registrar
	agents := forwardTo(pbxAddr, "queue:default", "agent1", "agent2")
	a := startHub(t, clusterNode(dsn, 1, agents, kamTrunk(kamPass, true), func(c *config.Config) { c.DrainTimeout = 30 * time.Second }))
	reg.waitBinding(t, kamUser, "sip:"+kamUser+"@"+a.cfg.SIP.ListenUDP, 10*time.Second) // A, first up, registers
	b := startHub(t, clusterNode(dsn, 2, agents, kamTrunk(kamPass, true)))
	front := startFront(t, "8", "1 sip:127.0.0.11:5060 0 10", "1 sip:127.0.0.12:5060 0 5")
	front.waitProbed(t, "sip:127.0.0.11:5060", "sip:127.0.0.12:5060")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	console := func(h *hub, id string) *testutil.SessionPeer {
		p, err := testutil.DialSession(ctx, "ws://"+h.cfg.HTTP.Listen+"/v1/sessions/ws?token="+h.agentToken(id), toneAgent, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	phone, err := testutil.StartUAS(testutil.UASOptions{Listen: "127.0.0.1:15095", ToneHz: toneCustomer})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	call := func(agent *testutil.SessionPeer, id string) *testutil.SIPCall {
		c, _ := phoneCall(ctx, t, phone, "sip:"+id+"@"+frontSIP, agent)
		return c
	}
	agent1 := console(a, "agent1")
	agent2 := console(b, "agent2")
	c1 := call(agent1, "agent1") // A first (priority)
	a.drain()
	eventually(t, 10*time.Second, "the front taking draining A out", func() bool {
		return front.dsState(t, "sip:127.0.0.11:5060") != "AP"
	})
	t.Logf("A draining: front flags %s", front.dsState(t, "sip:127.0.0.11:5060"))
	// and gives the trunk's registration to B while its call goes on
	reg.waitBinding(t, kamUser, "sip:"+kamUser+"@"+b.cfg.SIP.ListenUDP, 10*time.Second)
	waitHubLog(a, "draining: giving the lease up", time.Second)
	c2 := call(agent2, "agent2") // to B, A being out
	if !strings.Contains(front.log.String(), "DISPATCH INVITE sip:agent2@"+frontSIP+" to sip:127.0.0.12:5060") {
		t.Error("the second call did not go to B")
	}
	// A's call goes on while A drains
	before := agent1.AudioPackets()
	eventually(t, 5*time.Second, "A's call's audio going on", func() bool { return agent1.AudioPackets() > before+50 })
	select {
	case <-a.done:
		t.Fatal("A stopped with a call in progress")
	default:
	}
	for _, c := range []*testutil.SIPCall{c1, c2} {
		if err := c.Hangup(ctx); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatal(err)
		}
		a.done <- nil
	case <-time.After(15 * time.Second):
		t.Fatal("A did not stop once its call ended")
	}
}

// TestClusterAgentConsoleOnAnotherNode: the customer's page is on node A;
// agent1's console page (in Chromium, then in Firefox ESR) is on node B.
// The external ACD delivers the agent leg to the front, which sends it to B;
// B redirects it to A (302), where agent1 has no console: A asks the nodes,
// B tells the console (remote_offer), the console opens a socket for that
// session at B, which relays it to A, and A offers the call on it. The
// console answers by itself: audio through the ACD and video both ways,
// decoded by both pages. The customer hangs up: the console's call ends,
// its session socket closes, the ACD sees the BYEs.
func TestClusterAgentConsoleOnAnotherNode(t *testing.T) {
	needPeers(t, "kamailio", "kamcmd")
	for _, br := range []string{"chromium", "firefox"} {
		t.Run(br, func(t *testing.T) {
			dsn := pgtest.Start(t).FreshDSN(t)
			acd := startKamailioCfg(t, "acd.cfg.tmpl", map[string]string{"Agent": "sip:agent1@" + frontSIP})
			a := startHub(t, clusterNode(dsn, 1, forwardTo(kamAddr, "sip:support@"+kamAddr, "agent1")))
			b := startHub(t, clusterNode(dsn, 2, forwardTo(kamAddr, "sip:support@"+kamAddr, "agent1")))
			front := startFront(t, "8", "1 sip:127.0.0.12:5060 0 10", "1 sip:127.0.0.11:5060 0 5")
			front.waitProbed(t, "sip:127.0.0.12:5060", "sip:127.0.0.11:5060")
			ag := startPagesIn(t, br)
			ag.do(map[string]any{"cmd": "open", "page": "agent", "url": "http://" + b.cfg.HTTP.Listen + "/agent.html#token=" + b.agentToken("agent1") + "&autoanswer=1"})
			ag.waitJS("agent", "window.splitApp && window.splitApp.client && window.splitApp.client.connected", 30*time.Second)
			eventually(t, 5*time.Second, "agent1 online as seen from A (its console is on B)", func() bool {
				_, l := apiAt(t, "GET", a.cfg.HTTP.Listen, "/v1/agents", nil)
				return strings.Contains(fmt.Sprint(l["agents"]), "id:agent1") && strings.Contains(fmt.Sprint(l["agents"]), "online:true")
			})
			cust := startPages(t)
			cust.do(map[string]any{"cmd": "open", "page": "cust", "url": "http://" + a.cfg.HTTP.Listen + "/customer.html?entry=default&name=Ana&autostart=1"})
			var c, g pageStats
			eventually(t, 40*time.Second, "both pages decoding each other's video, the agent receiving the customer's audio through the ACD", func() bool {
				c, g = cust.stats("cust"), ag.stats("agent")
				return c.VideoIn.FramesDecoded > 30 && g.VideoIn.FramesDecoded > 30 && g.AudioIn.PacketsReceived > 50 && c.AudioIn.PacketsReceived > 50
			})
			t.Logf("agent console (%s) on node B, session on node A: audio in %d packets (%s), video in %d frames (%s); customer: video in %d frames",
				browserName(ag), g.AudioIn.PacketsReceived, g.AudioIn.Codec, g.VideoIn.FramesDecoded, g.VideoIn.Codec, c.VideoIn.FramesDecoded)
			if !strings.Contains(a.logs.String(), `type=acd.remote_offer`) {
				t.Error("node A did not ask for the agent's console")
			}
			b.waitMetric(`split_cluster_relayed_total{kind="sip"} 1`, 5*time.Second)
			b.waitMetric(`split_cluster_relayed_total{kind="http"} 1`, 5*time.Second) // the console's session socket
			cust.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Hang up"]`})
			ag.waitJS("agent", "window.splitApp.ended != null", 15*time.Second)
			ag.waitJS("agent", "window.splitApp.client._sessionSockets.size === 0", 15*time.Second)
			eventually(t, 10*time.Second, "the BYEs through the ACD", func() bool { return strings.Count(acd.log.String(), "REQ BYE") >= 2 })
		})
	}
}

// TestClusterBuiltInQueueAcrossNodes: the built-in queue is one for the
// cluster. The customer's page is on node A, the agent's console on node B,
// and nobody else is logged in: the session queued on A is offered to the
// console on B (remote_offer, the console's session socket relayed to A),
// and both pages decode each other's audio and video. Every node sees the
// answered call in /v1/queues; after the hang-up the agent is ready again,
// as seen from A.
func TestClusterBuiltInQueueAcrossNodes(t *testing.T) {
	for _, br := range []string{"chromium", "firefox"} {
		t.Run(br, func(t *testing.T) {
			dsn := pgtest.Start(t).FreshDSN(t)
			queue := func(c *config.Config) {
				c.Log.Level = "debug"
				c.WebRTC.Video = true
				c.Sessions.Routes = []config.Route{{Name: "queue", Entry: "default", Target: "queue:default"}}
				c.Sessions.Demo = false
				c.Sessions.Agents = []config.Agent{{ID: "agent1", Name: "Agent1", Queues: []string{"default"}}}
			}
			a := startHub(t, clusterNode(dsn, 1, queue))
			b := startHub(t, clusterNode(dsn, 2, queue))
			ag := startPagesIn(t, br)
			ag.do(map[string]any{"cmd": "open", "page": "agent", "url": "http://" + b.cfg.HTTP.Listen + "/agent.html#token=" + b.agentToken("agent1") + "&autoanswer=1&ready=1"})
			eventually(t, 30*time.Second, "agent1 ready as seen from A (its console is on B)", func() bool {
				_, l := apiAt(t, "GET", a.cfg.HTTP.Listen, "/v1/agents", nil)
				return strings.Contains(fmt.Sprint(l["agents"]), "state:ready")
			})
			cust := startPages(t)
			cust.do(map[string]any{"cmd": "open", "page": "cust", "url": "http://" + a.cfg.HTTP.Listen + "/customer.html?entry=default&name=Ana&autostart=1"})
			var c, g pageStats
			eventually(t, 40*time.Second, "both pages decoding each other's video and audio", func() bool {
				c, g = cust.stats("cust"), ag.stats("agent")
				return c.VideoIn.FramesDecoded > 30 && g.VideoIn.FramesDecoded > 30 && g.AudioIn.PacketsReceived > 50 && c.AudioIn.PacketsReceived > 50
			})
			t.Logf("queue on A, console (%s) on B: agent audio in %d packets (%s), video in %d frames (%s); customer: audio in %d, video in %d frames",
				browserName(ag), g.AudioIn.PacketsReceived, g.AudioIn.Codec, g.VideoIn.FramesDecoded, g.VideoIn.Codec, c.AudioIn.PacketsReceived, c.VideoIn.FramesDecoded)
			b.waitMetric(`split_cluster_relayed_total{kind="http"} 1`, 5*time.Second) // the console's session socket, to A
			for _, n := range []*hub{a, b} {
				_, q := apiAt(t, "GET", n.cfg.HTTP.Listen, "/v1/queues", nil)
				if s := fmt.Sprint(q); !strings.Contains(s, "answered:1") {
					t.Errorf("queues at %s: %s", n.cfg.HTTP.Listen, s)
				}
			}
			cust.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Hang up"]`})
			ag.waitJS("agent", "window.splitApp.ended != null", 15*time.Second)
			ag.waitJS("agent", "window.splitApp.client._sessionSockets.size === 0", 15*time.Second)
			eventually(t, 10*time.Second, "agent1 ready again and the queue empty, as seen from A", func() bool {
				_, l := apiAt(t, "GET", a.cfg.HTTP.Listen, "/v1/agents", nil)
				_, q := apiAt(t, "GET", a.cfg.HTTP.Listen, "/v1/queues", nil)
				return strings.Contains(fmt.Sprint(l["agents"]), "state:ready") && strings.Contains(fmt.Sprint(q), "waiting:0")
			})
		})
	}
}

// TestClusterNodeKilledMidCall: three nodes behind the front; node A is the
// real binary. agent1's console is connected to every node; agent2's to B
// only. A phone call through the front is answered on A (first by
// priority); another call goes straight to B. Then A is killed with
// SIGKILL mid-call: the front takes A out at its next probes, a new call
// through the front is answered on B, B's call goes on untouched, and a
// survivor ends A's session in the store with cause node_lost.
func TestClusterNodeKilledMidCall(t *testing.T) {
	needPeers(t, "kamailio", "kamcmd")
	dsn := pgtest.Start(t).FreshDSN(t)
	agents := forwardTo(pbxAddr, "queue:default", "agent1", "agent2")
	dir := t.TempDir()
	bin := filepath.Join(dir, "split")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/split").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cfgA := e2eConfig(t, clusterNode(dsn, 1, agents))
	y, err := yaml.Marshal(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), y, 0o600); err != nil {
		t.Fatal(err)
	}
	aCmd := exec.Command(bin, "serve", "--config", filepath.Join(dir, "a.yaml"))
	aLog := &syncBuffer{}
	aCmd.Stdout, aCmd.Stderr = aLog, aLog
	if err := aCmd.Start(); err != nil {
		t.Fatal(err)
	}
	aDone := make(chan struct{})
	go func() { _ = aCmd.Wait(); close(aDone) }()
	t.Cleanup(func() {
		_ = aCmd.Process.Kill()
		<-aDone
		if t.Failed() {
			_ = os.WriteFile(filepath.Join(artifacts(t), "node-a.log"), []byte(aLog.String()), 0o644)
		}
	})
	eventually(t, 20*time.Second, "node A (the binary) ready", func() bool {
		res, err := http.Get("http://" + cfgA.HTTP.Listen + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	b := startHub(t, clusterNode(dsn, 2, agents))
	c := startHub(t, clusterNode(dsn, 3, agents))
	front := startFront(t, "8", "1 sip:127.0.0.11:5060 0 10", "1 sip:127.0.0.12:5060 0 5", "1 sip:127.0.0.13:5060 0 1")
	front.waitProbed(t, "sip:127.0.0.11:5060", "sip:127.0.0.12:5060", "sip:127.0.0.13:5060")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	console := func(addr, id string, tag byte) *testutil.SessionPeer {
		p, err := testutil.DialSession(ctx, "ws://"+addr+"/v1/sessions/ws?token="+b.agentToken(id), toneAgent, tag, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	onA, onB, onC := console(cfgA.HTTP.Listen, "agent1", 1), console(b.cfg.HTTP.Listen, "agent1", 2), console(c.cfg.HTTP.Listen, "agent1", 3)
	agent2 := console(b.cfg.HTTP.Listen, "agent2", 4)
	phone, err := testutil.StartUAS(testutil.UASOptions{Listen: "127.0.0.1:15096", ToneHz: toneCustomer})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	call := func(to string, agent *testutil.SessionPeer) (*testutil.SIPCall, string) {
		return phoneCall(ctx, t, phone, to, agent)
	}
	_, sidA := call("sip:agent1@"+frontSIP, onA)
	callB, sidB := call("sip:agent2@"+b.cfg.SIP.ListenUDP, agent2)

	if err := aCmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-aDone
	killed := time.Now()
	eventually(t, 10*time.Second, "the front taking A out", func() bool { return front.dsState(t, "sip:127.0.0.11:5060") != "AP" })
	t.Logf("front took A out %s after the kill", time.Since(killed).Round(10*time.Millisecond))
	before := agent2.AudioPackets()
	_, sidNew := call("sip:agent1@"+frontSIP, onB) // the next by priority: B
	if len(onC.Frames()) > 0 && countFrames(onC.Frames(), "offer") > 0 {
		t.Error("C was offered the new call; B is first")
	}
	eventually(t, 5*time.Second, "B's call going on", func() bool { return agent2.AudioPackets() > before+100 })
	if callB.ByeReceived() || agent2.DominantHz(acdTones) != toneCustomer {
		t.Errorf("B's call was disturbed: BYE %v, agent2 hears %v Hz", callB.ByeReceived(), agent2.DominantHz(acdTones))
	}
	var rec map[string]any
	eventually(t, 15*time.Second, "A's session ended node_lost by a survivor", func() bool {
		_, rec = apiAt(t, "GET", c.cfg.HTTP.Listen, "/v1/sessions/"+sidA, nil)
		return rec["state"] == "ended"
	})
	if rec["cause"] != "node_lost" {
		t.Fatalf("A's session: %v", rec)
	}
	t.Logf("A's session ended node_lost %s after the kill", time.Since(killed).Round(10*time.Millisecond))
	for _, sid := range []string{sidB, sidNew} {
		if _, s := apiAt(t, "GET", c.cfg.HTTP.Listen, "/v1/sessions/"+sid, nil); s["state"] != "active" {
			t.Errorf("survivors' session %s: %v", sid, s["state"])
		}
	}
}

// phoneCall calls to from phone; agent's console answers the offer; it
// returns the answered call and its session once the agent hears the phone.
func phoneCall(ctx context.Context, t *testing.T, phone *testutil.SIPUAS, to string, agent *testutil.SessionPeer) (*testutil.SIPCall, string) {
	t.Helper()
	type res struct {
		c   *testutil.SIPCall
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := phone.Invite(ctx, to)
		ch <- res{c, err}
	}()
	offer, err := agent.WaitFor(ctx, frameIs("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	eventually(t, 10*time.Second, "the agent hears the phone", func() bool { return agent.DominantHz(acdTones) == toneCustomer })
	return r.c, offer.Session
}
