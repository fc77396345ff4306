package notifytest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// newBusinessPeer is a test-only stand-in for the hub's WhatsApp leg: ICE
// full and controlling, DTLS client, Opus + telephone-event/8000, sending a
// tone as soon as it is connected.
func newBusinessPeer(t *testing.T, hz float64) *MetaPeer {
	t.Helper()
	p, err := NewMetaPeer(MetaPeerOptions{ToneHz: hz, business: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func newMeta(t *testing.T, o MetaPeerOptions) *MetaPeer {
	t.Helper()
	p, err := NewMetaPeer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// mediaBothWays checks tones and DTMF in both directions once connected.
func mediaBothWays(t *testing.T, ctx context.Context, meta, biz *MetaPeer) {
	t.Helper()
	for _, p := range []*MetaPeer{meta, biz} {
		if err := p.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
	}
	meta.StartAudio()
	if err := meta.WaitTone(ctx, 1000, 15); err != nil {
		t.Fatalf("meta hears: %v", err)
	}
	if err := biz.WaitTone(ctx, 440, 15); err != nil {
		t.Fatalf("business hears: %v", err)
	}
	if err := biz.SendDTMF(ctx, "12#"); err != nil {
		t.Fatal(err)
	}
	if err := meta.SendDTMF(ctx, "9*"); err != nil {
		t.Fatal(err)
	}
	if err := meta.WaitDigits(ctx, "12#"); err != nil {
		t.Fatal(err)
	}
	if err := biz.WaitDigits(ctx, "9*"); err != nil {
		t.Fatal(err)
	}
	ms, bs := meta.Stats(), biz.Stats()
	if ms.Digits != "12#" || bs.Digits != "9*" || ms.DecodeErrors != 0 || bs.DecodeErrors != 0 || ms.PacketsOut == 0 || bs.PacketsIn == 0 ||
		ms.DTMFOut != 14 || bs.DTMFIn < 14 || ms.OtherIn != 0 {
		t.Errorf("meta %+v\nbusiness %+v", ms, bs)
	}
}

func TestMetaPeerUserInitiatedMedia(t *testing.T) {
	if testing.Short() {
		t.Skip("media over loopback takes a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	meta := newMeta(t, MetaPeerOptions{})
	biz := newBusinessPeer(t, 1000)
	offer, err := meta.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a=ice-lite\r\n", "a=setup:actpass\r\n", "m=audio ", " UDP/TLS/RTP/SAVPF 111 126\r\n", "a=rtpmap:111 opus/48000/2\r\n",
		"a=fmtp:111 " + MetaOpusFmtp + "\r\n", "a=rtpmap:126 telephone-event/8000\r\n", "cname:" + MetaCNAME + "\r\n", "a=ptime:20\r\n",
		"a=fingerprint:sha-256 ", " 127.0.0.1 "} {
		if !strings.Contains(offer, want) {
			t.Errorf("offer lacks %q:\n%s", want, offer)
		}
	}
	if strings.Count(offer, "m=") != 1 || strings.Count(offer, "a=ssrc:") != strings.Count(offer, "a=ssrc:"+strings.Fields(offer[strings.Index(offer, "a=ssrc:")+7:])[0]) {
		t.Errorf("one m-line, one SSRC:\n%s", offer)
	}
	if d := checkCallSDP(offer, false); d != "" {
		t.Errorf("Meta's own offer fails the validator: %s", d)
	}
	ans, err := biz.Answer(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ans, "a=setup:active") || strings.Contains(ans, "a=ice-lite") {
		t.Errorf("business answer must be DTLS client, ICE full:\n%s", ans)
	}
	if d := checkCallSDP(ans, false); d != "" {
		t.Errorf("business answer fails the validator: %s\n%s", d, ans)
	}
	if err := meta.SetAnswer(ans); err != nil {
		t.Fatal(err)
	}
	mediaBothWays(t, ctx, meta, biz)
}

func TestMetaPeerBusinessInitiatedMedia(t *testing.T) {
	if testing.Short() {
		t.Skip("media over loopback takes a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	meta := newMeta(t, MetaPeerOptions{})
	biz := newBusinessPeer(t, 1000)
	offer, err := biz.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(offer, "a=setup:actpass") || strings.Contains(offer, "a=ice-lite") {
		t.Fatalf("business offer:\n%s", offer)
	}
	ans, err := meta.Answer(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a=ice-lite\r\n", "a=setup:passive\r\n", "cname:" + MetaCNAME} {
		if !strings.Contains(ans, want) {
			t.Errorf("answer lacks %q:\n%s", want, ans)
		}
	}
	if err := biz.SetAnswer(ans); err != nil {
		t.Fatal(err)
	}
	mediaBothWays(t, ctx, meta, biz)
}

func TestMetaPeerMediaTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("media over loopback")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fired := make(chan bool, 1)
	meta := newMeta(t, MetaPeerOptions{MediaStartTimeout: 300 * time.Millisecond, MediaMidTimeout: 300 * time.Millisecond,
		OnMediaTimeout: func(first bool) { fired <- first }})
	meta.StartAudio() // nothing connected: nothing ever comes in
	select {
	case first := <-fired:
		if first {
			t.Error("start timeout reported as mid-call")
		}
	case <-ctx.Done():
		t.Fatal("no media timeout")
	}
}

// graphPost posts body to the fake's Graph edge and decodes the answer.
func graphPost(t *testing.T, f *WhatsAppFake, edge string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/"+f.Version+"/"+f.PhoneNumberID+"/"+edge, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+f.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %v", edge, resp.StatusCode, m)
	}
	return m
}

// hookSDP returns the session.sdp of the n-th (1-based) webhook delivery.
func hookSDP(t *testing.T, ctx context.Context, f *WhatsAppFake, n int) string {
	t.Helper()
	ds, err := f.WaitWebhooks(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Entry []struct {
			Changes []struct {
				Value struct {
					Calls []struct {
						Session struct{ SDP string } `json:"session"`
					} `json:"calls"`
				} `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(ds[n-1].Body, &env); err != nil || len(env.Entry[0].Changes[0].Value.Calls) == 0 {
		t.Fatalf("webhook %s: %v", ds[n-1].Body, err)
	}
	return env.Entry[0].Changes[0].Value.Calls[0].Session.SDP
}

func subscribed(t *testing.T, ctx context.Context) *WhatsAppFake {
	f := StartWhatsApp(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, r.URL.Query().Get("hub.challenge"))
		}
	}))
	t.Cleanup(srv.Close)
	if err := f.Subscribe(ctx, srv.URL, "x"); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFakeCallMedia runs both call directions through the fake's Graph
// endpoints and webhooks with real media between the Meta peer and a
// business-role peer, and Meta's media timeout.
func TestFakeCallMedia(t *testing.T) {
	if testing.Short() {
		t.Skip("media over loopback takes a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := subscribed(t, ctx)

	// User-initiated: webhook offer → business answer → accept → media → user hangs up.
	call, err := f.UserCalls(ctx, "16505551234", "Ana", WithToneHz(600))
	if err != nil {
		t.Fatal(err)
	}
	biz := newBusinessPeer(t, 1000)
	ans, err := biz.Answer(ctx, hookSDP(t, ctx, f, 1))
	if err != nil {
		t.Fatal(err)
	}
	graphPost(t, f, "calls", map[string]any{"messaging_product": "whatsapp", "call_id": call.ID, "action": "accept",
		"session": map[string]any{"sdp_type": "answer", "sdp": ans}})
	if err := biz.WaitTone(ctx, 600, 15); err != nil {
		t.Fatal(err)
	}
	if err := call.Peer().WaitTone(ctx, 1000, 15); err != nil {
		t.Fatal(err)
	}
	if err := call.SendDTMF(ctx, "7"); err != nil {
		t.Fatal(err)
	}
	if err := biz.WaitDigits(ctx, "7"); err != nil {
		t.Fatal(err)
	}
	if s := call.Peer().Stats(); s.EarlyIn != 0 || s.PacketsIn == 0 || s.PacketsOut == 0 {
		t.Errorf("meta peer: %+v", s)
	}
	if err := call.Hangup(); err != nil {
		t.Fatal(err)
	}
	if end, _ := call.WaitTerminated(ctx); end.By != "user" || end.Duration <= 0 {
		t.Errorf("end %+v", end)
	}

	// Business-initiated: connect(offer) → Ring (webhook answer) → Answer → media.
	f.GrantCallPermission("16505551234", false)
	f.SetCallingLimits(CallingLimits{MediaMidTimeout: 500 * time.Millisecond})
	biz2 := newBusinessPeer(t, 1000)
	offer, err := biz2.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	graphPost(t, f, "calls", map[string]any{"messaging_product": "whatsapp", "to": "16505551234", "action": "connect",
		"session": map[string]any{"sdp_type": "offer", "sdp": offer}})
	call2, err := f.WaitCall(ctx, "16505551234")
	if err != nil {
		t.Fatal(err)
	}
	n := len(f.Webhooks())
	if err := call2.Ring(); err != nil {
		t.Fatal(err)
	}
	if err := biz2.SetAnswer(hookSDP(t, ctx, f, n+1)); err != nil {
		t.Fatal(err)
	}
	if err := call2.Peer().WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := call2.Answer(); err != nil {
		t.Fatal(err)
	}
	if err := biz2.WaitTone(ctx, 440, 15); err != nil {
		t.Fatal(err)
	}
	if err := call2.Peer().WaitTone(ctx, 1000, 15); err != nil {
		t.Fatal(err)
	}
	// The business goes silent (no RTP, no RTCP): Meta drops the call.
	biz2.Close()
	end, err := call2.WaitTerminated(ctx)
	if err != nil || end.Status != "FAILED" || end.ErrorCode != 138021 || end.By != "meta" {
		t.Fatalf("end %+v %v", end, err)
	}
	ds, err := f.WaitWebhooks(ctx, n+4) // connect, RINGING, ACCEPTED, terminate
	if err != nil {
		t.Fatal(err)
	}
	if last := string(ds[n+3].Body); !strings.Contains(last, `"event":"terminate"`) || !strings.Contains(last, `"code":138021`) || !strings.Contains(last, `"status":"FAILED"`) {
		t.Errorf("terminate webhook: %s", last)
	}
}
