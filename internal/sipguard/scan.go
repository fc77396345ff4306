// Package sipguard is the gate in front of the SIP stack: every datagram and
// every message on a TCP/TLS connection passes through it before sipgo
// parses it or builds a transaction. It
//
//   - validates the message cheaply (start line, version, the headers a
//     transaction needs, CSeq against the method, Content-Length) and answers
//     what is malformed with 400/505 itself, statelessly;
//   - rate-limits per source address in the spirit of Kamailio's pike, and
//     answers what policy refuses (403, 481, 503) without a transaction, so
//     a flood costs a map lookup and, at most, one small reply;
//   - answers out-of-dialog OPTIONS statelessly, so keep-alive probes are
//     answered even while the hub is busy;
//   - bounds TCP/TLS connections: per-source and total caps, a deadline for
//     each message to arrive whole, an idle timeout, RFC 5626 CRLF pongs.
//
// What passes reaches sipgo byte for byte. The policy (who is trusted, which
// Call-IDs are ours, whether new calls are admitted) belongs to the caller.
package sipguard

import (
	"bytes"
	"strconv"
)

// Reject is a message the guard refuses with a status code: the request is
// answered with it (when it names where to answer); a response is dropped.
type Reject struct {
	Code   int
	Reason string
	Why    string // for logs and the Warning header
}

func (r *Reject) Error() string { return strconv.Itoa(r.Code) + " " + r.Reason + ": " + r.Why }

func bad(why string) *Reject { return &Reject{Code: 400, Reason: "Bad Request", Why: why} }

// MaxMessage is the largest message accepted (headers and body).
const MaxMessage = 65535

// maxVias bounds the Via header fields kept for a stateless answer.
const maxVias = 70

// Msg is what the guard reads from a message. Its byte slices point into
// the scanned buffer and are valid only as long as it is.
type Msg struct {
	Request bool
	Method  []byte // requests: the method token
	URI     []byte // requests: the Request-URI
	Status  int    // responses

	CallID     []byte
	From       []byte // header values, unfolded
	To         []byte
	FromTag    []byte
	ToTag      []byte
	CSeq       []byte
	CSeqNum    uint32
	CSeqMethod []byte
	Vias       [][]byte // every Via header field value, in order
	Require    []byte   // the Require header field value(s), comma-joined by the sender
	ContentLen int      // -1 when absent
	HeaderLen  int      // bytes up to and including the empty line
	Len        int      // the whole message: HeaderLen + body as Content-Length says

	fold []byte // storage for unfolded header values
}

// MethodIs reports whether a request's method is m (methods are case-sensitive, RFC 3261 §7.1).
func (m *Msg) MethodIs(s string) bool { return m.Request && string(m.Method) == s }

// InDialog reports whether a request carries a To tag.
func (m *Msg) InDialog() bool { return len(m.ToTag) > 0 }

func (m *Msg) reset() {
	vias, fold := m.Vias[:0], m.fold[:0]
	*m = Msg{Vias: vias, fold: fold, ContentLen: -1}
}

