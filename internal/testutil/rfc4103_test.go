package testutil

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"
)

func peerPair(t *testing.T) (a, b *RFC4103Peer) {
	t.Helper()
	ca, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a = NewRFC4103Peer(ca, cb.LocalAddr().(*net.UDPAddr).AddrPort(), 100, 98)
	b = NewRFC4103Peer(cb, ca.LocalAddr().(*net.UDPAddr).AddrPort(), 100, 98)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func waitText(t *testing.T, p *RFC4103Peer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.Received() != want {
		if time.Now().After(deadline) {
			t.Fatalf("received %q, want %q", p.Received(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRFC4103PeerLoss: the contract peer against itself — red recovers one
// and two lost packets, three lost give one U+FFFD; its own packets pass
// its RFC 4103 checks.
func TestRFC4103PeerLoss(t *testing.T) {
	a, b := peerPair(t)
	a.Send("hello ")
	waitText(t, b, "hello ")
	want := "hello "
	for _, tc := range []struct {
		drop   int
		blocks []string
		add    string
	}{{1, []string{"a", "b"}, "ab"}, {2, []string{"c", "d", "e"}, "cde"}, {3, []string{"f", "g", "h", "i"}, "\uFFFDghi"}} {
		for !a.Idle() {
			time.Sleep(10 * time.Millisecond)
		}
		a.DropNext(tc.drop)
		a.SendBlocks(tc.blocks...)
		want += tc.add
		waitText(t, b, want)
	}
	// each burst after the first lost its first (marked) packet
	if v, markers := b.Violations(); len(v) != 0 || markers != 1 {
		t.Errorf("violations %q, %d markers (want none, 1)", v, markers)
	}
	if _, lost, bad := b.ReceiveStats(); lost != 1 || bad != 0 {
		t.Errorf("%d losses, %d bad; want 1, 0", lost, bad)
	}
}

// TestRFC4103PeerChecks: the checks catch a sender's mistakes — a red
// block whose offset does not point at its packet, a second SSRC, a
// missing marker after idle.
func TestRFC4103PeerChecks(t *testing.T) {
	_, b := peerPair(t)
	pkt := func(seq uint16, ts, ssrc uint32, marker bool, payload []byte) []byte {
		h := make([]byte, 12)
		h[0], h[1] = 0x80, 100
		if marker {
			h[1] |= 0x80
		}
		binary.BigEndian.PutUint16(h[2:], seq)
		binary.BigEndian.PutUint32(h[4:], ts)
		binary.BigEndian.PutUint32(h[8:], ssrc)
		return append(h, payload...)
	}
	b.take(pkt(1, 1000, 7, true, []byte{98, 'x'}))
	time.Sleep(RFC4103Interval)
	// one generation back is "x" at ts 1000, but the offset says 1300-1 → 1299
	b.take(pkt(2, 1300, 7, false, []byte{0x80 | 98, 0, 1<<2 | 0, 1, 98, 'x', 'y'}))
	time.Sleep(RFC4103Interval)
	b.take(pkt(3, 1600, 8, false, []byte{98, 'z'}))
	time.Sleep(3 * RFC4103Interval)
	b.take(pkt(4, 2500, 8, false, []byte{98, 'w'}))
	v, _ := b.Violations()
	all := strings.Join(v, "\n")
	for _, want := range []string{"redundant block 1 back", "SSRC changed", "without the marker bit"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in violations:\n%s", want, all)
		}
	}
	if got := b.Received(); got != "xyzw" {
		t.Errorf("received %q", got)
	}
}
