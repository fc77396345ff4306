package rtt

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// SDPParams is what an SDP text media section says about RFC 4103 text
// (RFC 4103 §6 media types and cps; red per RFC 2198 §5).
type SDPParams struct {
	T140PT uint8 // payload type of t140/1000
	// REDPT is the payload type of red/1000 carrying t140; 0 when red is
	// not offered (plain t140).
	REDPT uint8
	// Redundancy is the number of redundant generations the red fmtp
	// lists (a=fmtp:100 98/98/98 is one primary and two redundant).
	Redundancy int
	// CPS is the receiver's maximum characters per second (RFC 4103 §6,
	// fmtp cps); 0 when absent (the RFC's default of 30 applies).
	CPS int
	// Lang, when set, is the written language of the text both ways, as
	// RFC 8373 a=hlang-send/a=hlang-recv (a BCP 47 tag such as "en"): what
	// a relay service reads to pick a text-capable assistant. Offered only;
	// ParseSDP does not read it.
	Lang string
}

// DefaultSDPParams are the parameters the hub offers: red 100 over t140 98
// with 2 redundant generations.
func DefaultSDPParams() SDPParams {
	return SDPParams{T140PT: DefaultT140PT, REDPT: DefaultREDPT, Redundancy: DefaultRedundancy}
}

// Lines returns the SDP lines of an m=text section for p, red first when
// present so it is preferred (as in the SDP example of RFC 4103):
//
//	m=text 11000 RTP/AVP 100 98
//	a=rtpmap:100 red/1000
//	a=fmtp:100 98/98/98
//	a=rtpmap:98 t140/1000
func (p SDPParams) Lines(port int) []string {
	md := p.MediaDescription(port)
	out := []string{fmt.Sprintf("m=text %d %s %s", port, strings.Join(md.MediaName.Protos, "/"), strings.Join(md.MediaName.Formats, " "))}
	for _, a := range md.Attributes {
		out = append(out, "a="+a.String())
	}
	return out
}

// MediaDescription returns p as a pion/sdp media section (port, RTP/AVP,
// the rtpmap and fmtp attributes; the caller adds c=, direction, ...).
func (p SDPParams) MediaDescription(port int) *sdp.MediaDescription {
	t := strconv.Itoa(int(p.T140PT))
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{
		Media:  "text",
		Port:   sdp.RangedPort{Value: port},
		Protos: []string{"RTP", "AVP"},
	}}
	if p.REDPT != 0 {
		r := strconv.Itoa(int(p.REDPT))
		md.MediaName.Formats = append(md.MediaName.Formats, r)
		gens := make([]string, max(p.Redundancy, 0)+1)
		for i := range gens {
			gens[i] = t
		}
		md.Attributes = append(md.Attributes,
			sdp.NewAttribute("rtpmap", r+" red/1000"),
			sdp.NewAttribute("fmtp", r+" "+strings.Join(gens, "/")))
	}
	md.MediaName.Formats = append(md.MediaName.Formats, t)
	md.Attributes = append(md.Attributes, sdp.NewAttribute("rtpmap", t+" t140/1000"))
	if p.CPS > 0 {
		md.Attributes = append(md.Attributes, sdp.NewAttribute("fmtp", t+" cps="+strconv.Itoa(p.CPS)))
	}
	if p.Lang != "" {
		md.Attributes = append(md.Attributes, sdp.NewAttribute("hlang-send", p.Lang), sdp.NewAttribute("hlang-recv", p.Lang))
	}
	return md
}

// ParseSDP reads the RFC 4103 parameters of a text media section. It takes
// the first t140/1000 format, and a red/1000 format whose fmtp lists only
// that t140 payload type (RFC 4103 §6). A section without t140 gives
// ErrNoT140. Payload-type names are matched case-insensitively.
func ParseSDP(md *sdp.MediaDescription) (SDPParams, error) {
	var p SDPParams
	if md == nil || md.MediaName.Media != "text" {
		return p, fmt.Errorf("%w: not a text media section", ErrNoT140)
	}
	offered := map[string]bool{}
	for _, f := range md.MediaName.Formats {
		offered[f] = true
	}
	rtpmap := map[string]string{} // pt → lower-case encoding/clock
	fmtp := map[string]string{}
	for _, a := range md.Attributes {
		pt, rest, ok := strings.Cut(strings.TrimSpace(a.Value), " ")
		if !ok || !offered[pt] {
			continue
		}
		switch a.Key {
		case "rtpmap":
			rtpmap[pt] = strings.ToLower(strings.TrimSpace(rest))
		case "fmtp":
			fmtp[pt] = strings.TrimSpace(rest)
		}
	}
	t140 := ""
	for _, f := range md.MediaName.Formats {
		if rtpmap[f] == "t140/1000" {
			t140 = f
			break
		}
	}
	if t140 == "" {
		return p, ErrNoT140
	}
	n, err := strconv.ParseUint(t140, 10, 7)
	if err != nil {
		return p, fmt.Errorf("%w: t140 payload type %q", ErrNoT140, t140)
	}
	p.T140PT = uint8(n)
	for _, kv := range strings.Split(fmtp[t140], ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(kv), "cps="); ok {
			p.CPS, _ = strconv.Atoi(v) // a bad cps is ignored: the RFC default applies
		}
	}
	for _, f := range md.MediaName.Formats {
		if rtpmap[f] != "red/1000" {
			continue
		}
		gens := strings.Split(fmtp[f], "/")
		ok := len(gens) >= 1
		for _, g := range gens {
			ok = ok && strings.TrimSpace(g) == t140
		}
		n, err := strconv.ParseUint(f, 10, 7)
		if !ok || err != nil {
			continue
		}
		p.REDPT, p.Redundancy = uint8(n), len(gens)-1
		break
	}
	return p, nil
}

// DefaultCPS is the receiver's character rate assumed when the SDP gives
// no cps (RFC 4103 §6).
const DefaultCPS = 30

// EncoderConfig returns the Encoder settings to send what p accepts: red
// with p's redundancy when red was negotiated, plain t140 otherwise, and
// p's cps (DefaultCPS when absent).
func (p SDPParams) EncoderConfig(ssrc uint32) EncoderConfig {
	c := EncoderConfig{T140PT: p.T140PT, REDPT: p.REDPT, Redundancy: p.Redundancy, SSRC: ssrc, CPS: p.CPS}
	if c.CPS <= 0 {
		c.CPS = DefaultCPS
	}
	if p.REDPT == 0 || p.Redundancy <= 0 {
		c.REDPT, c.Redundancy = 0, -1
	}
	return c
}

// DecoderConfig returns the Decoder settings to receive what p describes.
func (p SDPParams) DecoderConfig() DecoderConfig {
	c := DecoderConfig{T140PT: p.T140PT, REDPT: p.REDPT}
	if c.REDPT == 0 { // keep the decoder's red PT distinct from t140
		c.REDPT = DefaultREDPT
		if c.REDPT == c.T140PT {
			c.REDPT = DefaultT140PT
		}
	}
	return c
}