// Scan reads b as one SIP message. stream: b comes from a TCP/TLS stream,
// where Content-Length is required and frames the message (b may hold more
// after it); on UDP, a datagram is one message and bytes after the body are
// ignored (RFC 3261 §18.3). An error is a *Reject, or errIncomplete when a
// stream has not delivered the whole message yet, or errNotSIP for bytes
// that are not SIP at all (dropped without an answer).
func Scan(b []byte, stream bool, m *Msg) error {
	m.reset()
	if len(b) > MaxMessage && !stream {
		return &Reject{Code: 513, Reason: "Message Too Large", Why: "over 65535 bytes"}
	}
	pos := 0
	line, next, lf, ok := nextLine(b, 0)
	if !ok {
		if stream && len(b) < MaxMessage {
			return errIncomplete
		}
		return errNotSIP
	}
	bareLF := lf
	var perr error // the first error; the headers are still read to answer it
	if err := m.startLine(line); err != nil {
		if _, ok := err.(*Reject); !ok || !m.Request {
			return err
		}
		perr = err
	}
	pos = next
	var seen seenHeaders
	for {
		line, next, lf, ok = nextLine(b, pos)
		if !ok {
			if stream && len(b) < MaxMessage {
				return errIncomplete
			}
			if perr == nil {
				perr = bad("no empty line after the headers")
			}
			m.HeaderLen = len(b)
			break
		}
		bareLF = bareLF || lf
		pos = next
		if len(line) == 0 {
			m.HeaderLen = pos
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if perr == nil {
				perr = bad("continuation line without a header")
			}
			continue
		}
		// folded continuation lines (RFC 3261 §7.3.1)
		for pos < len(b) && (b[pos] == ' ' || b[pos] == '\t') {
			cont, n2, lf2, ok2 := nextLine(b, pos)
			if !ok2 {
				break
			}
			bareLF = bareLF || lf2
			start := len(m.fold)
			m.fold = append(m.fold, line...)
			m.fold = append(m.fold, ' ')
			m.fold = append(m.fold, bytes.TrimLeft(cont, " \t")...)
			line = m.fold[start:]
			pos = n2
		}
		if err := m.header(line, &seen); err != nil && perr == nil {
			perr = err
		}
	}
	if stream && m.ContentLen < 0 && perr == nil {
		perr = bad("Content-Length is required on a stream transport")
	}
	body := len(b) - m.HeaderLen
	cl := m.ContentLen
	if cl < 0 {
		cl = body
	}
	if cl > MaxMessage {
		if perr == nil {
			perr = &Reject{Code: 513, Reason: "Message Too Large", Why: "Content-Length over 65535"}
		}
		cl = 0
	}
	m.Len = m.HeaderLen + cl
	if perr == nil && body < cl {
		if stream {
			return errIncomplete
		}
		perr = bad("Content-Length larger than the message")
	}
	if perr != nil {
		return perr
	}
	if bareLF {
		return bad("lines must end with CRLF")
	}
	return m.check(&seen)
}

type seenHeaders struct {
	callID, from, to, cseq, cl, maxfwd int
}

// startLine reads "METHOD URI SIP/2.0" or "SIP/2.0 CODE Reason".
func (m *Msg) startLine(l []byte) error {
	if bytes.HasPrefix(l, []byte("SIP/")) {
		sp := bytes.IndexByte(l, ' ')
		if sp < 0 {
			return errNotSIP
		}
		if !bytes.Equal(l[:sp], []byte("SIP/2.0")) {
			return errNotSIP // a response we cannot read: nothing to answer
		}
		rest := l[sp+1:]
		if len(rest) < 3 || (len(rest) > 3 && rest[3] != ' ') {
			return errNotSIP
		}
		code := 0
		for _, c := range rest[:3] {
			if c < '0' || c > '9' {
				return errNotSIP
			}
			code = code*10 + int(c-'0')
		}
		if code < 100 || code > 699 {
			return errNotSIP
		}
		m.Status = code
		return nil
	}
	m.Request = true
	sp1 := bytes.IndexByte(l, ' ')
	if sp1 <= 0 {
		return errNotSIP
	}
	m.Method = l[:sp1]
	for _, c := range m.Method {
		if !isToken(c) {
			return errNotSIP
		}
	}
	rest := l[sp1+1:]
	sp2 := bytes.LastIndexByte(rest, ' ')
	if sp2 < 0 {
		return errNotSIP
	}
	version := rest[sp2+1:]
	m.URI = rest[:sp2]
	if !bytes.HasPrefix(bytes.ToUpper(version), []byte("SIP/")) {
		if len(version) == 0 {
			return bad("space at the end of the request line")
		}
		return errNotSIP
	}
	if !bytes.Equal(version, []byte("SIP/2.0")) {
		return &Reject{Code: 505, Reason: "Version Not Supported", Why: "only SIP/2.0"}
	}
	if len(m.URI) == 0 || bytes.ContainsAny(m.URI, " \t<>\"") {
		return bad("malformed Request-URI")
	}
	return nil
}

// guardedHeaders are the full names the guard reads (lower case).
var guardedHeaders = [...]string{"via", "from", "to", "call-id", "cseq", "content-length", "max-forwards", "require"}

// canonical names of the headers the guard reads, with compact forms.
func headerName(n []byte) string {
	if len(n) == 1 {
		switch n[0] | 0x20 {
		case 'i':
			return "call-id"
		case 'f':
			return "from"
		case 't':
			return "to"
		case 'v':
			return "via"
		case 'l':
			return "content-length"
		}
		return ""
	}
	for _, name := range guardedHeaders {
		if eqFold(n, name) {
			return name
		}
	}
	return ""
}

