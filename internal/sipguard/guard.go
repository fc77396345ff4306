package sipguard

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Verdict is the policy's decision on a well-formed message.
type Verdict struct {
	Pass   bool    // hand it to the SIP stack
	Answer *Answer // else, for a request: answer it statelessly (nil: drop)
	Reason string  // why it was refused (a metric label: forbidden, no_dialog, overload …)
}

// Policy decides what happens to messages that scanned clean. Decide runs
// on the transport's reader goroutine for every message: it must be quick
// and must not block.
type Policy interface {
	Decide(m *Msg, src netip.AddrPort, transport string, trusted bool) Verdict
}

// Options configure a Guard. Zero values take the defaults in brackets.
type Options struct {
	Policy  Policy
	Trusted func(netip.Addr) bool // sources allowed to start calls (trunks, sip.allow)

	// Per-source message rates: untrusted sources [20/s, burst 40],
	// trusted ones [2000/s, burst 4000]. Messages over the rate are
	// dropped without an answer.
	UntrustedRate, UntrustedBurst float64
	TrustedRate, TrustedBurst     float64
	ProbeRate                     float64 // OPTIONS per second per source, counted apart [20]
	MaxSources                    int     // sources tracked per table [65536]

	// TCP/TLS: a connection must deliver each message whole within
	// MessageTimeout [10s] of its first byte (and its first one within
	// that time of connecting), and is closed after IdleTimeout [5m]
	// without a byte; writes time out after WriteTimeout [10s].
	MessageTimeout, IdleTimeout, WriteTimeout time.Duration
	MaxConnsPerSource, MaxConns               int // [32, 1024]

	Log     *slog.Logger                   // refusals, summarised
	Refused func(reason, transport string) // a metric hook

	now     func() time.Time                        // tests
	onPanic func(v any)                             // tests
	hooks   func(reason string, src netip.AddrPort) // tests watching refusals
}

// Guard applies Options to packets and connections.
type Guard struct {
	o         Options
	untrusted *Limiter
	trusted   *Limiter
	probes    *Limiter // OPTIONS, per source: a flood of other requests never starves keep-alives
	log       *refusalLog
	connMu    sync.Mutex
	conns     map[netip.Addr]int
	total     int
	parser    *sip.Parser
	tag       ToTag
}

// New returns a Guard.
func New(o Options) *Guard {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.UntrustedRate, 20)
	def(&o.UntrustedBurst, 2*o.UntrustedRate)
	def(&o.TrustedRate, 2000)
	def(&o.TrustedBurst, 2*o.TrustedRate)
	def(&o.ProbeRate, 20)
	if o.MessageTimeout <= 0 {
		o.MessageTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 5 * time.Minute
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxConnsPerSource <= 0 {
		o.MaxConnsPerSource = 32
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 1024
	}
	if o.Trusted == nil {
		o.Trusted = func(netip.Addr) bool { return false }
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Guard{
		o:         o,
		untrusted: NewLimiter(o.UntrustedRate, o.UntrustedBurst, o.MaxSources),
		trusted:   NewLimiter(o.TrustedRate, o.TrustedBurst, o.MaxSources),
		probes:    NewLimiter(o.ProbeRate, 2*o.ProbeRate, o.MaxSources),
		log:       newRefusalLog(o.Log, o.now),
		conns:     map[netip.Addr]int{},
		parser:    sip.NewParser(),
		tag:       NewToTag(),
	}
}

// inspect decides on one message from src. It returns whether the message
// passes to the SIP stack, or a stateless answer (appended to out) and
// where to send it (UDP). m is scratch space owned by the caller.
func (g *Guard) inspect(b []byte, src netip.AddrPort, transport string, m *Msg, out []byte) (pass bool, reply []byte, to netip.AddrPort, err error) {
	defer func() {
		if v := recover(); v != nil {
			// never lose the process to a message; drop it and say so
			g.o.Log.Error("SIP message handling panicked; message dropped", "panic", fmt.Sprint(v), "source", src.String(), "stack", string(debug.Stack()))
			if g.o.onPanic != nil {
				g.o.onPanic(v)
			}
			pass, reply = false, nil
			g.refused("panic", transport, src, "")
		}
	}()
	stream := transport != "udp"
	// a datagram over its source's rate costs a map lookup; a stream's
	// messages are counted once framed
	if !stream && !g.allow(b, src, transport) {
		return false, nil, src, nil
	}
	if err := Scan(b, stream, m); err != nil {
		if err == errIncomplete {
			return false, nil, src, err
		}
		if stream && !g.allow(b, src, transport) {
			return false, nil, src, nil
		}
		r, ok := err.(*Reject)
		if !ok {
			g.refused("not_sip", transport, src, "")
			return false, nil, src, err
		}
		g.refused("malformed", transport, src, r.Why)
		if !m.Request || len(m.Vias) == 0 || m.MethodIs("ACK") {
			return false, nil, src, err
		}
		if host, _, _, _ := ViaSentBy(m.Vias[0]); len(host) == 0 {
			return false, nil, src, err // no Via to answer along
		}
		a := Answer{Code: r.Code, Reason: r.Reason, Headers: []string{`Warning: 399 split "` + sanitize(r.Why) + `"`}}
		return false, AppendResponse(out, m, a, src, g.tag), ReplyAddr(m, src), err
	}
	if stream && !g.allow(b, src, transport) {
		return false, nil, src, nil
	}
	// the ACK of a final answer the guard sent itself belongs to no
	// transaction: it ends here (its To tag is the one the guard made)
	if m.MethodIs("ACK") && g.tag.Is(m.ToTag, m) {
		return false, nil, src, nil
	}
	trusted := g.o.Trusted(src.Addr().Unmap())
	v := g.o.Policy.Decide(m, src, transport, trusted)
	if v.Pass {
		// The SIP stack will parse exactly these bytes; parse them first, so
		// what it cannot read is answered 400 here instead of vanishing
		// (and a parser panic is a refusal, not a crash).
		whole := b
		if stream {
			whole = b[:m.Len]
		}
		perr := g.parse(whole)
		if perr == nil {
			return true, nil, src, nil
		}
		g.refused("malformed", transport, src, perr.Error())
		if !m.Request || m.MethodIs("ACK") {
			return false, nil, src, perr
		}
		a := Answer{Code: 400, Reason: "Bad Request", Headers: []string{`Warning: 399 split "` + sanitize(perr.Error()) + `"`}}
		return false, AppendResponse(out, m, a, src, g.tag), ReplyAddr(m, src), perr
	}
	if v.Reason != "" {
		g.refusedMsg(v.Reason, transport, src, m.Method)
	}
	if v.Answer == nil || !m.Request || m.MethodIs("ACK") {
		return false, nil, src, nil
	}
	return false, AppendResponse(out, m, *v.Answer, src, g.tag), ReplyAddr(m, src), nil
}

// parse runs the SIP stack's parser on b, recovering a panic.
func (g *Guard) parse(b []byte) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("unparseable: %v", v)
		}
	}()
	if _, err := g.parser.ParseSIP(b); err != nil {
		return fmt.Errorf("unparseable: %w", err)
	}
	return nil
}

