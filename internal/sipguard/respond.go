package sipguard

import (
	"bytes"
	"hash/maphash"
	"net/netip"
	"strconv"
)

// Answer is a stateless response: a status and extra header lines
// ("Name: value", without CRLF).
type Answer struct {
	Code    int
	Reason  string
	Headers []string
}

// AppendResponse appends the stateless response to request m to dst
// (RFC 3261 §8.2.6): Via (with received/rport for the source, §18.2.1 and
// RFC 3581), From, Call-ID and CSeq copied, To with our tag when it has
// none. toTag must be stable for one request (retransmissions get the same
// answer).
func AppendResponse(dst []byte, m *Msg, a Answer, src netip.AddrPort, toTag ToTag) []byte {
	dst = append(dst, "SIP/2.0 "...)
	dst = strconv.AppendInt(dst, int64(a.Code), 10)
	dst = append(dst, ' ')
	dst = append(dst, a.Reason...)
	dst = append(dst, "\r\n"...)
	for i, v := range m.Vias {
		dst = append(dst, "Via: "...)
		if i == 0 {
			dst = appendTopVia(dst, v, src)
		} else {
			dst = append(dst, v...)
		}
		dst = append(dst, "\r\n"...)
	}
	if len(m.From) > 0 {
		dst = append(dst, "From: "...)
		dst = append(dst, m.From...)
		dst = append(dst, "\r\n"...)
	}
	if len(m.To) > 0 {
		dst = append(dst, "To: "...)
		dst = append(dst, m.To...)
		if len(m.ToTag) == 0 && a.Code > 100 {
			dst = append(dst, ";tag="...)
			dst = toTag.Append(dst, m)
		}
		dst = append(dst, "\r\n"...)
	}
	if len(m.CallID) > 0 {
		dst = append(dst, "Call-ID: "...)
		dst = append(dst, m.CallID...)
		dst = append(dst, "\r\n"...)
	}
	if len(m.CSeq) > 0 {
		dst = append(dst, "CSeq: "...)
		dst = append(dst, m.CSeq...)
		dst = append(dst, "\r\n"...)
	}
	for _, h := range a.Headers {
		dst = append(dst, h...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "Content-Length: 0\r\n\r\n"...)
}

// appendTopVia adds received= (the packet's source address) and fills an
// empty rport with the source port.
func appendTopVia(dst, v []byte, src netip.AddrPort) []byte {
	first, rest := v, []byte(nil)
	if c := topValueEnd(v); c >= 0 {
		first, rest = v[:c], v[c:]
	}
	// drop received/rport the sender put there, then add ours
	out := dst
	host, _, rport, err := ViaSentBy(first)
	semi := bytes.IndexByte(first, ';')
	if semi < 0 {
		out = append(out, first...)
	} else {
		out = append(out, first[:semi]...)
		eachParam(first[semi:], func(name, p []byte) {
			if !eqFold(name, "received") && !eqFold(name, "rport") {
				out = append(out, ';')
				out = append(out, p...)
			}
		})
	}
	if src.IsValid() {
		ip := src.Addr().Unmap()
		if len(host) == 0 || err != nil || string(host) != ip.String() {
			out = append(out, ";received="...)
			out = ip.AppendTo(out)
		}
		if rport {
			out = append(out, ";rport="...)
			out = strconv.AppendInt(out, int64(src.Port()), 10)
		}
	}
	return append(out, rest...)
}

// ReplyAddr is where a UDP response to m goes (RFC 3261 §18.2.2, RFC 3581):
// the source address, at the source port when the top Via asks for rport,
// else at the Via's port (5060 by default).
func ReplyAddr(m *Msg, src netip.AddrPort) netip.AddrPort {
	if len(m.Vias) == 0 {
		return src
	}
	host, port, rport, _ := ViaSentBy(m.Vias[0])
	if len(host) == 0 || rport {
		return src
	}
	if port == 0 {
		port = 5060
	}
	return netip.AddrPortFrom(src.Addr(), uint16(port))
}

// ToTag derives a To tag from the request's identity (Call-ID, From tag,
// top Via) with a keyed hash, so every retransmission of one request is
// answered with the same tag, and the ACK of a stateless answer is
// recognised by its tag alone.
type ToTag struct{ seed maphash.Seed }

// NewToTag returns a tag maker with a fresh random key.
func NewToTag() ToTag { return ToTag{seed: maphash.MakeSeed()} }

// Append appends the tag for m to dst.
func (t ToTag) Append(dst []byte, m *Msg) []byte {
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.Write(m.CallID)
	h.WriteByte(0)
	h.Write(m.FromTag)
	h.WriteByte(0)
	if len(m.Vias) > 0 {
		h.Write(m.Vias[0])
	}
	dst = append(dst, "sg"...)
	return strconv.AppendUint(dst, h.Sum64(), 36)
}

// Is reports whether tag is the one Append makes for m.
func (t ToTag) Is(tag []byte, m *Msg) bool {
	if len(tag) < 3 || tag[0] != 's' || tag[1] != 'g' {
		return false
	}
	var buf [16]byte
	return bytes.Equal(tag, t.Append(buf[:0], m))
}
