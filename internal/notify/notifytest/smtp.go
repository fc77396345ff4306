package notifytest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/notify"
)

// SMTPOptions configure StartSMTPWith.
type SMTPOptions struct {
	// Username and Password, when set, make the server offer AUTH PLAIN and
	// require it before MAIL (530 5.7.0 otherwise).
	Username, Password string
	// TLS makes the server offer STARTTLS with a self-signed certificate for
	// 127.0.0.1 (trust it with ClientTLSConfig); AUTH is then offered only
	// after STARTTLS, as RFC 4954 §4 recommends.
	TLS bool
}

// SMTPFake is a minimal SMTP server (RFC 5321) on 127.0.0.1:0. It answers
// EHLO/HELO, STARTTLS (RFC 3207), AUTH PLAIN (RFC 4954, RFC 4616), MAIL,
// RCPT, DATA, RSET, NOOP and QUIT with the RFC 5321 reply codes, enforces the
// command order (503), refuses bare LF and lines over 998 octets in DATA
// (554), and records and parses every accepted message.
type SMTPFake struct {
	Addr string // host:port for SMTPConfig.Addr

	opt   SMTPOptions
	ln    net.Listener
	cert  *x509.Certificate
	tls   *tls.Config
	rec   recorder[Mail]
	fails failures[smtpFailure]

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

type smtpFailure struct {
	stage string // "MAIL", "RCPT" or "DATA"
	code  int
	text  string
}

// StartSMTP starts a fake SMTP server without TLS or AUTH.
func StartSMTP(t testing.TB) *SMTPFake { t.Helper(); return StartSMTPWith(t, SMTPOptions{}) }

// StartSMTPWith starts a fake SMTP server; it stops when the test ends.
func StartSMTPWith(t testing.TB, o SMTPOptions) *SMTPFake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("notifytest: smtp listen: %v", err)
	}
	f := &SMTPFake{Addr: ln.Addr().String(), opt: o, ln: ln, conns: map[net.Conn]bool{}}
	if o.TLS {
		if err := f.makeCert(); err != nil {
			ln.Close()
			t.Fatalf("notifytest: smtp certificate: %v", err)
		}
	}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *SMTPFake) makeCert() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "notifytest SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	if f.cert, err = x509.ParseCertificate(der); err != nil {
		return err
	}
	f.tls = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	return nil
}

// ClientTLSConfig trusts the fake's certificate (nil without TLS).
func (f *SMTPFake) ClientTLSConfig() *tls.Config {
	if f.cert == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(f.cert)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// Config is a notify.SMTPConfig that works against this fake.
func (f *SMTPFake) Config() notify.SMTPConfig {
	return notify.SMTPConfig{
		Addr: f.Addr, Username: f.opt.Username, Password: f.opt.Password,
		From: "SPLIT <noreply@split.test>", StartTLS: f.opt.TLS, TLSConfig: f.ClientTLSConfig(), HelloName: "split.test",
	}
}

// FailNext makes the next n transactions fail at stage ("MAIL", "RCPT" or
// "DATA", the latter after the content) with an SMTP reply, e.g. 451
// "4.3.0 Try again later" or 550 "5.1.1 User unknown".
func (f *SMTPFake) FailNext(n int, stage string, code int, text string) {
	f.fails.push(n, smtpFailure{strings.ToUpper(stage), code, text})
}

// Messages returns the accepted messages, parsed.
func (f *SMTPFake) Messages() []Mail { return f.rec.all() }

// Wait waits until n messages were accepted.
func (f *SMTPFake) Wait(ctx context.Context, n int) ([]Mail, error) { return f.rec.wait(ctx, n) }

// LastCalendar returns the text/calendar part of the last message (nil if none).
func (f *SMTPFake) LastCalendar() []byte {
	m := f.rec.all()
	if len(m) == 0 {
		return nil
	}
	return m[len(m)-1].Calendar
}

// LastLink returns the first link in the text/plain part of the last message.
func (f *SMTPFake) LastLink() string {
	m := f.rec.all()
	if len(m) == 0 {
		return ""
	}
	return firstLink(m[len(m)-1].Text)
}

func (f *SMTPFake) close() {
	f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *SMTPFake) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns[c] = true
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer func() {
				f.mu.Lock()
				delete(f.conns, c)
				f.mu.Unlock()
				c.Close()
			}()
			f.session(c)
		}()
	}
}

const (
	smtpHost       = "notifytest.local"
	maxCommandLine = 512  // RFC 5321 §4.5.3.1.4, with CRLF
	maxTextLine    = 1000 // RFC 5321 §4.5.3.1.6, with CRLF
	maxMessage     = 10 << 20
	idleTimeout    = 30 * time.Second
)

