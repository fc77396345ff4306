package sipua

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
)

// TestTextSRTP: on srtp: sdes trunks the m=text follows the audio's
// profile — RTP/SAVP with an a=crypto of its own — and text goes both ways
// encrypted between two hubs; a datagram that is not SRTP is counted as
// malformed and shows nothing.
func TestTextSRTP(t *testing.T) {
	withText := func(port int) func(*config.Config) {
		return func(c *config.Config) {
			trunkTo(port, "sdes")(c)
			c.SIP.Trunks[0].Text = true
		}
	}
	b := &answerer{calls: make(chan *Call, 1)}
	testUA(t, 29151, 1, b, withText(29150))
	ua := testUA(t, 29150, 1, &answerer{}, withText(29151))
	tr, to, err := ua.Resolve("bob")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ua.Dial(context.Background(), DialOptions{Trunk: tr, To: to, FromUser: "web"})
	if err != nil {
		t.Fatal(err)
	}
	var cb *Call
	select {
	case cb = <-b.calls:
	case <-time.After(5 * time.Second):
		t.Fatal("not answered")
	}
	waitFor(t, 5*time.Second, "the answer", func() bool { return ca.State() == StateActive })
	offer := string(ca.client.InviteRequest.Body())
	text := offer[strings.Index(offer, "m=text"):]
	for _, want := range []string{`^m=text [1-9][0-9]* RTP/SAVP 100 98\r\n`, `(?m)^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:\S+\r$`} {
		if !regexp.MustCompile(want).MatchString(text) {
			t.Errorf("offer's text section lacks %s:\n%s", want, text)
		}
	}
	if !strings.Contains(offer, "m=audio") || strings.Count(offer, "a=crypto:") != 2 {
		t.Errorf("want one key each for audio and text:\n%s", offer)
	}
	if !ca.HasText() || !cb.HasText() || ca.text.srtpOut == nil || cb.text.srtpOut == nil {
		t.Fatalf("SRTP text: caller %v, callee %v", ca.HasText(), cb.HasText())
	}
	var mu sync.Mutex
	var gotA, gotB strings.Builder
	ca.OnText(func(s string) { mu.Lock(); gotA.WriteString(s); mu.Unlock() })
	cb.OnText(func(s string) { mu.Lock(); gotB.WriteString(s); mu.Unlock() })
	if err := ca.SendText("secret from A"); err != nil {
		t.Fatal(err)
	}
	if err := cb.SendText("secret from B"); err != nil {
		t.Fatal(err)
	}
	read := func(b *strings.Builder) func() string {
		return func() string { mu.Lock(); defer mu.Unlock(); return b.String() }
	}
	waitFor(t, 5*time.Second, "A's text at B", func() bool { return read(&gotB)() == "secret from A" })
	waitFor(t, 5*time.Second, "B's text at A", func() bool { return read(&gotA)() == "secret from B" })

	// plain RTP onto the SRTP text port: refused and counted
	plain := []byte{0x80, 98, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 'x'}
	if _, err := ca.text.pair.RTP.WriteToUDPAddrPort(plain, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(cb.text.pair.Port))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the plain packet counted", func() bool { return cb.TextStats().Malformed == 1 })
	if read(&gotB)() != "secret from A" {
		t.Errorf("plain RTP reached OnText: %q", read(&gotB)())
	}
	ca.Hangup(context.Background(), 200, "done")
	<-ca.Done()
}
