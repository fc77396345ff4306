package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/notify/notifytest"
	"github.com/split-hub/split/internal/testutil"
)

// apiDo calls the hub's REST API with the API key.
func apiDo(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return apiAt(t, method, hubHTTP, path, body)
}

// apiAt calls the REST API of the hub at addr (host:port) with the API key.
func apiAt(t *testing.T, method, addr, path string, body any) (int, map[string]any) {
	t.Helper()
	return apiWithKey(t, apiKey, method, addr, path, body)
}

// apiWithKey calls the REST API of the hub at addr with key.
func apiWithKey(t *testing.T, key, method, addr, path string, body any) (int, map[string]any) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// redeem joins with a link URL (…/j/<token>) and returns the socket URL.
func redeem(t *testing.T, link string) string {
	t.Helper()
	i := strings.LastIndex(link, "/j/")
	if i < 0 {
		t.Fatalf("not a join link: %q", link)
	}
	code, out := apiDo(t, "POST", "/v1/join", map[string]any{"token": link[i+3:]})
	if code != 200 {
		t.Fatalf("join: %d %v", code, out)
	}
	return sessionWS("token=" + out["ws_token"].(string))
}

func frameField(m testutil.Message, key string) string {
	var v map[string]any
	_ = json.Unmarshal(m.Raw, &v)
	s, _ := v[key].(string)
	return s
}

