package sipua

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/config"
)

// inboundSeeds are requests and responses of every kind the hub handles,
// plus the RFC 4475 torture messages.
func inboundSeeds(f *testing.F, port int) {
	p := &rawPeer{port: 5999}
	ruri := fmt.Sprintf("sip:bob@127.0.0.1:%d", port)
	for _, m := range []string{"INVITE", "BYE", "CANCEL", "ACK", "OPTIONS", "INFO", "UPDATE", "REFER", "NOTIFY", "REGISTER", "MESSAGE", "PRACK"} {
		body := ""
		if m == "INVITE" || m == "UPDATE" {
			body = fmt.Sprintf(sdpOffer, 40000)
		}
		f.Add([]byte(p.request(m, ruri, "seed-"+m, "ft", "", 1, body)))
		f.Add([]byte(p.request(m, ruri, "seed-"+m, "ft", "tt", 2, body)))
	}
	f.Add([]byte("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: r1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	files, _ := filepath.Glob("../sipguard/testdata/torture/*/*.dat")
	for _, fn := range files {
		b, _ := os.ReadFile(fn)
		f.Add(b)
	}
}

// FuzzInbound drives the whole inbound path with arbitrary datagrams: the
// guard, sipgo's parser and transaction layer, the UA's handlers and a
// handler that answers, rings or rejects as the hub does. Nothing may
// panic (a panic in any goroutine ends the test process) and the hub must
// keep answering.
func FuzzInbound(f *testing.F) {
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	inboundSeeds(f, port)
	h := &answerer{calls: make(chan *Call, 1000)}
	testUA(f, port, 0, h, func(c *config.Config) {
		c.SIP.Allow = []string{"127.0.0.1"}
		c.SIP.Limits.TrustedRate, c.SIP.Limits.InviteRate, c.SIP.Limits.ProbeRate = 1e6, 1e6, 1e6
		c.RTP.PortMin, c.RTP.PortMax = 50000, 50999
	})
	peer, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		f.Fatal(err)
	}
	defer peer.Close()
	probe := 0
	f.Fuzz(func(t *testing.T, b []byte) {
		// keep answered calls from piling up
		for len(h.calls) > 0 {
			(<-h.calls).Hangup(t.Context(), 200, "fuzz")
		}
		if _, err := peer.Write(b); err != nil {
			t.Skip(err) // too large for a datagram
		}
		// a probe behind it: answered once the guard has dealt with the input
		probe++
		id := fmt.Sprintf("probe%d", probe)
		msg := strings.Replace((&rawPeer{port: peer.LocalAddr().(*net.UDPAddr).Port}).request("OPTIONS", "sip:127.0.0.1", id, "p", "", 1, ""), "sip:127.0.0.1", fmt.Sprintf("sip:127.0.0.1:%d", port), 1)
		if _, err := peer.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65535)
		deadline := time.Now().Add(5 * time.Second)
		for {
			_ = peer.SetReadDeadline(deadline)
			n, err := peer.Read(buf)
			if err != nil {
				t.Fatalf("the hub stopped answering after this input: %v", err)
			}
			if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 ") {
				t.Fatalf("the hub sent something that is not a SIP response: %q", buf[:n])
			}
			m, err := sip.ParseMessage(buf[:n])
			if err != nil {
				continue // an answer to the input echoes its (malformed) headers
			}
			if r, ok := m.(*sip.Response); ok && r.CallID() != nil && r.CallID().Value() == id {
				break
			}
		}
	})
}
