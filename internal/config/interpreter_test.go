package config

import (
	"strings"
	"testing"
	"time"
)

const ivYAML = `
sessions:
  entry_points:
    - {name: sign, public: true, mode: interpreter}
interpreter:
  languages: [{tag: ase, name: ASL, spoken: en}]
`

// interpreter.rtt: stored with a 24 h retention unless set; 0 keeps; a
// negative retention is refused with its key.
func TestInterpreterRTTConfig(t *testing.T) {
	c, err := Load(strings.NewReader(ivYAML))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Interpreter.RTT.Stored() || c.Interpreter.RTT.Keep() != DefaultRTTRetention {
		t.Errorf("defaults: stored %v, retention %v", c.Interpreter.RTT.Stored(), c.Interpreter.RTT.Keep())
	}
	c, err = Load(strings.NewReader(ivYAML + "  rtt: {store: false, retention: 0s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Interpreter.RTT.Stored() || c.Interpreter.RTT.Keep() != 0 {
		t.Errorf("store: false, retention: 0s read as stored %v, retention %v", c.Interpreter.RTT.Stored(), c.Interpreter.RTT.Keep())
	}
	c, err = Load(strings.NewReader(ivYAML + "  rtt: {retention: 90m}\n"))
	if err != nil || c.Interpreter.RTT.Keep() != 90*time.Minute {
		t.Fatalf("retention: 90m: %v %v", c, err)
	}
	neg := -time.Minute
	c.Interpreter.RTT.Retention = &neg
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "interpreter.rtt.retention") {
		t.Errorf("a negative retention: %v", err)
	}
}
