// Package sdp is the SIP side's offer/answer (RFC 3264, RFC 4566): it parses
// what PBXs, phones and carriers send (tolerating the usual deviations: LF
// line ends, attributes out of order, per-media c= lines, static payload
// types without rtpmap), negotiates one audio codec plus telephone-event
// (RFC 4733) and optional video, and writes plain RTP/AVP or RTP/SAVP (SDES,
// RFC 4568) descriptions. It knows nothing of WebRTC, which pion handles.
package sdp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"
)

// Errors.
var (
	ErrNoMedia      = errors.New("sdp: no usable media")
	ErrNoCommon     = errors.New("sdp: no common codec")
	ErrNoConnection = errors.New("sdp: no connection address")
)

// Direction is an SDP media direction attribute.
type Direction string

// Directions.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// Reverse is the direction an answerer uses for an offered direction.
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// Sends reports whether the side holding d sends media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether the side holding d receives media.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

// Codec is one payload format of an m-line.
type Codec struct {
	PT       uint8
	Name     string // as written in rtpmap, e.g. "PCMU", "opus", "telephone-event", "H264"
	Clock    uint32
	Channels int
	Fmtp     string
}

// Is reports whether c is the codec called name (case-insensitive).
func (c Codec) Is(name string) bool { return strings.EqualFold(c.Name, name) }

// Crypto is one SDES a=crypto line (RFC 4568).
type Crypto struct {
	Tag   int
	Suite string
	Key   string // inline: base64 key||salt
}

// Media is one m-line.
type Media struct {
	Kind      string // audio, video, text, application
	Port      int
	Proto     string
	Addr      netip.Addr // c= of the media or, failing that, of the session
	RTCPPort  int        // a=rtcp, else Port+1
	RTCPMux   bool
	Codecs    []Codec // in the order of the m-line, telephone-event included
	Direction Direction
	Crypto    []Crypto
	Ptime     int
	Mid       string // a=mid (RFC 5888), "" if none
	// BundleOnly: a=bundle-only (RFC 9143 §6): port 0 here means "bundled
	// with the group's tagged m-line", not "rejected".
	BundleOnly bool
	// Bundled: the m-line's mid is in an a=group:BUNDLE of the session.
	Bundled bool
}

// Session is a parsed description.
type Session struct {
	Origin string
	Media  []Media
}

// Active reports whether m is a stream in use: a non-zero port, or port 0
// with a=bundle-only inside a BUNDLE group (RFC 9143 §7.2: an offerer's
// max-bundle m-line, as Firefox writes for every m-line but the first). A
// port-0 m-line without bundle-only is disabled or rejected (RFC 3264 §6).
func (m *Media) Active() bool {
	return m.Port != 0 || (m.BundleOnly && m.Bundled)
}

// First returns the first active m-line of kind (see Active), if any.
func (s *Session) First(kind string) *Media {
	for i := range s.Media {
		if s.Media[i].Kind == kind && s.Media[i].Active() {
			return &s.Media[i]
		}
	}
	return nil
}

// Secure reports whether m uses SRTP.
func (m *Media) Secure() bool { return strings.Contains(m.Proto, "SAVP") }

// Codec returns the codec with payload type pt.
func (m *Media) Codec(pt uint8) (Codec, bool) {
	for _, c := range m.Codecs {
		if c.PT == pt {
			return c, true
		}
	}
	return Codec{}, false
}

// Find returns the first codec called name (and, if clock is non-zero, at that rate).
func (m *Media) Find(name string, clock uint32) (Codec, bool) {
	for _, c := range m.Codecs {
		if c.Is(name) && (clock == 0 || c.Clock == clock) {
			return c, true
		}
	}
	return Codec{}, false
}

// Hold reports whether the media is put on hold: sendonly/inactive or the
// RFC 2543 form c=0.0.0.0.
func (m *Media) Hold() bool {
	return m.Direction == SendOnly || m.Direction == Inactive || (m.Addr.IsValid() && m.Addr.IsUnspecified())
}

var staticPT = map[uint8]Codec{
	0:  {PT: 0, Name: "PCMU", Clock: 8000, Channels: 1},
	8:  {PT: 8, Name: "PCMA", Clock: 8000, Channels: 1},
	9:  {PT: 9, Name: "G722", Clock: 8000, Channels: 1},
	18: {PT: 18, Name: "G729", Clock: 8000, Channels: 1},
	3:  {PT: 3, Name: "GSM", Clock: 8000, Channels: 1},
	13: {PT: 13, Name: "CN", Clock: 8000, Channels: 1},
	34: {PT: 34, Name: "H263", Clock: 90000},
}