func (m *Msg) header(l []byte, seen *seenHeaders) error {
	colon := bytes.IndexByte(l, ':')
	if colon <= 0 {
		return bad("header line without a colon")
	}
	name := bytes.TrimRight(l[:colon], " \t")
	for _, c := range name {
		if !isToken(c) {
			return bad("malformed header name")
		}
	}
	v := bytes.TrimSpace(l[colon+1:])
	switch headerName(name) {
	case "via":
		if len(v) == 0 {
			return bad("empty Via")
		}
		if len(m.Vias) >= maxVias {
			return bad("too many Via header fields")
		}
		m.Vias = append(m.Vias, v)
	case "call-id":
		seen.callID++
		if seen.callID > 1 && !bytes.Equal(v, m.CallID) {
			return bad("more than one Call-ID")
		}
		if len(v) == 0 || bytes.ContainsAny(v, " \t,") {
			return bad("malformed Call-ID")
		}
		m.CallID = v
	case "from":
		return addrHeader("From", v, &seen.from, &m.From, &m.FromTag)
	case "to":
		return addrHeader("To", v, &seen.to, &m.To, &m.ToTag)
	case "cseq":
		seen.cseq++
		if seen.cseq > 1 {
			return bad("more than one CSeq")
		}
		m.CSeq = v
		sp := bytes.IndexAny(v, " \t")
		if sp <= 0 {
			return bad("malformed CSeq")
		}
		n, ok := parseUint(v[:sp], 1<<31-1)
		if !ok {
			return bad("CSeq number is not a number below 2^31")
		}
		m.CSeqNum = uint32(n)
		m.CSeqMethod = bytes.TrimLeft(v[sp:], " \t")
		if len(m.CSeqMethod) == 0 {
			return bad("CSeq without a method")
		}
		for _, c := range m.CSeqMethod {
			if !isToken(c) {
				return bad("malformed CSeq method")
			}
		}
	case "content-length":
		seen.cl++
		n, ok := parseUint(v, 1<<31-1)
		if !ok {
			return bad("Content-Length is not a non-negative number")
		}
		if seen.cl > 1 && int(n) != m.ContentLen {
			return bad("conflicting Content-Length values")
		}
		m.ContentLen = int(n)
	case "max-forwards":
		seen.maxfwd++
		if _, ok := parseUint(v, 255); !ok || seen.maxfwd > 1 {
			return bad("malformed Max-Forwards")
		}
	case "require":
		if len(m.Require) == 0 {
			m.Require = v
		} else {
			start := len(m.fold)
			m.fold = append(m.fold, m.Require...)
			m.fold = append(m.fold, ',')
			m.fold = append(m.fold, v...)
			m.Require = m.fold[start:]
		}
	}
	return nil
}

// addrHeader reads a From or To value once: it must be there, single, and
// carry a readable tag parameter, if any.
func addrHeader(name string, v []byte, seen *int, value, tag *[]byte) error {
	if *seen++; *seen > 1 {
		return bad("more than one " + name)
	}
	if len(v) == 0 {
		return bad("empty " + name)
	}
	t, err := addrTag(v)
	if err != nil {
		return bad("malformed " + name + ": " + err.Error())
	}
	*value, *tag = v, t
	return nil
}

// eachParam calls f with the name and the whole text of each ";name[=value]"
// parameter in params (which starts at a ';').
func eachParam(params []byte, f func(name, p []byte)) {
	for len(params) > 0 {
		params = params[1:]
		p := params
		if end := bytes.IndexByte(params, ';'); end >= 0 {
			p, params = params[:end], params[end:]
		} else {
			params = nil
		}
		name := bytes.TrimSpace(p)
		if eq := bytes.IndexByte(name, '='); eq >= 0 {
			name = bytes.TrimSpace(name[:eq])
		}
		f(name, p)
	}
}

// check applies what needs every header seen.
func (m *Msg) check(seen *seenHeaders) error {
	switch {
	case len(m.Vias) == 0:
		return bad("no Via")
	case seen.callID == 0:
		return bad("no Call-ID")
	case seen.from == 0:
		return bad("no From")
	case seen.to == 0:
		return bad("no To")
	case seen.cseq == 0:
		return bad("no CSeq")
	}
	if err := checkVia(m.Vias[0]); err != nil {
		return err
	}
	if m.Request {
		if !bytes.Equal(m.CSeqMethod, m.Method) {
			return bad("CSeq method does not match the request method")
		}
		if err := checkRequestURI(m.URI); err != nil {
			return err
		}
	}
	return nil
}

