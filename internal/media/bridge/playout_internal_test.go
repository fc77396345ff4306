package bridge

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestStopPlayoutWhileAFramePlays: the link stops (a call hangs up) while
// its playout goroutine is busy with a frame. Once that frame is out, the
// goroutine must still see its stop channel; it used to read the link's
// field again, which stopPlayout had set to nil, block on it for ever, and
// with it Bridge.Close and the hang-up of the call (no BYE, the process
// unable to stop) — seen about once in ten jitter-buffered calls on a busy
// machine (TestBrowserOpusTranscodedToPCMU/jitter_buffer=3).
func TestStopPlayoutWhileAFramePlays(t *testing.T) {
	k := &Link{}
	k.mu.Lock() // a frame is being played: the next playout step waits here
	k.startPlayout()
	waitFor(t, "the playout goroutine inside a step", func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "bridge.(*Link).playoutStep")
	})
	stopped := make(chan struct{})
	go func() {
		k.stopPlayout()
		close(stopped)
	}()
	waitFor(t, "stopPlayout to take the stop channel", func() bool {
		k.pmu.Lock()
		defer k.pmu.Unlock()
		return k.closed && k.stop == nil
	})
	k.mu.Unlock() // the frame is out
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("stopPlayout never returned: the playout goroutine no longer sees its stop channel")
	}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
