package main

import (
	"bytes"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// sipLoad sends requests of method to target at rate per second for d
// (each with its own Call-ID and branch) and counts the final responses
// that come back. Method "INVITE" comes from 127.0.0.1, a source the
// targets do not trust; "INVITE-trusted" comes from 127.0.0.2 (the hub's
// trunk), carries an SDP offer to a number nobody serves, and ACKs the
// final response as a PBX does, so both targets run an INVITE server
// transaction to its end.
func sipLoad(target *net.UDPAddr, method string, rate int, d time.Duration) (sent, answered int64, err error) {
	src, body := net.IPv4(127, 0, 0, 1), ""
	if method == "INVITE-trusted" {
		method, src = "INVITE", net.IPv4(127, 0, 0, 2)
		body = "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n" +
			"m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: src})
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	_ = conn.SetReadBuffer(8 << 20)
	_ = conn.SetWriteBuffer(8 << 20)
	laddr := conn.LocalAddr().String()
	host := target.String()
	var ok atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if n > 9 && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 ")) && buf[8] >= '2' {
				ok.Add(1)
				if body != "" && buf[8] >= '3' {
					if ack := ackFor(buf[:n], target.String()); ack != nil {
						_, _ = conn.WriteToUDP(ack, target)
					}
				}
			}
		}
	}()
	msg := make([]byte, 0, 512)
	start := time.Now()
	var n int64
	for tick := time.Now(); time.Since(start) < d; {
		due := int64(time.Since(start).Seconds() * float64(rate))
		for ; n < due; n++ {
			id := strconv.FormatInt(n, 10)
			msg = append(msg[:0], method+" sip:probe@"+host+" SIP/2.0\r\n"+
				"Via: SIP/2.0/UDP "+laddr+";branch=z9hG4bK-b"+id+";rport\r\n"+
				"Max-Forwards: 70\r\nFrom: <sip:bench@"+src.String()+">;tag=b"+id+"\r\nTo: <sip:probe@"+host+">\r\n"+
				"Call-ID: "+id+"@bench\r\nCSeq: 1 "+method+"\r\nContact: <sip:bench@"+laddr+">\r\n"...)
			if body != "" {
				msg = append(msg, "Content-Type: application/sdp\r\n"...)
			}
			msg = append(msg, "Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body...)
			if _, err := conn.WriteToUDP(msg, target); err != nil {
				time.Sleep(time.Millisecond) // ENOBUFS: the kernel queue is full
			}
		}
		tick = tick.Add(time.Millisecond)
		time.Sleep(time.Until(tick))
	}
	// answers still in flight
	for last, i := int64(-1), 0; i < 20 && ok.Load() != last; i++ {
		last = ok.Load()
		time.Sleep(100 * time.Millisecond)
	}
	conn.Close()
	<-done
	return n, ok.Load(), nil
}

// ackFor builds the ACK of a non-2xx final response to an INVITE (RFC 3261
// §17.1.1.3): the INVITE's Via (branch), From, Call-ID and Request-URI, the
// response's To (with its tag), CSeq ACK.
func ackFor(res []byte, host string) []byte {
	var via, from, to, callID, cseq []byte
	for _, line := range bytes.Split(res, []byte("\r\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(bytes.ToLower(bytes.TrimSpace(name))) {
		case "via", "v":
			if via == nil {
				via = line
			}
		case "from", "f":
			from = line
		case "to", "t":
			to = line
		case "call-id", "i":
			callID = line
		case "cseq":
			if f := bytes.Fields(value); len(f) > 0 {
				cseq = f[0]
			}
		}
	}
	if via == nil || from == nil || to == nil || callID == nil || cseq == nil {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("ACK sip:probe@" + host + " SIP/2.0\r\n")
	for _, h := range [][]byte{via, []byte("Max-Forwards: 70"), from, to, callID} {
		b.Write(h)
		b.WriteString("\r\n")
	}
	b.WriteString("CSeq: " + string(cseq) + " ACK\r\nContent-Length: 0\r\n\r\n")
	return b.Bytes()
}
