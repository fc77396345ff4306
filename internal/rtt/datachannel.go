package rtt

import (
	"strconv"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"
)

// RFC 8865 data channel parameters.
const (
	// DataChannelProtocol is the subprotocol of a T.140 data channel
	// (RFC 8865, registered "t140").
	DataChannelProtocol = "t140"
	// DataChannelLabel is the label the hub gives its T.140 channel; the
	// label carries no meaning in RFC 8865, the subprotocol does.
	DataChannelLabel = "t140"
	// MaxSendBytes bounds one message the hub sends; longer text goes in
	// several messages, cut on character boundaries (RFC 8865).
	MaxSendBytes = 4096
)

// DataChannelInit returns the options of a T.140 data channel: reliable
// and ordered (no MaxRetransmits, no MaxPacketLifeTime), subprotocol t140
// (RFC 8865). Use it with PeerConnection.CreateDataChannel(DataChannelLabel, ...).
func DataChannelInit() *webrtc.DataChannelInit {
	ordered := true
	proto := DataChannelProtocol
	return &webrtc.DataChannelInit{Ordered: &ordered, Protocol: &proto}
}

// IsT140Channel reports whether a channel opened by the peer is a T.140
// channel the hub can use: subprotocol t140, reliable and ordered
// (RFC 8865 requires both).
func IsT140Channel(dc *webrtc.DataChannel) bool {
	return dc != nil && dc.Protocol() == DataChannelProtocol && dc.Ordered() &&
		dc.MaxRetransmits() == nil && dc.MaxPacketLifeTime() == nil
}

// DCMapAttribute returns the SDP attribute value that negotiates a T.140
// channel with stream id in SDP instead of in-band (RFC 8865, using
// RFC 8864's dcmap): `dcmap:<id> label="<label>";subprotocol="t140"`.
func DCMapAttribute(id uint16, label string) string {
	return "dcmap:" + strconv.Itoa(int(id)) + ` label="` + label + `";subprotocol="` + DataChannelProtocol + `"`
}

// Messages frames T.140 text for the data channel: each message is a
// UTF-8 T.140 string, sent as a WebRTC String message (RFC 8865),
// of at most MaxSendBytes and never splitting a character. Empty text
// gives no message.
func Messages(text string) []string { return SplitUnits(text, MaxSendBytes) }

// DecodeMessage reads one received data-channel message as T.140 text
// (RFC 8865). Invalid UTF-8 gives ErrInvalidUTF8 together with the
// text, the bad bytes replaced by U+FFFD, so nothing else is lost.
func DecodeMessage(b []byte) (string, error) {
	if utf8.Valid(b) {
		return string(b), nil
	}
	out := make([]rune, 0, len(b))
	for len(b) > 0 {
		r, n := decodeRune(b)
		out = append(out, r)
		b = b[n:]
	}
	return string(out), ErrInvalidUTF8
}