// checkVia reads "SIP/2.0/TRANSPORT host[:port][;params]".
func checkVia(v []byte) error {
	if _, _, _, err := ViaSentBy(v); err != nil {
		return err
	}
	if !viaVersionOK(v) {
		return &Reject{Code: 505, Reason: "Version Not Supported", Why: "only SIP/2.0"}
	}
	return nil
}

// ViaSentBy returns the sent-by host and port (0: absent) of the first value
// of a Via header field, and whether it asks for rport (RFC 3581). Linear
// whitespace around the slashes of sent-protocol is allowed (RFC 3261
// §25.1), as is any version: a 505 must still find its way back.
func ViaSentBy(v []byte) (host []byte, port int, rport bool, err error) {
	if c := topValueEnd(v); c >= 0 {
		v = v[:c]
	}
	// sent-protocol: name LWS? "/" LWS? version LWS? "/" LWS? transport
	rest := v
	for i := 0; i < 2; i++ {
		slash := bytes.IndexByte(rest, '/')
		if slash <= 0 || len(bytes.TrimSpace(rest[:slash])) == 0 {
			return nil, 0, false, bad("malformed Via protocol")
		}
		rest = bytes.TrimLeft(rest[slash+1:], " \t")
	}
	if !eqFold(bytes.TrimSpace(v[:bytes.IndexByte(v, '/')]), "SIP") {
		return nil, 0, false, bad("malformed Via protocol")
	}
	tr := bytes.IndexAny(rest, " \t")
	if tr <= 0 {
		return nil, 0, false, bad("malformed Via protocol")
	}
	rest = bytes.TrimLeft(rest[tr:], " \t")
	params := []byte(nil)
	if semi := bytes.IndexByte(rest, ';'); semi >= 0 {
		params = rest[semi:]
		rest = rest[:semi]
	}
	rest = bytes.TrimSpace(rest)
	if len(rest) == 0 {
		return nil, 0, false, bad("Via without a host")
	}
	host = rest
	if rest[0] == '[' {
		end := bytes.IndexByte(rest, ']')
		if end < 0 {
			return nil, 0, false, bad("malformed Via host")
		}
		host = rest[1:end]
		rest = rest[end+1:]
	} else if c := bytes.LastIndexByte(rest, ':'); c >= 0 {
		host, rest = rest[:c], rest[c:]
	} else {
		rest = nil
	}
	if len(rest) > 0 {
		n, ok := parseUint(bytes.TrimSpace(rest[1:]), 65535)
		if rest[0] != ':' || !ok {
			return nil, 0, false, bad("malformed Via port")
		}
		port = int(n)
	}
	host = bytes.TrimSpace(host)
	if len(host) == 0 {
		return nil, 0, false, bad("Via without a host")
	}
	for _, c := range host {
		if !(c == '.' || c == '-' || c == ':' || c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'z') {
			return nil, 0, false, bad("malformed Via host")
		}
	}
	eachParam(params, func(name, _ []byte) {
		if len(name) == 0 {
			err = bad("empty Via parameter") // still answerable: host and port are known
		}
		if eqFold(name, "rport") {
			rport = true
		}
	})
	return host, port, rport, err
}

// viaVersionOK: the top Via's sent-protocol is SIP/2.0.
func viaVersionOK(v []byte) bool {
	parts := bytes.SplitN(v, []byte("/"), 3)
	return len(parts) == 3 && bytes.Equal(bytes.TrimSpace(parts[1]), []byte("2.0"))
}

// checkRequestURI refuses schemes the hub does not serve (RFC 3261 §8.2.2.1: 416).
func checkRequestURI(u []byte) error {
	colon := bytes.IndexByte(u, ':')
	if colon <= 0 {
		return bad("Request-URI without a scheme")
	}
	s := u[:colon]
	if eqFold(s, "sip") || eqFold(s, "sips") || eqFold(s, "tel") {
		return nil
	}
	return &Reject{Code: 416, Reason: "Unsupported URI Scheme", Why: "scheme " + string(s)}
}

