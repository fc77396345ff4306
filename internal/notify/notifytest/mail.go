package notifytest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// Mail is one message the SMTP fake accepted: the envelope, the session and
// the parsed content.
type Mail struct {
	From     string   // MAIL FROM
	To       []string // RCPT TO
	Helo     string   // EHLO/HELO name
	TLS      bool     // sent after STARTTLS
	AuthUser string   // AUTH PLAIN user, if any

	Raw    []byte      // the DATA content, dot-unstuffed, CRLF line endings
	Header mail.Header // top-level header
	// Subject is the decoded Subject (RFC 2047).
	Subject string
	// Structure is the MIME tree, e.g.
	// "multipart/mixed[multipart/alternative[text/plain,text/html,text/calendar],application/ics]".
	Structure string
	Text      string // decoded text/plain (first one that is not an attachment), LF line endings
	TextCTE   string // its Content-Transfer-Encoding
	HTML      string // decoded text/html, LF line endings
	// Calendar is the decoded text/calendar body part (the iMIP part) and
	// CalendarType its full Content-Type (with method and charset).
	Calendar     []byte
	CalendarType string
	Attachments  []Attachment
	Err          error // parse error, nil when the message parsed
}

// Attachment is a body part with Content-Disposition: attachment.
type Attachment struct {
	ContentType string // full Content-Type header
	Filename    string
	Data        []byte // decoded
}

// Method returns the method parameter of the calendar part's Content-Type.
func (m Mail) Method() string {
	_, p, err := mime.ParseMediaType(m.CalendarType)
	if err != nil {
		return ""
	}
	return p["method"]
}

// ParseMail parses an RFC 5322 message with net/mail and mime/multipart.
func ParseMail(raw []byte) Mail {
	m := Mail{Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		m.Err = err
		return m
	}
	m.Header = msg.Header
	if m.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		m.Err = fmt.Errorf("subject: %w", err)
		return m
	}
	m.Structure, m.Err = walk(&m, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), "", msg.Body, 0)
	return m
}

func walk(m *Mail, ctype, cte, disp string, body io.Reader, depth int) (string, error) {
	if ctype == "" {
		ctype = "text/plain; charset=us-ascii"
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return "", fmt.Errorf("content-type %q: %w", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		if depth > 8 {
			return "", fmt.Errorf("multipart nested too deep")
		}
		if params["boundary"] == "" {
			return "", fmt.Errorf("%s without boundary", mt)
		}
		mr := multipart.NewReader(body, params["boundary"])
		var kids []string
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", fmt.Errorf("%s: %w", mt, err)
			}
			k, err := walk(m, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p.Header.Get("Content-Disposition"), p, depth+1)
			if err != nil {
				return "", err
			}
			kids = append(kids, k)
		}
		if len(kids) == 0 {
			return "", fmt.Errorf("%s with no parts", mt)
		}
		return mt + "[" + strings.Join(kids, ",") + "]", nil
	}
	data, err := decodeCTE(cte, body)
	if err != nil {
		return "", fmt.Errorf("%s: %w", mt, err)
	}
	dt, dp, _ := mime.ParseMediaType(disp)
	switch {
	case dt == "attachment":
		name := dp["filename"]
		if name == "" {
			name = params["name"]
		}
		m.Attachments = append(m.Attachments, Attachment{ContentType: ctype, Filename: name, Data: data})
	case mt == "text/plain" && m.Text == "":
		m.Text, m.TextCTE = lf(data), strings.ToLower(cte)
	case mt == "text/html" && m.HTML == "":
		m.HTML = lf(data)
	case mt == "text/calendar" && m.Calendar == nil:
		m.Calendar, m.CalendarType = data, ctype
	}
	return mt, nil
}

func decodeCTE(cte string, r io.Reader) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return io.ReadAll(r)
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(r))
	case "base64":
		raw, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		clean := strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, string(raw))
		return base64.StdEncoding.DecodeString(clean)
	default:
		return nil, fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
	}
}

func lf(b []byte) string { return strings.ReplaceAll(string(b), "\r\n", "\n") }
