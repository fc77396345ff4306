package whatsapp

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCallActions(t *testing.T) {
	g := newFakeGraph(t)
	s := testService(t, testConfig(g.srv.URL, ""), nil, &recorder{}, connectAt, nil)
	ctx := t.Context()
	lf := "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\nm=audio 9 UDP/TLS/RTP/SAVPF 111\n"
	crlf := strings.ReplaceAll(lf, "\n", "\r\n")
	if err := s.PreAccept(ctx, pnUser, "wacid.A", lf); err != nil {
		t.Fatal(err)
	}
	if err := s.Accept(ctx, pnUser, "wacid.A", crlf, "ses_1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reject(ctx, pnUser, "wacid.B"); err != nil {
		t.Fatal(err)
	}
	if err := s.Terminate(ctx, pnUser, "wacid.A"); err != nil {
		t.Fatal(err)
	}
	id, err := s.Connect(ctx, pnBiz, "+12185552828", lf, "ses_2")
	if err != nil || id != "wacid.NEW1" {
		t.Fatalf("connect: %q %v", id, err)
	}
	if _, err := s.Connect(ctx, pnBiz, "US.13491208655302741918", lf, ""); err != nil {
		t.Fatal(err)
	}
	reqs := g.requests()
	if len(reqs) != 6 {
		t.Fatalf("%d requests", len(reqs))
	}
	want := []struct{ action, call, auth string }{{"pre_accept", "wacid.A", "tok-user"}, {"accept", "wacid.A", "tok-user"},
		{"reject", "wacid.B", "tok-user"}, {"terminate", "wacid.A", "tok-user"}, {"connect", "", "tok-biz"}, {"connect", "", "tok-biz"}}
	for i, w := range want {
		r := reqs[i]
		pn := pnUser
		if w.auth == "tok-biz" {
			pn = pnBiz
		}
		if r.Method != http.MethodPost || r.Path != "/v25.0/"+pn+"/calls" || r.Auth != "Bearer "+w.auth ||
			r.Body["action"] != w.action || r.Body["messaging_product"] != "whatsapp" || (w.call != "" && r.Body["call_id"] != w.call) {
			t.Errorf("request %d: %+v", i, r)
		}
	}
	for _, i := range []int{0, 1, 4} {
		sess, _ := reqs[i].Body["session"].(map[string]any)
		if sess["sdp"] != crlf {
			t.Errorf("request %d: SDP not CRLF: %q", i, sess["sdp"])
		}
	}
	if reqs[0].Body["session"].(map[string]any)["sdp_type"] != "answer" || reqs[4].Body["session"].(map[string]any)["sdp_type"] != "offer" {
		t.Error("sdp_type")
	}
	if reqs[1].Body["biz_opaque_callback_data"] != "ses_1" || reqs[4].Body["to"] != "12185552828" ||
		reqs[5].Body["recipient"] != "US.13491208655302741918" || reqs[5].Body["to"] != nil {
		t.Errorf("bodies: %+v / %+v / %+v", reqs[1].Body, reqs[4].Body, reqs[5].Body)
	}
	if _, ok := reqs[2].Body["session"]; ok {
		t.Error("reject carries a session")
	}
}

