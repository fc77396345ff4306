package sipua

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/sdp"
)

// rawPhone is a SIP phone on two UDP sockets (SIP and RTP) that writes its
// own messages, so that it can use payload type numbers SPLIT never offers.
type rawPhone struct {
	t        *testing.T
	sip, rtp *net.UDPConn
}

func newRawPhone(t *testing.T) *rawPhone {
	t.Helper()
	p := &rawPhone{t: t}
	var err error
	if p.sip, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if p.rtp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.sip.Close(); p.rtp.Close() })
	return p
}

func (p *rawPhone) sipPort() int { return p.sip.LocalAddr().(*net.UDPAddr).Port }
func (p *rawPhone) rtpPort() int { return p.rtp.LocalAddr().(*net.UDPAddr).Port }

func (p *rawPhone) sdp(formats string, rtpmaps ...string) string {
	b := fmt.Sprintf("v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP %s\r\n", p.rtpPort(), formats)
	for _, m := range rtpmaps {
		b += "a=" + m + "\r\n"
	}
	return b + "a=sendrecv\r\n"
}

// read returns the next SIP message (skipping keep-alives), or fails the test.
func (p *rawPhone) read(within time.Duration) string {
	p.t.Helper()
	buf := make([]byte, 65535)
	_ = p.sip.SetReadDeadline(time.Now().Add(within))
	for {
		n, _, err := p.sip.ReadFromUDP(buf)
		if err != nil {
			p.t.Fatalf("phone: no SIP message: %v", err)
		}
		if n > 4 {
			return string(buf[:n])
		}
	}
}

func (p *rawPhone) send(to int, msg string) {
	p.t.Helper()
	if _, err := p.sip.WriteToUDP([]byte(msg), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: to}); err != nil {
		p.t.Fatal(err)
	}
}

func header(msg, name string) string {
	m := regexp.MustCompile(`(?mi)^` + name + `:\s*(.*?)\r?$`).FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	return m[1]
}

func body(msg string) string {
	_, b, _ := strings.Cut(msg, "\r\n\r\n")
	return b
}

// rtpCounter counts RTP packets by payload type; a telephone-event
// packet with the end bit set is recorded by its event code.
type rtpCounter struct {
	byPT   [128]atomic.Int64
	events atomic.Int64 // event code + 1 of the last end packet seen
}

