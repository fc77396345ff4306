package rtt

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

func mustBridge(t testing.TB) *Bridge {
	t.Helper()
	b, err := NewBridge(BridgeConfig{Encoder: EncoderConfig{SSRC: 42}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBridgeBothDirections: data channel → RTP through a lossy channel →
// a SIP-side decoder, and a SIP-side encoder → RTP → data channel text.
func TestBridgeBothDirections(t *testing.T) {
	b := mustBridge(t)
	if b.Interval() != DefaultInterval {
		t.Fatal(b.Interval())
	}
	phone := mustDecoder(t, DecoderConfig{})
	var phoneText Text
	msgs := []string{"Hej", " där\r\n", "\x1b[1mok", "\bK", "\xff"}
	for i := 0; i < 40; i++ {
		if i < len(msgs) {
			got, err := b.FromDataChannel([]byte(msgs[i]))
			if i == 4 != errors.Is(err, ErrInvalidUTF8) || strings.ContainsRune(got, '\x1b') {
				t.Fatalf("message %d: %q %v", i, got, err)
			}
		}
		p, txt := b.Tick(at(i))
		if txt != "" {
			t.Fatalf("no RTP received yet, got %q for the data channel", txt)
		}
		if p != nil && p.SequenceNumber%3 != 1 { // lose one packet in three
			s, err := phone.Push(p, at(i))
			if err != nil {
				t.Fatal(err)
			}
			phoneText.Apply(s)
		}
	}
	if want := "Hej där\noK\uFFFD"; phoneText.String() != want {
		t.Fatalf("phone shows %q, want %q", phoneText.String(), want)
	}

	// SIP → data channel, with loss beyond the redundancy
	pkts := session(t, EncoderConfig{SSRC: 7}, []string{"hi", " ", "\x07there", "x", "y", "z", "!"})
	var toDC strings.Builder
	for i, s := range pkts {
		if i >= 2 && i <= 4 {
			continue
		}
		txt, err := b.FromRTP(s.p, s.at)
		if err != nil {
			t.Fatal(err)
		}
		toDC.WriteString(txt)
	}
	_, txt := b.Tick(pkts[len(pkts)-1].at.Add(DefaultReorderWait))
	toDC.WriteString(txt)
	if want := "hi \uFFFDxyz!"; toDC.String() != want {
		t.Fatalf("data channel gets %q, want %q", toDC.String(), want)
	}
	if st := b.Stats(); st.Markers != 1 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := b.FromRTP(&rtp.Packet{Header: rtp.Header{PayloadType: 8}}, t0); err == nil {
		t.Fatal("foreign payload type accepted")
	}
}

func TestBridgeConcurrentUse(t *testing.T) {
	b := mustBridge(t)
	pkts := session(t, EncoderConfig{SSRC: 9}, strings.Split(strings.Repeat("abc", 50), ""))
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			_, _ = b.FromDataChannel([]byte("x"))
		}
	}()
	var got strings.Builder
	go func() {
		defer wg.Done()
		for _, s := range pkts {
			txt, _ := b.FromRTP(s.p, s.at)
			got.WriteString(txt)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			b.Tick(at(i))
		}
	}()
	wg.Wait()
	if got.String() != strings.Repeat("abc", 50) {
		t.Fatalf("got %q", got.String())
	}
}

func loopbackAPI() *webrtc.API {
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBridgeOverRealDataChannel runs RFC 8865 over a real pion data channel
// pair on 127.0.0.1: a "browser" peer opens the channel with DataChannelInit,
// the "hub" peer accepts it with IsT140Channel and puts a Bridge between it
// and an RFC 4103 stream.
func TestBridgeOverRealDataChannel(t *testing.T) {
	if testing.Short() {
		t.Skip("opens two PeerConnections")
	}
	api := loopbackAPI()
	browser, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer browser.Close()
	hub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()

	var mu sync.Mutex
	var browserText, phoneText Text
	var hubDC *webrtc.DataChannel
	accepted := make(chan bool, 1)
	bridge := mustBridge(t)

	dc, err := browser.CreateDataChannel(DataChannelLabel, DataChannelInit())
	if err != nil {
		t.Fatal(err)
	}
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		s, err := DecodeMessage(m.Data)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && m.IsString {
			browserText.Apply(s)
		}
	})
	hub.OnDataChannel(func(d *webrtc.DataChannel) {
		ok := IsT140Channel(d)
		if ok {
			d.OnMessage(func(m webrtc.DataChannelMessage) { _, _ = bridge.FromDataChannel(m.Data) })
			mu.Lock()
			hubDC = d
			mu.Unlock()
		}
		accepted <- ok
	})
	offer, err := browser.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(browser)
	if err := browser.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := hub.SetRemoteDescription(*browser.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := hub.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(hub)
	if err := hub.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := browser.SetRemoteDescription(*hub.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	select {
	case ok := <-accepted:
		if !ok {
			t.Fatal("hub did not recognise the t140 channel")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no data channel at the hub")
	}
	waitFor(t, "channels open", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return dc.ReadyState() == webrtc.DataChannelStateOpen && hubDC.ReadyState() == webrtc.DataChannelStateOpen
	})

	// browser types; the hub owner ticks the bridge and sends RTP to the phone
	phone := mustDecoder(t, DecoderConfig{})
	for _, s := range []string{"S", "ign", "\r\n", "ok?"} {
		if err := dc.SendText(s); err != nil {
			t.Fatal(err)
		}
	}
	// the phone types back
	phoneEnc := mustEncoder(t, EncoderConfig{SSRC: 5})
	phoneEnc.Write("yes\u2028")
	waitFor(t, "text both ways", 10*time.Second, func() bool {
		now := time.Now()
		if p, txt := bridge.Tick(now); p != nil || txt != "" {
			if p != nil {
				s, err := phone.Push(p, now)
				if err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				phoneText.Apply(s)
				mu.Unlock()
			}
			if txt != "" {
				t.Fatalf("unexpected held text %q", txt)
			}
		}
		if p := phoneEnc.Tick(now); p != nil {
			txt, err := bridge.FromRTP(p, now)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			d := hubDC
			mu.Unlock()
			for _, m := range Messages(txt) {
				if err := d.SendText(m); err != nil {
					t.Fatal(err)
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return phoneText.String() == "Sign\nok?" && browserText.String() == "yes\n"
	})
}
