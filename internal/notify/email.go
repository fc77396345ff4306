package notify

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// buildEmail writes the RFC 5322 message for m (already validated):
//
//	multipart/mixed
//	├── multipart/alternative
//	│   ├── text/plain; charset=UTF-8            (quoted-printable, with the link)
//	│   ├── text/html; charset=UTF-8             (quoted-printable, the link as a button)
//	│   └── text/calendar; method=…; charset=UTF-8   (iMIP, RFC 6047; only with a calendar)
//	└── application/ics; name="invite.ics"       (attachment; only with a calendar)
//
// ics is the calendar object or nil.
func buildEmail(from, to *mail.Address, m Message, ics []byte, method string, now time.Time, msgID string) ([]byte, error) {
	var out bytes.Buffer
	hdr := func(k, v string) { out.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from.String())
	hdr("To", to.String())
	hdr("Subject", encodeSubject(m.Subject))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", msgID)
	hdr("MIME-Version", "1.0")
	hdr("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies to this

	mixed := multipart.NewWriter(&out)
	if err := mixed.SetBoundary(newBoundary()); err != nil {
		return nil, err
	}
	hdr("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mixed.Boundary()}))
	out.WriteString("\r\n")

	altBuf := &bytes.Buffer{}
	alt := multipart.NewWriter(altBuf)
	if err := alt.SetBoundary(newBoundary()); err != nil {
		return nil, err
	}
	part := func(w *multipart.Writer, h textproto.MIMEHeader, write func(io.Writer) error) error {
		p, err := w.CreatePart(h)
		if err != nil {
			return err
		}
		return write(p)
	}
	qp := func(s string) func(io.Writer) error {
		return func(w io.Writer) error {
			q := quotedprintable.NewWriter(w)
			if _, err := io.WriteString(q, s); err != nil {
				return err
			}
			return q.Close()
		}
	}
	b64 := func(data []byte) func(io.Writer) error {
		return func(w io.Writer) error { return writeBase64(w, data) }
	}
	textHdr := func(ct string) textproto.MIMEHeader {
		return textproto.MIMEHeader{
			"Content-Type":              {ct},
			"Content-Transfer-Encoding": {"quoted-printable"},
		}
	}
	if err := part(alt, textHdr("text/plain; charset=UTF-8"), qp(m.linkText(true)+"\n")); err != nil {
		return nil, err
	}
	if err := part(alt, textHdr("text/html; charset=UTF-8"), qp(emailHTML(m))); err != nil {
		return nil, err
	}
	if ics != nil {
		h := textproto.MIMEHeader{
			"Content-Type":              {"text/calendar; method=" + method + "; charset=UTF-8"},
			"Content-Transfer-Encoding": {"base64"},
		}
		if err := part(alt, h, b64(ics)); err != nil {
			return nil, err
		}
	}
	if err := alt.Close(); err != nil {
		return nil, err
	}
	h := textproto.MIMEHeader{"Content-Type": {mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": alt.Boundary()})}}
	if err := part(mixed, h, func(w io.Writer) error { _, err := w.Write(altBuf.Bytes()); return err }); err != nil {
		return nil, err
	}
	if ics != nil {
		h := textproto.MIMEHeader{
			"Content-Type":              {mime.FormatMediaType("application/ics", map[string]string{"name": "invite.ics"})},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": "invite.ics"})},
			"Content-Transfer-Encoding": {"base64"},
		}
		if err := part(mixed, h, b64(ics)); err != nil {
			return nil, err
		}
	}
	if err := mixed.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// encodeSubject leaves a printable-ASCII subject as it is and otherwise
// writes RFC 2047 Q encoded-words of at most 66 characters, one per folded
// line, so no header line passes 78 characters (RFC 5322 §2.1.1). Each word
// carries its own spaces (as "_"); the folding whitespace between adjacent
// encoded-words is not part of the text (RFC 2047 §6.2).
func encodeSubject(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			ascii = false
			break
		}
	}
	if ascii && !strings.Contains(s, "=?") {
		return s
	}
	const prefix, suffix, maxWord = "=?UTF-8?q?", "?=", 66
	var words []string
	var w strings.Builder
	for _, r := range s {
		var enc strings.Builder
		for _, c := range []byte(string(r)) {
			switch {
			case c == ' ':
				enc.WriteByte('_')
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("!*+-/", c) >= 0:
				enc.WriteByte(c)
			default:
				fmt.Fprintf(&enc, "=%02X", c)
			}
		}
		if w.Len() > 0 && len(prefix)+w.Len()+enc.Len()+len(suffix) > maxWord {
			words = append(words, prefix+w.String()+suffix)
			w.Reset()
		}
		w.WriteString(enc.String())
	}
	if w.Len() > 0 {
		words = append(words, prefix+w.String()+suffix)
	}
	return strings.Join(words, "\r\n ")
}

// newBoundary is a 28-hex-digit boundary: short enough that every
// Content-Type line stays under 78 characters.
func newBoundary() string {
	var b [14]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// writeBase64 writes data base64-encoded in 76-character lines (RFC 2045 §6.8).
func writeBase64(w io.Writer, data []byte) error {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		if _, err := io.WriteString(w, enc[:76]+"\r\n"); err != nil {
			return err
		}
		enc = enc[76:]
	}
	_, err := io.WriteString(w, enc+"\r\n")
	return err
}

func emailHTML(m Message) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n")
	for _, para := range strings.Split(strings.TrimSpace(strings.ReplaceAll(m.Text, "\r\n", "\n")), "\n\n") {
		if strings.TrimSpace(para) == "" {
			continue
		}
		b.WriteString("<p>" + strings.ReplaceAll(html.EscapeString(para), "\n", "<br>\n") + "</p>\n")
	}
	if m.Link != "" {
		b.WriteString(`<p><a href="` + html.EscapeString(m.Link) + `">` + html.EscapeString(m.label()) + "</a></p>\n")
		b.WriteString("<p>" + html.EscapeString(m.Link) + "</p>\n")
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

// newMessageID returns "<random@domain>" (RFC 5322 §3.6.4).
func newMessageID(domain string) string {
	if domain == "" {
		domain = "split.invalid"
	}
	return "<" + strings.ToLower(rand.Text()) + "@" + domain + ">"
}
