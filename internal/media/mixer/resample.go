package mixer

import "math"

// G.711 participants are resampled between 8 kHz and the mixing rate
// (8000·L, L = 2, 3 or 6) by polyphase FIR filters built from one Kaiser-
// windowed sinc lowpass of firTapsPerPhase·L taps at the high rate:
//
//   - cutoff (-6 dB) 3500 Hz, Kaiser β = 5: within 0.1 dB to 3 kHz, -1 dB
//     at 3.2 kHz, and 55-60 dB or more down from 4.2 kHz on (measured in
//     resample_test.go). That keeps the G.711 speech band and removes the
//     images of upsampling and the aliases of decimation (an Opus talker's
//     4-24 kHz content would otherwise fold into a G.711 listener's 0-4 kHz).
//   - group delay (N-1)/2 samples at the high rate: 1.5 ms at 48 kHz.
//   - cost per 20 ms frame: 160·N multiply-adds either way (23k at 48 kHz).
//
// Both filters keep N-1 (decimator) or firTapsPerPhase-1 (upsampler)
// samples of history between calls, so consecutive frames join without a
// click, and neither allocates after construction. A linear interpolator
// would be cheaper but leaves images at 8±f kHz that are audible on a
// wideband Opus listener and does not band-limit before decimation.
const (
	firTapsPerPhase = 24 // a multiple of 4 (see dot)
	firCutoffHz     = 3500.0
	firKaiserBeta   = 5.0
)

// designLowpass returns the prototype filter for factor l at 8000·l Hz,
// normalised to a DC gain of 1. It is symmetric (linear phase).
func designLowpass(l int) []float32 {
	n := l * firTapsPerPhase
	fc := firCutoffHz / float64(8000*l) // cycles per sample
	mid := float64(n-1) / 2
	h := make([]float64, n)
	var sum float64
	for k := range h {
		x := float64(k) - mid
		s := 2 * fc
		if x != 0 {
			s = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
		}
		r := 2*float64(k)/float64(n-1) - 1
		w := besselI0(firKaiserBeta*math.Sqrt(max(0, 1-r*r))) / besselI0(firKaiserBeta)
		h[k] = s * w
		sum += h[k]
	}
	out := make([]float32, n)
	for k, v := range h {
		out[k] = float32(v / sum)
	}
	return out
}

// besselI0 is the zeroth-order modified Bessel function of the first kind
// (power series; converges quickly for the β used here).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-12 {
			break
		}
	}
	return sum
}

// upsampler converts 8 kHz PCM to 8000·l Hz.
type upsampler struct {
	l, p   int
	phases [][]float32 // phases[φ][t] multiplies buf[i+t] for output i·l+φ
	buf    []float32   // p-1 samples of history, then the current input
}

// newUpsampler returns an upsampler by l for inputs of up to maxIn samples.
func newUpsampler(l, maxIn int) *upsampler {
	h := designLowpass(l)
	u := &upsampler{l: l, p: firTapsPerPhase, phases: make([][]float32, l), buf: make([]float32, firTapsPerPhase-1+maxIn)}
	for ph := range u.phases {
		c := make([]float32, u.p)
		for t := range c {
			// Output n·l+φ = l·Σ_j h[j·l+φ]·x[n-j]; x[n-j] sits at buf[i+t] with t = p-1-j.
			c[t] = float32(l) * h[(u.p-1-t)*l+ph]
		}
		u.phases[ph] = c
	}
	return u
}

// process upsamples in into out[:len(in)*l] and returns len(in)*l. out must
// be large enough and len(in) at most the maxIn given to newUpsampler.
func (u *upsampler) process(in []int16, out []int16) int {
	hist := u.p - 1
	buf := u.buf[:hist+len(in)]
	for i, v := range in {
		buf[hist+i] = float32(v)
	}
	out = out[:len(in)*u.l]
	o := 0
	for i := range in {
		x := buf[i : i+u.p]
		for _, c := range u.phases {
			out[o] = sat16f(dot(c, x))
			o++
		}
	}
	copy(u.buf, buf[len(in):])
	return o
}

// reset forgets the history (a new stream).
func (u *upsampler) reset() { clear(u.buf) }

// decimator converts 8000·l Hz PCM (the mix, as int32) to 8 kHz.
type decimator struct {
	l   int
	h   []float32
	buf []float32 // len(h)-1 samples of history, then the current input
}

// newDecimator returns a decimator by l for inputs of up to maxIn samples.
func newDecimator(l, maxIn int) *decimator {
	h := designLowpass(l)
	return &decimator{l: l, h: h, buf: make([]float32, len(h)-1+maxIn)}
}

// process decimates in (len(in) a multiple of l, at most maxIn) into
// out[:len(in)/l] and returns len(in)/l. The filter is symmetric, so the
// window is not reversed.
func (d *decimator) process(in []int32, out []int16) int {
	hist := len(d.h) - 1
	buf := d.buf[:hist+len(in)]
	for i, v := range in {
		buf[hist+i] = float32(v)
	}
	o := 0
	for pos := hist + d.l - 1; pos < len(buf); pos += d.l {
		out[o] = sat16f(dot(d.h, buf[pos-hist:pos+1]))
		o++
	}
	copy(d.buf, buf[len(in):])
	return o
}

// dot returns Σ c[i]·x[i] over len(c), a multiple of 4 (both filters'
// lengths are multiples of firTapsPerPhase). Four partial sums keep the
// additions independent, which is about three times faster than one.
func dot(c, x []float32) float32 {
	x = x[:len(c)]
	var a0, a1, a2, a3 float32
	for len(c) >= 4 && len(x) >= 4 {
		a0 += c[0] * x[0]
		a1 += c[1] * x[1]
		a2 += c[2] * x[2]
		a3 += c[3] * x[3]
		c, x = c[4:], x[4:]
	}
	return (a0 + a1) + (a2 + a3)
}

func sat16f(v float32) int16 {
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	case v >= 0:
		return int16(v + 0.5)
	}
	return int16(v - 0.5)
}
