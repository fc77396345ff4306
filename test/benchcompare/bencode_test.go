package main

import (
	"bytes"
	"reflect"
	"testing"
)

// rtpengine's ng replies as the daemon sends them, and what we send.
func TestBencode(t *testing.T) {
	var b bytes.Buffer
	bencode(&b, map[string]any{"command": "offer", "call-id": "c1", "flags": []string{"trust-address"}, "n": 3})
	if got, want := b.String(), "d7:call-id2:c17:command5:offer5:flagsl13:trust-addresse1:ni3ee"; got != want {
		t.Fatalf("encoded %q, want %q", got, want)
	}
	v, rest, err := bdecode([]byte("d6:result2:ok3:sdp5:v=0\r\n4:listl1:ai-7eee"))
	if err != nil || len(rest) != 0 {
		t.Fatalf("decode: %v, rest %q", err, rest)
	}
	want := map[string]any{"result": "ok", "sdp": "v=0\r\n", "list": []any{"a", -7}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("decoded %#v, want %#v", v, want)
	}
	for _, bad := range []string{"", "d", "5:abc", "i12", "l1:a", "di1e1:ae", "99999999999999999999:x"} {
		if _, _, err := bdecode([]byte(bad)); err == nil {
			t.Errorf("%q decoded without an error", bad)
		}
	}
}
