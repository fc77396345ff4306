package notifytest

import (
	"context"
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