// addrTag reads the tag parameter of a From/To value: name-addr
// ("Name" <uri>;tag=x) or addr-spec (uri;tag=x, where the URI cannot have
// parameters of its own, RFC 3261 §20.10).
func addrTag(v []byte) ([]byte, error) {
	params := v
	if lt := indexUnquoted(v, '<'); lt >= 0 {
		gt := bytes.IndexByte(v[lt:], '>')
		if gt < 0 {
			return nil, errUnclosed
		}
		if err := checkDisplayName(bytes.TrimSpace(v[:lt])); err != nil {
			return nil, err
		}
		if bytes.ContainsAny(v[lt+1:lt+gt], " \t") {
			return nil, errSpace
		}
		params = v[lt+gt+1:]
	} else {
		if bytes.IndexByte(v, '"') >= 0 {
			return nil, errQuote
		}
		if bytes.ContainsAny(bytes.TrimSpace(v), " \t") && !bytes.Contains(v, []byte(";")) {
			return nil, errSpace
		}
		semi := bytes.IndexByte(v, ';')
		if semi < 0 {
			return nil, nil
		}
		params = v[semi:]
	}
	for len(params) > 0 {
		semi := bytes.IndexByte(params, ';')
		if semi < 0 {
			break
		}
		params = params[semi+1:]
		p := params
		if end := bytes.IndexByte(p, ';'); end >= 0 {
			p = p[:end]
		}
		name, val, ok := bytes.Cut(p, []byte("="))
		if ok && eqFold(bytes.TrimSpace(name), "tag") {
			val = bytes.TrimSpace(val)
			if len(val) == 0 {
				return nil, errTag
			}
			return val, nil
		}
	}
	return nil, nil
}

// checkDisplayName: nothing, a quoted string, or tokens separated by LWS
// (RFC 3261 §25.1 display-name).
func checkDisplayName(d []byte) error {
	if len(d) == 0 {
		return nil
	}
	if d[0] == '"' {
		for i := 1; i < len(d); i++ {
			switch d[i] {
			case '\\':
				i++
			case '"':
				if i != len(d)-1 {
					return errQuote
				}
				return nil
			}
		}
		return errQuote
	}
	for _, c := range d {
		if !isToken(c) && c != ' ' && c != '\t' {
			return errDisplay
		}
	}
	return nil
}

type scanErr string

func (e scanErr) Error() string { return string(e) }

const (
	errIncomplete = scanErr("sipguard: incomplete message")
	errNotSIP     = scanErr("sipguard: not a SIP message")
	errUnclosed   = scanErr("unclosed <")
	errQuote      = scanErr("unbalanced quotes")
	errSpace      = scanErr("spaces in the address")
	errTag        = scanErr("empty tag")
	errDisplay    = scanErr("display name must be quoted")
)

// IsNotSIP reports whether err means the bytes were not SIP at all.
func IsNotSIP(err error) bool { return err == errNotSIP }

// nextLine returns the line starting at pos (without its CRLF or LF), the
// position after it, whether it ended with a bare LF, and whether a line
// end was found at all.
func nextLine(b []byte, pos int) (line []byte, next int, bareLF, ok bool) {
	i := bytes.IndexByte(b[pos:], '\n')
	if i < 0 {
		return nil, pos, false, false
	}
	end := pos + i
	if end > pos && b[end-1] == '\r' {
		return b[pos : end-1], end + 1, false, true
	}
	return b[pos:end], end + 1, true, true
}

// topValueEnd is the index of the first comma outside quotes and <>, or -1.
func topValueEnd(v []byte) int {
	inQ, inA := false, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && inQ:
			i++
		case c == '"':
			inQ = !inQ
		case c == '<' && !inQ:
			inA = true
		case c == '>' && !inQ:
			inA = false
		case c == ',' && !inQ && !inA:
			return i
		}
	}
	return -1
}

func indexUnquoted(v []byte, ch byte) int {
	inQ := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && inQ:
			i++
		case c == '"':
			inQ = !inQ
		case c == ch && !inQ:
			return i
		}
	}
	return -1
}

func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n <= max
}

// isToken: RFC 3261 §25.1 token characters.
func isToken(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	switch c {
	case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
		return true
	}
	return false
}

func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i]|0x20 != s[i]|0x20 {
			return false
		}
	}
	return true
}
