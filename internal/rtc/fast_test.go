package rtc

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/leg"
)

// TestFastPathKeys: the fast path reads three unexported fields of pion's
// DTLSTransport (there is no API for the SRTP keys). A pion upgrade that
// renames or retypes them must fail here, not silently leave every leg on
// pion's path.
func TestFastPathKeys(t *testing.T) {
	typ := reflect.TypeOf(webrtc.DTLSTransport{})
	for name, want := range map[string]reflect.Type{
		"conn":              reflect.TypeOf(dtlsConnType),
		"localCryptexMode":  reflect.TypeOf(srtp.CryptexMode(0)),
		"remoteCryptexMode": reflect.TypeOf(srtp.CryptexMode(0)),
	} {
		f, ok := typ.FieldByName(name)
		if !ok || f.Type != want {
			t.Errorf("pion's DTLSTransport.%s: %v, want a field of type %v", name, f.Type, want)
		}
	}
}

// TestFastPath: an audio-only leg with a pion peer as the browser. After
// the first packets the leg's audio runs on the fast path both ways; what
// the browser sends arrives intact at the leg's output, what the hub sends
// decrypts at the browser with a continuous sequence, and the browser gets
// the hub's RTCP SR and RR (from the hub's own counters).
func TestFastPath(t *testing.T) {
	e := testEngine(t, 27892)
	pc, local := browserPeer(t, false)
	l, answer, err := e.AcceptOffer(context.Background(), offerFrom(t, pc), Options{AudioPrefs: []string{"PCMU"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.fast == nil {
		t.Fatal("an audio-only leg has no fast path state")
	}

	var atHub, badAtHub atomic.Int64
	l.Audio().SetOutput(writerFunc(func(p []byte) error {
		// the browser's payload carries its own sequence number
		if len(p) != 12+160 || binary.BigEndian.Uint16(p[12:]) != binary.BigEndian.Uint16(p[2:]) {
			badAtHub.Add(1)
		}
		atHub.Add(1)
		return nil
	}))
	var atBrowser, gaps, badAtBrowser atomic.Int64
	var srs atomic.Int64
	pc.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		go func() { // the hub's SRs arrive on the receiver
			for {
				pkts, _, err := r.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok && sr.PacketCount > 0 && sr.SSRC == uint32(tr.SSRC()) {
						srs.Add(1)
					}
				}
			}
		}()
		var last uint16
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if atBrowser.Add(1) > 1 && p.SequenceNumber != last+1 {
				gaps.Add(1)
			}
			last = p.SequenceNumber
			if p.PayloadType != 0 || len(p.Payload) != 160 || p.Payload[0] != 0xd5 {
				badAtBrowser.Add(1)
			}
		}
	})
	var rrs atomic.Int64
	var rrHigh atomic.Uint32
	go func() { // the hub's RRs about our stream arrive on our sender
		for {
			pkts, _, err := pc.GetSenders()[0].ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if rr, ok := p.(*rtcp.ReceiverReport); ok && len(rr.Reports) == 1 {
					rrs.Add(1)
					rrHigh.Store(rr.Reports[0].LastSequenceNumber)
				}
			}
		}
	}()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}

	pkt := make([]byte, 12+160)
	pkt[0] = 0x80
	for i := range pkt[12:] {
		pkt[12+i] = 0xd5
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		if l.fastIn.Load() > 100 && l.fastOut.Load() > 100 && srs.Load() > 0 && rrs.Load() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fast path in %d, out %d; at hub %d, at browser %d; SRs %d, RRs %d",
				l.fastIn.Load(), l.fastOut.Load(), atHub.Load(), atBrowser.Load(), srs.Load(), rrs.Load())
		}
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(i*160))
		_ = l.Audio().In.WriteRTP(pkt)
		b := append([]byte(nil), pkt...)
		binary.BigEndian.PutUint16(b[12:], uint16(i)) // the browser stamps its sequence into the payload below
		_, _ = local.Write(b)
		time.Sleep(5 * time.Millisecond)
	}
	if !l.fastOn.Load() {
		t.Error("fastOn not set while packets took the fast path")
	}
	if n := badAtHub.Load(); n > 0 {
		t.Errorf("%d packets at the hub whose payload does not match their sequence number", n)
	}
	if n := badAtBrowser.Load(); n > 0 {
		t.Errorf("%d packets at the browser with a wrong payload type or payload", n)
	}
	if n := gaps.Load(); n > 0 {
		t.Errorf("%d sequence gaps at the browser across the move to the fast path", n)
	}
	if rrHigh.Load() == 0 {
		t.Error("the hub's RR reports no highest sequence number")
	}
	if d := l.fastDropped.Load(); d > 0 {
		t.Errorf("%d packets failed SRTP on the fast path", d)
	}
	if fs := e.FastPath(); fs.Legs != 1 || fs.In < 100 || fs.Out < 100 {
		t.Errorf("engine figures: %+v", fs)
	}
	l.Close()
	if fs := e.FastPath(); fs.Legs != 0 {
		t.Errorf("a closed leg is still routed: %+v", fs)
	}
	st := l.AudioStats()
	if st.PacketsReceived < 100 || st.PacketsLost != 0 {
		t.Errorf("leg stats: %+v", st)
	}
}