func TestCallActionsRefusedLocally(t *testing.T) {
	g := newFakeGraph(t)
	s := testService(t, testConfig(g.srv.URL, ""), nil, &recorder{}, connectAt, nil)
	ctx := t.Context()
	for name, err := range map[string]error{
		"unknown number":  s.Terminate(ctx, "999", "wacid.A"),
		"messages only":   s.Terminate(ctx, pnMsgs, "wacid.A"),
		"sip signalling":  s.Accept(ctx, pnSIP, "wacid.A", "v=0\r\n", ""),
		"no sdp":          s.PreAccept(ctx, pnUser, "wacid.A", "hello"),
		"no call id":      s.Reject(ctx, pnUser, ""),
		"bad user":        func() error { _, err := s.Connect(ctx, pnBiz, "bob", "v=0\r\n", ""); return err }(),
		"opaque too long": s.Accept(ctx, pnUser, "wacid.A", "v=0\r\n", strings.Repeat("x", 513)),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if !errors.Is(s.Terminate(ctx, "999", "x"), ErrUnknownNumber) || !errors.Is(s.Terminate(ctx, pnMsgs, "x"), ErrCallingOff) ||
		!errors.Is(s.Terminate(ctx, pnSIP, "x"), ErrSIPEnabled) || !errors.Is(s.Reject(ctx, pnUser, ""), ErrInvalid) {
		t.Error("sentinels")
	}
	if n := len(g.requests()); n != 0 {
		t.Fatalf("%d requests reached Meta", n)
	}
}

func TestGraphErrors(t *testing.T) {
	g := newFakeGraph(t)
	s := testService(t, testConfig(g.srv.URL, ""), nil, &recorder{}, connectAt, nil)
	envelope := func(code int, details string) string {
		return fmt.Sprintf(`{"error":{"message":"(#%d) title","type":"OAuthException","code":%d,"error_subcode":2494010,`+
			`"error_data":{"messaging_product":"whatsapp","details":%q},"fbtrace_id":"AbC"}}`, code, code, details)
	}
	for _, tc := range []struct {
		status    int
		body      string
		hdr       map[string]string
		kind      error
		text      string
		retryable bool
	}{
		{401, envelope(138006, "no approved call permission"), nil, ErrNoPermission, "call-permission request", false},
		{400, envelope(138009, ""), nil, ErrPermissionRequestLimit, "1 per 24 h", false},
		{400, `{"error":{"code":138012,"message":"x","error_data":{"details":"limit","next_allowed_time":1745622600}}}`, nil, ErrCallLimit, "2025-04-25T23:10:00Z", false},
		{429, envelope(138002, ""), map[string]string{"Retry-After": "7"}, ErrCallRateLimit, "concurrent", true},
		{400, envelope(138003, ""), nil, ErrDuplicateCall, "already ongoing", false},
		{400, envelope(131055, ""), nil, ErrSIPEnabled, "signalling: sip", false},
		{400, envelope(131047, ""), nil, ErrOutsideWindow, "24-hour", false},
		{401, envelope(138000, ""), nil, ErrCallingDisabled, "settings --push", false},
		{400, envelope(190, ""), nil, ErrUnauthorized, "access token", false},
		{401, `not json`, nil, ErrUnauthorized, "access_token", false},
		{500, envelope(138004, "relay"), nil, nil, "temporary", true},
		{400, envelope(100, "bad SDP: no fingerprint"), nil, nil, "bad SDP: no fingerprint", false},
	} {
		g.setReply(func(graphCall) (int, map[string]string, string) { return tc.status, tc.hdr, tc.body })
		err := s.Terminate(t.Context(), pnUser, "wacid.A")
		var ge *GraphError
		if !errors.As(err, &ge) {
			t.Fatalf("%s: %T %v", tc.body, err, err)
		}
		if tc.kind != nil && !errors.Is(err, tc.kind) {
			t.Errorf("%s: %v is not %v", tc.body, err, tc.kind)
		}
		if !strings.Contains(err.Error(), tc.text) || ge.HTTPStatus != tc.status || ge.Retryable != tc.retryable {
			t.Errorf("%s: %v (retryable %v)", tc.body, err, ge.Retryable)
		}
	}
	g.setReply(func(graphCall) (int, map[string]string, string) {
		return 429, map[string]string{"Retry-After": "7"}, envelope(138005, "")
	})
	var ge *GraphError
	if err := s.Terminate(t.Context(), pnUser, "wacid.A"); !errors.As(err, &ge) || ge.RetryAfter != 7*time.Second ||
		ge.Code != 138005 || ge.Subcode != 2494010 || ge.FBTraceID != "AbC" || ge.Type != "OAuthException" {
		t.Fatalf("%+v", ge)
	}
	// transport failure: retryable, without the URL (which has no secret, but is noise)
	g.srv.Close()
	if err := s.Terminate(t.Context(), pnUser, "wacid.A"); !errors.As(err, &ge) || !ge.Retryable || ge.HTTPStatus != 0 {
		t.Fatalf("%v", err)
	}
}

func TestCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"v=0\ns=-\n":         "v=0\r\ns=-\r\n",
		"v=0\r\ns=-":         "v=0\r\ns=-\r\n",
		"v=0\r\ns=-\r\n\r\n": "v=0\r\ns=-\r\n",
		"v=0\rs=-\r":         "v=0\r\ns=-\r\n",
		"":                   "",
	} {
		if got := CRLF(in); got != want {
			t.Errorf("CRLF(%q) = %q, want %q", in, got, want)
		}
	}
}
