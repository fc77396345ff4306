package hub

import (
	"strings"
	"sync"
	"time"

	"github.com/split-hub/split/internal/config"
)

// cliPool correlates by caller ID, for ACDs that pass no header through to
// their agent legs (neither User-to-User nor X-Split-Session) but keep the
// caller's number, as nearly all do. Each session routed with a pool
// presents one number of the pool as its caller ID toward the ACD for as
// long as it lives; an agent leg arriving from that number joins the
// session. A released number rests before it is handed out again, so that a
// late agent leg of an ended session is not taken for the next one.
type cliPool struct {
	mu    sync.Mutex
	owner map[string]string    // number → session id
	bySID map[string]string    // session id → number
	freed map[string]time.Time // number → when it was released
	rest  time.Duration
	now   func() time.Time
}

func newCLIPool(rest time.Duration) *cliPool {
	return &cliPool{owner: map[string]string{}, bySID: map[string]string{}, freed: map[string]time.Time{}, rest: rest, now: time.Now}
}

// take gives sid a number from numbers: the one it already has, else a
// free one that has rested longest (never used counts as longest). It
// returns "" when every number is taken or resting.
func (p *cliPool) take(sid string, numbers []string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n, ok := p.bySID[sid]; ok {
		return n
	}
	now := p.now()
	best, bestAt := "", time.Time{}
	for _, n := range numbers {
		if _, used := p.owner[n]; used {
			continue
		}
		at, wasFreed := p.freed[n]
		if wasFreed && now.Sub(at) < p.rest {
			continue
		}
		if best == "" || at.Before(bestAt) {
			best, bestAt = n, at
		}
		if !wasFreed {
			break // never used: nothing rested longer
		}
	}
	if best != "" {
		p.owner[best], p.bySID[sid] = sid, best
		delete(p.freed, best)
	}
	return best
}

// numberOf is the number sid presents, if any.
func (p *cliPool) numberOf(sid string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bySID[sid]
}

// release returns sid's number to the pool.
func (p *cliPool) release(sid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.bySID[sid]
	if !ok {
		return
	}
	delete(p.bySID, sid)
	delete(p.owner, n)
	p.freed[n] = p.now()
}

// lookup finds the session whose number a caller ID shows. ACDs and
// carriers rewrite numbers (+34 910 000 100, 0034910000100, 910000100), so
// digits are compared: equal, or one the end of the other with at least 8
// digits and only one session matching.
func (p *cliPool) lookup(caller string) (string, bool) {
	d := digits(caller)
	if len(d) < 3 {
		return "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	match, n := "", 0
	for num, sid := range p.owner {
		nd := digits(num)
		if nd == d {
			return sid, true
		}
		short, long := nd, d
		if len(short) > len(long) {
			short, long = long, short
		}
		if len(short) >= 8 && strings.HasSuffix(long, short) {
			match, n = sid, n+1
		}
	}
	return match, n == 1
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// poolKey names a route's pool: routes that list the same numbers share them.
func poolKey(r config.Route) string { return strings.Join(r.CallerIDPool, "\x00") }
