//go:build race

package rtc

// raceEnabled: the race detector may allocate on its own; allocation tests
// run without it (make test-unit runs them apart).
const raceEnabled = true
