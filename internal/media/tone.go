package media

import "math"

// GenerateTone fills dst with a sine wave of freq Hz at sampleRate.
//
// amplitude is a fraction of full scale (1.0 peaks at 32767; values are
// clamped to [0, 1]). phase carries the oscillator phase in radians between
// calls, so consecutive 20 ms frames join without a discontinuity; pass a
// pointer to a zero float64 to start a new tone. A nil phase starts at 0 and
// keeps no state. GenerateTone does not allocate.
func GenerateTone(dst []int16, freq float64, sampleRate int, phase *float64, amplitude float64) {
	if sampleRate <= 0 {
		clear(dst)
		return
	}
	amplitude = math.Max(0, math.Min(1, amplitude))
	var p float64
	if phase != nil {
		p = *phase
	}
	step := 2 * math.Pi * freq / float64(sampleRate)
	scale := amplitude * 32767
	for i := range dst {
		dst[i] = int16(math.Round(scale * math.Sin(p)))
		p += step
		if p >= 2*math.Pi {
			p -= 2 * math.Pi
		}
	}
	if phase != nil {
		*phase = math.Mod(p, 2*math.Pi)
	}
}

// ToneLevel measures how strongly freq is present in pcm with the Goertzel
// algorithm (a single-bin DFT that works for any, also non-integer-bin,
// frequency).
//
// The result is the estimated amplitude of that sine component as a fraction
// of full scale: a full-scale sine at freq gives about 1.0, a half-scale one
// about 0.5, and silence 0. The frequency resolution is roughly
// sampleRate/len(pcm) Hz, so use at least 100 ms of audio to separate tones
// 10 Hz apart. ToneLevel does not allocate.
func ToneLevel(pcm []int16, freq float64, sampleRate int) float64 {
	n := len(pcm)
	if n == 0 || sampleRate <= 0 {
		return 0
	}
	w := 2 * math.Pi * freq / float64(sampleRate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range pcm {
		s0 := float64(v)/32768 + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	// |X(w)|^2 for the (possibly non-integer) bin.
	power := s1*s1 + s2*s2 - coeff*s1*s2
	if power < 0 {
		power = 0
	}
	return 2 * math.Sqrt(power) / float64(n)
}

// Default search range for DominantFrequency when no candidates are given.
const (
	toneSearchMin  = 100.0
	toneSearchMax  = 3500.0
	toneSearchStep = 10.0
)

// DominantFrequency returns the frequency in candidates with the highest
// ToneLevel in pcm. With no candidates it searches 100..3500 Hz (capped
// below Nyquist): a coarse 10 Hz grid over a 50 ms window from the middle of
// pcm (short enough that the grid always falls inside the tone's main lobe),
// then a 1 Hz grid of ±15 Hz around the coarse peak over all of pcm. For a
// clean tone over 200 ms or more the result is within about ±1 Hz. It
// returns 0 for silence or empty input. It does not allocate.
func DominantFrequency(pcm []int16, sampleRate int, candidates []float64) float64 {
	if len(pcm) == 0 || sampleRate <= 0 {
		return 0
	}
	if len(candidates) > 0 {
		best, bestLevel := 0.0, 0.0
		for _, f := range candidates {
			if l := ToneLevel(pcm, f, sampleRate); l > bestLevel {
				best, bestLevel = f, l
			}
		}
		return best
	}
	hi := math.Min(toneSearchMax, float64(sampleRate)/2-toneSearchStep)
	win := pcm
	if w := sampleRate / 20; len(pcm) > w {
		start := (len(pcm) - w) / 2
		win = pcm[start : start+w]
	}
	best, bestLevel := 0.0, 0.0
	for f := toneSearchMin; f <= hi; f += toneSearchStep {
		if l := ToneLevel(win, f, sampleRate); l > bestLevel {
			best, bestLevel = f, l
		}
	}
	if bestLevel == 0 {
		return 0
	}
	coarse := best
	bestLevel = 0
	for f := coarse - 15; f <= coarse+15; f++ {
		if l := ToneLevel(pcm, f, sampleRate); l > bestLevel {
			best, bestLevel = f, l
		}
	}
	return best
}
