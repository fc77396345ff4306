package sdp

import (
	"fmt"
	"net/netip"
	"strings"
)

// LocalMedia describes one m-line we write.
type LocalMedia struct {
	Kind      string // audio or video
	Port      int    // 0 rejects the stream
	Codecs    []Codec
	Direction Direction
	Crypto    *Crypto // SDES; nil for plain RTP
	Ptime     int     // audio only; 0 omits
	RTCPFB    bool    // video: nack pli, ccm fir (attributes only; see Proto)
	// Proto is the m-line transport. "" writes RTP/AVP (RTP/SAVP with
	// Crypto), with any rtcp-fb as attributes, which AVP-only endpoints
	// ignore; answers must echo the offer's (RFC 3264 §6), e.g. RTP/AVPF.
	Proto string
	// Lang, when set, is written as RFC 8373 a=hlang-send and a=hlang-recv
	// (the language of the stream both ways, a BCP 47 tag).
	Lang string
}

// Description is what Build writes.
type Description struct {
	SessionID uint64
	Version   uint64
	Addr      netip.Addr
	Media     []LocalMedia
}

// Build writes an SDP body with CRLF line ends.
func Build(d Description) []byte {
	ipv := "IP4"
	if d.Addr.Is6() && !d.Addr.Is4In6() {
		ipv = "IP6"
	}
	addr := d.Addr.Unmap().String()
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=split %d %d IN %s %s\r\ns=SPLIT\r\nc=IN %s %s\r\nt=0 0\r\n",
		d.SessionID, d.Version, ipv, addr, ipv, addr)
	for _, m := range d.Media {
		proto := m.Proto
		if proto == "" {
			proto = "RTP/AVP"
			if m.Crypto != nil {
				proto = "RTP/SAVP"
			}
		}
		fmt.Fprintf(&b, "m=%s %d %s", m.Kind, m.Port, proto)
		if len(m.Codecs) == 0 {
			b.WriteString(" 0\r\n")
			continue
		}
		for _, c := range m.Codecs {
			fmt.Fprintf(&b, " %d", c.PT)
		}
		b.WriteString("\r\n")
		if m.Port == 0 {
			continue
		}
		for _, c := range m.Codecs {
			if c.Channels > 1 {
				fmt.Fprintf(&b, "a=rtpmap:%d %s/%d/%d\r\n", c.PT, c.Name, c.Clock, c.Channels)
			} else {
				fmt.Fprintf(&b, "a=rtpmap:%d %s/%d\r\n", c.PT, c.Name, c.Clock)
			}
			if c.Fmtp != "" {
				fmt.Fprintf(&b, "a=fmtp:%d %s\r\n", c.PT, c.Fmtp)
			}
			if m.RTCPFB && !c.Is("rtx") {
				fmt.Fprintf(&b, "a=rtcp-fb:%d nack\r\na=rtcp-fb:%d nack pli\r\na=rtcp-fb:%d ccm fir\r\n", c.PT, c.PT, c.PT)
			}
		}
		if m.Ptime > 0 {
			fmt.Fprintf(&b, "a=ptime:%d\r\n", m.Ptime)
		}
		if m.Crypto != nil {
			fmt.Fprintf(&b, "a=crypto:%d %s inline:%s\r\n", m.Crypto.Tag, m.Crypto.Suite, m.Crypto.Key)
		}
		if m.Lang != "" && m.Port != 0 {
			fmt.Fprintf(&b, "a=hlang-send:%s\r\na=hlang-recv:%s\r\n", m.Lang, m.Lang)
		}
		dir := m.Direction
		if dir == "" {
			dir = SendRecv
		}
		fmt.Fprintf(&b, "a=%s\r\n", dir)
	}
	return []byte(b.String())
}

// Answer picks, for an offered audio m-line, the first of prefs (codec names
// in our order of preference) that the offer carries, plus telephone-event:
// at the codec's clock rate if offered, else the first offered one (Firefox
// and many phones offer only telephone-event/8000 next to Opus/48000; the
// bridge rescales event durations between clocks). Both keep the offer's
// payload type numbers (RFC 3264 §6.1): the answer and what we send use them.
func Answer(offer *Media, prefs []string) (codec Codec, dtmf *Codec, err error) {
	for _, p := range prefs {
		for _, c := range offer.Codecs {
			if c.Is(p) {
				codec = c
				if te, ok := offer.Find("telephone-event", c.Clock); ok {
					dtmf = &te
				} else if te, ok := offer.Find("telephone-event", 0); ok {
					dtmf = &te
				}
				return codec, dtmf, nil
			}
		}
	}
	return Codec{}, nil, ErrNoCommon
}

// VideoCodecs lists the video formats SPLIT forwards, in preference order.
var VideoCodecs = []string{"H264", "VP8"}

// AnswerVideo picks the first offered video codec SPLIT can forward: H.264
// with packetization-mode=1 (or mode 0 when that is all a phone offers), or VP8.
func AnswerVideo(offer *Media, prefs []string) (Codec, error) {
	for _, p := range prefs {
		var fallback *Codec
		for _, c := range offer.Codecs {
			if !c.Is(p) {
				continue
			}
			if c.Is("H264") && !strings.Contains(c.Fmtp, "packetization-mode=1") {
				if fallback == nil {
					cc := c
					fallback = &cc
				}
				continue
			}
			return c, nil
		}
		if fallback != nil {
			return *fallback, nil
		}
	}
	return Codec{}, ErrNoCommon
}

// Standard codec descriptions used in our offers.
var (
	PCMU       = Codec{PT: 0, Name: "PCMU", Clock: 8000, Channels: 1}
	PCMA       = Codec{PT: 8, Name: "PCMA", Clock: 8000, Channels: 1}
	Opus       = Codec{PT: 111, Name: "opus", Clock: 48000, Channels: 2, Fmtp: "minptime=10;useinbandfec=1"}
	TelEvent8k = Codec{PT: 101, Name: "telephone-event", Clock: 8000, Channels: 1, Fmtp: "0-16"}
	TelEvent48 = Codec{PT: 110, Name: "telephone-event", Clock: 48000, Channels: 1, Fmtp: "0-16"}
	H264       = Codec{PT: 102, Name: "H264", Clock: 90000, Fmtp: "profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1"}
	VP8        = Codec{PT: 96, Name: "VP8", Clock: 90000}
)

// AudioCodec maps a configured codec name to its offer description.
func AudioCodec(name string) (Codec, bool) {
	switch strings.ToLower(name) {
	case "pcmu":
		return PCMU, true
	case "pcma":
		return PCMA, true
	case "opus":
		return Opus, true
	}
	return Codec{}, false
}
