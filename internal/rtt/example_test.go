package rtt_test

import (
	"fmt"
	"time"

	"github.com/split-hub/split/internal/rtt"
)

// A sender and a receiver of RFC 4103 text with red redundancy; the second
// packet is lost and its text comes back from the third packet's redundancy.
func Example() {
	enc, _ := rtt.NewEncoder(rtt.EncoderConfig{SSRC: 1})
	dec, _ := rtt.NewDecoder(rtt.DecoderConfig{})
	var screen rtt.Text
	now := time.Unix(0, 0)
	for i, typed := range []string{"Hello", " wrld", "\b\b\borld\r\n"} {
		enc.Write(typed)
		p := enc.Tick(now)
		if i != 1 { // lost on the way
			text, _ := dec.Push(p, now)
			screen.Apply(text)
		}
		now = now.Add(enc.Interval())
	}
	fmt.Printf("%q\n", screen.String())
	fmt.Println(rtt.DefaultSDPParams().Lines(11000))
	// Output:
	// "Hello world\n"
	// [m=text 11000 RTP/AVP 100 98 a=rtpmap:100 red/1000 a=fmtp:100 98/98/98 a=rtpmap:98 t140/1000]
}
