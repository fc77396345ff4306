package media

import (
	"math"
	"testing"

	"github.com/zaf/g711"
)

func TestG711EncodeMatchesReference(t *testing.T) {
	src := make([]int16, 65536)
	for i := range src {
		src[i] = int16(uint16(i))
	}
	u := make([]byte, len(src))
	a := make([]byte, len(src))
	if n := EncodeUlaw(u, src); n != len(src) {
		t.Fatalf("EncodeUlaw n=%d", n)
	}
	if n := EncodeAlaw(a, src); n != len(src) {
		t.Fatalf("EncodeAlaw n=%d", n)
	}
	for i, s := range src {
		if want := g711.EncodeUlawFrame(s); u[i] != want {
			t.Fatalf("ulaw(%d)=%#x want %#x", s, u[i], want)
		}
		if want := g711.EncodeAlawFrame(s); a[i] != want {
			t.Fatalf("alaw(%d)=%#x want %#x", s, a[i], want)
		}
	}
}

func TestG711DecodeMatchesReference(t *testing.T) {
	src := make([]byte, 256)
	for i := range src {
		src[i] = byte(i)
	}
	u := make([]int16, 256)
	a := make([]int16, 256)
	if n := DecodeUlaw(u, src); n != 256 {
		t.Fatalf("DecodeUlaw n=%d", n)
	}
	if n := DecodeAlaw(a, src); n != 256 {
		t.Fatalf("DecodeAlaw n=%d", n)
	}
	for i := range 256 {
		if want := g711.DecodeUlawFrame(uint8(i)); u[i] != want {
			t.Fatalf("ulaw dec(%#x)=%d want %d", i, u[i], want)
		}
		if want := g711.DecodeAlawFrame(uint8(i)); a[i] != want {
			t.Fatalf("alaw dec(%#x)=%d want %d", i, a[i], want)
		}
	}
}

func TestG711SilenceAndCrossConversion(t *testing.T) {
	if DecodeUlawSample(UlawSilence) != 0 || EncodeUlawSample(0) != UlawSilence {
		t.Fatal("µ-law silence")
	}
	if d := DecodeAlawSample(AlawSilence); d != 8 || EncodeAlawSample(0) != AlawSilence {
		t.Fatalf("A-law silence decodes to %d", d)
	}
	// Cross conversion keeps the value within one A-law/µ-law step.
	in := make([]byte, 256)
	for i := range in {
		in[i] = byte(i)
	}
	out := make([]byte, 256)
	UlawToAlaw(out, in)
	for i := range 256 {
		a, b := float64(DecodeUlawSample(in[i])), float64(DecodeAlawSample(out[i]))
		if math.Abs(a-b) > math.Max(64, math.Abs(a)/16) {
			t.Fatalf("ulaw->alaw %#x: %v vs %v", i, a, b)
		}
	}
	AlawToUlaw(out, in)
	for i := range 256 {
		a, b := float64(DecodeAlawSample(in[i])), float64(DecodeUlawSample(out[i]))
		if math.Abs(a-b) > math.Max(64, math.Abs(a)/16) {
			t.Fatalf("alaw->ulaw %#x: %v vs %v", i, a, b)
		}
	}
}

func TestG711MinLength(t *testing.T) {
	if n := EncodeUlaw(make([]byte, 3), make([]int16, 10)); n != 3 {
		t.Fatalf("n=%d", n)
	}
	if n := DecodeAlaw(make([]int16, 10), make([]byte, 4)); n != 4 {
		t.Fatalf("n=%d", n)
	}
	if n := UlawToAlaw(nil, make([]byte, 4)); n != 0 {
		t.Fatalf("n=%d", n)
	}
}

func benchPCM() []int16 {
	pcm := make([]int16, 160)
	var ph float64
	GenerateTone(pcm, 1000, 8000, &ph, 0.5)
	return pcm
}

func BenchmarkEncodeUlaw160(b *testing.B) {
	pcm, out := benchPCM(), make([]byte, 160)
	b.ReportAllocs()
	for b.Loop() {
		EncodeUlaw(out, pcm)
	}
}

func BenchmarkDecodeUlaw160(b *testing.B) {
	in, pcm := make([]byte, 160), make([]int16, 160)
	EncodeUlaw(in, benchPCM())
	b.ReportAllocs()
	for b.Loop() {
		DecodeUlaw(pcm, in)
	}
}

func BenchmarkEncodeAlaw160(b *testing.B) {
	pcm, out := benchPCM(), make([]byte, 160)
	b.ReportAllocs()
	for b.Loop() {
		EncodeAlaw(out, pcm)
	}
}

func BenchmarkDecodeAlaw160(b *testing.B) {
	in, pcm := make([]byte, 160), make([]int16, 160)
	EncodeAlaw(in, benchPCM())
	b.ReportAllocs()
	for b.Loop() {
		DecodeAlaw(pcm, in)
	}
}
