package rtt

import (
	"errors"
	"math/rand"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pion/rtp"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(i int) time.Time { return t0.Add(time.Duration(i) * DefaultInterval) }

func mustEncoder(t testing.TB, cfg EncoderConfig) *Encoder {
	t.Helper()
	e, err := NewEncoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustDecoder(t testing.TB, cfg DecoderConfig) *Decoder {
	t.Helper()
	d, err := NewDecoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func parseGens(t *testing.T, p *rtp.Packet) (gens []Block, primary string) {
	t.Helper()
	red, pr, err := ParseRED(p.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return red, string(pr.Data)
}

// TestEncoderRFC4103Sequence checks the sender rules of RFC 4103 §4–§5 on
// one typed character: marker on the first packet, the text repeated in
// two redundant generations with 300/600 ms offsets on empty-primary
// packets, then silence, then a marker again after the idle period.
func TestEncoderRFC4103Sequence(t *testing.T) {
	e := mustEncoder(t, EncoderConfig{SSRC: 7, FirstSeq: 65534, FirstTS: 1000})
	if p := e.Tick(at(0)); p != nil {
		t.Fatalf("nothing typed: got packet %v", p)
	}
	e.Write("a")
	type want struct {
		marker         bool
		seq            uint16
		ts             uint32
		gen2, gen1, pr string
		off2, off1     uint16
	}
	wants := []want{
		{true, 65534, 1300, "", "", "a", 0, 0},
		{false, 65535, 1600, "", "a", "", 0, 300},
		{false, 0, 1900, "a", "", "", 600, 300},
	}
	for i, w := range wants {
		p := e.Tick(at(i + 1))
		if p == nil {
			t.Fatalf("packet %d missing", i)
		}
		red, pr := parseGens(t, p)
		if p.PayloadType != DefaultREDPT || p.SSRC != 7 || p.Marker != w.marker || p.SequenceNumber != w.seq || p.Timestamp != w.ts ||
			len(red) != 2 || string(red[0].Data) != w.gen2 || string(red[1].Data) != w.gen1 || pr != w.pr {
			t.Fatalf("packet %d: %v gens %q/%q primary %q; want %+v", i, p.Header, red[0].Data, red[1].Data, pr, w)
		}
		if w.gen2 != "" && red[0].TSOffset != w.off2 || w.gen1 != "" && red[1].TSOffset != w.off1 {
			t.Fatalf("packet %d offsets %d/%d, want %d/%d", i, red[0].TSOffset, red[1].TSOffset, w.off2, w.off1)
		}
	}
	if !e.Idle() {
		t.Fatal("encoder not idle after redundancy flushed")
	}
	if p := e.Tick(at(4)); p != nil {
		t.Fatalf("after flush: got packet %v", p.Header)
	}
	e.Write("b")
	p := e.Tick(at(5))
	if p == nil || !p.Marker || p.SequenceNumber != 1 {
		t.Fatalf("first packet after idle: %v", p)
	}
	// typing continues without a quiet interval: no marker
	e.Write("c")
	if p := e.Tick(at(6)); p == nil || p.Marker {
		t.Fatalf("continuous typing: %v", p)
	}
}

func TestEncoderPlainT140AndKeepAlive(t *testing.T) {
	e := mustEncoder(t, EncoderConfig{Redundancy: -1, KeepAlive: time.Second})
	if e.PayloadType() != DefaultT140PT {
		t.Fatalf("PT %d", e.PayloadType())
	}
	e.Write("hi\r\n")
	p := e.Tick(at(0))
	if p == nil || string(p.Payload) != "hi\u2028" || !p.Marker || p.PayloadType != DefaultT140PT {
		t.Fatalf("plain packet %v %q", p, p.Payload)
	}
	if p := e.Tick(at(1)); p != nil {
		t.Fatal("plain t140 sends nothing without text before keep-alive is due")
	}
	var ka *rtp.Packet
	for i := 2; i < 10 && ka == nil; i++ {
		ka = e.Tick(at(i))
	}
	if ka == nil || len(ka.Payload) != 0 || ka.Marker || ka.SequenceNumber != p.SequenceNumber+1 {
		t.Fatalf("keep-alive %v", ka)
	}
}

func TestEncoderSplitsLongTextOnCharacters(t *testing.T) {
	text := strings.Repeat("é手😀x", 400) // 4000 bytes
	e := mustEncoder(t, EncoderConfig{})
	e.Write(text)
	var got strings.Builder
	for i := 0; e.Pending() > 0; i++ {
		_, pr := parseGens(t, e.Tick(at(i)))
		if len(pr) > DefaultMaxPrimary || !utf8.ValidString(pr) {
			t.Fatalf("primary %d bytes, valid %v", len(pr), utf8.ValidString(pr))
		}
		got.WriteString(pr)
	}
	if got.String() != text {
		t.Fatal("split primaries do not join to the text")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []EncoderConfig{{T140PT: 100, REDPT: 100}, {T140PT: 200}, {Redundancy: 9}, {MaxPrimary: 2000}, {Interval: -1}} {
		if _, err := NewEncoder(c); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for _, c := range []DecoderConfig{{T140PT: 98, REDPT: 98}, {ReorderWait: -1}, {MaxHeld: -1}} {
		if _, err := NewDecoder(c); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// session types text (one chunk per tick, "" for a pause) into an encoder
// and returns the packets with their send times.
type sent struct {
	p  *rtp.Packet
	at time.Time
}

func session(t testing.TB, cfg EncoderConfig, chunks []string) []sent {
	e := mustEncoder(t, cfg)
	var out []sent
	for i := 0; i < len(chunks) || !e.Idle(); i++ {
		if i < len(chunks) {
			e.Write(chunks[i])
		}
		if p := e.Tick(at(i)); p != nil {
			out = append(out, sent{p, at(i)})
		}
	}
	return out
}

func randomChunks(r *rand.Rand, n int) ([]string, string) {
	alphabet := []rune("abcdefghij klmnopå手😀\u2028")
	chunks := make([]string, n)
	var all strings.Builder
	for i := range chunks {
		if r.Intn(4) == 0 {
			continue // a pause: exercises empty packets and markers
		}
		var c strings.Builder
		for k := r.Intn(4) + 1; k > 0; k-- {
			c.WriteRune(alphabet[r.Intn(len(alphabet))])
		}
		chunks[i] = c.String()
		all.WriteString(c.String())
	}
	return chunks, all.String()
}

func decodeAll(t testing.TB, d *Decoder, pkts []sent) string {
	var out strings.Builder
	var last time.Time
	for _, s := range pkts {
		txt, err := d.Push(s.p, s.at)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString(txt)
		last = s.at
	}
	if dl, ok := d.Deadline(); ok {
		out.WriteString(d.Tick(dl))
	} else {
		out.WriteString(d.Tick(last))
	}
	if _, ok := d.Deadline(); ok {
		t.Fatal("decoder still holds packets after its deadline")
	}
	return out.String()
}

// TestRoundTripLossWithinRedundancy: with 2 redundant generations, losing
// one packet in every N (N ≥ 3, so never more than 2 in a row) loses no text.
func TestRoundTripLossWithinRedundancy(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, n := range []int{3, 4, 7} {
		for phase := 0; phase < n; phase++ {
			chunks, want := randomChunks(r, 200)
			pkts := session(t, EncoderConfig{FirstSeq: 65500}, chunks) // crosses the sequence wrap
			var kept []sent
			for i, s := range pkts {
				if i%n != phase {
					kept = append(kept, s)
				}
			}
			d := mustDecoder(t, DecoderConfig{})
			if got := decodeAll(t, d, kept); got != want {
				t.Fatalf("drop 1 of %d (phase %d): got %q\nwant %q", n, phase, got, want)
			}
			st := d.Stats()
			if st.Markers != 0 || st.Lost != 0 || st.Recovered == 0 {
				t.Fatalf("drop 1 of %d: stats %+v", n, st)
			}
		}
	}
}

// TestRoundTripLossBeyondRedundancy: three packets lost in a row with two
// redundant generations: the first one's text is gone and U+FFFD marks
// the place (RFC 4103 §5), everything else arrives.
func TestRoundTripLossBeyondRedundancy(t *testing.T) {
	chunks := []string{"ab", "cd", "ef", "gh", "ij", "kl"}
	pkts := session(t, EncoderConfig{}, chunks)
	kept := append(append([]sent{}, pkts[:1]...), pkts[4:]...) // lose "cd", "ef", "gh"
	d := mustDecoder(t, DecoderConfig{})
	var got strings.Builder
	for _, s := range kept {
		txt, err := d.Push(s.p, s.at)
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString(txt)
	}
	if got.String() != "ab" {
		t.Fatalf("before the reorder wait: got %q, want the text before the gap only", got.String())
	}
	dl, ok := d.Deadline()
	if !ok {
		t.Fatal("no deadline while text is held")
	}
	if s := d.Tick(dl.Add(-time.Millisecond)); s != "" {
		t.Fatalf("released before the deadline: %q", s)
	}
	got.WriteString(d.Tick(dl))
	if want := "ab\uFFFDefghijkl"; got.String() != want {
		t.Fatalf("got %q, want %q", got.String(), want)
	}
	if st := d.Stats(); st.Markers != 1 || st.Lost != 1 || st.Recovered != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRoundTripReorderAndDuplicates(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	chunks, want := randomChunks(r, 300)
	pkts := session(t, EncoderConfig{}, chunks)
	// swap neighbours and send every packet twice
	mixed := append([]sent{}, pkts...)
	for i := 0; i+1 < len(mixed); i += 3 {
		mixed[i], mixed[i+1] = mixed[i+1], mixed[i]
	}
	var doubled []sent
	for _, s := range mixed {
		doubled = append(doubled, s, s)
	}
	d := mustDecoder(t, DecoderConfig{})
	if got := decodeAll(t, d, doubled); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if st := d.Stats(); st.Duplicates < uint64(len(pkts)) || st.Markers != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Without redundancy (plain t140) a reordered packet is waited for and no
// text is lost or marked.
func TestPlainT140ReorderWithinWait(t *testing.T) {
	pkts := session(t, EncoderConfig{Redundancy: -1}, []string{"1", "2", "3", "4", "5"})
	order := []int{0, 3, 1, 4, 2}
	d := mustDecoder(t, DecoderConfig{})
	var got strings.Builder
	for _, i := range order {
		s, err := d.Push(pkts[i].p, at(5))
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString(s)
	}
	if got.String() != "12345" || d.Stats().Markers != 0 {
		t.Fatalf("got %q stats %+v", got.String(), d.Stats())
	}
	if _, ok := d.Deadline(); ok {
		t.Fatal("nothing should be held")
	}
}

func TestDecoderFirstPacketRecoversRedundancy(t *testing.T) {
	pkts := session(t, EncoderConfig{}, []string{"a", "b", "c"})
	d := mustDecoder(t, DecoderConfig{})
	if got := decodeAll(t, d, pkts[2:]); got != "abc" {
		t.Fatalf("joined at packet 3: got %q, want the redundant text too", got)
	}
}

func TestDecoderNewSSRCAndRestart(t *testing.T) {
	a := session(t, EncoderConfig{SSRC: 1, FirstSeq: 5000}, []string{"one"})
	b := session(t, EncoderConfig{SSRC: 2, FirstSeq: 10}, []string{"two"})
	d := mustDecoder(t, DecoderConfig{})
	if got := decodeAll(t, d, append(a, b...)); got != "onetwo" {
		t.Fatalf("new SSRC: got %q", got)
	}
	// same SSRC, sequence numbers restarted far back: followed after a few packets
	c := session(t, EncoderConfig{SSRC: 2, FirstSeq: 60000}, strings.Split("abcdefghijkl", ""))
	got := decodeAll(t, d, c)
	if got != "fghijkl" { // resynced at the 8th old packet ("h"), with its two generations
		t.Fatalf("restarted sequence: got %q", got)
	}
}

func TestDecoderRejectsMalformed(t *testing.T) {
	d := mustDecoder(t, DecoderConfig{})
	for _, p := range []*rtp.Packet{
		{Header: rtp.Header{PayloadType: 0}, Payload: []byte("x")},
		{Header: rtp.Header{PayloadType: DefaultREDPT}, Payload: []byte{0x80 | 98, 0}},
		{Header: rtp.Header{PayloadType: DefaultREDPT}, Payload: []byte{99, 'x'}},
	} {
		if s, err := d.Push(p, t0); err == nil || s != "" {
			t.Errorf("%v: text %q err %v", p.Header, s, err)
		}
	}
	if d.Stats().Malformed != 3 {
		t.Fatalf("stats %+v", d.Stats())
	}
	// a malformed packet's text is recovered from the next packet
	pkts := session(t, EncoderConfig{}, []string{"a", "b"})
	bad := *pkts[0].p
	bad.Payload = []byte{0xff}
	if _, err := d.Push(&bad, t0); err == nil {
		t.Fatal("truncated red accepted")
	}
	if got := decodeAll(t, d, pkts[1:]); got != "ab" {
		t.Fatalf("got %q", got)
	}
}

// TestEncoderCPS: with cps=1 at most 10 characters leave in any 10-second
// window (RFC 4103 §6); the rest waits and nothing is lost.
func TestEncoderCPS(t *testing.T) {
	e := mustEncoder(t, EncoderConfig{CPS: 1})
	text := strings.Repeat("手a", 12) + "!" // 25 characters
	e.Write(text)
	type sentAt struct {
		at    time.Time
		chars int
	}
	var log []sentAt
	var got strings.Builder
	for i := 0; i < 200 && !e.Idle(); i++ {
		p := e.Tick(at(i))
		if p == nil {
			continue
		}
		_, pr := parseGens(t, p)
		got.WriteString(pr)
		if n := utf8.RuneCountInString(pr); n > 0 {
			log = append(log, sentAt{at(i), n})
		}
	}
	if got.String() != text {
		t.Fatalf("got %q, want %q", got.String(), text)
	}
	if log[0].chars != 10 || len(log) != 3 {
		t.Fatalf("sends %+v, want 10+10+5", log)
	}
	for i, a := range log {
		n := 0
		for _, b := range log[i:] {
			if b.at.Sub(a.at) < 10*time.Second {
				n += b.chars
			}
		}
		if n > 10 {
			t.Fatalf("%d characters within 10 s from %v", n, a.at)
		}
	}
	if c := (SDPParams{T140PT: 98}).EncoderConfig(1); c.CPS != DefaultCPS {
		t.Fatalf("cps default %d", c.CPS)
	}
	if _, err := NewEncoder(EncoderConfig{CPS: -1}); err == nil {
		t.Fatal("negative cps accepted")
	}
}

// Text held behind a gap is delivered, with the marker, when the sender's
// SSRC changes instead of being dropped.
func TestDecoderNewSSRCFlushesHeld(t *testing.T) {
	a := session(t, EncoderConfig{SSRC: 1}, []string{"a", "b", "c", "d", "e"})
	b := session(t, EncoderConfig{SSRC: 2}, []string{"X"})
	d := mustDecoder(t, DecoderConfig{})
	var got strings.Builder
	for _, s := range append(append([]sent{a[0]}, a[4:]...), b...) { // a[1..3] lost: beyond redundancy
		txt, err := d.Push(s.p, s.at)
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString(txt)
	}
	if want := "a\uFFFDcdeX"; got.String() != want {
		t.Fatalf("got %q, want %q", got.String(), want)
	}
}
