package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/testutil"
)

// apiDo calls the hub's REST API with the API key.
func apiDo(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, "http://"+hubHTTP+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+apiKey)
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
