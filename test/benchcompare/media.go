package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/srtp/v3"
)

// Fixed SDES keys for the floor relay (it has no signalling).
const (
	floorKeyIn  = "WnD7c1ksDGs+dIefCEvIbUr2Mp6kFk9UgQxmB0bUzZ0EXAMPLEkeyin"
	floorKeyOut = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w"
)

// sdesContext builds an AES_CM_128_HMAC_SHA1_80 context from an SDES inline
// key (base64 of 16 bytes of key and 14 of salt; longer input is cut).
func sdesContext(inline string) (*srtp.Context, error) {
	raw, err := base64.StdEncoding.DecodeString(inline[:40])
	if err != nil {
		return nil, fmt.Errorf("sdes key: %w", err)
	}
	return srtp.CreateContext(raw[:16], raw[16:30], srtp.ProtectionProfileAes128CmHmacSha1_80)
}

// mediaCall is one call of the load: an SRTP side (the "browser") and an
// RTP side (the "PBX"), each a socket of its own, 20 ms PCMU both ways.
type mediaCall struct {
	srtpSock, rtpSock *net.UDPConn
	srtpTo, rtpTo     netip.AddrPort // where each side sends (the relay)
	enc, dec          *srtp.Context  // SRTP side: what it sends, what it receives
	ssrcA, ssrcB      uint32
	seq               uint16
	ts                uint32

	recvA, recvB atomic.Int64 // packets received on each side
	gapsA, gapsB atomic.Int64
	authFail     atomic.Int64
	sentA, sentB atomic.Int64
	lastA, lastB int32
	started      bool
}

func newMediaCall(i int) (*mediaCall, error) {
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		a.Close()
		return nil, err
	}
	return &mediaCall{srtpSock: a, rtpSock: b, ssrcA: 0x1000 + uint32(i), ssrcB: 0x8000 + uint32(i), lastA: -1, lastB: -1}, nil
}

func (c *mediaCall) srtpPort() int { return c.srtpSock.LocalAddr().(*net.UDPAddr).Port }
func (c *mediaCall) rtpPort() int  { return c.rtpSock.LocalAddr().(*net.UDPAddr).Port }

func (c *mediaCall) close() { c.srtpSock.Close(); c.rtpSock.Close() }

// send sends one 20 ms packet each way.
func (c *mediaCall) send(raw, out []byte) {
	c.seq++
	c.ts += 160
	for i, ssrc := range []uint32{c.ssrcA, c.ssrcB} {
		raw[0], raw[1] = 0x80, 0
		binary.BigEndian.PutUint16(raw[2:], c.seq)
		binary.BigEndian.PutUint32(raw[4:], c.ts)
		binary.BigEndian.PutUint32(raw[8:], ssrc)
		if i == 0 {
			p, err := c.enc.EncryptRTP(out[:0], raw, nil)
			if err == nil {
				if _, err := c.srtpSock.WriteToUDPAddrPort(p, c.srtpTo); err == nil {
					c.sentA.Add(1)
				}
			}
		} else if _, err := c.rtpSock.WriteToUDPAddrPort(raw, c.rtpTo); err == nil {
			c.sentB.Add(1)
		}
	}
}

// read counts what arrives on the SRTP side (decrypted: the relay's SRTP
// must be right) and on the RTP side, with sequence gaps.
func (c *mediaCall) read(wg *sync.WaitGroup) {
	wg.Add(2)
	go func() {
		defer wg.Done()
		in, out := make([]byte, 1500), make([]byte, 1500)
		for {
			n, _, err := c.srtpSock.ReadFromUDPAddrPort(in)
			if err != nil {
				return
			}
			p, err := c.dec.DecryptRTP(out[:0], in[:n], nil)
			if err != nil || len(p) < 12 {
				c.authFail.Add(1)
				continue
			}
			countSeq(p, &c.lastA, &c.recvA, &c.gapsA)
		}
	}()
	go func() {
		defer wg.Done()
		in := make([]byte, 1500)
		for {
			n, _, err := c.rtpSock.ReadFromUDPAddrPort(in)
			if err != nil {
				return
			}
			if n >= 12 {
				countSeq(in[:n], &c.lastB, &c.recvB, &c.gapsB)
			}
		}
	}()
}

func countSeq(p []byte, last *int32, recv, gaps *atomic.Int64) {
	s := int32(binary.BigEndian.Uint16(p[2:]))
	if *last >= 0 {
		if d := (s - *last) & 0xffff; d > 1 && d < 0x8000 {
			gaps.Add(int64(d - 1))
		}
	}
	*last = s
	recv.Add(1)
}

