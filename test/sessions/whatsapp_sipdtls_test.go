package sessions

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/testutil"
	"github.com/split-hub/split/internal/testutil/metasip"
)

// WhatsApp mode, SIP signalling with DTLS-SRTP+ICE media (the trunk's
// srtp: dtls; Meta's srtp_key_exchange_protocol DTLS): the SIP side is as
// with SDES (TLS, the hub's digest challenge, Record-Route, BYE with
// Reason) but the SDP is WebRTC's and the media a WebRTC leg of the hub's
// engine; the fake's media side is notifytest's MetaPeer (ICE-lite, DTLS
// server, Opus 111).

// legMediaWebRTC: the call record has the WebRTC media leg's figures with
// at least n packets received.
func legMediaWebRTC(e *waSIPEnv, sid string, n float64) bool {
	_, ev := e.a.do("GET", "/v1/sessions/"+sid+"/events?format=json", nil)
	evs, _ := ev["events"].([]any)
	for _, x := range evs {
		x, _ := x.(map[string]any)
		d, _ := x["data"].(map[string]any)
		if x["type"] == "leg.media" && d["side"] == "webrtc" {
			if got, _ := d["packets_received"].(float64); got >= n {
				return true
			}
		}
	}
	return false
}

// hasSessionEvent: the session's history has an event of type typ.
func hasSessionEvent(e *waSIPEnv, sid, typ string) bool {
	_, ev := e.a.do("GET", "/v1/sessions/"+sid+"/events?format=json", nil)
	evs, _ := ev["events"].([]any)
	for _, x := range evs {
		if x, _ := x.(map[string]any); x["type"] == typ {
			return true
		}
	}
	return false
}

