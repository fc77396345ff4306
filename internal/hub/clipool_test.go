package hub

import (
	"testing"
	"time"
)

func TestCLIPool(t *testing.T) {
	now := time.Unix(1000, 0)
	p := newCLIPool(time.Minute)
	p.now = func() time.Time { return now }
	nums := []string{"+34910000100", "+34910000101"}

	a := p.take("s1", nums)
	b := p.take("s2", nums)
	if a != "+34910000100" || b != "+34910000101" || p.take("s1", nums) != a {
		t.Fatalf("take: %q %q", a, b)
	}
	if n := p.take("s3", nums); n != "" {
		t.Fatalf("an exhausted pool gave %q", n)
	}
	// the ACD and carriers rewrite numbers; digits still match
	for _, caller := range []string{"+34910000100", "34910000100", "0034910000100", "910000100"} {
		if sid, ok := p.lookup(caller); !ok || sid != "s1" {
			t.Errorf("lookup(%q) = %q %v, want s1", caller, sid, ok)
		}
	}
	for _, caller := range []string{"", "anonymous", "100", "+34910000102", "0000100"} {
		if sid, ok := p.lookup(caller); ok {
			t.Errorf("lookup(%q) = %q, want no match", caller, sid)
		}
	}
	// released numbers rest before reuse; a late leg finds nobody
	p.release("s1")
	if _, ok := p.lookup("+34910000100"); ok {
		t.Error("a released number still correlates")
	}
	if n := p.take("s3", nums); n != "" {
		t.Fatalf("a resting number was reused: %q", n)
	}
	now = now.Add(61 * time.Second)
	if n := p.take("s3", nums); n != a {
		t.Fatalf("after the rest: %q, want %q", n, a)
	}
	if p.numberOf("s3") != a || p.numberOf("s1") != "" {
		t.Fatal("numberOf")
	}
}

func TestCLIPoolAmbiguousSuffix(t *testing.T) {
	p := newCLIPool(0)
	p.take("s1", []string{"+34910000100"})
	p.take("s2", []string{"+44910000100"})
	if sid, ok := p.lookup("910000100"); ok {
		t.Fatalf("an ambiguous national number matched %q", sid)
	}
	if sid, ok := p.lookup("0044910000100"); !ok || sid != "s2" {
		t.Fatalf("lookup = %q %v", sid, ok)
	}
}
