package rtc

import (
	"context"
	"strings"
	"testing"

	"github.com/split-hub/split/internal/notify/notifytest"
)

// TestAcceptMetaOffer: WhatsApp's offer (Meta's relay: ICE-lite, Opus with
// minptime=20 and maxplaybackrate=16000, telephone-event/8000 on 126) is
// answered with Opus under Meta's payload type, the hub as DTLS client.
// Before, pion dropped Opus (its fmtp differed from the hub's minptime=10)
// and the hub had no audio to answer with.
func TestAcceptMetaOffer(t *testing.T) {
	p, err := notifytest.NewMetaPeer(notifytest.MetaPeerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	offer, err := p.Offer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e := testEngine(t, 23900)
	l, ans, err := e.AcceptOffer(context.Background(), offer, Options{AudioPrefs: []string{"opus", "PCMU"}})
	if err != nil {
		t.Fatalf("Meta's offer: %v", err)
	}
	defer l.Close()
	for _, want := range []string{"a=rtpmap:111 opus/48000/2\r\n", "a=rtpmap:126 telephone-event/8000\r\n", "a=setup:active\r\n"} {
		if !strings.Contains(ans, want) {
			t.Errorf("the answer lacks %q:\n%s", strings.TrimSpace(want), ans)
		}
	}
	if strings.Count(ans, "m=") != 1 {
		t.Errorf("the answer must have exactly one m-line:\n%s", ans)
	}
	if got := l.Audio().Send(); !got.Is("opus") || got.PT != 111 {
		t.Errorf("the leg sends %+v, want Opus on 111", got)
	}
}
