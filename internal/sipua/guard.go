package sipua

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/split-hub/split/internal/sipguard"
)

// allowHeader lists what the hub answers.
const allowHeader = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REFER, NOTIFY"

// supportedTags are the option tags the hub implements (Require: others get 420).
var supportedTags = []string{"timer"}

// recentFor is how long a call's Call-ID stays known after it ended: the
// time a transaction may still see retransmissions and ACKs (64*T1).
const recentFor = 32 * time.Second

// Stateless answers, built once (Decide runs for every message).
var (
	answerOptions = &sipguard.Answer{Code: 200, Reason: "OK", Headers: []string{
		"Allow: " + allowHeader, "Accept: application/sdp", "Supported: timer",
	}}
	answerForbidden = &sipguard.Answer{Code: 403, Reason: "Forbidden"}
	answerNoDialog  = &sipguard.Answer{Code: 481, Reason: "Call/Transaction Does Not Exist"}
	answerBusy      = map[string]*sipguard.Answer{
		"draining":  {Code: 503, Reason: "Service Unavailable", Headers: []string{"Retry-After: 30"}},
		"call_rate": {Code: 503, Reason: "Service Unavailable", Headers: []string{"Retry-After: 5"}},
		"capacity":  {Code: 503, Reason: "Service Unavailable", Headers: []string{"Retry-After: 10"}},
	}
)

// Decide implements sipguard.Policy: who may start calls, which in-dialog
// traffic is ours, and new-call admission. It runs on the transport's
// reader goroutine for every message and must stay cheap.
func (u *UA) Decide(m *sipguard.Msg, src netip.AddrPort, transport string, trusted bool) sipguard.Verdict {
	if !m.Request {
		// responses belong to transactions we started: toward trunks, or
		// in dialogs we know
		if trusted || u.knownCallID(m.CallID) {
			return sipguard.Verdict{Pass: true}
		}
		return sipguard.Verdict{Reason: "unsolicited_response"}
	}
	ack, cancel := m.MethodIs("ACK"), m.MethodIs("CANCEL")
	if !ack && !cancel && len(m.Require) > 0 {
		if tags := unsupported(m.Require); tags != "" {
			return sipguard.Verdict{Answer: &sipguard.Answer{Code: 420, Reason: "Bad Extension", Headers: []string{"Unsupported: " + tags}}, Reason: "bad_extension"}
		}
	}
	if m.InDialog() || ack || cancel {
		if u.knownCallID(m.CallID) || (trusted && (ack || cancel)) {
			return sipguard.Verdict{Pass: true} // the dialog or transaction is matched by tags/branch further in
		}
		if ack {
			return sipguard.Verdict{Reason: "no_dialog"}
		}
		if trusted && m.MethodIs("INVITE") {
			return sipguard.Verdict{Pass: true} // answered 481 by the dialog layer
		}
		return sipguard.Verdict{Answer: answerNoDialog, Reason: "no_dialog"}
	}
	switch {
	case m.MethodIs("OPTIONS"):
		// keep-alive probes (Kamailio's dispatcher, trunks) are answered
		// here, statelessly, so they are answered even under load; a
		// draining hub answers 503, so a dispatcher sends it no new calls
		u.mu.Lock()
		draining := u.draining
		u.mu.Unlock()
		if draining {
			return sipguard.Verdict{Answer: answerBusy["draining"], Reason: "draining"}
		}
		return sipguard.Verdict{Answer: answerOptions}
	case !trusted:
		if m.MethodIs("INVITE") {
			u.metrics.InviteRejected("forbidden")
		}
		return sipguard.Verdict{Answer: answerForbidden, Reason: "forbidden"}
	case m.MethodIs("INVITE"):
		v := u.admit(src)
		if !v.Pass {
			u.metrics.InviteRejected(v.Reason)
		}
		return v
	}
	return sipguard.Verdict{Pass: true}
}

// admit decides on a new call from a trusted source: draining, the source's
// call rate, and the hub's capacity each get 503 with Retry-After.
func (u *UA) admit(src netip.AddrPort) sipguard.Verdict {
	busy := func(reason, _ string) sipguard.Verdict {
		return sipguard.Verdict{Answer: answerBusy[reason], Reason: reason}
	}
	u.mu.Lock()
	draining, n := u.draining, u.ncalls
	u.mu.Unlock()
	if draining {
		return busy("draining", "30")
	}
	if ok, newly := u.inviteLim.Allow(src.Addr().Unmap(), time.Now()); !ok {
		if newly {
			u.log.Warn("new calls from this source over sip.limits.invite_rate: answering 503", "source", src.Addr().String())
		}
		return busy("call_rate", "5")
	}
	if u.maxCalls > 0 && n >= u.maxCalls {
		return busy("capacity", "10")
	}
	return sipguard.Verdict{Pass: true}
}