// allow applies the per-source rate; over it, the message is dropped.
// OPTIONS have their own bucket, so keep-alive probes are answered while
// the same source floods something else.
func (g *Guard) allow(b []byte, src netip.AddrPort, transport string) bool {
	a := src.Addr().Unmap()
	lim := g.untrusted
	switch {
	case bytes.HasPrefix(b, []byte("OPTIONS ")):
		lim = g.probes
	case g.o.Trusted(a):
		lim = g.trusted
	}
	ok, newly := lim.Allow(a, g.o.now())
	if !ok {
		if newly {
			g.o.Log.Warn("SIP source over its rate limit: dropping its messages until it slows down", "source", a.String(), "transport", transport)
		}
		g.refused("rate_limited", transport, src, "")
	}
	return ok
}

// refusedMsg is refused with the method as detail, converted only when logged.
func (g *Guard) refusedMsg(reason, transport string, src netip.AddrPort, method []byte) {
	if g.o.Refused != nil {
		g.o.Refused(reason, transport)
	}
	if g.o.hooks != nil {
		g.o.hooks(reason, src)
	}
	if g.log.first(reason) {
		g.log.note(reason, src.Addr(), string(method))
	} else {
		g.log.note(reason, src.Addr(), "")
	}
}

func (g *Guard) refused(reason, transport string, src netip.AddrPort, detail string) {
	if g.o.Refused != nil {
		g.o.Refused(reason, transport)
	}
	if g.o.hooks != nil {
		g.o.hooks(reason, src)
	}
	if reason != "rate_limited" {
		g.log.note(reason, src.Addr(), detail)
	}
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			b[i] = '?'
		}
	}
	if len(b) > 100 {
		b = b[:100]
	}
	return string(b)
}

// refusalLog writes the first refusal of each kind in a window at once and
// the rest as one summary line, so a flood cannot flood the log.
type refusalLog struct {
	log *slog.Logger
	now func() time.Time

	mu     sync.Mutex
	window time.Time
	seen   map[string]bool
	counts map[string]int
	last   map[string]netip.Addr
}

const refusalWindow = 10 * time.Second

func newRefusalLog(l *slog.Logger, now func() time.Time) *refusalLog {
	return &refusalLog{log: l, now: now, seen: map[string]bool{}, counts: map[string]int{}, last: map[string]netip.Addr{}}
}

// first reports whether reason has not been logged in this window yet.
func (r *refusalLog) first(reason string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.seen[reason] || r.now().Sub(r.window) >= refusalWindow
}

type summary struct {
	reason string
	count  int
	last   netip.Addr
}

func (r *refusalLog) note(reason string, src netip.Addr, detail string) {
	now := r.now()
	var out []summary
	r.mu.Lock()
	if now.Sub(r.window) >= refusalWindow {
		for k, n := range r.counts {
			out = append(out, summary{k, n, r.last[k]})
		}
		clear(r.counts)
		clear(r.seen)
		r.window = now
	}
	first := !r.seen[reason]
	if first {
		r.seen[reason] = true
	} else {
		r.counts[reason]++
		r.last[reason] = src
	}
	r.mu.Unlock()
	for _, s := range out {
		r.log.Warn("SIP messages refused", "reason", s.reason, "count", s.count, "window", refusalWindow.String(), "last_source", s.last.String())
	}
	if first {
		r.log.Info("SIP message refused", "reason", reason, "source", src.String(), "detail", detail)
	}
}

// isKeepalive reports CRLF-only datagrams (and NUL padding) that carry no message.
func isKeepalive(b []byte) bool {
	return len(bytes.Trim(b, "\r\n\x00 ")) == 0
}
