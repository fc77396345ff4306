//go:build race

package mixer_test

// raceEnabled: the race detector instruments (and slows down) the codecs,
// and may allocate on its own; allocation tests are skipped under it.
const raceEnabled = true
