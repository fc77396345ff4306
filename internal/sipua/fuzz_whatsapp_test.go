package sipua

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// metaInvite is Meta's user-initiated INVITE (research/whatsapp.md §6.3), SDES.
const metaInvite = "INVITE sip:+17015558857@sip.hub.example.com;transport=tls SIP/2.0\r\n" +
	"Via: SIP/2.0/TLS 127.0.0.1:33819;rport=33819;branch=z9hG4bKPj1;alias\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: \"12195550714\" <sip:+12195550714@wa.meta.vc>;tag=bbf1ad6e\r\n" +
	"To: <sip:+17015558857@sip.hub.example.com>\r\n" +
	"Contact: <sip:+12195550714@wa.meta.vc;transport=tls;ob>;isfocus\r\n" +
	"Call-ID: outgoing:wacid.HBgLMTIxOTU1NTA3MTQVAgASGCAzODg1\r\n" +
	"CSeq: 2824 INVITE\r\n" +
	"Route: <sip:onevc-sip-proxy.fbinfra.net:8191;transport=tls;lr>\r\n" +
	"Record-Route: <sip:127.0.0.1:5061;transport=tls;lr>\r\n" +
	"X-FB-External-Domain: wa.meta.vc\r\n" +
	"x-wa-meta-wacid: wacid.HBgLMTIxOTU1NTA3MTQVAgASGCAzODg1\r\n" +
	"x-wa-meta-user-id: US.13491208655302741918\r\n" +
	"X-WA-Meta-Username: someuser\r\n" +
	"x-wa_meta-parent-user-id: US.1\r\n" +
	"x-wa-meta-country-code: IL\r\n" +
	"x-wa-meta-cta-payload: conv=123;queue=billing\r\n" +
	"Content-Length: 0\r\n\r\n"

// FuzzWhatsAppHeaders: whatever Meta (or anyone) puts in a message, the
// WhatsApp fields stay bounded and free of control characters, and a
// message without any Meta marker is never taken for Meta's.
func FuzzWhatsAppHeaders(f *testing.F) {
	f.Add([]byte(metaInvite))
	f.Add([]byte(strings.Replace(metaInvite, "wa.meta.vc>", "example.com>", 1)))
	f.Add([]byte("BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK2\r\nFrom: <sip:a@wa.meta.vc>;tag=1\r\nTo: <sip:b@c>;tag=2\r\n" +
		"Call-ID: x\r\nCSeq: 3 BYE\r\nx-wa-meta-call-duration: 42\r\nx-wa-meta-wacid: wacid.Y\r\nContent-Length: 0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.NewParser().ParseSIP(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		var w WhatsAppInfo
		parseWhatsAppHeaders(&w, req)
		for _, v := range []string{w.WACID, w.UserID, w.ParentUserID, w.Username, w.CTAPayload, w.DeeplinkPayload, w.Country, w.PhoneNumberID} {
			if len(v) > maxWAHeader || strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("field %q unbounded or with control characters", v)
			}
		}
		lower := strings.ToLower(string(data))
		if looksLikeMeta(req) && !strings.Contains(lower, "wa.meta.vc") && !strings.Contains(lower, "x-wa-meta-") && !strings.Contains(lower, "x-fb-external-domain") {
			t.Fatal("taken for Meta without any Meta marker")
		}
	})
}

// FuzzWhatsAppUser: a user waUser accepts makes a Request-URI that parses
// back to the same user, at wa.meta.vc over TLS.
func FuzzWhatsAppUser(f *testing.F) {
	for _, s := range []string{"+12195550714", "12195550714", "US.13491208655302741918", "+0", "a@b", "US.1;x=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := waUser(s)
		if err != nil {
			return
		}
		var back sip.Uri
		ru := waRequestURI(u)
		if err := sip.ParseUri(ru.String(), &back); err != nil {
			t.Fatalf("R-URI for %q does not parse: %v", u, err)
		}
		if back.User != u || back.Host != MetaSIPDomain || back.UriParams == nil {
			t.Fatalf("R-URI for %q parses as %+v", u, back)
		}
		if tr, _ := back.UriParams.Get("transport"); tr != "tls" {
			t.Fatalf("transport %q", tr)
		}
	})
}
