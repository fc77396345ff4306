package notifytest_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/notify/notifytest"
)

type twilioResp struct {
	status int
	body   map[string]any
}

func postTwilio(t *testing.T, f *notifytest.TwilioFake, path, user, pass, ctype, body string) twilioResp {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("response is not JSON: %v", err)
	}
	return twilioResp{resp.StatusCode, m}
}

func TestTwilioFakeContract(t *testing.T) {
	f := notifytest.StartTwilio(t)
	path := "/2010-04-01/Accounts/" + f.AccountSID + "/Messages.json"
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	const formCT = "application/x-www-form-urlencoded"
	ok := form("To", "+34600111222", "From", f.From, "Body", "hi https://x.example/j/1.")
	for name, c := range map[string]struct {
		path, user, pass, ctype, body string
		status, code                  int
	}{
		"no auth":           {path, "", "", formCT, ok, 401, 20003},
		"wrong token":       {path, f.AccountSID, "nope", formCT, ok, 401, 20003},
		"other account":     {"/2010-04-01/Accounts/AC" + strings.Repeat("0", 32) + "/Messages.json", f.AccountSID, f.AuthToken, formCT, ok, 404, 20404},
		"no To":             {path, f.AccountSID, f.AuthToken, formCT, form("From", f.From, "Body", "x"), 400, 21604},
		"JSON body":         {path, f.AccountSID, f.AuthToken, "application/json", `{"To":"+34600111222","From":"+15005550006","Body":"x"}`, 400, 21604},
		"To not E.164":      {path, f.AccountSID, f.AuthToken, formCT, form("To", "600111222", "From", f.From, "Body", "x"), 400, 21211},
		"no sender":         {path, f.AccountSID, f.AuthToken, formCT, form("To", "+34600111222", "Body", "x"), 400, 21603},
		"foreign From":      {path, f.AccountSID, f.AuthToken, formCT, form("To", "+34600111222", "From", "+34911222333", "Body", "x"), 400, 21606},
		"foreign service":   {path, f.AccountSID, f.AuthToken, formCT, form("To", "+34600111222", "MessagingServiceSid", "MG"+strings.Repeat("1", 32), "Body", "x"), 400, 21701},
		"no Body":           {path, f.AccountSID, f.AuthToken, formCT, form("To", "+34600111222", "From", f.From), 400, 21602},
		"Body 1601":         {path, f.AccountSID, f.AuthToken, formCT, form("To", "+34600111222", "From", f.From, "Body", strings.Repeat("x", 1601)), 400, 21617},
		"bad callback":      {path, f.AccountSID, f.AuthToken, formCT, form("To", "+34600111222", "From", f.From, "Body", "x", "StatusCallback", "/cb"), 400, 21609},
		"magic invalid":     {path, f.AccountSID, f.AuthToken, formCT, form("To", "+15005550001", "From", f.From, "Body", "x"), 400, 21211},
		"magic unreachable": {path, f.AccountSID, f.AuthToken, formCT, form("To", "+15005550002", "From", f.From, "Body", "x"), 400, 21612},
		"magic blocked":     {path, f.AccountSID, f.AuthToken, formCT, form("To", "+15005550004", "From", f.From, "Body", "x"), 400, 21610},
	} {
		r := postTwilio(t, f, c.path, c.user, c.pass, c.ctype, c.body)
		if r.status != c.status || r.body["code"] != float64(c.code) || r.body["status"] != float64(c.status) ||
			r.body["message"] == "" || !strings.HasSuffix(r.body["more_info"].(string), "/errors/"+strings.TrimSpace(jsonNum(c.code))) {
			t.Errorf("%s: %d %v", name, r.status, r.body)
		}
	}
	if len(f.Messages()) != 0 {
		t.Fatalf("fake accepted %d bad requests", len(f.Messages()))
	}

	r := postTwilio(t, f, path, f.AccountSID, f.AuthToken, formCT, ok)
	if r.status != 201 || !strings.HasPrefix(r.body["sid"].(string), "SM") || r.body["status"] != "queued" ||
		r.body["direction"] != "outbound-api" || r.body["num_segments"] != "1" || r.body["api_version"] != "2010-04-01" ||
		r.body["messaging_service_sid"] != nil || r.body["error_code"] != nil {
		t.Errorf("201: %v", r.body)
	}
	if _, err := time.Parse(time.RFC1123Z, r.body["date_created"].(string)); err != nil {
		t.Errorf("date_created: %v", err)
	}
	if f.LastLink() != "https://x.example/j/1" {
		t.Errorf("LastLink = %q", f.LastLink())
	}
	// Documented: MessagingServiceSid instead of or in addition to From.
	r = postTwilio(t, f, path, f.AccountSID, f.AuthToken, formCT, form("To", "+34600111222", "From", f.From, "MessagingServiceSid", f.MessagingServiceSID, "Body", "x"))
	if r.status != 201 || r.body["status"] != "accepted" || r.body["num_segments"] != "0" {
		t.Errorf("service + From: %d %v", r.status, r.body)
	}
	// Alphanumeric sender IDs are allowed as From.
	for body, segs := range map[string]string{
		strings.Repeat("a", 160): "1", strings.Repeat("a", 161): "2", strings.Repeat("€", 80): "1",
		strings.Repeat("€", 81): "2", strings.Repeat("á", 70): "1", strings.Repeat("á", 71): "2" /* á is not GSM-7 */, strings.Repeat("ñ", 160): "1", strings.Repeat("ö", 160): "1",
	} {
		r = postTwilio(t, f, path, f.AccountSID, f.AuthToken, formCT, form("To", "+34600111222", "From", "SPLIT", "Body", body))
		if r.status != 201 || r.body["num_segments"] != segs {
			t.Errorf("segments of %d×%q: %v", len([]rune(body)), []rune(body)[0], r.body["num_segments"])
		}
	}

	f.FailNext(1, 429, 20429, "Too Many Requests")
	req, _ := http.NewRequest(http.MethodPost, f.URL+path, strings.NewReader(ok))
	req.SetBasicAuth(f.AccountSID, f.AuthToken)
	req.Header.Set("Content-Type", formCT)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("FailNext: %s %q", resp.Status, resp.Header.Get("Retry-After"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := f.Wait(ctx, 100); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait: %v", err)
	}
}

func jsonNum(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestTwilioSignatureSortsByName(t *testing.T) {
	// "To" sorts before "ToCountry" although "To+3…" > "ToC…" byte-wise would differ on values.
	a := notifytest.TwilioSignature("k", "https://h.example/cb", url.Values{"To": {"~"}, "ToCountry": {"ES"}})
	want := notifytest.TwilioSignature("k", "https://h.example/cb", url.Values{"ToCountry": {"ES"}, "To": {"~"}})
	if a != want || a == "" {
		t.Fatal("order-dependent")
	}
}

func postGraph(t *testing.T, f *notifytest.WhatsAppFake, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var raw string
	switch b := body.(type) {
	case string:
		raw = b
	default:
		j, _ := json.Marshal(b)
		raw = string(j)
	}
	req, _ := http.NewRequest(http.MethodPost, f.URL+path, strings.NewReader(raw))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
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

func ctaBody(mod func(in map[string]any)) map[string]any {
	in := map[string]any{
		"type":   "cta_url",
		"header": map[string]any{"type": "text", "text": "Video support"},
		"body":   map[string]any{"text": "Tap below"},
		"action": map[string]any{"name": "cta_url", "parameters": map[string]any{"display_text": "Join video call", "url": "https://x.example/j/1"}},
		"footer": map[string]any{"text": "Valid 15 min"},
	}
	if mod != nil {
		mod(in)
	}
	return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+16505551234", "type": "interactive", "interactive": in}
}

func TestWhatsAppFakeContract(t *testing.T) {
	f := notifytest.StartWhatsApp(t)
	path := "/v25.0/" + f.PhoneNumberID + "/messages"
	param := func(k string, v any) func(map[string]any) {
		return func(in map[string]any) {
			parts := strings.Split(k, ".")
			m := in
			for _, p := range parts[:len(parts)-1] {
				m = m[p].(map[string]any)
			}
			if v == nil {
				delete(m, parts[len(parts)-1])
			} else {
				m[parts[len(parts)-1]] = v
			}
		}
	}
	for name, c := range map[string]struct {
		path, token string
		body        any
		status      int
		code        float64
	}{
		"no token":        {path, "", ctaBody(nil), 401, 190},
		"wrong token":     {path, "x", ctaBody(nil), 401, 190},
		"unknown number":  {"/v25.0/123/messages", f.AccessToken, ctaBody(nil), 400, 100},
		"bad version":     {"/25.0/" + f.PhoneNumberID + "/messages", f.AccessToken, ctaBody(nil), 400, 2500},
		"unknown key":     {path, f.AccessToken, `{"messaging_product":"whatsapp","to":"16505551234","type":"interactive","colour":"red"}`, 400, 100},
		"no product":      {path, f.AccessToken, `{"to":"16505551234","type":"text","text":{"body":"x"}}`, 400, 100},
		"no to":           {path, f.AccessToken, `{"messaging_product":"whatsapp","type":"text","text":{"body":"x"}}`, 400, 131008},
		"display 21":      {path, f.AccessToken, ctaBody(param("action.parameters.display_text", strings.Repeat("x", 21))), 400, 131009},
		"no display":      {path, f.AccessToken, ctaBody(param("action.parameters.display_text", nil)), 400, 131008},
		"ftp url":         {path, f.AccessToken, ctaBody(param("action.parameters.url", "ftp://x.example")), 400, 131009},
		"body 1025":       {path, f.AccessToken, ctaBody(param("body.text", strings.Repeat("ñ", 1025))), 400, 131009},
		"no body":         {path, f.AccessToken, ctaBody(param("body", nil)), 400, 131008},
		"header 61":       {path, f.AccessToken, ctaBody(param("header.text", strings.Repeat("x", 61))), 400, 131009},
		"footer 61":       {path, f.AccessToken, ctaBody(param("footer.text", strings.Repeat("x", 61))), 400, 131009},
		"action name":     {path, f.AccessToken, ctaBody(param("action.name", "url")), 400, 131009},
		"type button":     {path, f.AccessToken, ctaBody(param("type", "button")), 400, 131009},
		"recipient group": {path, f.AccessToken, func() any { b := ctaBody(nil); b["recipient_type"] = "group"; return b }(), 400, 131009},
	} {
		status, m := postGraph(t, f, c.path, c.token, c.body)
		e, _ := m["error"].(map[string]any)
		if status != c.status || e == nil || e["code"] != c.code || e["message"] == "" || e["fbtrace_id"] == "" || e["type"] != "OAuthException" {
			t.Errorf("%s: %d %v", name, status, m)
		}
	}
	if len(f.Messages()) != 0 {
		t.Fatalf("fake accepted %d bad requests", len(f.Messages()))
	}
	// Documented limits exactly: 20 / 60 / 1024 / 60 characters (not bytes).
	status, m := postGraph(t, f, path, f.AccessToken, ctaBody(func(in map[string]any) {
		param("action.parameters.display_text", strings.Repeat("ñ", 20))(in)
		param("header.text", strings.Repeat("ñ", 60))(in)
		param("body.text", strings.Repeat("ñ", 1024))(in)
		param("footer.text", strings.Repeat("ñ", 60))(in)
	}))
	if status != 200 || m["messaging_product"] != "whatsapp" {
		t.Fatalf("at the limits: %d %v", status, m)
	}
	contacts := m["contacts"].([]any)[0].(map[string]any)
	msgs := m["messages"].([]any)[0].(map[string]any)
	if contacts["input"] != "+16505551234" || contacts["wa_id"] != "16505551234" || !strings.HasPrefix(msgs["id"].(string), "wamid.") {
		t.Errorf("success shape: %v", m)
	}
	status, _ = postGraph(t, f, path, f.AccessToken, `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"text","text":{"preview_url":true,"body":"hi https://x.example/j/2"}}`)
	if status != 200 || f.LastLink() != "https://x.example/j/2" {
		t.Errorf("text message: %d %q", status, f.LastLink())
	}

	f.CloseWindow("16505551234")
	status, m = postGraph(t, f, path, f.AccessToken, ctaBody(nil))
	e := m["error"].(map[string]any)
	if status != 400 || e["code"] != float64(131047) || e["error_subcode"] == nil ||
		!strings.Contains(e["error_data"].(map[string]any)["details"].(string), "24 hours") {
		t.Errorf("131047: %d %v", status, m)
	}
	if f.Requests() != 20 {
		t.Errorf("Requests = %d", f.Requests())
	}
}

// smtpConn is a raw SMTP client for contract tests.
type smtpConn struct {
	t  *testing.T
	c  net.Conn
	tp *textproto.Conn
}

func dialSMTP(t *testing.T, addr string) *smtpConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &smtpConn{t: t, c: c, tp: textproto.NewConn(c)}
	s.expect(220)
	return s
}

func (s *smtpConn) expect(code int) string {
	s.t.Helper()
	got, msg, err := s.tp.ReadResponse(0)
	if err != nil && got == 0 {
		s.t.Fatalf("want %d: %v", code, err)
	}
	if got != code {
		s.t.Fatalf("want %d, got %d %s", code, got, msg)
	}
	return msg
}

func (s *smtpConn) cmd(code int, line string) string {
	s.t.Helper()
	if _, err := s.c.Write([]byte(line + "\r\n")); err != nil {
		s.t.Fatal(err)
	}
	return s.expect(code)
}

func TestSMTPFakeContract(t *testing.T) {
	f := notifytest.StartSMTPWith(t, notifytest.SMTPOptions{Username: "u", Password: "p"})
	s := dialSMTP(t, f.Addr)
	s.cmd(503, "MAIL FROM:<a@b.example>")
	s.cmd(501, "EHLO")
	if ext := s.cmd(250, "EHLO client.example"); !strings.Contains(ext, "AUTH PLAIN") || strings.Contains(ext, "STARTTLS") {
		t.Errorf("EHLO: %q", ext)
	}
	s.cmd(503, "RCPT TO:<c@d.example>")
	s.cmd(503, "DATA")
	s.cmd(530, "MAIL FROM:<a@b.example>")
	s.cmd(504, "AUTH LOGIN")
	s.cmd(535, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00u\x00wrong")))
	s.cmd(334, "AUTH PLAIN")
	s.cmd(235, base64.StdEncoding.EncodeToString([]byte("\x00u\x00p")))
	s.cmd(501, "MAIL FROM:a@b.example")
	s.cmd(250, "MAIL FROM:<a@b.example> BODY=7BIT")
	s.cmd(503, "MAIL FROM:<a@b.example>")
	s.cmd(250, "RCPT TO:<c@d.example>")
	s.cmd(354, "DATA")
	s.c.Write([]byte("Subject: x\r\n\r\n..leading dot\r\nbare\nLF\r\n.\r\n"))
	s.expect(554)
	s.cmd(503, "DATA") // the transaction ended
	s.cmd(250, "MAIL FROM:<a@b.example>")
	s.cmd(250, "RCPT TO:<c@d.example>")
	s.cmd(354, "DATA")
	s.c.Write([]byte("Subject: x\r\n\r\n" + strings.Repeat("y", 999) + "\r\n.\r\n"))
	s.expect(554)
	s.cmd(250, "MAIL FROM:<a@b.example>")
	s.cmd(250, "RCPT TO:<c@d.example>")
	s.cmd(250, "RCPT TO:<e@f.example>")
	s.cmd(354, "DATA")
	s.c.Write([]byte("Subject: x\r\n\r\n..leading dot https://x.example/j/3\r\n" + strings.Repeat("z", 998) + "\r\n.\r\n"))
	s.expect(250)
	s.cmd(250, "NOOP")
	s.cmd(250, "RSET")
	s.cmd(502, "VRFY c@d.example")
	s.cmd(221, "QUIT")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := f.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := got[0]
	if m.From != "a@b.example" || len(m.To) != 2 || m.AuthUser != "u" || m.Helo != "client.example" || m.Err != nil {
		t.Errorf("recorded: %+v", m)
	}
	if !strings.HasPrefix(m.Text, ".leading dot") || f.LastLink() != "https://x.example/j/3" || m.Structure != "text/plain" {
		t.Errorf("dot-unstuffing / text: %q %q", m.Text[:20], m.Structure)
	}
}

func TestSMTPFakeStartTLS(t *testing.T) {
	f := notifytest.StartSMTPWith(t, notifytest.SMTPOptions{TLS: true, Username: "u", Password: "p"})
	s := dialSMTP(t, f.Addr)
	if ext := s.cmd(250, "EHLO c.example"); !strings.Contains(ext, "STARTTLS") || strings.Contains(ext, "AUTH") {
		t.Errorf("EHLO before TLS: %q", ext)
	}
	s.cmd(538, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00u\x00p")))
	s.cmd(220, "STARTTLS")
	cfg := f.ClientTLSConfig()
	cfg.ServerName = "127.0.0.1"
	tc := tls.Client(s.c, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	s.c, s.tp = tc, textproto.NewConn(tc)
	s.cmd(503, "MAIL FROM:<a@b.example>") // EHLO again after STARTTLS (RFC 3207)
	if ext := s.cmd(250, "EHLO c.example"); strings.Contains(ext, "STARTTLS") || !strings.Contains(ext, "AUTH PLAIN") {
		t.Errorf("EHLO after TLS: %q", ext)
	}
	s.cmd(235, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00u\x00p")))
	f.FailNext(1, "RCPT", 550, "5.1.1 User unknown")
	s.cmd(250, "MAIL FROM:<a@b.example>")
	s.cmd(550, "RCPT TO:<c@d.example>")
	s.cmd(250, "RCPT TO:<c@d.example>")
	s.cmd(221, "QUIT")
}

func TestLinks(t *testing.T) {
	got := notifytest.Links("Join: https://s.example/j/Ab3?x=1. Or (http://s.example/j/2), not ftp://x.")
	if len(got) != 2 || got[0] != "https://s.example/j/Ab3?x=1" || got[1] != "http://s.example/j/2" {
		t.Errorf("Links = %q", got)
	}
}
