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
// that come back.
func sipLoad(target *net.UDPAddr, method string, rate int, d time.Duration) (sent, answered int64, err error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	_ = conn.SetReadBuffer(8 << 20)
	_ = conn.SetWriteBuffer(8 << 20)
	lport := strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port)
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
				"Via: SIP/2.0/UDP 127.0.0.1:"+lport+";branch=z9hG4bK-b"+id+";rport\r\n"+
				"Max-Forwards: 70\r\nFrom: <sip:bench@127.0.0.1>;tag=b"+id+"\r\nTo: <sip:probe@"+host+">\r\n"+
				"Call-ID: "+id+"@bench\r\nCSeq: 1 "+method+"\r\nContact: <sip:bench@127.0.0.1:"+lport+">\r\nContent-Length: 0\r\n\r\n"...)
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
