package sipua

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Refer is a transfer request received in a dialog (RFC 3515): the far end
// (an ACD moving the call) asks us to call Target, usually carrying the
// call's context in headers embedded in the Refer-To URI — most often
// User-to-User (RFC 7433 §4.3). Report progress with Notify; the subscription
// ends with the first final (≥ 200) status.
type Refer struct {
	Target     sip.Uri           // Refer-To without its embedded headers
	Headers    map[string]string // headers embedded in Refer-To (?User-to-User=…)
	ReferredBy string
	call       *Call

	mu    sync.Mutex
	q     chan notifyReq
	final bool
}

// ErrBadReferTo means a Refer-To header that is not a SIP URI.
var ErrBadReferTo = errors.New("sipua: bad Refer-To")

// ParseReferTo splits a Refer-To value — `<sip:agent@acd?User-to-User=00A1%3Bencoding%3Dhex>`
// — into the target URI and its embedded, unescaped headers.
func ParseReferTo(v string) (sip.Uri, map[string]string, error) {
	v = strings.TrimSpace(v)
	if len(v) > 2048 {
		return sip.Uri{}, nil, ErrBadReferTo
	}
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return sip.Uri{}, nil, ErrBadReferTo
		}
		v = v[i+1 : i+j]
	} else if k := strings.IndexByte(v, ';'); k >= 0 {
		v = v[:k] // header parameters of a bare URI
	}
	uri, hdrs, _ := strings.Cut(v, "?")
	if !strings.HasPrefix(uri, "sip:") && !strings.HasPrefix(uri, "sips:") {
		return sip.Uri{}, nil, ErrBadReferTo
	}
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil || u.Host == "" {
		return sip.Uri{}, nil, ErrBadReferTo
	}
	out := map[string]string{}
	if hdrs != "" {
		for _, kv := range strings.Split(hdrs, "&") {
			k, val, _ := strings.Cut(kv, "=")
			k, err1 := url.PathUnescape(k)
			val, err2 := url.PathUnescape(val)
			if err1 != nil || err2 != nil || k == "" || strings.ContainsAny(k+val, "\r\n") {
				return sip.Uri{}, nil, ErrBadReferTo
			}
			out[k] = val
		}
	}
	return u, out, nil
}

// Header returns an embedded header, case-insensitively.
func (r *Refer) Header(name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Notify reports the transfer's progress to the referrer with a NOTIFY
// carrying a message/sipfrag status line. It does not block: NOTIFYs go out
// in order, each after the previous one's transaction ended; then, if
// given, runs (off the caller's goroutine). The first final status (≥ 200)
// ends the subscription; later calls only run then.
func (r *Refer) Notify(code int, reason string, then ...func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final {
		for _, f := range then {
			go f()
		}
		return
	}
	r.final = code >= 200
	if r.q == nil {
		r.q = make(chan notifyReq, 8)
		u := r.call.ua
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			for n := range r.q {
				r.sendNotify(n.code, n.reason)
				for _, f := range n.then {
					f()
				}
				if n.code >= 200 {
					return
				}
			}
		}()
	}
	select {
	case r.q <- notifyReq{code, reason, then}:
	default:
		r.call.log.Warn("NOTIFY queue full; dropping progress", "code", code)
	}
}

type notifyReq struct {
	code   int
	reason string
	then   []func()
}

func (r *Refer) sendNotify(code int, reason string) {
	c := r.call
	req := sip.NewRequest(sip.NOTIFY, c.remoteTarget())
	req.AppendHeader(sip.NewHeader("Event", "refer"))
	state := "active;expires=60"
	if code >= 200 {
		state = "terminated;reason=noresource"
	}
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte(fmt.Sprintf("SIP/2.0 %d %s\r\n", code, reason)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	c.mu.Lock()
	client, server := c.client, c.server
	c.mu.Unlock()
	switch {
	case client != nil:
		_, err = client.Do(ctx, req)
	case server != nil:
		_, err = server.Do(ctx, req)
	}
	if err != nil {
		c.log.Debug("NOTIFY failed", "err", err)
	}
}

// onRefer accepts a REFER when the call's owner handles transfers
// (Events.OnRefer) and declines it otherwise (603: the ACD keeps the call
// and bridges the transfer itself).
func (u *UA) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	c := u.inDialog("REFER", req, tx)
	if c == nil {
		return
	}
	h := req.GetHeader("Refer-To")
	if h == nil {
		u.respond(tx, req, 400, "Missing Refer-To")
		return
	}
	target, hdrs, err := ParseReferTo(h.Value())
	if err != nil {
		u.respond(tx, req, 400, "Bad Refer-To")
		return
	}
	c.mu.Lock()
	on := c.events.OnRefer
	c.mu.Unlock()
	if on == nil {
		u.respond(tx, req, 603, "Decline")
		return
	}
	r := &Refer{Target: target, Headers: hdrs, call: c}
	if rb := req.GetHeader("Referred-By"); rb != nil {
		r.ReferredBy = rb.Value()
	}
	u.respond(tx, req, 202, "Accepted")
	c.log.Info("REFER accepted", "target", target.String())
	r.Notify(100, "Trying")
	on(r)
}