func unsupported(require []byte) string {
	var out []string
	for _, t := range bytes.Split(require, []byte(",")) {
		t = bytes.TrimSpace(t)
		if len(t) == 0 {
			continue
		}
		known := false
		for _, s := range supportedTags {
			if strings.EqualFold(string(t), s) {
				known = true
			}
		}
		if !known {
			out = append(out, string(t))
		}
	}
	return strings.Join(out, ", ")
}

// knownCallID: a live call, one that ended moments ago, or a registration.
func (u *UA) knownCallID(cid []byte) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.calls[string(cid)]; ok {
		return true
	}
	if _, ok := u.regIDs[string(cid)]; ok {
		return true
	}
	u.pruneRecent(time.Now())
	_, ok := u.recent[string(cid)]
	return ok
}

// rememberEnded keeps an ended call's Call-ID known for a while (u.mu held).
func (u *UA) rememberEnded(cid string, now time.Time) {
	u.pruneRecent(now)
	u.recent[cid] = struct{}{}
	u.recentQ = append(u.recentQ, recentID{cid, now.Add(recentFor)})
}

func (u *UA) pruneRecent(now time.Time) {
	i := 0
	for ; i < len(u.recentQ) && now.After(u.recentQ[i].until); i++ {
		id := u.recentQ[i].id
		if _, live := u.calls[id]; !live {
			delete(u.recent, id)
		}
	}
	if i > 0 {
		u.recentQ = append(u.recentQ[:0], u.recentQ[i:]...)
	}
}

type recentID struct {
	id    string
	until time.Time
}

// safe wraps a request handler: a panic answers 500 and is logged; it never
// takes the process down.
func (u *UA) safe(method string, h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			if v := recover(); v != nil {
				u.log.Error("SIP handler panicked; answered 500", "method", method, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				u.metrics.InviteRejected("panic")
				func() {
					defer func() { _ = recover() }()
					if tx != nil {
						_ = tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
					}
				}()
			}
		}()
		h(req, tx)
	}
}

// goSafe runs f on a goroutine the UA waits for, recovering a panic (the
// call ends with 500 instead of the process).
func (u *UA) goSafe(c *Call, f func()) {
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				u.log.Error("SIP call goroutine panicked; call ended", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if c != nil {
					c.end(500, "Server Internal Error")
				}
			}
		}()
		f()
	}()
}

// observe sees every message the transport reads, on the reader goroutine,
// in the order they arrived (sipgo hands each to a goroutine of its own
// afterwards, which loses that order). Provisional responses to our
// INVITEs are queued on their call here, so the call reports trying,
// ringing, early and answered in wire order.
func (u *UA) observe(msg sip.Message) {
	res, ok := msg.(*sip.Response)
	if !ok || !res.IsProvisional() || res.StatusCode == 100 {
		return
	}
	cseq, cid, from := res.CSeq(), res.CallID(), res.From()
	if cseq == nil || cid == nil || from == nil || cseq.MethodName != sip.INVITE {
		return
	}
	tag, _ := from.Params.Get("tag")
	u.mu.Lock()
	var c *Call
	for _, x := range u.calls[cid.Value()] {
		if x.Direction == Outbound && x.localTag == tag {
			c = x
		}
	}
	u.mu.Unlock()
	if c != nil {
		c.queueProvisional(res)
	}
}

// sipgoLog demotes everything sipgo itself logs to debug: its errors are
// about single messages (the guard already summarises refusals) and its
// messages carry whole SIP requests.
type sipgoLog struct{ slog.Handler }

func (h sipgoLog) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h sipgoLog) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return h.Handler.Handle(ctx, r)
}

func (h sipgoLog) WithAttrs(a []slog.Attr) slog.Handler { return sipgoLog{h.Handler.WithAttrs(a)} }
func (h sipgoLog) WithGroup(n string) slog.Handler      { return sipgoLog{h.Handler.WithGroup(n)} }
