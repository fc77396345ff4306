package media

import (
	"math"
	"testing"
)

func TestGenerateToneContinuous(t *testing.T) {
	whole := make([]int16, 800)
	GenerateTone(whole, 440, 8000, nil, 0.8)
	var ph float64
	parts := make([]int16, 0, 800)
	frame := make([]int16, 160)
	for range 5 {
		GenerateTone(frame, 440, 8000, &ph, 0.8)
		parts = append(parts, frame...)
	}
	for i := range whole {
		if d := int(whole[i]) - int(parts[i]); d < -1 || d > 1 {
			t.Fatalf("sample %d: %d vs %d (phase not carried)", i, whole[i], parts[i])
		}
	}
	peak := 0
	for _, v := range whole {
		peak = max(peak, int(v))
	}
	if peak < 26000 || peak > 26214 {
		t.Fatalf("peak %d for amplitude 0.8", peak)
	}
}

func TestToneLevel(t *testing.T) {
	pcm := make([]int16, 1600)
	GenerateTone(pcm, 1000, 8000, nil, 0.5)
	if l := ToneLevel(pcm, 1000, 8000); math.Abs(l-0.5) > 0.01 {
		t.Fatalf("level at 1000 Hz %v, want 0.5", l)
	}
	if l := ToneLevel(pcm, 1300, 8000); l > 0.01 {
		t.Fatalf("level at 1300 Hz %v, want ~0", l)
	}
	if ToneLevel(nil, 1000, 8000) != 0 || ToneLevel(make([]int16, 100), 1000, 8000) != 0 {
		t.Fatal("silence has a level")
	}
}

func TestDominantFrequency(t *testing.T) {
	for _, rate := range []int{8000, 48000} {
		for _, f := range []float64{350, 440, 1000, 1004, 2600, 3400} {
			pcm := make([]int16, rate/4)
			GenerateTone(pcm, f, rate, nil, 0.3)
			if got := DominantFrequency(pcm, rate, nil); math.Abs(got-f) > 1.01 {
				t.Fatalf("%d Hz rate: %v Hz detected as %v", rate, f, got)
			}
		}
	}
	pcm := make([]int16, 2000)
	GenerateTone(pcm, 697, 8000, nil, 0.3)
	if got := DominantFrequency(pcm, 8000, []float64{697, 770, 852, 941}); got != 697 {
		t.Fatalf("candidates: %v", got)
	}
	if DominantFrequency(make([]int16, 800), 8000, nil) != 0 {
		t.Fatal("silence has a frequency")
	}
}

func BenchmarkToneLevel160(b *testing.B) {
	pcm := benchPCM()
	b.ReportAllocs()
	for b.Loop() {
		ToneLevel(pcm, 1000, 8000)
	}
}
