package sipua

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/split-hub/split/internal/config"
)

// registerLoop keeps an outbound registration to t alive: REGISTER with
// digest auth, refreshed at half the granted expiry, retried with backoff.
func (u *UA) registerLoop(ctx context.Context, t *config.Trunk) {
	tu, _ := config.ParseTrunkURI(t.URI)
	log := u.log.With("trunk", t.Name)
	// one Call-ID for every REGISTER to this registrar (RFC 3261 §10.2),
	// known to the guard so the registrar's answers pass wherever they come from
	callID, cseq := uuid.NewString(), uint32(1)
	u.mu.Lock()
	u.regIDs[callID] = struct{}{}
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		delete(u.regIDs, callID)
		u.mu.Unlock()
	}()
	backoff := 5 * time.Second
	for {
		granted, err := u.register(ctx, t, tu, t.RegisterExpiry, callID, &cseq)
		wait := backoff
		if err != nil {
			log.Warn("REGISTER failed", "err", err, "retry_in", backoff.String())
			backoff = min(backoff*2, 5*time.Minute)
		} else {
			log.Info("registered", "expires", granted.String())
			backoff = 5 * time.Second
			wait = granted / 2
		}
		select {
		case <-ctx.Done():
			// Unregister on the way out (best effort).
			uctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_, _ = u.register(uctx, t, tu, 0, callID, &cseq)
			cancel()
			return
		case <-time.After(wait):
		}
	}
}

func (u *UA) register(ctx context.Context, t *config.Trunk, tu config.TrunkURI, expiry time.Duration, callID string, cseq *uint32) (time.Duration, error) {
	aor := sip.Uri{Scheme: "sip", User: t.Username, Host: tu.Host, Port: tu.Port}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: tu.Host, Port: tu.Port})
	if t.Transport != "udp" {
		req.SetTransport(strings.ToUpper(t.Transport))
	}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	cs := &sip.CSeqHeader{SeqNo: *cseq, MethodName: sip.REGISTER}
	req.AppendHeader(cs)
	defer func() { *cseq = cs.SeqNo + 1 }() // digest retries raise it in place
	ct := u.contactFor(t.Username, t.Transport)
	req.AppendHeader(&ct)
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expiry.Seconds()))))
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cli := u.client(t.Transport)
	res, err := cli.Do(rctx, req)
	if err != nil {
		return 0, err
	}
	if res.StatusCode == 401 || res.StatusCode == 407 {
		res, err = cli.DoDigestAuth(rctx, req, res, sipgo.DigestAuth{Username: t.Username, Password: t.Password})
		if err != nil {
			return 0, err
		}
	}
	if !res.IsSuccess() {
		return 0, &EndedError{Code: res.StatusCode, Reason: res.Reason}
	}
	granted := expiry
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 {
			granted = time.Duration(n) * time.Second
		}
	}
	if granted < 30*time.Second {
		granted = 30 * time.Second
	}
	return granted, nil
}
