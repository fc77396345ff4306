// Package siprec is SPLIT's SIPREC client (RFC 7866 Session Recording
// Protocol, RFC 7865 metadata; docs/copilot.md §7): the hub records a
// session to a Session Recording Server (SRS) with an INVITE whose
// multipart/mixed body holds an SDP offer — one sendonly audio stream per
// participant, each with a=label — and the recording metadata naming the
// session, the participants and their streams; participant changes are
// re-INVITEs with partial metadata, and the recording ends with the
// session.
package siprec

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strconv"
	"time"
)

// NS is RFC 7865's metadata namespace; SplitNS is SPLIT's extension.
const (
	NS      = "urn:ietf:params:xml:ns:recording:1"
	SplitNS = "urn:split:recording:1"
)

// NewID is a metadata identifier: 16 random bytes, base64 (RFC 7865 §6.10
// uses UUIDs in base64).
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.URLEncoding.EncodeToString(b)
}

// Participant is one party of the recorded session.
type Participant struct {
	ID      string // metadata participant_id
	AOR     string // sip:… or tel:… (nameID aor)
	Name    string
	Role    string // SPLIT's role (customer, agent, …), in the split extension
	Stream  string // stream_id of what it sends
	Joined  time.Time
	Left    time.Time // zero: still there
	Changed bool      // partial metadata carries it
}

// Stream is one recorded stream.
type Stream struct {
	ID    string // stream_id
	Label int    // SDP a=label
}

// Meta is the recording's metadata as of now.
type Meta struct {
	RecordingSession string // the metadata's session_id
	SplitSession     string // SPLIT's session id (extension element)
	Start            time.Time
	Participants     []Participant
	Streams          []Stream
	Partial          bool // datamode partial: only Changed participants
}

// XML encodes m as application/rs-metadata+xml.
func (m Meta) XML() []byte {
	var b bytes.Buffer
	esc := func(s string) string {
		var e bytes.Buffer
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	t := func(x time.Time) string { return x.UTC().Format(time.RFC3339Nano) }
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<recording xmlns="` + NS + `">` + "\n")
	mode := "complete"
	if m.Partial {
		mode = "partial"
	}
	b.WriteString("  <datamode>" + mode + "</datamode>\n")
	fmt.Fprintf(&b, "  <session session_id=\"%s\">\n    <start-time>%s</start-time>\n", esc(m.RecordingSession), t(m.Start))
	fmt.Fprintf(&b, "    <split:session xmlns:split=\"%s\">%s</split:session>\n  </session>\n", SplitNS, esc(m.SplitSession))
	for _, p := range m.Participants {
		if m.Partial && !p.Changed {
			continue
		}
		fmt.Fprintf(&b, "  <participant participant_id=\"%s\">\n    <nameID aor=\"%s\">\n      <name xml:lang=\"en\">%s</name>\n    </nameID>\n",
			esc(p.ID), esc(p.AOR), esc(p.Name))
		fmt.Fprintf(&b, "    <split:role xmlns:split=\"%s\">%s</split:role>\n  </participant>\n", SplitNS, esc(p.Role))
	}
	for _, s := range m.Streams {
		if m.Partial && !m.streamChanged(s.ID) {
			continue
		}
		fmt.Fprintf(&b, "  <stream stream_id=\"%s\" session_id=\"%s\">\n    <label>%d</label>\n  </stream>\n", esc(s.ID), esc(m.RecordingSession), s.Label)
	}
	if !m.Partial {
		fmt.Fprintf(&b, "  <sessionrecordingassoc session_id=\"%s\">\n    <associate-time>%s</associate-time>\n  </sessionrecordingassoc>\n",
			esc(m.RecordingSession), t(m.Start))
	}
	for _, p := range m.Participants {
		if m.Partial && !p.Changed {
			continue
		}
		fmt.Fprintf(&b, "  <participantsessionassoc participant_id=\"%s\" session_id=\"%s\">\n    <associate-time>%s</associate-time>\n",
			esc(p.ID), esc(m.RecordingSession), t(p.Joined))
		if !p.Left.IsZero() {
			fmt.Fprintf(&b, "    <disassociate-time>%s</disassociate-time>\n", t(p.Left))
		}
		b.WriteString("  </participantsessionassoc>\n")
		fmt.Fprintf(&b, "  <participantstreamassoc participant_id=\"%s\">\n", esc(p.ID))
		if p.Stream != "" && p.Left.IsZero() {
			fmt.Fprintf(&b, "    <send>%s</send>\n", esc(p.Stream))
		}
		for _, o := range m.Participants { // it receives what the others send
			if o.ID != p.ID && o.Stream != "" && o.Left.IsZero() && p.Left.IsZero() {
				fmt.Fprintf(&b, "    <recv>%s</recv>\n", esc(o.Stream))
			}
		}
		b.WriteString("  </participantstreamassoc>\n")
	}
	b.WriteString("</recording>\n")
	return b.Bytes()
}

func (m Meta) streamChanged(id string) bool {
	for _, p := range m.Participants {
		if p.Stream == id && p.Changed {
			return true
		}
	}
	return false
}

// SDP is the recording's offer: one sendonly PCMU stream per label, at
// ports[i] on addr.
func SDP(sessID, version uint64, addr string, streams []Stream, ports []int) []byte {
	var b bytes.Buffer
	ipv := "IP4"
	if bytes.ContainsRune([]byte(addr), ':') {
		ipv = "IP6"
	}
	fmt.Fprintf(&b, "v=0\r\no=split %d %d IN %s %s\r\ns=SIPREC\r\nc=IN %s %s\r\nt=0 0\r\n", sessID, version, ipv, addr, ipv, addr)
	for i, s := range streams {
		fmt.Fprintf(&b, "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=label:%s\r\na=sendonly\r\n", ports[i], strconv.Itoa(s.Label))
	}
	return b.Bytes()
}

// Multipart is the INVITE's body: the SDP and the metadata, as RFC 7866 §9.1.
func Multipart(sdp, metadata []byte) (contentType string, body []byte) {
	boundary := "split-siprec-" + NewID()[:12]
	var b bytes.Buffer
	fmt.Fprintf(&b, "--%s\r\nContent-Type: application/sdp\r\n\r\n", boundary)
	b.Write(sdp)
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n", boundary)
	b.Write(metadata)
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return "multipart/mixed;boundary=" + boundary, b.Bytes()
}
