package e2e

import (
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// maxGoroutinesPerAudioCall pins what an audio-only passthrough call costs
// the hub in goroutines (docs/benchmarks.md § Media path at the floor): 25
// before audio legs dropped pion's interceptors (NACK, TWCC, report loops:
// their RTCP reports now come from one ticker) and the SIP leg its RTCP
// ticker goroutine (issue 12). Never raise it without saying why in
// docs/benchmarks.md.
const maxGoroutinesPerAudioCall = 20

// TestGoroutinesPerAudioCall runs the real binary under splitload (pion
// browser stand-ins, a SIP UAS) and reads the hub's own go_goroutines from
// /metrics: with calls up, per call, and back to idle after.
func TestGoroutinesPerAudioCall(t *testing.T) {
	dir := t.TempDir()
	hub, load := filepath.Join(dir, "split"), filepath.Join(dir, "splitload")
	for bin, pkg := range map[string]string{hub: "../../cmd/split", load: "../../cmd/splitload"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
	}
	out, err := exec.Command(load, "-spawn", "-hub-bin", hub, "-calls", "6", "-duration", "3s", "-codec", "pcmu", "-ports", "17600", "-uas", "127.0.0.1:17690").CombinedOutput()
	if err != nil {
		t.Fatalf("splitload: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if m := regexp.MustCompile(`calls: (\d+) ok, (\d+) failed`).FindSubmatch(out); m == nil || string(m[1]) != "6" {
		t.Fatalf("not every call succeeded")
	}
	for _, m := range regexp.MustCompile(`lost \(seq gaps\) (\d+)`).FindAllSubmatch(out, -1) {
		if string(m[1]) != "0" {
			t.Errorf("packets lost: %s", m[0])
		}
	}
	m := regexp.MustCompile(`goroutines: (\d+) idle, \d+ with \d+ calls \(([\d.]+) per call\), (\d+) after`).FindSubmatch(out)
	if m == nil {
		t.Fatal("splitload printed no goroutine figures")
	}
	idle, _ := strconv.Atoi(string(m[1]))
	per, _ := strconv.ParseFloat(string(m[2]), 64)
	after, _ := strconv.Atoi(string(m[3]))
	// (with - idle) / calls: one goroutine the hub starts once (a keep-alive
	// HTTP connection) shows as a fraction
	if math.Round(per) > maxGoroutinesPerAudioCall {
		t.Errorf("%.1f goroutines per audio call, at most %d", per, maxGoroutinesPerAudioCall)
	}
	if after > idle+1 {
		t.Errorf("goroutines: %d idle before the calls, %d after", idle, after)
	}
}