// TestFastPathNotForVideo: a leg with video keeps pion's path (and its
// interceptors: NACK, TWCC, reports).
func TestFastPathNotForVideo(t *testing.T) {
	e := testEngine(t, 27893)
	pc, _ := browserPeer(t, true)
	l, _, err := e.AcceptOffer(context.Background(), offerFrom(t, pc), Options{AudioPrefs: []string{"PCMU"}, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.fast != nil || l.engine != nil {
		t.Fatal("a video leg got the audio-only fast path")
	}
}

var dtlsConnType = func() any {
	f, _ := reflect.TypeOf(webrtc.DTLSTransport{}).FieldByName("conn")
	return reflect.Zero(f.Type).Interface()
}()

// fastFixture is a leg with fast-path state wired to loopback sockets, no
// PeerConnection traffic: what the per-packet benchmarks and the
// allocation test drive.
type fastFixture struct {
	l         *Leg
	route     *fastRoute
	browser   *srtp.Context // encrypts what "the browser" sends
	sink      *net.UDPConn
	pkt, wire []byte
	hdr       rtp.Header
	seq       uint16
}

type nopWriter struct{}

func (nopWriter) WriteRTP(*rtp.Header, []byte) (int, error) { return 0, nil }
func (nopWriter) Write([]byte) (int, error)                 { return 0, nil }

func newFastFixture(t testing.TB) *fastFixture {
	key, salt := make([]byte, 16), make([]byte, 14)
	for i := range key {
		key[i] = byte(i)
	}
	in, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAes128CmHmacSha1_80, srtp.SRTPReplayProtection(64))
	if err != nil {
		t.Fatal(err)
	}
	br, _ := srtp.CreateContext(key, salt, srtp.ProtectionProfileAes128CmHmacSha1_80)
	out, _ := srtp.CreateContext(key, salt, srtp.ProtectionProfileAes128CmHmacSha1_80)
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = sink.SetReadBuffer(4 << 20)
	t.Cleanup(func() { udp.Close(); sink.Close() })
	l := &Leg{audioOut: &audioTrack{ws: nopWriter{}, ssrc: 0x5eed, pt: 0, clock: 8000}}
	l.audio = leg.NewTrack("audio", leg.Codec{PT: 0, Name: "PCMU", Clock: 8000}, leg.Codec{}, leg.WriterFunc(l.writeAudio))
	l.audio.SetOutput(writerFunc(func([]byte) error { return nil }))
	l.ars = &recvStats{clock: 8000}
	fc := newFastConn(udp)
	l.fast = &fastState{conn: fc, out: &fastOut{enc: out}}
	to := netip.MustParseAddrPort(sink.LocalAddr().String())
	l.fast.to.Store(&to)
	r := &fastRoute{conn: fc, ssrc: 0xb0b, dec: in, leg: l}
	l.fast.route = r
	f := &fastFixture{l: l, route: r, browser: br, sink: sink, pkt: make([]byte, 12+160), wire: make([]byte, 1500)}
	f.pkt[0] = 0x80
	binary.BigEndian.PutUint32(f.pkt[8:], 0xb0b)
	go func() { // drain the sink
		b := make([]byte, 1500)
		for {
			if _, err := sink.Read(b); err != nil {
				return
			}
		}
	}()
	return f
}

// in is one browser packet through the fast path: what the browser
// encrypts (outside the hub's cost, but allocation-free too), then the
// hub's decrypt, stats and delivery.
func (f *fastFixture) in() {
	f.seq++
	binary.BigEndian.PutUint16(f.pkt[2:], f.seq)
	binary.BigEndian.PutUint32(f.pkt[4:], uint32(f.seq)*160)
	w, err := f.browser.EncryptRTP(f.wire[:0], f.pkt, &f.hdr)
	if err != nil {
		panic(err)
	}
	f.route.handle(w)
}

// out is one hub packet to the browser: rewrite, encrypt, sendto.
func (f *fastFixture) out() { _ = f.l.audio.In.WriteRTP(f.pkt) }

// TestFastPathNoAlloc pins the fast path at zero allocations per packet in
// both directions.
func TestFastPathNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (make test-unit runs this without it)")
	}
	f := newFastFixture(t)
	f.in()
	f.out()
	if n := testing.AllocsPerRun(1000, f.in); n != 0 {
		t.Errorf("browser → hub: %.1f allocations per packet", n)
	}
	if n := testing.AllocsPerRun(1000, f.out); n != 0 {
		t.Errorf("hub → browser: %.1f allocations per packet", n)
	}
	if f.l.fastIn.Load() < 1000 || f.l.fastOut.Load() < 1000 || f.l.fastDropped.Load() != 0 {
		t.Errorf("in %d, out %d, dropped %d", f.l.fastIn.Load(), f.l.fastOut.Load(), f.l.fastDropped.Load())
	}
}

