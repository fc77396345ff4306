package sipguard

import (
	"net/netip"
	"sync"
	"time"
)

// Limiter is a token bucket per source address with a bounded table, in the
// spirit of Kamailio's pike: a source sending faster than Rate (with Burst
// in hand) is blocked until it slows down. When the table is full, idle
// sources are swept; sources that still do not fit share one bucket, so a
// flood of spoofed addresses costs bounded memory and cannot lock out the
// sources already known.
type Limiter struct {
	rate  float64 // tokens per second
	burst float64
	max   int

	mu        sync.Mutex
	m         map[netip.Addr]bucket
	overflow  bucket
	lastSweep int64
}

type bucket struct {
	tokens   float64
	last     int64 // unix nanoseconds
	reported int64 // when it was last reported blocked (once a minute at most)
}

// NewLimiter allows rate messages per second per source, bursts of burst,
// and keeps at most max sources (0: 65536).
func NewLimiter(rate, burst float64, max int) *Limiter {
	if max <= 0 {
		max = 1 << 16
	}
	if burst < 1 {
		burst = 1
	}
	return &Limiter{rate: rate, burst: burst, max: max, m: make(map[netip.Addr]bucket), overflow: bucket{tokens: burst}}
}

// Allow takes a token for src. newlyBlocked is true when a refused source
// has not been reported in the last minute (log that, not every packet).
func (l *Limiter) Allow(src netip.Addr, now time.Time) (ok, newlyBlocked bool) {
	if l == nil || l.rate <= 0 {
		return true, false
	}
	n := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, known := l.m[src]
	inTable := known
	if !known {
		if len(l.m) >= l.max && n-l.lastSweep > int64(time.Second) {
			l.lastSweep = n
			l.sweep(n)
		}
		if len(l.m) < l.max {
			b, inTable = bucket{tokens: l.burst, last: n}, true
		} else {
			b = l.overflow
		}
	}
	ok, newly := b.take(n, l.rate, l.burst)
	if inTable {
		l.m[src] = b
	} else {
		l.overflow = b
	}
	return ok, newly
}

func (b *bucket) take(n int64, rate, burst float64) (ok, newlyBlocked bool) {
	if dt := n - b.last; dt > 0 {
		b.tokens += float64(dt) / 1e9 * rate
		if b.tokens > burst {
			b.tokens = burst
		}
	}
	b.last = n
	if b.tokens >= 1 {
		b.tokens--
		return true, false
	}
	if n-b.reported >= int64(time.Minute) {
		b.reported = n
		return false, true
	}
	return false, false
}

// sweep forgets sources whose bucket has refilled (idle long enough that
// forgetting them changes nothing).
func (l *Limiter) sweep(now int64) {
	full := int64(l.burst / l.rate * 1e9)
	for a, b := range l.m {
		if now-b.last >= full {
			delete(l.m, a)
		}
	}
}

// Len is the number of sources tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
