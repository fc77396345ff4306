package notifytest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/notify/notifytest"
)

// bizSDP is a syntactically valid business SDP (answer or offer) that
// passes Meta's documented checks; no media is exchanged with it.
func bizSDP(setup string) string {
	fp := strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	return strings.Join([]string{"v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
		"m=audio 9 UDP/TLS/RTP/SAVPF 111 126", "c=IN IP4 127.0.0.1", "a=mid:0", "a=ice-ufrag:bizufrag", "a=ice-pwd:bizpasswordbizpassword00",
		"a=fingerprint:sha-256 " + fp, "a=setup:" + setup, "a=rtcp-mux", "a=sendrecv", "a=rtpmap:111 opus/48000/2",
		"a=fmtp:111 minptime=20;useinbandfec=1", "a=rtpmap:126 telephone-event/8000", "a=ssrc:1111 cname:biz",
		"a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host", ""}, "\r\n")
}

type hook struct {
	field string
	value map[string]any
	raw   []byte
}

func (h hook) call() map[string]any {
	if cs, _ := h.value["calls"].([]any); len(cs) > 0 {
		return cs[0].(map[string]any)
	}
	return nil
}

func (h hook) status() map[string]any {
	if ss, _ := h.value["statuses"].([]any); len(ss) > 0 {
		return ss[0].(map[string]any)
	}
	return nil
}

