package bridge

import (
	"testing"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
)

// TestCapOpusToMaxAverageBitrate: toward a receiver that declared
// maxaveragebitrate below the configured rate (WhatsApp: 20000), the
// encoder uses the receiver's; above it, or without it, the configured one.
func TestCapOpusToMaxAverageBitrate(t *testing.T) {
	opus := func(fmtp string) leg.Codec {
		return leg.Codec{PT: 111, Name: "opus", Clock: 48000, Channels: 2, Fmtp: fmtp}
	}
	for _, c := range []struct {
		conf int
		dst  leg.Codec
		want int
	}{
		{0, opus("maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;useinbandfec=1"), 20000},
		{32000, opus("maxaveragebitrate=20000"), 20000},
		{16000, opus("maxaveragebitrate=20000"), 16000},
		{0, opus("minptime=10;useinbandfec=1"), 0},
		{0, opus("maxaveragebitrate=12"), 0}, // out of range: ignored
		{0, leg.Codec{PT: 0, Name: "PCMU", Clock: 8000, Fmtp: "maxaveragebitrate=20000"}, 0},
	} {
		if got := capOpus(media.TranscodeOptions{OpusBitrate: c.conf}, c.dst).OpusBitrate; got != c.want {
			t.Errorf("configured %d toward %q: %d, want %d", c.conf, c.dst.Fmtp, got, c.want)
		}
	}
}
