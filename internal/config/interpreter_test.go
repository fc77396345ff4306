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

// interpreter.users, numbers[].user, reach and dial.from: read with their
// defaults, and every mistake named by its key.
func TestInterpreterUsersConfig(t *testing.T) {
	c, err := Load(strings.NewReader(ivYAML + `  users: [{id: u1, name: Luis, number: "+34910000301", contact: "+34600000001", sign_language: ase}]
  numbers: [{number: "+34910000399", sign_language: ase, user: u1}]
  dial: {from: user}
`))
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := c.Interpreter.LookupUser("u1"); !ok || u.Number != "+34910000301" || !c.Interpreter.User("u1") || c.Interpreter.User("u2") {
		t.Errorf("users: %+v %v", u, ok)
	}
	if !c.Interpreter.Reach.AutoLink() || c.Interpreter.Reach.Ring() != 30*time.Second {
		t.Errorf("reach defaults: auto %v ring %v", c.Interpreter.Reach.AutoLink(), c.Interpreter.Reach.Ring())
	}
	var nilIV *Interpreter
	if nilIV.User("u1") {
		t.Error("no interpreter section has a user")
	}
	for _, tc := range []struct{ yaml, key string }{
		{`  numbers: [{number: "+34910000399", sign_language: ase, user: nobody}]`, "interpreter.numbers[0].user"},
		{`  users: [{id: "u 1"}]`, "interpreter.users[0].id"},
		{`  users: [{id: u1}, {id: u1}]`, "interpreter.users[1].id"},
		{`  users: [{id: u1, contact: "not a contact"}]`, "interpreter.users[0].contact"},
		{`  users: [{id: u1, channel: fax}]`, "interpreter.users[0].channel"},
		{`  users: [{id: u1, sign_language: xyz}]`, "interpreter.users[0].sign_language"},
		{`  dial: {from: user}`, "interpreter.dial.from"},
		{`  dial: {from: somebody}`, "interpreter.dial.from"},
		{`  reach: {ring_timeout: -1s}`, "interpreter.reach.ring_timeout"},
	} {
		c, err := Load(strings.NewReader(ivYAML + tc.yaml + "\n"))
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v, want an error naming %s", tc.yaml, err, tc.key)
		}
	}
}
