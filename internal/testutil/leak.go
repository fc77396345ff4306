package testutil

import (
	"bytes"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/split-hub/split/internal/media/rtpport"
)

// Idle is what this process holds at rest: goroutines and the RTP port
// pairs handed out by every rtpport pool (hubs run in process in tests).
type Idle struct{ Goroutines, Ports int }

// pooled are goroutines that belong to a connection cache, not to a call:
// sipgo keeps one UDP connection (and its reader) per remote address it
// sent a request to, until the UA closes.
var pooled = []string{"sip.(*TransportUDP).readUDPConnection"}

// Goroutines counts this process's goroutines, less the pooled ones.
func Goroutines() int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if len(bytes.TrimSpace(g)) == 0 {
			continue
		}
		skip := false
		for _, p := range pooled {
			if bytes.Contains(g, []byte(p)) {
				skip = true
			}
		}
		if !skip {
			n++
		}
	}
	return n
}

// IdleNow measures Idle (idle HTTP client connections closed first).
func IdleNow() Idle {
	http.DefaultClient.CloseIdleConnections()
	return Idle{Goroutines(), rtpport.InUseAll()}
}

// WaitIdle waits up to within for the process to be back at (or below) i;
// it returns "" then, or a description of what was left (with every
// goroutine's stack).
func WaitIdle(i Idle, within time.Duration) string {
	deadline := time.Now().Add(within)
	for {
		now := IdleNow()
		if now.Goroutines <= i.Goroutines && now.Ports <= i.Ports {
			return ""
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 8<<20)
			buf = buf[:runtime.Stack(buf, true)]
			var b strings.Builder
			b.WriteString("left behind: ")
			b.WriteString(strconv.Itoa(now.Goroutines) + " goroutines (idle " + strconv.Itoa(i.Goroutines) + "), ")
			b.WriteString(strconv.Itoa(now.Ports) + " RTP port pairs (idle " + strconv.Itoa(i.Ports) + ")\n")
			b.Write(buf)
			return b.String()
		}
		time.Sleep(50 * time.Millisecond)
	}
}
