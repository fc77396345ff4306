package web

import (
	"os/exec"
	"testing"
)

// TestRTTJS runs the Node unit tests of rtt.js's pure functions
// (jstest/rtt.test.mjs: the T.140 display filter of docs/interpreter.md
// §6.3, the typewriter's diff and send buffer, channel labels, the routing
// summary). Skipped where node is not installed.
func TestRTTJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	out, err := exec.Command(node, "--test", "jstest/rtt.test.mjs").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test jstest/rtt.test.mjs: %v\n%s", err, out)
	}
}