type smtpSession struct {
	conn   net.Conn
	r      *bufio.Reader
	helo   string
	isTLS  bool
	user   string
	from   string
	rcpts  []string
	inMail bool
}

func (s *smtpSession) reply(code int, lines ...string) error {
	var b strings.Builder
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(&b, "%d%s%s\r\n", code, sep, l)
	}
	s.conn.SetWriteDeadline(time.Now().Add(idleTimeout))
	_, err := s.conn.Write([]byte(b.String()))
	return err
}

// readLine reads one CRLF-terminated line of at most max octets (with CRLF).
// A longer line is consumed entirely and reported as errLineTooLong.
func (s *smtpSession) readLine(max int) (string, error) {
	s.conn.SetReadDeadline(time.Now().Add(idleTimeout))
	var line []byte
	tooLong := false
	for {
		chunk, err := s.r.ReadSlice('\n')
		if !tooLong {
			line = append(line, chunk...)
			if len(line) > max {
				tooLong, line = true, nil
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	if tooLong {
		return "", errLineTooLong
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return "", errBareLF
	}
	return string(line[:len(line)-2]), nil
}

type smtpErr string

func (e smtpErr) Error() string { return string(e) }

const (
	errLineTooLong = smtpErr("line too long")
	errBareLF      = smtpErr("bare LF")
)

func (s *smtpSession) reset() { s.from, s.rcpts, s.inMail = "", nil, false }

func (f *SMTPFake) session(c net.Conn) {
	s := &smtpSession{conn: c, r: bufio.NewReaderSize(c, 4096)}
	if s.reply(220, smtpHost+" ESMTP notifytest") != nil {
		return
	}
	for {
		line, err := s.readLine(maxCommandLine)
		switch {
		case err == errLineTooLong:
			if s.reply(500, "5.5.2 Line too long") != nil {
				return
			}
			continue
		case err == errBareLF:
			s.reply(500, "5.5.2 Bare LF in command; lines end with CRLF")
			return
		case err != nil:
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if !f.command(s, verb, strings.TrimSpace(arg)) {
			return
		}
	}
}

func (f *SMTPFake) authOffered(s *smtpSession) bool {
	return f.opt.Username != "" && (s.isTLS || !f.opt.TLS)
}

// command handles one command; false ends the session.
func (f *SMTPFake) command(s *smtpSession, verb, arg string) bool {
	ok := func(code int, lines ...string) bool { return s.reply(code, lines...) == nil }
	switch verb {
	case "EHLO", "HELO":
		if arg == "" {
			return ok(501, "5.5.4 Syntax: "+verb+" hostname")
		}
		s.helo = arg
		s.reset()
		if verb == "HELO" {
			return ok(250, smtpHost)
		}
		lines := []string{smtpHost + " greets " + arg}
		if f.tls != nil && !s.isTLS {
			lines = append(lines, "STARTTLS")
		}
		if f.authOffered(s) {
			lines = append(lines, "AUTH PLAIN")
		}
		lines = append(lines, "SIZE "+fmt.Sprint(maxMessage), "HELP")
		return ok(250, lines...)
	case "STARTTLS":
		switch {
		case f.tls == nil:
			return ok(502, "5.5.1 STARTTLS not offered")
		case s.isTLS:
			return ok(503, "5.5.1 TLS already active")
		}
		if !ok(220, "2.0.0 Ready to start TLS") {
			return false
		}
		tc := tls.Server(s.conn, f.tls)
		tc.SetDeadline(time.Now().Add(idleTimeout))
		if err := tc.Handshake(); err != nil {
			return false
		}
		s.conn, s.r, s.isTLS = tc, bufio.NewReaderSize(tc, 4096), true
		s.helo, s.user = "", "" // RFC 3207 §4.2: forget everything, expect EHLO again
		s.reset()
		return true
	case "AUTH":
		return f.auth(s, arg)
	case "MAIL":
		switch {
		case s.helo == "":
			return ok(503, "5.5.1 Send EHLO first")
		case s.inMail:
			return ok(503, "5.5.1 Nested MAIL command")
		case f.opt.Username != "" && s.user == "":
			return ok(530, "5.7.0 Authentication required")
		}
		addr, good := pathArg(arg, "FROM:")
		if !good {
			return ok(501, "5.5.4 Syntax: MAIL FROM:<address>")
		}
		if e, failed := f.failAt("MAIL"); failed {
			return ok(e.code, e.text)
		}
		s.from, s.inMail = addr, true
		return ok(250, "2.1.0 Ok")
	case "RCPT":
		if !s.inMail {
			return ok(503, "5.5.1 Need MAIL command")
		}
		addr, good := pathArg(arg, "TO:")
		if !good || addr == "" {
			return ok(501, "5.5.4 Syntax: RCPT TO:<address>")
		}
		if e, failed := f.failAt("RCPT"); failed {
			return ok(e.code, e.text)
		}
		s.rcpts = append(s.rcpts, addr)
		return ok(250, "2.1.5 Ok")
	case "DATA":
		if !s.inMail || len(s.rcpts) == 0 {
			return ok(503, "5.5.1 Need RCPT command")
		}
		if !ok(354, "End data with <CR><LF>.<CR><LF>") {
			return false
		}
		return f.data(s)
	case "RSET":
		s.reset()
		return ok(250, "2.0.0 Ok")
	case "NOOP":
		return ok(250, "2.0.0 Ok")
	case "QUIT":
		s.reply(221, "2.0.0 Bye")
		return false
	default:
		return ok(502, "5.5.2 Command not recognized")
	}
}

// failAt pops an injected failure when it is for stage; others stay queued.
func (f *SMTPFake) failAt(stage string) (smtpFailure, bool) {
	f.fails.mu.Lock()
	defer f.fails.mu.Unlock()
	if len(f.fails.q) == 0 || f.fails.q[0].stage != stage {
		return smtpFailure{}, false
	}
	e := f.fails.q[0]
	f.fails.q = f.fails.q[1:]
	return e, true
}

// pathArg parses "FROM:<a@b> [params]" / "TO:<a@b>" (RFC 5321 §4.1.2).
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	addr := rest[1:end]
	if strings.ContainsAny(addr, " \t<") {
		return "", false
	}
	return addr, true
}

func (f *SMTPFake) auth(s *smtpSession, arg string) bool {
	ok := func(code int, lines ...string) bool { return s.reply(code, lines...) == nil }
	mech, initial, _ := strings.Cut(arg, " ")
	switch {
	case f.opt.Username == "":
		return ok(502, "5.5.1 AUTH not offered")
	case !f.authOffered(s):
		return ok(538, "5.7.11 Encryption required for requested authentication mechanism")
	case s.helo == "":
		return ok(503, "5.5.1 Send EHLO first")
	case s.user != "":
		return ok(503, "5.5.1 Already authenticated")
	case s.inMail:
		return ok(503, "5.5.1 AUTH not allowed during a mail transaction")
	case !strings.EqualFold(mech, "PLAIN"):
		return ok(504, "5.5.4 Unrecognized authentication type")
	}
	if initial == "" {
		if !ok(334, "") {
			return false
		}
		l, err := s.readLine(maxCommandLine * 4)
		if err != nil {
			return false
		}
		initial = l
	}
	if initial == "*" {
		return ok(501, "5.7.0 Authentication cancelled")
	}
	raw, err := base64.StdEncoding.DecodeString(initial)
	if err != nil {
		return ok(501, "5.5.2 Cannot decode response")
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 {
		return ok(501, "5.5.2 Malformed PLAIN response")
	}
	if parts[1] != f.opt.Username || parts[2] != f.opt.Password {
		return ok(535, "5.7.8 Authentication credentials invalid")
	}
	s.user = parts[1]
	return ok(235, "2.7.0 Authentication successful")
}

func (f *SMTPFake) data(s *smtpSession) bool {
	ok := func(code int, lines ...string) bool { return s.reply(code, lines...) == nil }
	var buf bytes.Buffer
	var bad string
	for {
		line, err := s.readLine(maxTextLine)
		switch {
		case err == errLineTooLong:
			bad = "5.6.0 Line longer than 998 octets (RFC 5321 §4.5.3.1.6)"
			continue
		case err == errBareLF:
			bad = "5.6.0 Bare LF in message; lines end with CRLF (RFC 5321 §2.3.8)"
			continue
		case err != nil:
			return false
		}
		if line == "." {
			break
		}
		line = strings.TrimPrefix(line, ".") // RFC 5321 §4.5.2 dot-unstuffing
		if buf.Len()+len(line) > maxMessage {
			bad = "5.3.4 Message too big"
			continue
		}
		buf.WriteString(line)
		buf.WriteString("\r\n")
	}
	defer s.reset()
	if bad != "" {
		return ok(554, bad)
	}
	if e, failed := f.failAt("DATA"); failed {
		return ok(e.code, e.text)
	}
	m := ParseMail(buf.Bytes())
	m.From, m.To, m.Helo, m.TLS, m.AuthUser = s.from, s.rcpts, s.helo, s.isTLS, s.user
	f.rec.add(m)
	return ok(250, "2.0.0 Ok: queued as "+randHex(6))
}