// TestWhatsAppSIPDTLSToAgent: Meta's INVITE with a WebRTC offer
// (UDP/TLS/RTP/SAVPF, a=fingerprint, ICE-lite) becomes a WhatsApp session
// served by agent1's console; the INVITE stays unanswered while the console
// rings (and no WebRTC leg exists yet), then the 200 OK carries the hub's
// WebRTC answer (DTLS client, one Opus m-line, no a=crypto), made then. Tones cross both ways over DTLS-SRTP; then
// either end hangs up (Meta's BYE ends the session 200 "Customer hung up";
// the agent's hang-up reaches Meta as a BYE through its Record-Route with
// Reason Q.850 cause 16). The WebRTC leg's figures are in the call record.
func TestWhatsAppSIPDTLSToAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	for i, who := range []string{"user", "agent"} {
		t.Run(who+" hangs up", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			e := startWASIPMedia(ctx, t, 29600+200*i, "dtls")
			type answer struct {
				c   *metasip.Call
				err error
				at  time.Time
			}
			answered := make(chan answer, 1)
			go func() {
				c, err := e.meta.Call(ctx, metasip.UserCall{From: waSIPUser, Name: strings.TrimPrefix(waSIPUser, "+"),
					Headers: map[string]string{"x-wa-meta-user-id": "US.13491208655302741918", "x-wa-meta-user-name": waSIPProfile}})
				answered <- answer{c, err, time.Now()}
			}()
			o, err := e.ag.WaitFor(ctx, isType("offer"))
			if err != nil {
				t.Fatal(err)
			}
			sid := o.Session
			_, s := e.a.do("GET", "/v1/sessions/"+sid, nil)
			cust, _ := s["customer"].(map[string]any)
			if s["mode"] != "whatsapp" || s["entry_point"] != "wa-sip" || cust["name"] != waSIPProfile {
				t.Errorf("the session: mode %v entry point %v customer %v", s["mode"], s["entry_point"], cust)
			}
			select {
			case r := <-answered:
				t.Fatalf("Meta's INVITE was answered while the console rang (%v)", r.err)
			default:
			}
			// no WebRTC leg while the call rings: its ICE would run (and
			// fail after 30 s against a relay that ignores checks before
			// the answer) during the ring or the queue
			if hasSessionEvent(e, sid, "whatsapp.media") {
				t.Error("the WebRTC leg was made before the agent answered")
			}
			acceptAt := time.Now()
			if err := e.ag.Accept(ctx, o); err != nil {
				t.Fatal(err)
			}
			var r answer
			select {
			case r = <-answered:
			case <-ctx.Done():
				t.Fatal("Meta's INVITE was never answered")
			}
			if r.err != nil {
				t.Fatalf("Meta's call: %v (refusals %v)", r.err, e.meta.Refusals())
			}
			c := r.c
			if r.at.Before(acceptAt) {
				t.Errorf("200 OK at %s, before the agent answered at %s", r.at.Format(time.StampMicro), acceptAt.Format(time.StampMicro))
			}
			waitUntil(t, 5*time.Second, "whatsapp.media of the answered call", func() bool { return hasSessionEvent(e, sid, "whatsapp.media") })
			ans := string(c.Response.Body())
			for _, want := range []string{"UDP/TLS/RTP/SAVPF 111", "a=setup:active", "a=fingerprint:", "a=ice-ufrag:", "a=rtpmap:111 opus/48000/2"} {
				if !strings.Contains(ans, want) {
					t.Errorf("the hub's answer lacks %q:\n%s", want, ans)
				}
			}
			if strings.Contains(ans, "a=crypto") || strings.Count(ans, "m=") != 1 {
				t.Errorf("the hub's answer must be one DTLS m-line, no SDES:\n%s", ans)
			}
			if err := c.Peer.WaitConnected(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Peer.WaitTone(ctx, toneAgent1, 15); err != nil {
				t.Fatalf("the agent's voice at the WhatsApp user (DTLS-SRTP Opus): %v", err)
			}
			waitUntil(t, 15*time.Second, "the WhatsApp user's voice at the agent", func() bool { return e.ag.DominantHz(tonesWA) == toneWhatsApp })
			waitUntil(t, 15*time.Second, "100 packets each way", func() bool {
				st := c.Peer.Stats()
				return st.PacketsIn >= 100 && e.ag.AudioPackets() >= 100
			})
			st := c.Peer.Stats()
			t.Logf("Meta (SIP+DTLS): sent %d, received %d Opus packets, heard %.0f Hz; agent heard %d packets, %.0f Hz at level %.3f",
				st.PacketsOut, st.PacketsIn, c.Peer.DominantHz(), e.ag.AudioPackets(), e.ag.DominantHz(tonesWA), e.ag.ToneLevel(toneWhatsApp))
			if e.ag.ToneLevel(toneWhatsApp) < 0.05 {
				t.Errorf("tone level at the agent %.3f (want ≥ 0.05)", e.ag.ToneLevel(toneWhatsApp))
			}
			if n := e.meta.Reinvites.Load(); n != 0 {
				t.Errorf("the hub re-INVITEd Meta %d times", n)
			}

			switch who {
			case "user":
				if err := c.Hangup(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := e.ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "ended" && m.Session == sid }); err != nil {
					t.Fatalf("the agent was not told: %v", err)
				}
				waitUntil(t, 10*time.Second, "the session's end", func() bool {
					_, s := e.a.do("GET", "/v1/sessions/"+sid, nil)
					return s["state"] == "ended"
				})
				if _, s := e.a.do("GET", "/v1/sessions/"+sid, nil); s["cause_code"] != float64(200) || s["cause"] != "Customer hung up" {
					t.Errorf("the session ended with %v %v, want 200 Customer hung up", s["cause_code"], s["cause"])
				}
				if c.HubBye() != nil {
					t.Error("the hub sent a BYE for a call Meta ended")
				}
			case "agent":
				if err := e.ag.Send(ctx, map[string]any{"type": "hangup", "session": sid}); err != nil {
					t.Fatal(err)
				}
				select {
				case <-c.Done():
				case <-ctx.Done():
					t.Fatalf("the hub's BYE never reached Meta; Meta saw %v", e.meta.Requests())
				}
				bye := c.HubBye()
				if bye == nil {
					t.Fatalf("the call ended without the hub's BYE; Meta saw %v", e.meta.Requests())
				}
				route, reason := headerValue(bye, "Route"), headerValue(bye, "Reason")
				if !strings.Contains(route, strings.Trim(e.meta.RecordRoute(), "<>")) {
					t.Errorf("the hub's BYE has Route %q; want Meta's Record-Route %s", route, e.meta.RecordRoute())
				}
				if !strings.Contains(reason, "Q.850") || !strings.Contains(reason, "cause=16") {
					t.Errorf("the hub's BYE has Reason %q; want Q.850;cause=16", reason)
				}
				waitUntil(t, 10*time.Second, "the session's end", func() bool {
					_, s := e.a.do("GET", "/v1/sessions/"+sid, nil)
					return s["state"] == "ended"
				})
				if _, s := e.a.do("GET", "/v1/sessions/"+sid, nil); s["cause_code"] != float64(200) || s["cause"] != "Agent hung up" {
					t.Errorf("the session ended with %v %v, want 200 Agent hung up", s["cause_code"], s["cause"])
				}
			}
			waitUntil(t, 10*time.Second, "leg.media of the WhatsApp call's WebRTC leg", func() bool { return legMediaWebRTC(e, sid, 100) })
		})
	}
}

