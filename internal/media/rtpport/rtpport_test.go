package rtpport

import (
	"net/netip"
	"testing"
)

func TestPoolPairsAndReuseOrder(t *testing.T) {
	p, err := New(netip.MustParseAddr("127.0.0.1"), 41001, 41008)
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Get()
	if err != nil {
		t.Fatal(err)
	}
	if a.Port%2 != 0 || a.RTCP.LocalAddr().(interface{ String() string }).String() == "" {
		t.Fatalf("rtp port %d must be even", a.Port)
	}
	b, _ := p.Get()
	c, _ := p.Get()
	if _, err := p.Get(); err != ErrExhausted {
		t.Fatalf("range of 3 pairs: want ErrExhausted, got %v", err)
	}
	if p.InUse() != 3 {
		t.Fatalf("in use %d", p.InUse())
	}
	a.Close()
	a.Close() // idempotent
	d, err := p.Get()
	if err != nil || d.Port != a.Port {
		t.Fatalf("released pair must come back: %v %d", err, d.Port)
	}
	for _, x := range []*Pair{b, c, d} {
		x.Close()
	}
	if p.InUse() != 0 {
		t.Fatal("leak")
	}
}

func TestInUseAllCountsEveryPool(t *testing.T) {
	base := InUseAll()
	p1, err := New(netip.MustParseAddr("127.0.0.1"), 42000, 42009)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := New(netip.MustParseAddr("127.0.0.1"), 42010, 42019)
	if err != nil {
		t.Fatal(err)
	}
	x, err := p1.Get()
	if err != nil {
		t.Fatal(err)
	}
	y, err := p2.Get()
	if err != nil {
		t.Fatal(err)
	}
	if got := InUseAll(); got != base+2 {
		t.Fatalf("InUseAll = %d, want %d", got, base+2)
	}
	_ = x.Close()
	_ = x.Close() // idempotent: counted once
	if got := InUseAll(); got != base+1 {
		t.Fatalf("after one Close: InUseAll = %d, want %d", got, base+1)
	}
	_ = y.Close()
	if got := InUseAll(); got != base {
		t.Fatalf("after both: InUseAll = %d, want %d", got, base)
	}
}