// BenchmarkFastPathIn: decrypt + stats + delivery of one 20 ms PCMU packet
// (plus the benchmark's own encryption standing in for the browser).
func BenchmarkFastPathIn(b *testing.B) {
	f := newFastFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		f.in()
	}
}

// BenchmarkFastPathOut: rewrite + encrypt + sendto of one packet.
func BenchmarkFastPathOut(b *testing.B) {
	f := newFastFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		f.out()
	}
}

// TestFastPathForgedPackets: packets on a fast leg's 5-tuple and SSRC that
// fail SRTP (a forged tag, a far-ahead sequence number meant to shift the
// rollover estimate, a replay) are dropped and counted, and the genuine
// stream goes on undisturbed.
func TestFastPathForgedPackets(t *testing.T) {
	f := newFastFixture(t)
	var delivered atomic.Int64
	f.l.audio.SetOutput(writerFunc(func([]byte) error { delivered.Add(1); return nil }))
	for i := 0; i < 10; i++ {
		f.in()
	}
	// a replay of the last genuine packet
	replay := append([]byte(nil), f.wire[:12+160+10]...)
	f.route.handle(replay)
	// forged: the right SSRC, a sequence 30000 ahead, a garbage tag
	forged := append([]byte(nil), replay...)
	binary.BigEndian.PutUint16(forged[2:], f.seq+30000)
	for i := len(forged) - 10; i < len(forged); i++ {
		forged[i] ^= 0x5a
	}
	f.route.handle(forged)
	for i := 0; i < 10; i++ {
		f.in()
	}
	if d := f.l.fastDropped.Load(); d != 2 {
		t.Errorf("%d packets dropped, want 2 (the replay and the forgery)", d)
	}
	if n := delivered.Load(); n != 20 {
		t.Errorf("%d genuine packets delivered, want 20", n)
	}
}

// TestBrowserClosesFirst: when the browser closes its PeerConnection (DTLS
// close_notify, pion then closes ours by itself) and nobody calls Close,
// the leg still leaves the engine: no fast-path route and no report
// ticker entry keep it, and its PeerConnection, alive. Before the fix every
// call the browser hung up first left its leg in both for good (about
// 20 KB a call in the queue soak).
func TestBrowserClosesFirst(t *testing.T) {
	e := testEngine(t, 27897)
	pc, local := browserPeer(t, false)
	l, answer, err := e.AcceptOffer(context.Background(), offerFrom(t, pc), Options{AudioPrefs: []string{"PCMU"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, 12+160)
	pkt[0] = 0x80
	for i, deadline := 0, time.Now().Add(20*time.Second); !l.fastOn.Load(); i++ {
		if time.Now().After(deadline) {
			t.Fatal("the leg never took the fast path")
		}
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		_, _ = local.Write(pkt)
		time.Sleep(5 * time.Millisecond)
	}
	if fs := e.FastPath(); fs.Legs != 1 {
		t.Fatalf("engine figures with the leg up: %+v", fs)
	}
	if err := pc.Close(); err != nil { // the browser hangs up
		t.Fatal(err)
	}
	select {
	case <-l.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the leg did not end when the browser closed")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e.lmu.Lock()
		reported := len(e.audioLegs)
		e.lmu.Unlock()
		fs := e.FastPath()
		if reported == 0 && fs.Legs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the browser closed: %d legs in the report ticker, engine figures %+v", reported, fs)
		}
	}
}