// TestRemoteViewer: a phone call reached agent1 through the ACD (no session
// reference: a plain call to the hosted agent endpoint); the agent
// escalates to video; the customer's browser joins the same session; video
// flows both ways while the phone keeps the audio — or, when the customer
// moves the audio to the browser, the phone leg is released only once the
// browser's audio flows.
func TestRemoteViewer(t *testing.T) {
	needPeers(t, "sipp")
	for _, move := range []bool{false, true} {
		name := "phone keeps the audio"
		if move {
			name = "audio moves to the browser"
		}
		t.Run(name, func(t *testing.T) {
			h := startHub(t, forwardTo(pbxAddr, "queue:default", "agent1"))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			agent, err := testutil.DialSession(ctx, sessionWS("token="+h.agentToken("agent1")), toneAgent, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			defer agent.Close()
			phone := startSipp(t, hubSIP, "-sf", "sipp/phone_customer.xml", "-s", "agent1", "-i", "127.0.0.1", "-p", "15090",
				"-mi", "127.0.0.1", "-mp", "16000", "-m", "1")
			offer, err := agent.WaitFor(ctx, frameIs("offer"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(offer.Raw), "Pat Phone") {
				t.Errorf("the offer does not show the caller: %s", offer.Raw)
			}
			if err := agent.Accept(ctx, offer); err != nil {
				t.Fatalf("%v\n%s", err, offer.SDP)
			}
			eventually(t, 10*time.Second, "the phone's audio at the agent", func() bool { return agent.AudioPackets() > 50 })
			sid := offer.Session

			if err := agent.Send(ctx, map[string]any{"type": "escalate", "session": sid, "channel": "copy"}); err != nil {
				t.Fatal(err)
			}
			inv, err := agent.WaitFor(ctx, frameIs("invited"))
			if err != nil {
				t.Fatal(err)
			}
			cust, err := testutil.DialSession(ctx, redeem(t, frameField(inv, "url")), toneCustomer, 9, true)
			if err != nil {
				t.Fatal(err)
			}
			defer cust.Close()
			if err := cust.Start(ctx, "", nil); err != nil {
				t.Fatal(err)
			}
			eventually(t, 15*time.Second, "video between the customer's browser and the agent", func() bool {
				return agent.VideoFrom(9) > 20 && cust.VideoFrom(1) > 20
			})
			s := getSession(t, sid)
			if !strings.Contains(legRoles(s), "agent-path") {
				t.Fatalf("the phone leg is gone: %s", legRoles(s))
			}
			if lvl := agent.ToneLevel(toneCustomer); lvl > 0.02 {
				t.Fatalf("the browser's audio reaches the agent (level %.3f) although the phone has the audio", lvl)
			}
			if !move {
				before := agent.AudioPackets()
				eventually(t, 5*time.Second, "the phone's RTP to go on", func() bool { return agent.AudioPackets() > before+50 })
				// the agent ends the call: the phone gets its BYE
				if err := agent.Send(ctx, map[string]any{"type": "hangup", "session": sid}); err != nil {
					t.Fatal(err)
				}
				if code := phone.wait(t, 15*time.Second); code != 0 {
					t.Fatalf("phone: sipp exit %d", code)
				}
				return
			}
			if err := cust.Send(ctx, map[string]any{"type": "move_audio"}); err != nil {
				t.Fatal(err)
			}
			if _, err := cust.WaitFor(ctx, frameIs("audio_moved")); err != nil {
				t.Fatal(err)
			}
			if code := phone.wait(t, 10*time.Second); code != 0 {
				t.Fatalf("phone: sipp exit %d (want the hub's BYE)", code)
			}
			eventually(t, 10*time.Second, "the agent to hear the browser", func() bool { return agent.DominantHz(acdTones) == toneCustomer })
			if hz := cust.DominantHz(acdTones); hz != toneAgent {
				t.Errorf("the customer's browser hears %.0f Hz, want the agent", hz)
			}
			s = getSession(t, sid)
			if strings.Contains(legRoles(s), "agent-path") || s["state"] != "active" {
				t.Fatalf("after the move: %v %s", s["state"], legRoles(s))
			}
			var moving, moved int
			_, ev := apiDo(t, "GET", "/v1/sessions/"+sid+"/events?format=json", nil)
			for _, e := range ev["events"].([]any) {
				e := e.(map[string]any)
				switch e["type"] {
				case "audio.moving":
					moving = int(e["seq"].(float64))
				case "audio.moved":
					moved = int(e["seq"].(float64))
				}
			}
			if moving == 0 || moved <= moving {
				t.Fatalf("history: audio.moving at %d, audio.moved at %d", moving, moved)
			}
		})
	}
}

// withSMS points the hub's SMS provider at a Twilio contract fake.
func withSMS(tw *notifytest.TwilioFake) func(*config.Config) {
	return func(c *config.Config) {
		c.Sessions.Notify.SMS = &config.TwilioConfig{BaseURL: tw.URL, AccountSID: tw.AccountSID, AuthToken: tw.AuthToken, From: tw.From}
	}
}

// TestReverseInChromium: an agent calls customers by video, from the
// console (the invite form) and from a desk phone (sipp dialling *88 plus
// the number): the link reaches the SMS fake, the customer opens it in
// Chromium and presses "Video call", and media flows with the agent.
func TestReverseInChromium(t *testing.T) {
	needPeers(t, "sipp")
	tw := notifytest.StartTwilio(t)
	h := startHub(t, func(c *config.Config) {
		forwardTo(pbxAddr, "queue:default", "agent1")(c)
		withSMS(tw)(c)
		c.Sessions.CountryCode = "34"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d := startPages(t)
	base := "http://" + hubHTTP
	d.do(map[string]any{"cmd": "open", "page": "agent", "url": base + "/agent.html#token=" + h.agentToken("agent1") + "&autoanswer=1"})
	d.waitJS("agent", "window.splitApp && window.splitApp.client && window.splitApp.client.connected", 20*time.Second)

	// 1. From the console.
	d.do(map[string]any{"cmd": "fill", "page": "agent", "selector": "#invite-to", "value": "+34600123456"})
	d.do(map[string]any{"cmd": "click", "page": "agent", "selector": `role=button[name="Send link"]`})
	d.waitJS("agent", "window.splitApp.invited && window.splitApp.invited.delivery === 'queued'", 10*time.Second)
	msgs, err := tw.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].To != "+34600123456" {
		t.Fatalf("SMS to %s", msgs[0].To)
	}
	d.do(map[string]any{"cmd": "open", "page": "cust", "url": tw.LastLink(), "viewport": map[string]int{"width": 390, "height": 844}})
	d.waitJS("cust", "window.splitApp.link && window.splitApp.link.state === 'ready'", 10*time.Second)
	d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Video call"]`})
	d.waitJS("cust", "window.splitApp.state === 'active'", 20*time.Second)
	eventually(t, 20*time.Second, "video and audio between the customer and the console", func() bool {
		c, a := d.stats("cust"), d.stats("agent")
		return c.VideoIn.FramesDecoded > 30 && a.VideoIn.FramesDecoded > 30 && c.AudioIn.PacketsReceived > 50 && a.AudioIn.PacketsReceived > 50
	})
	d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Hang up"]`})
	d.waitJS("agent", "!!window.splitApp.ended", 10*time.Second)
	// the link was single use: opening it again shows a clear refusal
	d.do(map[string]any{"cmd": "open", "page": "again", "url": tw.LastLink()})
	d.waitJS("again", "window.splitApp.link && window.splitApp.link.code === 'link_used'", 10*time.Second)

	// 2. From the desk phone: *88 + number.
	phone := startSipp(t, hubSIP, "-sf", "sipp/desk_phone.xml", "-s", "*88600123457", "-key", "from", "agent1",
		"-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1", "-mp", "16000", "-m", "1")
	msgs, err = tw.Wait(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[1].To != "+34600123457" {
		t.Fatalf("desk-phone SMS to %s", msgs[1].To)
	}
	d.do(map[string]any{"cmd": "open", "page": "cust2", "url": tw.LastLink()})
	d.waitJS("cust2", "window.splitApp.link && window.splitApp.link.state === 'ready'", 10*time.Second)
	d.do(map[string]any{"cmd": "click", "page": "cust2", "selector": `role=button[name="Video call"]`})
	d.waitJS("cust2", "window.splitApp.state === 'active'", 20*time.Second)
	eventually(t, 20*time.Second, "the desk phone's audio in the customer's browser, video with the console", func() bool {
		c, a := d.stats("cust2"), d.stats("agent")
		return c.AudioIn.PacketsReceived > 100 && c.VideoIn.FramesDecoded > 30 && a.VideoIn.FramesDecoded > 30
	})
	d.do(map[string]any{"cmd": "click", "page": "cust2", "selector": `role=button[name="Hang up"]`})
	if code := phone.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("desk phone: sipp exit %d (want the hub's BYE when the customer leaves)", code)
	}
}

// TestScheduledLobbyInChromium: opening an appointment's link early shows
// the lobby with a countdown instead of a call.
func TestScheduledLobbyInChromium(t *testing.T) {
	startHub(t, forwardTo(pbxAddr, "queue:default", "agent1"))
	code, appt := apiDo(t, "POST", "/v1/appointments", map[string]any{"start": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339),
		"customer": map[string]any{"name": "Ana"}, "channel": "copy"})
	if code != 201 {
		t.Fatalf("appointment: %d %v", code, appt)
	}
	d := startPages(t)
	d.do(map[string]any{"cmd": "open", "page": "cust", "url": appt["join_url"].(string)})
	d.waitJS("cust", "window.splitApp.link && window.splitApp.link.state === 'lobby' && window.splitApp.link.secondsLeft > 3600", 10*time.Second)
	d.waitJS("cust", "document.querySelector('#status').textContent.includes('You are early')", 5*time.Second)
	if problems := a11yAudit(d, "cust"); len(problems) > 0 {
		t.Errorf("lobby accessibility: %v", problems)
	}
	if v := string(d.do(map[string]any{"cmd": "eval", "page": "cust", "js": "document.querySelector('#video-call').disabled"})); v != "true" {
		t.Fatalf("the call button is usable in the lobby (%s)", v)
	}
}

// TestRemoteViewerInChromium: the same escalation through the pages: a phone
// call reaches agent1's console in Chromium; "Escalate to video" texts the
// caller's number (the SMS fake); the customer page opens the link and
// joins with video; "Talk from this device" moves the voice and the phone
// gets its BYE.
func TestRemoteViewerInChromium(t *testing.T) {
	needPeers(t, "sipp")
	tw := notifytest.StartTwilio(t)
	h := startHub(t, func(c *config.Config) {
		forwardTo(pbxAddr, "queue:default", "agent1")(c)
		withSMS(tw)(c)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d := startPages(t)
	base := "http://" + hubHTTP
	d.do(map[string]any{"cmd": "open", "page": "agent", "url": base + "/agent.html#token=" + h.agentToken("agent1") + "&autoanswer=1"})
	d.waitJS("agent", "window.splitApp && window.splitApp.client && window.splitApp.client.connected", 20*time.Second)
	phone := startSipp(t, hubSIP, "-sf", "sipp/phone_customer.xml", "-s", "agent1", "-i", "127.0.0.1", "-p", "15090",
		"-mi", "127.0.0.1", "-mp", "16000", "-m", "1")
	d.waitJS("agent", "window.splitApp.call && window.splitApp.call.state === 'connected'", 20*time.Second)
	eventually(t, 15*time.Second, "the phone's audio at the console", func() bool { return d.stats("agent").AudioIn.PacketsReceived > 50 })
	d.do(map[string]any{"cmd": "click", "page": "agent", "selector": `role=button[name="Escalate to video"]`})
	msgs, err := tw.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].To != "+34600111222" {
		t.Fatalf("the link went to %s, want the caller's number +34600111222", msgs[0].To)
	}
	d.do(map[string]any{"cmd": "open", "page": "cust", "url": tw.LastLink(), "viewport": map[string]int{"width": 390, "height": 844}, "isMobile": true})
	d.waitJS("cust", "window.splitApp.link && window.splitApp.link.state === 'ready'", 10*time.Second)
	d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Video call"]`})
	d.waitJS("cust", "window.splitApp.state === 'active' && window.splitApp.phoneAudio", 20*time.Second)
	eventually(t, 20*time.Second, "video both ways between the customer's phone browser and the console", func() bool {
		return d.stats("cust").VideoIn.FramesDecoded > 30 && d.stats("agent").VideoIn.FramesDecoded > 30
	})
	if phone.exited() {
		t.Fatal("the phone call ended when the browser joined")
	}
	d.do(map[string]any{"cmd": "click", "page": "cust", "selector": `role=button[name="Talk from this device"]`})
	if code := phone.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("phone: sipp exit %d (want the hub's BYE after the move)", code)
	}
	d.waitJS("cust", "!window.splitApp.phoneAudio && document.querySelector('#status').textContent.includes('through this device')", 10*time.Second)
	before := d.stats("agent").AudioIn.PacketsReceived
	eventually(t, 10*time.Second, "the browser's voice at the console", func() bool { return d.stats("agent").AudioIn.PacketsReceived > before+50 })
}
