package mixer

import (
	"math"
	"testing"

	"github.com/split-hub/split/internal/media"
)

// upsample runs a tone of freq Hz at 8 kHz through an upsampler by l in
// 20 ms frames and returns the output after the first frame.
func upsample(l int, freq, amp float64) []int16 {
	u := newUpsampler(l, 960)
	in := make([]int16, 160)
	out := make([]int16, 160*l)
	var phase float64
	var res []int16
	for i := range 20 {
		media.GenerateTone(in, freq, 8000, &phase, amp)
		n := u.process(in, out)
		if i > 0 {
			res = append(res, out[:n]...)
		}
	}
	return res
}

// decimate runs a tone of freq Hz at 8000·l Hz through a decimator by l in
// 20 ms frames and returns the 8 kHz output after the first frame.
func decimate(l int, freq, amp float64) []int16 {
	d := newDecimator(l, 160*l)
	pcm := make([]int16, 160*l)
	in := make([]int32, 160*l)
	out := make([]int16, 160)
	var phase float64
	var res []int16
	for i := range 20 {
		media.GenerateTone(pcm, freq, 8000*l, &phase, amp)
		for k, v := range pcm {
			in[k] = int32(v)
		}
		n := d.process(in, out)
		if i > 0 {
			res = append(res, out[:n]...)
		}
	}
	return res
}

func dB(level, ref float64) float64 { return 20 * math.Log10(level/ref) }

// The passband keeps the G.711 speech band, the images of upsampling and
// the aliases of decimation are at least 40 dB down.
func TestResamplerResponse(t *testing.T) {
	const amp = 0.5
	for _, l := range []int{2, 3, 6} {
		rate := 8000 * l
		for _, f := range []float64{300, 1000, 2000, 3000} {
			up := dB(media.ToneLevel(upsample(l, f, amp), f, rate), amp)
			down := dB(media.ToneLevel(decimate(l, f, amp), f, 8000), amp)
			if math.Abs(up) > 0.5 || math.Abs(down) > 0.5 {
				t.Errorf("x%d %4.0f Hz: up %.2f dB, down %.2f dB; want within 0.5 dB", l, f, up, down)
			}
		}
		t.Logf("x%d at 3400 Hz: up %.1f dB, down %.1f dB", l, dB(media.ToneLevel(upsample(l, 3400, amp), 3400, rate), amp),
			dB(media.ToneLevel(decimate(l, 3400, amp), 3400, 8000), amp))
		// Images of a 1 kHz tone at 8k±1k (and 16k±1k …), up to the new Nyquist.
		pcm := upsample(l, 1000, amp)
		for img := 7000.0; img < float64(rate)/2; img += 8000 {
			for _, f := range []float64{img, img + 2000} {
				if d := dB(media.ToneLevel(pcm, f, rate), amp); d > -40 {
					t.Errorf("x%d: image at %.0f Hz only %.1f dB down", l, f, d)
				}
			}
		}
		// Content above 4 kHz folds into the G.711 band unless filtered.
		for _, f := range []float64{4500, 5000, 6000, 7000, float64(rate)/2 - 500} {
			alias := math.Abs(math.Mod(f+4000, 8000) - 4000)
			if d := dB(media.ToneLevel(decimate(l, f, amp), alias, 8000), amp); d > -40 {
				t.Errorf("x%d: %.0f Hz aliases to %.0f Hz only %.1f dB down", l, f, alias, d)
			}
		}
	}
}

// Frames join without a seam: resampling in 20 ms frames gives the same
// samples as in one call.
func TestResamplerContinuity(t *testing.T) {
	const l = 6
	in := make([]int16, 960)
	var phase float64
	media.GenerateTone(in, 1234, 8000, &phase, 0.7)
	whole := make([]int16, 960*l)
	newUpsampler(l, 960).process(in, whole)
	u := newUpsampler(l, 960)
	part := make([]int16, 160*l)
	for k := 0; k < len(in); k += 160 {
		u.process(in[k:k+160], part)
		for i, v := range part {
			if whole[k*l+i] != v {
				t.Fatalf("upsampler: sample %d differs across a frame boundary", k*l+i)
			}
		}
	}

	big := make([]int32, 960*l)
	for i := range big {
		big[i] = int32(math.Round(20000 * math.Sin(float64(i)*0.05)))
	}
	wholeD := make([]int16, 960)
	newDecimator(l, 960*l).process(big, wholeD)
	d := newDecimator(l, 960*l)
	partD := make([]int16, 160)
	for k := 0; k < len(big); k += 160 * l {
		d.process(big[k:k+160*l], partD)
		for i, v := range partD {
			if wholeD[k/l+i] != v {
				t.Fatalf("decimator: sample %d differs across a frame boundary", k/l+i)
			}
		}
	}
}

// The mix saturates instead of wrapping around.
func TestSaturate(t *testing.T) {
	src := []int32{40000, -40000, 32767, -32768, 5}
	dst := make([]int16, len(src))
	saturate(dst, src)
	want := []int16{32767, -32768, 32767, -32768, 5}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("saturate(%v) = %v", src, dst)
		}
	}
	if sat16f(1e9) != 32767 || sat16f(-1e9) != -32768 || sat16f(1.6) != 2 || sat16f(-1.6) != -2 {
		t.Error("sat16f")
	}
}

// BenchmarkUpsample is one 20 ms G.711 frame taken from 8 to 48 kHz.
func BenchmarkUpsample(b *testing.B) {
	u := newUpsampler(6, 960)
	in := make([]int16, 160)
	media.GenerateTone(in, 1000, 8000, nil, 0.5)
	out := make([]int16, 960)
	for b.Loop() {
		u.process(in, out)
	}
}

// BenchmarkDecimate is one 20 ms mix taken from 48 to 8 kHz.
func BenchmarkDecimate(b *testing.B) {
	d := newDecimator(6, 960)
	in := make([]int32, 960)
	out := make([]int16, 160)
	for b.Loop() {
		d.process(in, out)
	}
}