// Parse reads an SDP body.
func Parse(body []byte) (*Session, error) {
	var d psdp.SessionDescription
	// pion is strict about CRLF only in places; normalise line ends and drop
	// blank lines that some stacks append.
	norm := normalise(body)
	if err := d.UnmarshalString(norm); err != nil {
		return nil, fmt.Errorf("sdp: %w", err)
	}
	s := &Session{Origin: d.Origin.Username}
	var sessAddr netip.Addr
	if d.ConnectionInformation != nil && d.ConnectionInformation.Address != nil {
		sessAddr = parseAddr(d.ConnectionInformation.Address.Address)
	}
	sessDir := SendRecv
	bundle := map[string]bool{}
	for _, a := range d.Attributes {
		if dir, ok := directionOf(a.Key); ok {
			sessDir = dir
		}
		if a.Key == "group" {
			if f := strings.Fields(a.Value); len(f) > 1 && strings.EqualFold(f[0], "BUNDLE") {
				for _, mid := range f[1:] {
					bundle[mid] = true
				}
			}
		}
	}
	for _, md := range d.MediaDescriptions {
		m := Media{
			Kind:      md.MediaName.Media,
			Port:      md.MediaName.Port.Value,
			Proto:     strings.Join(md.MediaName.Protos, "/"),
			Addr:      sessAddr,
			Direction: sessDir,
		}
		if md.ConnectionInformation != nil && md.ConnectionInformation.Address != nil {
			m.Addr = parseAddr(md.ConnectionInformation.Address.Address)
		}
		byPT := map[uint8]*Codec{}
		var order []uint8
		for _, f := range md.MediaName.Formats {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n > 127 {
				continue // not RTP (e.g. m=application ... webrtc-datachannel)
			}
			pt := uint8(n)
			c := Codec{PT: pt}
			if sc, ok := staticPT[pt]; ok {
				c = sc
			}
			byPT[pt] = &c
			order = append(order, pt)
		}
		for _, a := range md.Attributes {
			switch a.Key {
			case "rtpmap":
				pt, rest, ok := ptValue(a.Value)
				if c, found := byPT[pt]; ok && found {
					parts := strings.Split(rest, "/")
					c.Name = parts[0]
					if len(parts) > 1 {
						if v, err := strconv.ParseUint(parts[1], 10, 32); err == nil {
							c.Clock = uint32(v)
						}
					}
					c.Channels = 1
					if len(parts) > 2 {
						if v, err := strconv.Atoi(parts[2]); err == nil {
							c.Channels = v
						}
					}
				}
			case "fmtp":
				if pt, rest, ok := ptValue(a.Value); ok {
					if c, found := byPT[pt]; found {
						c.Fmtp = rest
					}
				}
			case "crypto":
				if cr, ok := parseCrypto(a.Value); ok {
					m.Crypto = append(m.Crypto, cr)
				}
			case "rtcp":
				if v, err := strconv.Atoi(strings.Fields(a.Value + " ")[0]); err == nil {
					m.RTCPPort = v
				}
			case "rtcp-mux":
				m.RTCPMux = true
			case "mid":
				m.Mid = strings.TrimSpace(a.Value)
			case "bundle-only":
				m.BundleOnly = true
			case "ptime":
				if v, err := strconv.Atoi(strings.TrimSpace(a.Value)); err == nil {
					m.Ptime = v
				}
			default:
				if dir, ok := directionOf(a.Key); ok {
					m.Direction = dir
				}
			}
		}
		for _, pt := range order {
			if c := byPT[pt]; c.Name != "" {
				m.Codecs = append(m.Codecs, *c)
			}
		}
		if m.RTCPPort == 0 && m.Port != 0 {
			m.RTCPPort = m.Port + 1
		}
		m.Bundled = m.Mid != "" && bundle[m.Mid]
		s.Media = append(s.Media, m)
	}
	if len(s.Media) == 0 {
		return nil, ErrNoMedia
	}
	return s, nil
}

func normalise(body []byte) string {
	lines := strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n")
	var b strings.Builder
	b.Grow(len(body) + len(lines))
	for _, l := range lines {
		l = strings.TrimRight(l, "\r ")
		if l == "" {
			continue
		}
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	return b.String()
}

func parseAddr(s string) netip.Addr {
	if i := strings.IndexByte(s, '/'); i >= 0 { // multicast TTL
		s = s[:i]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a
}

func directionOf(key string) (Direction, bool) {
	switch Direction(key) {
	case SendRecv, SendOnly, RecvOnly, Inactive:
		return Direction(key), true
	}
	return "", false
}

func ptValue(v string) (uint8, string, bool) {
	f, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	n, err := strconv.Atoi(f)
	if err != nil || n < 0 || n > 127 {
		return 0, "", false
	}
	return uint8(n), strings.TrimSpace(rest), true
}

func parseCrypto(v string) (Crypto, bool) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return Crypto{}, false
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil {
		return Crypto{}, false
	}
	key, ok := strings.CutPrefix(f[2], "inline:")
	if !ok {
		return Crypto{}, false
	}
	if i := strings.IndexByte(key, '|'); i >= 0 { // lifetime / MKI
		key = key[:i]
	}
	return Crypto{Tag: tag, Suite: f[1], Key: key}, true
}
