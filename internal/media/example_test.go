package media_test

import (
	"fmt"

	"github.com/split-hub/split/internal/media"
)

// A SIP leg sends PCMU, a browser leg receives Opus: transcode each 20 ms
// payload and advance the outgoing RTP timestamp by OutSamplesPerFrame.
func ExampleTranscoder() {
	tc, err := media.NewTranscoder(media.CodecPCMU, media.CodecOpus)
	if err != nil {
		fmt.Println(err)
		return
	}
	pcm := make([]int16, 160)
	var phase float64
	media.GenerateTone(pcm, 440, 8000, &phase, 0.5)
	in := make([]byte, 160)
	media.EncodeUlaw(in, pcm)

	out := make([]byte, media.OpusMaxPacketSize)
	n, err := tc.Transcode(in, out)
	fmt.Println(n > 0, err, tc.OutSamplesPerFrame())
	// Output: true <nil> 960
}

// A jitter buffer is fed from the network and drained once per 20 ms tick.
func ExampleJitterBuffer() {
	jb, _ := media.NewJitterBuffer(media.JitterConfig{TargetDelay: 2})
	jb.Push(1, 160, []byte("a"))
	jb.Push(3, 480, []byte("c")) // 2 is lost
	jb.Push(4, 640, []byte("d"))
	for range 4 {
		p, ok, lost := jb.Pop()
		switch {
		case ok:
			fmt.Println("play", string(p))
		case lost:
			fmt.Println("conceal")
		default:
			fmt.Println("nothing")
		}
	}
	// Output:
	// play a
	// conceal
	// play c
	// play d
}

// DTMFPackets yields the RFC 4733 packets for one key press; the sender
// sends one every packetMs with the same RTP timestamp.
func ExampleDTMFPackets() {
	pkts, _ := media.DTMFPackets('5', 60, 8000, 20)
	for _, p := range pkts {
		ev, _ := media.ParseDTMF(p.Payload[:])
		fmt.Println(ev.Event, ev.Duration, p.Marker, p.End)
	}
	// Output:
	// 5 160 true false
	// 5 320 false false
	// 5 480 false true
	// 5 480 false true
	// 5 480 false true
}
