package e2e

// TestDocsOnlyClient runs a client written from docs/signalling.md and
// docs/sessions.md alone (docclient_util_test.go).

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
)

// TestDocsOnlyClient runs the client above against the hub: a softphone
// call to sipp (an echoing PBX) with audio and DTMF both ways, a customer
// session at the public entry point answered by an agent client with audio
// both ways, and the documented refusals on the way: tokens of the wrong
// kind on either socket, a bad token request, another site's Origin, an
// offer to a tel: URI (error then ended, nothing else: no trying), a call
// id already in use (error, and the live call goes on), an unknown frame
// type, an unknown entry point, a second start while the session is live.
func TestDocsOnlyClient(t *testing.T) {
	needPeers(t, "sipp")
	startHub(t, func(c *config.Config) {
		c.Sessions.Demo = false
		c.Sessions.Agents = []config.Agent{{ID: "agent1", Name: "Alice", Queues: []string{"default"}}}
		c.WebRTC.ICEServers = nil // none: hello's ice_servers must still be an array
	})
	wsURL := "ws://" + hubHTTP

	softphone := token(t, `{"identity": "alice", "ttl": "10m"}`)
	agent := token(t, `{"identity": "agent1", "role": "agent"}`)

	t.Run("refusals", func(t *testing.T) {
		// signalling.md, Authentication: a bad identity is a 400.
		if code, f := mintToken(t, `{"identity": "not a SIP user"}`); code != 400 {
			t.Errorf("POST /v1/tokens with a bad identity: %d %v, want 400", code, f)
		}
		// signalling.md, Connect-time refusals.
		for _, c := range []struct {
			url    string
			header http.Header
			status int
			code   string // "" for a plain-text body
		}{
			{wsURL + "/v1/ws", nil, 401, "unauthorized"},
			{wsURL + "/v1/ws?token=" + agent, nil, 403, "forbidden"},
			{wsURL + "/v1/ws?token=" + softphone, http.Header{"Origin": {"https://shop.example"}}, 403, ""},
			// sessions.md, Transport and authentication.
			{wsURL + "/v1/sessions/ws?token=" + softphone, nil, 403, "forbidden"},
			{wsURL + "/v1/sessions/ws?entry=nowhere", nil, 404, "not_found"},
			{wsURL + "/v1/sessions/ws?token=x.y", nil, 401, "unauthorized"},
		} {
			s, status, body := dcDial(t, c.url, c.header)
			if s != nil {
				t.Errorf("%s: the upgrade was accepted, want %d", c.url, c.status)
				s.close()
				continue
			}
			if status != c.status {
				t.Errorf("%s: %d %s, want %d", c.url, status, body, c.status)
				continue
			}
			if c.code != "" {
				if got := errorBody(t, body); got != c.code {
					t.Errorf("%s: code %q, want %q", c.url, got, c.code)
				}
			}
		}
	})

	t.Run("softphone", func(t *testing.T) {
		pbx := startSipp(t, "-sf", "sipp/uas_echo.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1",
			"-mp", fmt.Sprint(pbxMedia), "-rtp_echo", "-m", "1")
		waitUDPListener(t, 15090, 10*time.Second)

		// Transport, the sub-protocol form of the token.
		s, status, body := dcDial(t, wsURL+"/v1/ws", nil, "split.v1", "token."+softphone)
		if s == nil {
			t.Fatalf("connect: %d %s", status, body)
		}
		if p := s.ws.Subprotocol(); p != "split.v1" {
			t.Errorf("sub-protocol %q, want split.v1", p)
		}
		// hello: first, nothing before it.
		hello, i := s.waitFrom(0, 10*time.Second, "hello", func(dcFrame) bool { return true })
		if i != 0 || hello.str("type") != "hello" {
			t.Fatalf("first frame %v, want hello", hello)
		}
		wantKeys(t, hello, "identity sip_uri ice_servers server", "")
		if hello.str("identity") != "alice" || !strings.HasPrefix(hello.str("sip_uri"), "sip:alice@") {
			t.Errorf("hello: %v", hello)
		}
		if _, ok := hello["ice_servers"].([]any); !ok {
			t.Errorf("hello.ice_servers is %v, want an array (may be empty)", hello["ice_servers"])
		}

		// Errors on an open socket: unknown type, malformed JSON.
		from := s.count()
		s.send(map[string]string{"type": "frobnicate"})
		f, _ := s.waitFrom(from, 10*time.Second, "error", typeIs("error"))
		if f.str("code") != "bad_request" || f.str("message") == "" {
			t.Errorf("unknown type: %v", f)
		}

		// A refused offer (error, "to is a tel: URI"): exactly error, then
		// ended 400, and no trying or answer.
		p0 := newDCPeer(t, 440)
		defer p0.close()
		p0.start(t)
		offer := p0.offer(t)
		from = s.count()
		s.send(map[string]any{"type": "offer", "call": "c-tel", "to": "tel:+34600123456", "sdp": offer})
		_, end := s.waitFrom(from, 10*time.Second, "the refused call's end", func(f dcFrame) bool {
			return forCall("state", "c-tel")(f) && f.str("state") == "ended"
		})
		var got []string
		for _, f := range s.between(from, end+1) {
			if f.str("call") == "c-tel" {
				got = append(got, f.str("type")+" "+f.str("state")+f.str("code")+fmt.Sprint(f.num("code")))
			}
		}
		if want := []string{"error bad_request0", "state ended400"}; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("a refused offer got %q, want %q", got, want)
		}

		// Outgoing call: offer → answer → trying → (ringing) → active.
		p := newDCPeer(t, 440)
		defer p.close()
		p.setICEServers(t, hello)
		p.start(t)
		offer = p.offer(t)
		from = s.count()
		s.send(map[string]any{"type": "offer", "call": "c-1", "to": "1000", "sdp": offer, "headers": map[string]string{"X-Account": "42"}})
		ans, ia := s.waitFrom(from, 15*time.Second, "answer", forCall("answer", "c-1"))
		wantKeys(t, ans, "call sdp", "")
		p.setAnswer(t, ans.str("sdp"))
		active, iact := s.waitFrom(from, 30*time.Second, "active", func(f dcFrame) bool {
			return f.str("type") == "state" && f.str("call") == "c-1" && (f.str("state") == "active" || f.str("state") == "ended")
		})
		if active.str("state") != "active" || active.num("code") != 200 {
			t.Fatalf("call: %v", active)
		}
		// Call states: trying comes after the answer, states only move forward.
		order := map[string]int{"trying": 0, "ringing": 1, "early": 2, "active": 3}
		last, sawTrying := -1, false
		for k, f := range s.between(from, iact+1) {
			if f.str("call") != "c-1" || f.str("type") != "state" {
				continue
			}
			wantKeys(t, f, "call state", "code reason")
			o, ok := order[f.str("state")]
			if !ok || o <= last {
				t.Errorf("state %q after %d: states move forward only", f.str("state"), last)
			}
			last = o
			if f.str("state") == "trying" {
				sawTrying = true
				if from+k < ia {
					t.Errorf("trying before the answer")
				}
			}
		}
		if !sawTrying {
			t.Errorf("no trying before active")
		}

		// A call id already in use: error, and the live call goes on (no ended).
		from = s.count()
		s.send(map[string]any{"type": "offer", "call": "c-1", "to": "1000", "sdp": offer})
		end = s.barrier()
		var dup []string
		for _, f := range s.between(from, end) {
			if f.str("call") == "c-1" {
				dup = append(dup, f.str("type")+" "+f.str("code")+f.str("state"))
			}
		}
		if len(dup) != 1 || dup[0] != "error bad_request" {
			t.Errorf("an offer with the id of a live call got %q, want one bad_request error", dup)
		}

		// Media both ways: our tone comes back through the hub and sipp's echo.
		t.Logf("echo heard after %d packets", p.hears(t, "softphone (echo)", 440, 20*time.Second))
		// stats, every 2 s while answered.
		st, _ := s.waitFrom(iact, 10*time.Second, "stats", forCall("stats", "c-1"))
		wantKeys(t, st, "call audio_codec sip_audio_codec path sip_rtp", "video_codec")
		if rtp, _ := st["sip_rtp"].(map[string]any); rtp == nil || rtp["packets_received"] == nil {
			t.Errorf("stats: %v", st)
		}
		// DTMF to the SIP side; sipp echoes the events, which come back as dtmf.
		from = s.count()
		s.send(map[string]any{"type": "dtmf", "call": "c-1", "digits": "12#"})
		var digits []string
		for _, want := range []string{"1", "2", "#"} {
			f, i := s.waitFrom(from, 15*time.Second, "dtmf "+want, forCall("dtmf", "c-1"))
			digits = append(digits, f.str("digit"))
			from = i + 1
		}
		if strings.Join(digits, "") != "12#" {
			t.Errorf("dtmf back: %q, want 12#", digits)
		}

		// Hangup: ended 200 "Local hangup" — the call's first and only
		// ended (the refused duplicate did not end it); sipp sees the BYE.
		s.send(map[string]any{"type": "hangup", "call": "c-1"})
		ended, _ := s.waitFrom(0, 10*time.Second, "ended", func(f dcFrame) bool {
			return forCall("state", "c-1")(f) && f.str("state") == "ended"
		})
		if ended.num("code") != 200 || ended.str("reason") != "Local hangup" {
			t.Errorf("ended: %v", ended)
		}
		if code := pbx.wait(t, 20*time.Second); code != 0 {
			t.Errorf("sipp exit %d", code)
		}
		// Frames naming a call that is over: not_found.
		from = s.count()
		s.send(map[string]any{"type": "hold", "call": "c-1"})
		if f, _ := s.waitFrom(from, 10*time.Second, "error", typeIs("error")); f.str("code") != "not_found" || f.str("call") != "c-1" {
			t.Errorf("hold of an ended call: %v", f)
		}
	})

	t.Run("session", func(t *testing.T) {
		// The agent's console: hello with the agent's state, login, ready.
		ag, status, body := dcDial(t, wsURL+"/v1/sessions/ws?token="+agent, nil)
		if ag == nil {
			t.Fatalf("agent connect: %d %s", status, body)
		}
		hello, _ := ag.waitFrom(0, 10*time.Second, "hello", typeIs("hello"))
		wantKeys(t, hello, "role identity ice_servers server agent queues", "session copilot")
		if hello.str("role") != "agent" || hello.str("identity") != "agent1" {
			t.Errorf("agent hello: %v", hello)
		}
		if _, ok := hello["ice_servers"].([]any); !ok {
			t.Errorf("hello.ice_servers is %v, want an array", hello["ice_servers"])
		}
		if a, _ := hello["agent"].(map[string]any); a == nil || a["state"] != "logged_out" {
			t.Errorf("agent hello before login: agent %v, want state logged_out", hello["agent"])
		}
		from := ag.count()
		ag.send(map[string]string{"type": "login"})
		if f, _ := ag.waitFrom(from, 10*time.Second, "agent not_ready", typeIs("agent")); f.str("state") != "not_ready" {
			t.Errorf("after login: %v", f)
		}
		from = ag.count()
		ag.send(map[string]any{"type": "ready", "ready": true})
		if f, _ := ag.waitFrom(from, 10*time.Second, "agent ready", typeIs("agent")); f.str("state") != "ready" {
			t.Errorf("after ready: %v", f)
		}

		// The customer at the public entry point.
		cu, status, body := dcDial(t, wsURL+"/v1/sessions/ws?entry=default", nil)
		if cu == nil {
			t.Fatalf("customer connect: %d %s", status, body)
		}
		chello, _ := cu.waitFrom(0, 10*time.Second, "hello", typeIs("hello"))
		wantKeys(t, chello, "role identity ice_servers server", "session")
		cust := newDCPeer(t, 697)
		defer cust.close()
		cust.setICEServers(t, chello)
		cust.start(t)
		cu.send(map[string]any{"type": "start", "sdp": cust.offer(t), "name": "Ana", "context": map[string]string{"order": "A-1042"}, "language": "es"})
		ans, _ := cu.waitFrom(0, 15*time.Second, "answer", typeIs("answer"))
		wantKeys(t, ans, "leg session sdp resume", "")
		cust.setAnswer(t, ans.str("sdp"))
		sid := ans.str("session")

		// The agent is offered the session and accepts it.
		offer, _ := ag.waitFrom(from, 30*time.Second, "offer", typeIs("offer"))
		wantKeys(t, offer, "leg session sdp customer video", "queue from ring_timeout")
		if offer.str("session") != sid {
			t.Errorf("offer for session %q, want %q", offer.str("session"), sid)
		}
		if c, _ := offer["customer"].(map[string]any); c == nil || c["name"] != "Ana" {
			t.Errorf("offer.customer: %v", offer["customer"])
		}
		agp := newDCPeer(t, 1209)
		defer agp.close()
		agp.setICEServers(t, hello)
		agp.start(t)
		from = ag.count()
		ag.send(map[string]any{"type": "accept", "leg": offer.str("leg"), "sdp": agp.answerTo(t, offer.str("sdp"))})
		if f, _ := ag.waitFrom(from, 10*time.Second, "agent busy", typeIs("agent")); f.str("state") != "busy" {
			t.Errorf("after accept: %v", f)
		}
		sf, _ := ag.waitFrom(from, 10*time.Second, "session active", func(f dcFrame) bool {
			return f.str("type") == "session" && f.str("state") == "active"
		})
		if c, _ := sf["customer"].(map[string]any); sf.str("session") != sid || c == nil || c["name"] != "Ana" {
			t.Errorf("agent's session frame: %v", sf)
		}
		cs, _ := cu.waitFrom(0, 10*time.Second, "session active", func(f dcFrame) bool {
			return f.str("type") == "session" && f.str("state") == "active"
		})
		if a, _ := cs["agent"].(map[string]any); a == nil || a["name"] != "Alice" {
			t.Errorf("customer's session frame: %v", cs)
		}

		// Media both ways.
		n1 := agp.hears(t, "agent", 697, 20*time.Second)
		n2 := cust.hears(t, "customer", 1209, 20*time.Second)
		t.Logf("tones heard: agent after %d packets, customer after %d", n1, n2)

		// A second start while the session is live: conflict.
		from = cu.count()
		cu.send(map[string]any{"type": "start", "sdp": ans.str("sdp")})
		if f, _ := cu.waitFrom(from, 10*time.Second, "error", typeIs("error")); f.str("code") != "conflict" {
			t.Errorf("a second start: %v, want conflict", f)
		}
		// A frame of another role: bad_request.
		from = cu.count()
		cu.send(map[string]string{"type": "login"})
		if f, _ := cu.waitFrom(from, 10*time.Second, "error", typeIs("error")); f.str("code") != "bad_request" {
			t.Errorf("a customer's login: %v, want bad_request", f)
		}

		// The customer hangs up: the session ends for both.
		from = cu.count()
		afrom := ag.count()
		cu.send(map[string]string{"type": "hangup"})
		ce, _ := cu.waitFrom(from, 10*time.Second, "ended", typeIs("ended"))
		wantKeys(t, ce, "session leg code reason", "")
		if ce.num("code") != 200 || ce.str("reason") != "Customer hung up" {
			t.Errorf("customer's ended: %v", ce)
		}
		ae, _ := ag.waitFrom(afrom, 10*time.Second, "ended", typeIs("ended"))
		if ae.str("leg") != offer.str("leg") || ae.str("session") != sid {
			t.Errorf("agent's ended: %v (leg %s)", ae, offer.str("leg"))
		}
	})
}

// waitUDPListener waits until something is bound to UDP port on this
// network namespace (sipp is ready for its INVITE).
func waitUDPListener(t *testing.T, port int, within time.Duration) {
	t.Helper()
	want := fmt.Sprintf(":%04X ", port)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/net/udp")
		if err == nil && bytes.Contains(b, []byte(want)) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on UDP %d", port)
}