// pace sends every call's packets every 20 ms until stop is closed, the
// calls spread evenly over the 20 ms as independent phones and browsers
// are (a burst of every call at once would let a relay handle many packets
// per wake-up, which real traffic does not give it).
func pace(calls []*mediaCall, stop <-chan struct{}) {
	raw, out := make([]byte, 12+160), make([]byte, 1500)
	for i := 12; i < len(raw); i++ {
		raw[i] = 0xff
	}
	spread(len(calls), stop, func(i int) { calls[i].send(raw, out) })
}

// spread calls f(i) for i in [0, n) once per 20 ms each, call i at offset
// i×20ms/n, until stop is closed.
func spread(n int, stop <-chan struct{}, f func(i int)) {
	if n == 0 {
		return
	}
	const period = 20 * time.Millisecond
	slot := period / time.Duration(n)
	t := time.NewTimer(0)
	defer t.Stop()
	start := time.Now()
	for k := 0; ; k++ {
		for i := 0; i < n; i++ {
			at := start.Add(time.Duration(k)*period + time.Duration(i)*slot)
			if d := time.Until(at); d > 0 {
				t.Reset(d)
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
			f(i)
		}
		select {
		case <-stop:
			return
		default:
		}
	}
}

// ng is a client of rtpengine's ng control protocol (bencode over UDP).
type ng struct {
	conn *net.UDPConn
	n    int
}

func dialNG(addr string) (*ng, error) {
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		return nil, err
	}
	return &ng{conn: c}, nil
}

func (g *ng) do(cmd map[string]any) (map[string]any, error) {
	g.n++
	cookie := "c" + strconv.Itoa(g.n)
	var b bytes.Buffer
	b.WriteString(cookie + " ")
	bencode(&b, cmd)
	buf := make([]byte, 65536)
	for try := 0; try < 5; try++ {
		if _, err := g.conn.Write(b.Bytes()); err != nil {
			return nil, err
		}
		_ = g.conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := g.conn.Read(buf)
		if err != nil {
			continue
		}
		rest, ok := bytes.CutPrefix(buf[:n], []byte(cookie+" "))
		if !ok {
			continue
		}
		v, _, err := bdecode(rest)
		if err != nil {
			return nil, err
		}
		d, _ := v.(map[string]any)
		if d["result"] != "ok" && d["result"] != "pong" {
			return nil, fmt.Errorf("rtpengine %s: %v %v", cmd["command"], d["result"], d["error-reason"])
		}
		return d, nil
	}
	return nil, errors.New("rtpengine: no answer")
}

var (
	reMPort  = regexp.MustCompile(`(?m)^m=audio (\d+) `)
	reCrypto = regexp.MustCompile(`(?m)^a=crypto:\d+ AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/=]{40})`)
)

func sdp(port int, proto, extra string) string {
	return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(port) + " " + proto + " 0\r\na=rtpmap:0 PCMU/8000\r\n" + extra + "a=sendrecv\r\n"
}

// setupRtpengine creates call i in rtpengine: the SRTP side offers SDES
// (RTP/SAVP), the RTP side is plain RTP/AVP.
func setupRtpengine(g *ng, c *mediaCall, i int) error {
	callID := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)
	const myKey = "MTIzNDU2Nzg5MGFiY2RlZjEyMzQ1Njc4OTBhYmNk"
	off, err := g.do(map[string]any{"command": "offer", "call-id": callID, "from-tag": "a",
		"sdp":                sdp(c.srtpPort(), "RTP/SAVP", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"+myKey+"\r\n"),
		"transport-protocol": "RTP/AVP", "ICE": "remove"})
	if err != nil {
		return err
	}
	m := reMPort.FindStringSubmatch(fmt.Sprint(off["sdp"]))
	if m == nil {
		return fmt.Errorf("rtpengine offer: no m=audio in %q", off["sdp"])
	}
	pB, _ := strconv.Atoi(m[1])
	ans, err := g.do(map[string]any{"command": "answer", "call-id": callID, "from-tag": "a", "to-tag": "b",
		"sdp": sdp(c.rtpPort(), "RTP/AVP", ""), "ICE": "remove"})
	if err != nil {
		return err
	}
	s := fmt.Sprint(ans["sdp"])
	m = reMPort.FindStringSubmatch(s)
	k := reCrypto.FindStringSubmatch(s)
	if m == nil || k == nil {
		return fmt.Errorf("rtpengine answer: no port or crypto in %q", s)
	}
	pA, _ := strconv.Atoi(m[1])
	if c.enc, err = sdesContext(myKey); err != nil {
		return err
	}
	if c.dec, err = sdesContext(k[1]); err != nil {
		return err
	}
	c.srtpTo = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(pA))
	c.rtpTo = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(pB))
	return nil
}

func setupFloor(c *mediaCall, base, i int) (err error) {
	if c.enc, err = sdesContext(floorKeyIn); err != nil {
		return err
	}
	if c.dec, err = sdesContext(floorKeyOut); err != nil {
		return err
	}
	c.srtpTo = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(base+4*i))
	c.rtpTo = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(base+4*i+2))
	return nil
}