func (c *rtpCounter) run(conn *net.UDPConn, tePT uint8) {
	buf := make([]byte, 1500)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		pt := buf[1] & 0x7f
		c.byPT[pt].Add(1)
		if pt == tePT && n >= 16 && buf[13]&0x80 != 0 {
			c.events.Store(int64(buf[12]) + 1)
		}
	}
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAnswerAndSendWithThePhonesNumbers: a phone offers Opus as 102 and
// telephone-event as 96 (48 kHz) or only as 101 (8 kHz). SPLIT's answer
// uses the phone's numbers, it sends audio and DTMF under them, and it
// takes the phone's audio and DTMF sent under them.
func TestAnswerAndSendWithThePhonesNumbers(t *testing.T) {
	for i, tc := range []struct {
		name    string
		formats string
		rtpmaps []string
		te      uint8
	}{
		{"opus102-te96at48k", "102 96 101", []string{"rtpmap:102 opus/48000/2", "rtpmap:96 telephone-event/48000", "fmtp:96 0-16", "rtpmap:101 telephone-event/8000", "fmtp:101 0-16"}, 96},
		{"opus102-te101at8k", "102 101", []string{"rtpmap:102 opus/48000/2", "rtpmap:101 telephone-event/8000", "fmtp:101 0-15"}, 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := 25500 + 200*i
			b := &answerer{calls: make(chan *Call, 1)}
			testUA(t, base, base+100, b, func(c *config.Config) { c.SIP.Allow = []string{"127.0.0.1"} })
			ph := newRawPhone(t)
			offer := ph.sdp(tc.formats, tc.rtpmaps...)
			callID := fmt.Sprintf("pt-%d@127.0.0.1", base)
			from := fmt.Sprintf("<sip:phone@127.0.0.1:%d>;tag=ph%d", ph.sipPort(), base)
			to := fmt.Sprintf("<sip:bob@127.0.0.1:%d>", base)
			ph.send(base, fmt.Sprintf("INVITE sip:bob@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-pt%d;rport\r\n"+
				"Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:phone@127.0.0.1:%d>\r\n"+
				"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
				base, ph.sipPort(), base, from, to, callID, ph.sipPort(), len(offer), offer))
			var ok string
			for ok == "" {
				m := ph.read(5 * time.Second)
				if strings.HasPrefix(m, "SIP/2.0 200") {
					ok = m
				} else if !strings.HasPrefix(m, "SIP/2.0 1") {
					t.Fatalf("INVITE answered:\n%s", m)
				}
			}
			ans, err := sdp.Parse([]byte(body(ok)))
			if err != nil {
				t.Fatal(err)
			}
			a := ans.First("audio")
			if a == nil || len(a.Codecs) == 0 || a.Codecs[0].PT != 102 || !a.Codecs[0].Is("opus") {
				t.Fatalf("answer must keep Opus as 102:\n%s", body(ok))
			}
			if te, found := a.Find("telephone-event", 0); !found || te.PT != tc.te {
				t.Fatalf("answer must keep telephone-event as %d:\n%s", tc.te, body(ok))
			}
			ph.send(base, fmt.Sprintf("ACK sip:bob@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-ptack%d;rport\r\n"+
				"Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
				base, ph.sipPort(), base, from, header(ok, "To"), callID))
			var cb *Call
			select {
			case cb = <-b.calls:
			case <-time.After(5 * time.Second):
				t.Fatal("the call was not answered")
			}

			// hub → phone: audio under 102, a digit under the event's number
			var got rtpCounter
			go got.run(ph.rtp, tc.te)
			pkt := make([]byte, 12+40)
			pkt[0] = 0x80
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for i := 0; ; i++ {
					binary.BigEndian.PutUint16(pkt[2:], uint16(i))
					binary.BigEndian.PutUint32(pkt[4:], uint32(i*960))
					_ = cb.Audio().In.WriteRTP(pkt)
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}()
			waitFor(t, 5*time.Second, "audio under PT 102 at the phone", func() bool { return got.byPT[102].Load() >= 10 })
			if err := cb.SendDTMF(context.Background(), "5"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, fmt.Sprintf("digit 5 under PT %d at the phone", tc.te), func() bool { return got.events.Load() == 5+1 })
			for pt := range got.byPT {
				if n := got.byPT[pt].Load(); n > 0 && pt != 102 && pt != int(tc.te) {
					t.Errorf("%d packets under PT %d, which the phone never offered", n, pt)
				}
			}

			// phone → hub: audio under 102 reaches the track, a digit under the event's number is reported
			var in atomic.Int64
			cb.Audio().SetOutput(writerFunc(func(p []byte) error {
				if p[1]&0x7f == 102 {
					in.Add(1)
				}
				return nil
			}))
			remote := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: a.Port}
			out := make([]byte, 12+40)
			out[0] = 0x80
			for i := 0; i < 20; i++ {
				out[1] = 102
				binary.BigEndian.PutUint16(out[2:], uint16(i))
				binary.BigEndian.PutUint32(out[4:], uint32(i*960))
				_, _ = ph.rtp.WriteToUDP(out, remote)
			}
			waitFor(t, 5*time.Second, "the phone's audio at the hub", func() bool { return in.Load() >= 10 })
			ev := make([]byte, 16)
			ev[0], ev[1] = 0x80, 0x80|tc.te
			binary.BigEndian.PutUint32(ev[4:], 123456)
			ev[12], ev[13] = 7, 0x80|10 // digit 7, end
			binary.BigEndian.PutUint16(ev[14:], 800)
			for i := 0; i < 3; i++ {
				binary.BigEndian.PutUint16(ev[2:], uint16(100+i))
				_, _ = ph.rtp.WriteToUDP(ev, remote)
			}
			waitFor(t, 5*time.Second, "the phone's digit 7", func() bool {
				b.mu.Lock()
				defer b.mu.Unlock()
				return strings.ContainsRune(string(b.digits), '7')
			})
			ph.send(base, fmt.Sprintf("BYE sip:bob@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-ptbye%d;rport\r\n"+
				"Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
				base, ph.sipPort(), base, from, header(ok, "To"), callID))
			select {
			case <-cb.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the phone's BYE did not end the call")
			}
		})
	}
}

type writerFunc func([]byte) error

func (f writerFunc) WriteRTP(p []byte) error { return f(p) }
