package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SMTPConfig configures the e-mail sender (net/smtp, RFC 5321).
type SMTPConfig struct {
	Addr      string // host:port of the submission server or relay
	Username  string // optional; AUTH PLAIN (net/smtp allows it only after TLS or to localhost)
	Password  string // secret
	From      string // "SPLIT <noreply@split.example>" or a bare address
	StartTLS  bool   // require STARTTLS (fail when the server does not offer it); false: never use TLS
	TLSConfig *tls.Config
	HelloName string // EHLO name; default "localhost"
}

// String redacts the Password.
func (c SMTPConfig) String() string {
	return fmt.Sprintf("SMTPConfig{Addr:%q Username:%q Password:%q From:%q StartTLS:%t HelloName:%q}",
		c.Addr, c.Username, redact(c.Password), c.From, c.StartTLS, c.HelloName)
}

// GoString redacts the Password in %#v.
func (c SMTPConfig) GoString() string { return c.String() }

// LogValue redacts the Password in slog output.
func (c SMTPConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("addr", c.Addr), slog.String("username", c.Username),
		slog.String("password", redact(c.Password)), slog.String("from", c.From), slog.Bool("starttls", c.StartTLS))
}

// SMTP sends e-mail with the join link and, optionally, a calendar invitation.
type SMTP struct {
	cfg  SMTPConfig
	host string
	from *mail.Address
	now  func() time.Time
}

var _ Sender = (*SMTP)(nil)

const defaultSMTPTimeout = 30 * time.Second

// NewSMTP checks cfg and returns a sender. It does not connect.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" || port == "" {
		return nil, invalidf("smtp: Addr must be host:port")
	}
	from, err := parseAddress(cfg.From)
	if err != nil {
		return nil, invalidf("smtp: From: %v", err)
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, invalidf("smtp: Password without Username")
	}
	if strings.ContainsAny(cfg.HelloName, " \r\n") {
		return nil, invalidf("smtp: HelloName must be one word")
	}
	return &SMTP{cfg: cfg, host: host, from: from, now: time.Now}, nil
}

// String redacts the Password.
func (s *SMTP) String() string { return "notify.SMTP{" + s.cfg.String() + "}" }

// GoString redacts the secret in %#v.
func (s *SMTP) GoString() string { return s.String() }

// LogValue redacts the secret in slog output.
func (s *SMTP) LogValue() slog.Value { return s.cfg.LogValue() }

// Send builds the message and submits it in one SMTP session. With a
// Calendar, empty Organizer, Attendee and URL default to From, To and Link.
// The receipt's ProviderID is the Message-ID; Status "sent" means the server
// accepted DATA. 4xx replies and network failures are retryable, 5xx are not.
func (s *SMTP) Send(ctx context.Context, m Message) (Receipt, error) {
	rec := Receipt{Channel: ChannelEmail}
	m, err := forChannel(m, ChannelEmail)
	if err != nil {
		return rec, err
	}
	to, err := parseAddress(m.To)
	if err != nil {
		return rec, invalidf("email: To: %v", err)
	}
	now := s.now()
	var ics []byte
	method := ""
	if m.Calendar != nil {
		ev := *m.Calendar
		if ev.Organizer == "" {
			ev.Organizer = s.from.String()
		}
		if ev.Attendee == "" {
			ev.Attendee = to.String()
		}
		if ev.URL == "" {
			ev.URL = m.Link
		}
		if err := ev.Validate(); err != nil {
			return rec, err
		}
		ics, method = ev.ICS(now), ev.method()
	}
	msgID := newMessageID(s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:])
	data, err := buildEmail(s.from, to, m, ics, method, now, msgID)
	if err != nil {
		return rec, invalidf("email: %v", err)
	}
	if err := s.submit(ctx, to.Address, data); err != nil {
		return rec, err
	}
	return Receipt{Channel: ChannelEmail, ProviderID: msgID, Status: StatusSent, At: s.now()}, nil
}

func (s *SMTP) submit(ctx context.Context, rcpt string, data []byte) (err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultSMTPTimeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return s.mapErr(ctx, "connect", err)
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return s.mapErr(ctx, "connect", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return s.mapErr(ctx, "greeting", err)
	}
	defer c.Close()
	hello := s.cfg.HelloName
	if hello == "" {
		hello = "localhost"
	}
	if err := c.Hello(hello); err != nil {
		return s.mapErr(ctx, "EHLO", err)
	}
	if s.cfg.StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return &ProviderError{Channel: ChannelEmail, Message: "server does not offer STARTTLS, which the config requires"}
		}
		tc := &tls.Config{}
		if s.cfg.TLSConfig != nil {
			tc = s.cfg.TLSConfig.Clone()
		}
		if tc.ServerName == "" {
			tc.ServerName = s.host
		}
		if tc.MinVersion == 0 {
			tc.MinVersion = tls.VersionTLS12
		}
		if err := c.StartTLS(tc); err != nil {
			return s.mapErr(ctx, "STARTTLS", err)
		}
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return &ProviderError{Channel: ChannelEmail, Message: "server does not offer AUTH (credentials are configured)"}
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)); err != nil {
			return s.mapErr(ctx, "AUTH", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return s.mapErr(ctx, "MAIL FROM", err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return s.mapErr(ctx, "RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return s.mapErr(ctx, "DATA", err)
	}
	if _, err := w.Write(data); err != nil {
		return s.mapErr(ctx, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return s.mapErr(ctx, "end of DATA", err)
	}
	// QUIT is a courtesy once DATA is accepted: whatever it returns, the
	// message is on its way and the deferred Close frees the connection.
	c.Quit() //nolint:errcheck
	return nil
}

// mapErr turns an SMTP or network failure into a *ProviderError (or ctx's error).
func (s *SMTP) mapErr(ctx context.Context, stage string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("notify: email: %s: %w", stage, ctx.Err())
	}
	pe := &ProviderError{Channel: ChannelEmail}
	var te *textproto.Error
	var cv *tls.CertificateVerificationError
	var ne net.Error
	switch {
	case errors.As(err, &te):
		pe.Code = strconv.Itoa(te.Code)
		pe.Message = stage + ": " + te.Msg
		pe.Retryable = te.Code >= 400 && te.Code < 500
		if te.Code == 535 || te.Code == 530 {
			pe.kind = ErrUnauthorized
		}
	case errors.As(err, &cv):
		pe.Message = stage + ": TLS certificate not trusted: " + cv.Err.Error()
	case errors.As(err, &ne), errors.Is(err, net.ErrClosed), isEOF(err):
		pe.Message = stage + ": " + err.Error()
		pe.Retryable = true
	default:
		// net/smtp's own refusals ("unencrypted connection", "wrong host name")
		// and protocol surprises: a config problem, not worth retrying.
		pe.Message = stage + ": " + err.Error()
	}
	return pe
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}
