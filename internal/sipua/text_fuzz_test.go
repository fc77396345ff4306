package sipua

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/split-hub/split/internal/rtt"
	"github.com/split-hub/split/internal/sdp"
)

// FuzzTextPacket: any datagram on the text port is taken or counted as
// malformed, never a panic; what reaches OnText is valid UTF-8 with no
// control other than BACKSPACE, BELL and the line separator; every datagram
// is counted once (accepted or malformed).
func FuzzTextPacket(f *testing.F) {
	// red 100 over t140 98: "hi" primary, "a" one generation back
	f.Add([]byte{0x80, 100, 0, 1, 0, 0, 0, 100, 0, 0, 0, 1, 0x80 | 98, 1, 0x90, 1, 98, 'a', 'h', 'i'}, uint16(1))
	f.Add([]byte{0x80, 98, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 'x', 0xff, 0x1b, '[', '1', 'm'}, uint16(0))
	f.Add([]byte{0x80, 100, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x80 | 98, 0xff, 0xff, 0xff}, uint16(7))
	f.Add([]byte{0x90, 100, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9}, uint16(3))
	f.Fuzz(func(t *testing.T, pkt []byte, step uint16) {
		p := rtt.DefaultSDPParams()
		s, err := newTextStream(slog.New(slog.DiscardHandler), nil, p)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		s.setOnText(func(text string) { out.WriteString(text) })
		from := netip.MustParseAddrPort("127.0.0.1:4000")
		now := time.Unix(1000, 0)
		for i := range 3 { // the same payload under moving sequence numbers
			b := append([]byte(nil), pkt...)
			if len(b) >= 4 {
				seq := uint16(b[2])<<8 | uint16(b[3]) + uint16(i)*step
				b[2], b[3] = byte(seq>>8), byte(seq)
			}
			s.receive(b, from, now)
			now = now.Add(400 * time.Millisecond)
		}
		s.deliver(s.dec.Tick(now.Add(2 * rtt.DefaultReorderWait)))
		s.count()
		got := out.String()
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 to OnText: %q", got)
		}
		if i := strings.IndexFunc(got, func(r rune) bool {
			return r != rtt.Backspace && r != rtt.Bell && (r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == rtt.BOM)
		}); i >= 0 {
			t.Fatalf("control character to OnText: %q", got)
		}
		st := s.stats()
		if st.PacketsIn+s.malformed.Load() != 3 {
			t.Fatalf("3 datagrams, %d accepted + %d malformed", st.PacketsIn, s.malformed.Load())
		}
		if st.CharsIn != uint64(utf8.RuneCountInString(got)) {
			t.Fatalf("CharsIn %d for %q", st.CharsIn, got)
		}
	})
}

// TestTextPacketTooLarge: a datagram over maxTextPacket is counted, not read.
func TestTextPacketTooLarge(t *testing.T) {
	s, err := newTextStream(slog.New(slog.DiscardHandler), nil, rtt.DefaultSDPParams())
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, maxTextPacket+1)
	b[0], b[1] = 0x80, 98
	for i := 12; i < len(b); i++ {
		b[i] = 'a'
	}
	s.receive(b, netip.AddrPort{}, time.Now())
	s.receive(b[:5], netip.AddrPort{}, time.Now())
	if st := s.stats(); st.Malformed != 2 || st.PacketsIn != 0 || st.CharsIn != 0 {
		t.Errorf("stats %+v: want 2 malformed, nothing taken", st)
	}
}

// TestTextSDP: the m=text section the hub offers (docs/interpreter.md §6.4).
func TestTextSDP(t *testing.T) {
	p := rtt.DefaultSDPParams()
	p.CPS = textCPS
	m := textCodecs(p)
	want := []string{"100 red/1000 98/98/98", "98 t140/1000 cps=30"}
	if len(m) != 2 {
		t.Fatalf("codecs %+v", m)
	}
	for i, cd := range m {
		if got := strings.Join([]string{itoa(int(cd.PT)), cd.Name + "/" + itoa(int(cd.Clock)), cd.Fmtp}, " "); got != want[i] {
			t.Errorf("codec %d: %q, want %q", i, got, want[i])
		}
	}
}

// TestTextAnswerOrder: the answer keeps the offer's m-line order when the
// offer has m=text before m=audio.
func TestTextAnswerOrder(t *testing.T) {
	ms := []sdp.LocalMedia{{Kind: "audio"}, {Kind: "video"}, {Kind: "text"}}
	sortLikeOffer(ms, []string{"text", "audio", "video"})
	if ms[0].Kind != "text" || ms[1].Kind != "audio" || ms[2].Kind != "video" {
		t.Errorf("order %v", ms)
	}
}

// BenchmarkTextReceive: one red packet (two generations, a 10-character
// primary) through the receive path: RTP parse, Decoder, T.140 filter.
func BenchmarkTextReceive(b *testing.B) {
	s, err := newTextStream(slog.New(slog.DiscardHandler), nil, rtt.DefaultSDPParams())
	if err != nil {
		b.Fatal(err)
	}
	s.setOnText(func(string) {})
	enc, err := rtt.NewEncoder(rtt.EncoderConfig{SSRC: 1})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1000, 0)
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	b.ReportAllocs()
	for b.Loop() {
		enc.Write("0123456789")
		now = now.Add(300 * time.Millisecond)
		raw, _ := enc.Tick(now).Marshal()
		s.receive(raw, from, now)
	}
}