// TestWhatsAppSIPDTLSBusinessInitiated: agent1 calls a WhatsApp user from
// the API on a number with SIP signalling and an srtp: dtls trunk: once the
// agent answered its console, the hub's INVITE reaches Meta through its
// 407 with the hub's WebRTC offer (UDP/TLS/RTP/SAVPF, actpass, one Opus
// m-line); Meta's 200 OK answer is applied to the WebRTC leg and the
// session turns active; tones cross both ways; the agent hangs up with a
// BYE (Reason Q.850 cause 16).
func TestWhatsAppSIPDTLSBusinessInitiated(t *testing.T) {
	if testing.Short() {
		t.Skip("real-media test; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	e := startWASIPMedia(ctx, t, 30400, "dtls")
	const user = "+16505550042"
	e.f.GrantCallPermission(user, false)
	code, out := e.a.do("POST", "/v1/sessions", map[string]any{"mode": "whatsapp", "agent_id": "agent1",
		"customer": map[string]any{"name": "Ana", "contact": user}})
	if code != 201 {
		t.Fatalf("POST /v1/sessions mode whatsapp: %d %v", code, out)
	}
	sid := out["id"].(string)
	o, err := e.ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Session != sid {
		t.Fatalf("agent1 was offered %s, want %s", o.Session, sid)
	}
	if err := e.ag.Accept(ctx, o); err != nil {
		t.Fatal(err)
	}
	var c *metasip.Call
	select {
	case c = <-e.meta.Calls():
	case <-ctx.Done():
		t.Fatalf("Meta never answered the hub's INVITE; refusals %v, requests %v", e.meta.Refusals(), e.meta.Requests())
	}
	offer := string(c.Invite.Body())
	for _, want := range []string{"UDP/TLS/RTP/SAVPF 111", "a=setup:actpass", "a=fingerprint:", "a=ice-ufrag:"} {
		if !strings.Contains(offer, want) {
			t.Errorf("the hub's offer lacks %q:\n%s", want, offer)
		}
	}
	if strings.Contains(offer, "a=crypto") || strings.Count(offer, "m=") != 1 {
		t.Errorf("the hub's offer must be one DTLS m-line, no SDES:\n%s", offer)
	}
	if c.User != user || c.Invite.GetHeader("Proxy-Authorization") == nil {
		t.Errorf("Meta's call: user %q, authenticated %v", c.User, c.Invite.GetHeader("Proxy-Authorization") != nil)
	}
	waitUntil(t, 10*time.Second, "the session active", func() bool {
		_, s := e.a.do("GET", "/v1/sessions/"+sid, nil)
		return s["state"] == "active"
	})
	if err := c.Peer.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Peer.WaitTone(ctx, toneAgent1, 15); err != nil {
		t.Fatalf("the agent's voice at the WhatsApp user: %v", err)
	}
	waitUntil(t, 15*time.Second, "the WhatsApp user's voice at the agent", func() bool { return e.ag.DominantHz(tonesWA) == toneWhatsApp })
	st := c.Peer.Stats()
	t.Logf("Meta (business-initiated, SIP+DTLS): sent %d, received %d Opus packets; agent heard %.0f Hz", st.PacketsOut, st.PacketsIn, e.ag.DominantHz(tonesWA))
	if err := e.ag.Send(ctx, map[string]any{"type": "hangup", "session": sid}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatalf("the hub's BYE never reached Meta; Meta saw %v", e.meta.Requests())
	}
	if bye := c.HubBye(); bye == nil || !strings.Contains(headerValue(bye, "Reason"), "cause=16") {
		t.Errorf("the hub's BYE: %v", bye)
	}
	waitUntil(t, 10*time.Second, "the session's end", func() bool {
		_, s := e.a.do("GET", "/v1/sessions/"+sid, nil)
		return s["state"] == "ended"
	})
	if _, s := e.a.do("GET", "/v1/sessions/"+sid, nil); s["cause_code"] != float64(200) || s["cause"] != "Agent hung up" {
		t.Errorf("the session ended with %v %v, want 200 Agent hung up", s["cause_code"], s["cause"])
	}
	if n := e.meta.Reinvites.Load(); n != 0 {
		t.Errorf("the hub re-INVITEd Meta %d times", n)
	}
}

// TestWhatsAppSIPDTLSBusinessDeclined: the WhatsApp user declines the
// business's call (Meta's 603 to the INVITE): the session ends with 603
// "Customer declined", as with SDES media — not as an abandon — and the
// call's WebRTC leg is closed.
func TestWhatsAppSIPDTLSBusinessDeclined(t *testing.T) {
	if testing.Short() {
		t.Skip("real-SIP test; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e := startWASIPMedia(ctx, t, 30600, "dtls", func(c *metasip.Config) { c.Answer = 603 })
	const user = "+16505550043"
	e.f.GrantCallPermission(user, false)
	code, out := e.a.do("POST", "/v1/sessions", map[string]any{"mode": "whatsapp", "agent_id": "agent1",
		"customer": map[string]any{"name": "Ana", "contact": user}})
	if code != 201 {
		t.Fatalf("POST /v1/sessions mode whatsapp: %d %v", code, out)
	}
	sid := out["id"].(string)
	o, err := e.ag.WaitFor(ctx, isType("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ag.Accept(ctx, o); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "the session's end", func() bool {
		_, s := e.a.do("GET", "/v1/sessions/"+sid, nil)
		return s["state"] == "ended"
	})
	if _, s := e.a.do("GET", "/v1/sessions/"+sid, nil); s["cause_code"] != float64(603) || s["cause"] != "Customer declined" {
		t.Errorf("the session ended with %v %v, want 603 Customer declined", s["cause_code"], s["cause"])
	}
	waitUntil(t, 10*time.Second, "the WebRTC leg closed (its leg.media)", func() bool { return legMediaWebRTC(e, sid, 0) })
}