// waitHooks waits for n webhook deliveries, checks each was accepted by
// the signature-checking receiver, and decodes them.
func waitHooks(t *testing.T, ctx context.Context, f *notifytest.WhatsAppFake, n int) []hook {
	t.Helper()
	ds, err := f.WaitWebhooks(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	var out []hook
	for _, d := range ds {
		if d.Err != nil || d.Status != 200 {
			t.Fatalf("delivery %s: %d %v", d.Body, d.Status, d.Err)
		}
		var env struct {
			Object string `json:"object"`
			Entry  []struct {
				ID      string `json:"id"`
				Changes []struct {
					Field string         `json:"field"`
					Value map[string]any `json:"value"`
				} `json:"changes"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(d.Body, &env); err != nil || env.Object != "whatsapp_business_account" || len(env.Entry) != 1 ||
			env.Entry[0].ID != f.WABAID || len(env.Entry[0].Changes) != 1 {
			t.Fatalf("envelope %s: %v", d.Body, err)
		}
		v := env.Entry[0].Changes[0].Value
		if md, _ := v["metadata"].(map[string]any); md["phone_number_id"] != f.PhoneNumberID || v["messaging_product"] != "whatsapp" {
			t.Fatalf("metadata: %s", d.Body)
		}
		out = append(out, hook{env.Entry[0].Changes[0].Field, v, d.Body})
	}
	return out
}

func startCalling(t *testing.T) (*notifytest.WhatsAppFake, *receiver, context.Context) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	f := notifytest.StartWhatsApp(t)
	rc := &receiver{secret: f.AppSecret, token: "tok"}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	if err := f.Subscribe(ctx, srv.URL, "tok"); err != nil {
		t.Fatal(err)
	}
	return f, rc, ctx
}

func code(m map[string]any) float64 {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(float64)
	return c
}

func details(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	d, _ := e["error_data"].(map[string]any)
	s, _ := d["details"].(string)
	return s
}

func callAction(id, action, sdp string) map[string]any {
	b := map[string]any{"messaging_product": "whatsapp", "call_id": id, "action": action}
	if sdp != "" {
		b["session"] = map[string]any{"sdp_type": "answer", "sdp": sdp}
	}
	return b
}

func TestWhatsAppCallsUserInitiated(t *testing.T) {
	f, rc, ctx := startCalling(t)
	calls := "/v25.0/" + f.PhoneNumberID + "/calls"
	call, err := f.UserCalls(ctx, "+16505551234", "Ana Souza", notifytest.WithCTAPayload("queue=billing"))
	if err != nil {
		t.Fatal(err)
	}
	h := waitHooks(t, ctx, f, 1)[0]
	c := h.call()
	sess, _ := c["session"].(map[string]any)
	contacts, _ := h.value["contacts"].([]any)
	if h.field != "calls" || c["id"] != call.ID || !strings.HasPrefix(call.ID, "wacid.") || c["event"] != "connect" || c["direction"] != "USER_INITIATED" ||
		c["from"] != "16505551234" || c["to"] != notifytest.FakeBusinessNumber || c["cta_payload"] != "queue=billing" || c["timestamp"] == "" ||
		sess["sdp_type"] != "offer" || len(contacts) != 1 || !strings.Contains(string(h.raw), `"profile":{"name":"Ana Souza"}`) {
		t.Fatalf("connect webhook: %s", h.raw)
	}
	offer, _ := sess["sdp"].(string)
	if !strings.Contains(offer, "a=ice-lite\r\n") || strings.Contains(strings.ReplaceAll(offer, "\r\n", ""), "\n") {
		t.Errorf("offer is not Meta's CRLF ice-lite SDP: %q", offer)
	}
	rc.mu.Lock()
	if rc.bad != 0 || len(rc.bodies) != 1 || !bytes.Equal(rc.bodies[0], h.raw) {
		t.Errorf("receiver: %d bad, %d bodies", rc.bad, len(rc.bodies))
	}
	rc.mu.Unlock()
	if got := notifytest.WhatsAppWebhookSignature(f.AppSecret, h.raw); !strings.HasPrefix(got, "sha256=") || len(got) != 71 {
		t.Errorf("signature %q", got)
	}

	good := bizSDP("active")
	for name, c := range map[string]struct {
		token  string
		body   any
		status int
		code   float64
		detail string
	}{
		"bad token":      {"nope", callAction(call.ID, "pre_accept", good), 401, 190, ""},
		"no product":     {f.AccessToken, `{"call_id":"` + call.ID + `","action":"pre_accept"}`, 400, 100, ""},
		"LF only":        {f.AccessToken, callAction(call.ID, "pre_accept", strings.ReplaceAll(good, "\r\n", "\n")), 400, 100, "CRLF"},
		"one LF":         {f.AccessToken, callAction(call.ID, "pre_accept", strings.Replace(good, "s=-\r\n", "s=-\n", 1)), 400, 100, "CRLF"},
		"no fingerprint": {f.AccessToken, callAction(call.ID, "pre_accept", strings.Replace(good, "a=fingerprint:sha-256", "a=x-fingerprint:sha-256", 1)), 400, 100, "sha-256"},
		"sha-1":          {f.AccessToken, callAction(call.ID, "pre_accept", strings.Replace(good, "sha-256", "sha-1", 1)), 400, 100, "sha-256"},
		"two m-lines":    {f.AccessToken, callAction(call.ID, "pre_accept", good+"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"), 400, 100, "one audio m-line"},
		"video":          {f.AccessToken, callAction(call.ID, "pre_accept", strings.Replace(good, "m=audio", "m=video", 1)), 400, 100, "audio"},
		"no opus":        {f.AccessToken, callAction(call.ID, "pre_accept", strings.Replace(good, "opus/48000/2", "PCMU/8000", 1)), 400, 100, "Opus"},
		"offer type":     {f.AccessToken, map[string]any{"messaging_product": "whatsapp", "call_id": call.ID, "action": "accept", "session": map[string]any{"sdp_type": "offer", "sdp": good}}, 400, 100, "answer"},
		"unknown call":   {f.AccessToken, callAction("wacid.nope", "pre_accept", good), 400, 100, "call_id"},
		"bad action":     {f.AccessToken, callAction(call.ID, "hold", ""), 400, 100, "action"},
		"unknown key":    {f.AccessToken, `{"messaging_product":"whatsapp","call_id":"x","action":"accept","colour":1}`, 400, 100, ""},
	} {
		status, m := postGraph(t, f, calls, c.token, c.body)
		if status != c.status || code(m) != c.code || !strings.Contains(details(m), c.detail) {
			t.Errorf("%s: %d %v", name, status, m)
		}
	}
	if call.State() != notifytest.CallRinging {
		t.Fatalf("bad requests changed the call: %s", call.State())
	}
	if status, m := postGraph(t, f, calls, f.AccessToken, callAction(call.ID, "pre_accept", good)); status != 200 || m["success"] != true {
		t.Fatalf("pre_accept: %d %v", status, m)
	}
	other := strings.Replace(good, "a=ice-ufrag:bizufrag", "a=ice-ufrag:otherufrag", 1)
	if status, m := postGraph(t, f, calls, f.AccessToken, callAction(call.ID, "accept", other)); status != 400 || code(m) != 100 || !strings.Contains(details(m), "same") {
		t.Errorf("accept with another SDP: %d %v", status, m)
	}
	acc := callAction(call.ID, "accept", good)
	acc["biz_opaque_callback_data"] = "ses_1"
	if status, m := postGraph(t, f, calls, f.AccessToken, acc); status != 200 {
		t.Fatalf("accept: %d %v", status, m)
	}
	if err := call.WaitAccepted(ctx); err != nil || call.State() != notifytest.CallAccepted || call.BusinessSDP() != good || call.BizOpaque() != "ses_1" {
		t.Fatalf("accepted: %v %s", err, call.State())
	}
	if status, m := postGraph(t, f, calls, f.AccessToken, callAction(call.ID, "reject", "")); status != 400 || code(m) != 100 {
		t.Errorf("reject after accept: %d %v", status, m)
	}
	if status, m := postGraph(t, f, calls, f.AccessToken, callAction(call.ID, "terminate", "")); status != 200 || m["success"] != true {
		t.Fatalf("terminate: %d %v", status, m)
	}
	end, err := call.WaitTerminated(ctx)
	if err != nil || end.Status != "COMPLETED" || end.By != "business" {
		t.Fatalf("end %+v %v", end, err)
	}
	h = waitHooks(t, ctx, f, 2)[1]
	c = h.call()
	if c["event"] != "terminate" || c["status"] != "COMPLETED" || c["start_time"] == nil || c["end_time"] == nil || c["duration"] == nil ||
		c["biz_opaque_callback_data"] != "ses_1" || c["cta_payload"] != "queue=billing" || h.value["errors"] != nil {
		t.Errorf("terminate webhook: %s", h.raw)
	}
	if status, m := postGraph(t, f, calls, f.AccessToken, callAction(call.ID, "terminate", "")); status != 400 || code(m) != 138019 {
		t.Errorf("second terminate: %d %v", status, m)
	}
	var names []string
	for _, a := range call.Actions() {
		names = append(names, a.Action+map[bool]string{true: "", false: "!"}[a.ErrorCode == 0])
	}
	if got := strings.Join(names, " "); !strings.HasSuffix(got, "pre_accept accept! accept reject! terminate terminate!") || !call.HasAction("terminate") {
		t.Errorf("actions: %s", got)
	}
	if f.ActiveCalls() != 0 {
		t.Errorf("%d active calls", f.ActiveCalls())
	}
}

func TestWhatsAppCallsAcceptWindowAndReject(t *testing.T) {
	f, _, ctx := startCalling(t)
	f.SetCallingLimits(notifytest.CallingLimits{AcceptWindow: 100 * time.Millisecond})
	call, err := f.UserCalls(ctx, "16505551234", "Ana")
	if err != nil {
		t.Fatal(err)
	}
	end, err := call.WaitTerminated(ctx)
	if err != nil || end.Status != "FAILED" || end.By != "meta" {
		t.Fatalf("accept window: %+v %v", end, err)
	}
	hs := waitHooks(t, ctx, f, 2)
	if c := hs[1].call(); c["event"] != "terminate" || c["status"] != "FAILED" || c["start_time"] != nil {
		t.Errorf("terminate: %s", hs[1].raw)
	}
	if status, m := postGraph(t, f, "/v25.0/"+f.PhoneNumberID+"/calls", f.AccessToken, callAction(call.ID, "accept", bizSDP("active"))); status != 400 || code(m) != 138019 {
		t.Errorf("accept too late: %d %v", status, m)
	}
	f.SetCallingLimits(notifytest.CallingLimits{})
	call, _ = f.UserCalls(ctx, "16505551234", "Ana")
	if status, m := postGraph(t, f, "/v25.0/"+f.PhoneNumberID+"/calls", f.AccessToken, callAction(call.ID, "reject", "")); status != 200 {
		t.Fatalf("reject: %d %v", status, m)
	}
	if end, _ := call.WaitTerminated(ctx); end.By != "business" || end.Status != "COMPLETED" {
		t.Errorf("reject end: %+v", end)
	}
	if hs := waitHooks(t, ctx, f, 4); hs[3].call()["event"] != "terminate" {
		t.Errorf("reject sends terminate: %s", hs[3].raw)
	}
}

func TestWhatsAppCallsTraps(t *testing.T) {
	f, _, ctx := startCalling(t)
	// Duplicates: every calls webhook twice, byte for byte.
	f.SetCallWebhookTraps(notifytest.CallWebhookTraps{Duplicate: true})
	call, err := f.UserCalls(ctx, "16505551234", "Ana")
	if err != nil {
		t.Fatal(err)
	}
	hs := waitHooks(t, ctx, f, 2)
	if !bytes.Equal(hs[0].raw, hs[1].raw) || hs[0].call()["id"] != call.ID {
		t.Fatalf("duplicate: %s / %s", hs[0].raw, hs[1].raw)
	}
	if err := call.Hangup(); err != nil {
		t.Fatal(err)
	}
	if err := call.Hangup(); err == nil {
		t.Error("second Hangup")
	}
	hs = waitHooks(t, ctx, f, 4)
	if !bytes.Equal(hs[2].raw, hs[3].raw) || hs[2].call()["event"] != "terminate" {
		t.Fatalf("duplicate terminate: %s", hs[2].raw)
	}
	// Reordering: the user hangs up at once; terminate arrives before connect.
	f.SetCallWebhookTraps(notifytest.CallWebhookTraps{})
	call, _ = f.UserCalls(ctx, "16505551235", "Bo", notifytest.WithHangupAtOnce(true))
	hs = waitHooks(t, ctx, f, 6)
	if hs[4].call()["event"] != "terminate" || hs[5].call()["event"] != "connect" || hs[4].call()["id"] != call.ID || call.State() != notifytest.CallTerminated {
		t.Fatalf("reordered: %s / %s", hs[4].raw, hs[5].raw)
	}
	// Late terminate and a stale connect.
	f.SetCallWebhookTraps(notifytest.CallWebhookTraps{TerminateDelay: 300 * time.Millisecond})
	call, _ = f.UserCalls(ctx, "16505551236", "Cy", notifytest.WithStaleConnect(10*time.Minute))
	hs = waitHooks(t, ctx, f, 7)
	if ts, _ := hs[6].call()["timestamp"].(string); ts == "" || ts > unix(time.Now().Add(-9*time.Minute)) {
		t.Errorf("stale timestamp %q", ts)
	}
	at := time.Now()
	call.Hangup()
	waitHooks(t, ctx, f, 8)
	if d := time.Since(at); d < 300*time.Millisecond {
		t.Errorf("terminate delivered after %v", d)
	}
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func connectBody(to, sdp string) map[string]any {
	return map[string]any{"messaging_product": "whatsapp", "to": to, "action": "connect",
		"session": map[string]any{"sdp_type": "offer", "sdp": sdp}, "biz_opaque_callback_data": "ses_2"}
}

func TestWhatsAppCallsBusinessInitiated(t *testing.T) {
	f, _, ctx := startCalling(t)
	calls := "/v25.0/" + f.PhoneNumberID + "/calls"
	offer := bizSDP("actpass")
	if status, m := postGraph(t, f, calls, f.AccessToken, connectBody("+16505551234", offer)); status != 401 || code(m) != 138006 {
		t.Fatalf("without permission: %d %v", status, m)
	}
	f.GrantCallPermission("16505551234", false)
	if st, exp := f.CallPermission("16505551234"); st != "temporary" || time.Until(exp) < 6*24*time.Hour {
		t.Fatalf("permission %s %v", st, exp)
	}
	if status, m := postGraph(t, f, calls, f.AccessToken, connectBody("+16505551234", strings.ReplaceAll(offer, "\r\n", "\n"))); status != 400 || code(m) != 100 {
		t.Fatalf("LF offer: %d %v", status, m)
	}
	status, m := postGraph(t, f, calls, f.AccessToken, connectBody("+16505551234", offer))
	ids, _ := m["calls"].([]any)
	if status != 200 || len(ids) != 1 || m["messaging_product"] != "whatsapp" {
		t.Fatalf("connect: %d %v", status, m)
	}
	id := ids[0].(map[string]any)["id"].(string)
	if status, m := postGraph(t, f, calls, f.AccessToken, connectBody("16505551234", offer)); status != 400 || code(m) != 138003 {
		t.Errorf("second call to the same user: %d %v", status, m)
	}
	f.SetCallingLimits(notifytest.CallingLimits{MaxConcurrentCalls: 1})
	f.GrantCallPermission("16505550000", true)
	if status, m := postGraph(t, f, calls, f.AccessToken, connectBody("16505550000", offer)); status != 429 || code(m) != 138002 {
		t.Errorf("over the concurrency limit: %d %v", status, m)
	}
	call, err := f.WaitCall(ctx, "+16505551234")
	if err != nil || call.ID != id || call.Direction != "BUSINESS_INITIATED" || call.State() != notifytest.CallDialing || call.BusinessSDP() != offer {
		t.Fatalf("WaitCall: %v %+v", err, call)
	}
	if err := call.Ring(); err != nil {
		t.Fatal(err)
	}
	hs := waitHooks(t, ctx, f, 2)
	c, st := hs[0].call(), hs[1].status()
	sess, _ := c["session"].(map[string]any)
	if c["event"] != "connect" || c["direction"] != "BUSINESS_INITIATED" || c["from"] != notifytest.FakeBusinessNumber || c["to"] != "16505551234" ||
		sess["sdp_type"] != "answer" || !strings.Contains(sess["sdp"].(string), "a=ice-lite\r\n") || !strings.Contains(sess["sdp"].(string), "a=setup:passive") ||
		c["biz_opaque_callback_data"] != "ses_2" {
		t.Errorf("connect(answer): %s", hs[0].raw)
	}
	if st["type"] != "call" || st["status"] != "RINGING" || st["id"] != id || st["recipient_id"] != "16505551234" || st["biz_opaque_callback_data"] != "ses_2" {
		t.Errorf("RINGING: %s", hs[1].raw)
	}
	if err := call.Answer(); err != nil {
		t.Fatal(err)
	}
	if err := call.WaitAccepted(ctx); err != nil {
		t.Fatal(err)
	}
	if hs := waitHooks(t, ctx, f, 3); hs[2].status()["status"] != "ACCEPTED" {
		t.Errorf("ACCEPTED: %s", hs[2].raw)
	}
	for _, a := range []string{"pre_accept", "accept", "reject"} {
		if status, m := postGraph(t, f, calls, f.AccessToken, callAction(id, a, bizSDP("active"))); status != 400 || code(m) != 100 {
			t.Errorf("%s on a business-initiated call: %d %v", a, status, m)
		}
	}
	if status, m := postGraph(t, f, calls, f.AccessToken, callAction(id, "terminate", "")); status != 200 {
		t.Fatalf("terminate: %d %v", status, m)
	}
	if hs := waitHooks(t, ctx, f, 4); hs[3].call()["event"] != "terminate" || hs[3].call()["duration"] == nil {
		t.Errorf("terminate: %s", hs[3].raw)
	}
	// A rejected call: REJECTED then terminate.
	f.SetCallingLimits(notifytest.CallingLimits{})
	postGraph(t, f, calls, f.AccessToken, connectBody("16505551234", offer))
	call, _ = f.WaitCall(ctx, "16505551234")
	if err := call.Reject(); err != nil {
		t.Fatal(err)
	}
	hs = waitHooks(t, ctx, f, 8)
	if hs[6].status()["status"] != "REJECTED" || hs[7].call()["event"] != "terminate" || hs[7].call()["start_time"] != nil {
		t.Errorf("reject: %s / %s", hs[6].raw, hs[7].raw)
	}
	// The connected call counts against start_call's 24 h limit.
	f.SetCallingLimits(notifytest.CallingLimits{CallsPerDay: 1})
	if status, m := postGraph(t, f, calls, f.AccessToken, connectBody("16505551234", offer)); status != 400 || code(m) != 138012 {
		t.Errorf("over the daily limit: %d %v", status, m)
	}
	// SIP mode: Graph calling is refused.
	f.SetSIPMode(true, "sip.hub.example")
	if status, m := postGraph(t, f, calls, f.AccessToken, connectBody("16505550000", offer)); status != 400 || code(m) != 131055 {
		t.Errorf("SIP mode: %d %v", status, m)
	}
	if _, err := f.UserCalls(ctx, "16505551234", "Ana"); err == nil {
		t.Error("UserCalls in SIP mode")
	}
}

func getGraph(t *testing.T, f *notifytest.WhatsAppFake, path, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, m
}

func permissionRequest(to string) map[string]any {
	return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "interactive",
		"interactive": map[string]any{"type": "call_permission_request", "action": map[string]any{"name": "call_permission_request"},
			"body": map[string]any{"text": "May we call you about order ON-12853?"}}}
}

func voiceCall(mod func(p map[string]any)) map[string]any {
	p := map[string]any{"display_text": "Call on WhatsApp", "ttl_minutes": 100, "payload": "conv=123"}
	if mod != nil {
		mod(p)
	}
	return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "14085551234", "type": "interactive",
		"interactive": map[string]any{"type": "voice_call", "body": map[string]any{"text": "Tap to talk to an agent now."},
			"action": map[string]any{"name": "voice_call", "parameters": p}}}
}

func TestWhatsAppCallPermissionsAndButtons(t *testing.T) {
	f, _, ctx := startCalling(t)
	msgs := "/v25.0/" + f.PhoneNumberID + "/messages"
	perms := "/v25.0/" + f.PhoneNumberID + "/call_permissions?user_wa_id=14085551234"
	status, m := getGraph(t, f, perms, f.AccessToken)
	if p, _ := m["permission"].(map[string]any); status != 200 || p["status"] != "no_permission" {
		t.Fatalf("call_permissions: %d %v", status, m)
	}
	if status, m := getGraph(t, f, "/v25.0/"+f.PhoneNumberID+"/call_permissions", f.AccessToken); status != 400 || code(m) != 100 {
		t.Errorf("without user: %d %v", status, m)
	}
	if status, m := getGraph(t, f, perms, "bad"); status != 401 || code(m) != 190 {
		t.Errorf("bad token: %d %v", status, m)
	}
	if err := f.UserAnswersPermission("14085551234", true, false); err == nil {
		t.Error("answer without a request")
	}
	status, m = postGraph(t, f, msgs, f.AccessToken, permissionRequest("14085551234"))
	if status != 200 {
		t.Fatalf("permission request: %d %v", status, m)
	}
	reqID := m["messages"].([]any)[0].(map[string]any)["id"].(string)
	if got := f.Messages()[0]; got.InteractiveType != "call_permission_request" || got.ID != reqID {
		t.Errorf("recorded: %+v", got)
	}
	if status, m := postGraph(t, f, msgs, f.AccessToken, permissionRequest("14085551234")); status != 400 || code(m) != 138009 {
		t.Errorf("second request in 24 h: %d %v", status, m)
	}
	_, m = getGraph(t, f, perms, f.AccessToken)
	acts := m["actions"].([]any)
	req := acts[0].(map[string]any)
	lims := req["limits"].([]any)
	if req["action_name"] != "send_call_permission_request" || req["can_perform_action"] != false ||
		lims[0].(map[string]any)["current_usage"] != 1.0 || lims[0].(map[string]any)["limit_expiration_time"] == nil ||
		lims[1].(map[string]any)["time_period"] != "P7D" || acts[1].(map[string]any)["can_perform_action"] != false {
		t.Errorf("counters: %v", m)
	}
	if err := f.UserAnswersPermission("+14085551234", true, false); err != nil {
		t.Fatal(err)
	}
	h := waitHooks(t, ctx, f, 1)[0]
	msg := h.value["messages"].([]any)[0].(map[string]any)
	in := msg["interactive"].(map[string]any)
	reply := in["call_permission_reply"].(map[string]any)
	if h.field != "messages" || in["type"] != "call_permission_reply" || reply["response"] != "accept" || reply["is_permanent"] != false ||
		reply["expiration_timestamp"] == nil || reply["response_source"] != "user_action" || msg["context"].(map[string]any)["id"] != reqID {
		t.Errorf("reply webhook: %s", h.raw)
	}
	_, m = getGraph(t, f, perms, f.AccessToken)
	if p := m["permission"].(map[string]any); p["status"] != "temporary" || p["expiration_time"] == nil {
		t.Errorf("after accept: %v", m)
	}
	f.GrantCallPermission("14085551234", true)
	if status, m := postGraph(t, f, msgs, f.AccessToken, permissionRequest("14085551234")); status != 400 || code(m) != 138017 {
		t.Errorf("request with a permanent permission: %d %v", status, m)
	}
	f.RevokeCallPermission("14085551234")
	if st, _ := f.CallPermission("14085551234"); st != "no_permission" {
		t.Errorf("revoked: %s", st)
	}

	// voice_call buttons.
	for name, c := range map[string]struct {
		body any
		code float64
	}{
		"display 21":  {voiceCall(func(p map[string]any) { p["display_text"] = strings.Repeat("x", 21) }), 131009},
		"ttl 0":       {voiceCall(func(p map[string]any) { p["ttl_minutes"] = 0 }), 131009},
		"ttl 43201":   {voiceCall(func(p map[string]any) { p["ttl_minutes"] = 43201 }), 131009},
		"payload 513": {voiceCall(func(p map[string]any) { p["payload"] = strings.Repeat("p", 513) }), 131009},
		"url":         {voiceCall(func(p map[string]any) { p["url"] = "https://x.example" }), 131009},
		"unknown key": {voiceCall(func(p map[string]any) { p["colour"] = 1 }), 100},
	} {
		if status, m := postGraph(t, f, msgs, f.AccessToken, c.body); status != 400 || code(m) != c.code {
			t.Errorf("%s: %d %v", name, status, m)
		}
	}
	if status, m := postGraph(t, f, msgs, f.AccessToken, voiceCall(func(p map[string]any) {
		p["display_text"], p["ttl_minutes"], p["payload"] = strings.Repeat("ñ", 20), 43200, strings.Repeat("p", 512)
	})); status != 200 {
		t.Fatalf("voice_call at the limits: %d %v", status, m)
	}
	if status, _ := postGraph(t, f, msgs, f.AccessToken, voiceCall(func(p map[string]any) { delete(p, "ttl_minutes"); delete(p, "display_text") })); status != 200 {
		t.Fatal("voice_call with defaults")
	}
	all := f.Messages()
	if got := all[len(all)-2]; got.InteractiveType != "voice_call" || got.TTLMinutes != 43200 || len(got.Payload) != 512 {
		t.Errorf("recorded voice_call: %+v", got)
	}
	if got := all[len(all)-1]; got.DisplayText != "Call Now" || got.TTLMinutes != 10080 {
		t.Errorf("defaults: %+v", got)
	}

	// The user writes and taps buttons.
	id, err := f.UserSends(notifytest.InboundMessage{From: "+14085551234", ProfileName: "Ana", Text: "call me"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.UserSends(notifytest.InboundMessage{From: "14085551234", ButtonID: "call_me", ButtonTitle: "Call me", ContextID: "wamid.x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.UserSends(notifytest.InboundMessage{From: "14085551234", ButtonPayload: "CALL", ButtonTitle: "Call me"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.UserSends(notifytest.InboundMessage{From: "14085551234", Text: "x", ButtonID: "y"}); err == nil {
		t.Error("two kinds at once")
	}
	hs := waitHooks(t, ctx, f, 4)
	text := hs[1].value["messages"].([]any)[0].(map[string]any)
	btn := hs[2].value["messages"].([]any)[0].(map[string]any)
	tpl := hs[3].value["messages"].([]any)[0].(map[string]any)
	if text["id"] != id || text["type"] != "text" || text["text"].(map[string]any)["body"] != "call me" || !strings.Contains(string(hs[1].raw), `"name":"Ana"`) {
		t.Errorf("text: %s", hs[1].raw)
	}
	if btn["type"] != "interactive" || btn["interactive"].(map[string]any)["button_reply"].(map[string]any)["id"] != "call_me" || btn["context"].(map[string]any)["id"] != "wamid.x" {
		t.Errorf("button_reply: %s", hs[2].raw)
	}
	if tpl["type"] != "button" || tpl["button"].(map[string]any)["payload"] != "CALL" {
		t.Errorf("quick reply: %s", hs[3].raw)
	}
}

func TestWhatsAppCallingSettings(t *testing.T) {
	f, _, _ := startCalling(t)
	path := "/v25.0/" + f.PhoneNumberID + "/settings"
	hours := func(ranges ...[3]string) map[string]any {
		var w []any
		for _, r := range ranges {
			w = append(w, map[string]any{"day_of_week": r[0], "open_time": r[1], "close_time": r[2]})
		}
		return map[string]any{"calling": map[string]any{"call_hours": map[string]any{"status": "ENABLED", "timezone_id": "Europe/Madrid", "weekly_operating_hours": w}}}
	}
	for name, body := range map[string]any{
		"overlap":     hours([3]string{"MONDAY", "0800", "1300"}, [3]string{"MONDAY", "1200", "1800"}),
		"three":       hours([3]string{"MONDAY", "0800", "0900"}, [3]string{"MONDAY", "1000", "1100"}, [3]string{"MONDAY", "1200", "1300"}),
		"bad HHMM":    hours([3]string{"MONDAY", "8:00", "1300"}),
		"2400":        hours([3]string{"MONDAY", "0800", "2400"}),
		"close first": hours([3]string{"MONDAY", "1300", "0800"}),
		"bad day":     hours([3]string{"MONDAYS", "0800", "1300"}),
		"bad zone":    map[string]any{"calling": map[string]any{"call_hours": map[string]any{"status": "ENABLED", "timezone_id": "Mars/Base", "weekly_operating_hours": []any{}}}},
		"bad status":  map[string]any{"calling": map[string]any{"status": "ON"}},
		"codec":       map[string]any{"calling": map[string]any{"audio": map[string]any{"additional_codecs": []string{"G729"}}}},
		"password":    map[string]any{"calling": map[string]any{"sip": map[string]any{"status": "ENABLED", "servers": []any{map[string]any{"hostname": "h.example", "sip_user_password": "x"}}}}},
		"unknown key": map[string]any{"calling": map[string]any{"colour": "red"}},
	} {
		if status, m := postGraph(t, f, path, f.AccessToken, body); status != 400 || code(m) != 100 || details(m) == "" {
			t.Errorf("%s: %d %v", name, status, m)
		}
	}
	good := hours([3]string{"MONDAY", "0800", "1300"}, [3]string{"MONDAY", "1400", "1800"}, [3]string{"TUESDAY", "0000", "2359"})
	good["calling"].(map[string]any)["sip"] = map[string]any{"status": "ENABLED", "servers": []any{map[string]any{"hostname": "sip.hub.example", "port": 5061}}}
	good["calling"].(map[string]any)["status"] = "ENABLED"
	if status, m := postGraph(t, f, path, f.AccessToken, good); status != 200 || m["success"] != true {
		t.Fatalf("good settings: %d %v", status, m)
	}
	posts := f.SettingsPosts()
	if len(posts) != 12 || posts[11].ErrorCode != 0 || posts[0].ErrorCode != 100 {
		t.Errorf("posts: %d", len(posts))
	}
	_, m := getGraph(t, f, path, f.AccessToken)
	srv := m["calling"].(map[string]any)["sip"].(map[string]any)["servers"].([]any)[0].(map[string]any)
	if srv["hostname"] != "sip.hub.example" || srv["sip_user_password"] != nil || srv["app_id"] == nil {
		t.Errorf("GET without credentials: %v", m)
	}
	_, m = getGraph(t, f, path+"?include_sip_credentials=true", f.AccessToken)
	srv = m["calling"].(map[string]any)["sip"].(map[string]any)["servers"].([]any)[0].(map[string]any)
	pw, _ := srv["sip_user_password"].(string)
	if len(pw) < 16 || pw != f.SIPPassword("sip.hub.example") {
		t.Errorf("GET with credentials: %v", m)
	}
	if ch := m["calling"].(map[string]any)["call_hours"].(map[string]any); len(ch["weekly_operating_hours"].([]any)) != 3 {
		t.Errorf("call_hours: %v", ch)
	}
	// SIP mode now: Graph calling answers 131055.
	if status, m := postGraph(t, f, "/v25.0/"+f.PhoneNumberID+"/calls", f.AccessToken, connectBody("16505551234", bizSDP("actpass"))); code(m) != 131055 {
		t.Errorf("SIP mode: %d %v", status, m)
	}
	// The documented reset gives a new password.
	reset := map[string]any{"calling": map[string]any{"status": "DISABLED", "sip": map[string]any{"status": "DISABLED", "servers": []any{}}}}
	postGraph(t, f, path, f.AccessToken, reset)
	postGraph(t, f, path, f.AccessToken, good)
	if p := f.SIPPassword("sip.hub.example"); p == "" || p == pw {
		t.Errorf("password after reset: %q (was %q)", p, pw)
	}
}
