package rtt

import (
	"bytes"
	"errors"
	"testing"
)

// A red payload laid out by hand from RFC 2198 §3 as RFC 4103 §4.1 uses it:
// two redundant t140 (PT 98) generations, 600 ms and 300 ms old, then the
// primary.
var redExample = []byte{
	0x80 | 98, 600 >> 6, (600&0x3f)<<2 | 0, 3, // F=1 PT=98 offset=600 len=3
	0x80 | 98, 300 >> 6, (300&0x3f)<<2 | 0, 0, // F=1 PT=98 offset=300 len=0
	98,            // F=0 PT=98
	'a', 'b', 'c', // generation 2
	'd', 'e', // primary
}

func TestParseREDExample(t *testing.T) {
	red, primary, err := ParseRED(redExample)
	if err != nil {
		t.Fatal(err)
	}
	if len(red) != 2 || red[0].PT != 98 || red[0].TSOffset != 600 || string(red[0].Data) != "abc" ||
		red[1].TSOffset != 300 || len(red[1].Data) != 0 || primary.PT != 98 || string(primary.Data) != "de" {
		t.Fatalf("parsed %+v primary %+v", red, primary)
	}
	again, err := AppendRED(nil, red, primary)
	if err != nil || !bytes.Equal(again, redExample) {
		t.Fatalf("AppendRED = %x, %v; want %x", again, err, redExample)
	}
}

func TestParseREDLimitsAndErrors(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, MaxBlockLen)
	p, err := AppendRED(nil, []Block{{PT: 98, TSOffset: MaxTSOffset, Data: long}}, Block{PT: 98})
	if err != nil {
		t.Fatal(err)
	}
	red, _, err := ParseRED(p)
	if err != nil || red[0].TSOffset != MaxTSOffset || len(red[0].Data) != MaxBlockLen {
		t.Fatalf("max block: %+v %v", red, err)
	}
	if _, err := AppendRED(nil, []Block{{TSOffset: MaxTSOffset + 1}}, Block{}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("offset over 14 bits: %v", err)
	}
	if _, err := AppendRED(nil, []Block{{Data: append(long, 'y')}}, Block{}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("block over 10 bits: %v", err)
	}
	for name, bad := range map[string][]byte{
		"empty":             {},
		"only F=1":          {0x80 | 98},
		"header cut":        {0x80 | 98, 0, 0},
		"no final header":   {0x80 | 98, 0, 0, 0},
		"length past end":   {0x80 | 98, 0, 0, 5, 98, 'a', 'b'},
		"second block past": {0x80 | 98, 0, 0, 1, 0x80 | 98, 0, 0, 2, 98, 'a', 'b'},
	} {
		if _, _, err := ParseRED(bad); !errors.Is(err, ErrShortRED) {
			t.Errorf("%s: err = %v, want ErrShortRED", name, err)
		}
	}
	// a primary-only red payload (no redundancy) is valid
	if red, pr, err := ParseRED([]byte{98, 'x'}); err != nil || len(red) != 0 || string(pr.Data) != "x" {
		t.Fatalf("primary only: %v %v %v", red, pr, err)
	}
}
