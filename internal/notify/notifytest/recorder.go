package notifytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// recorder keeps records and wakes waiters on each new one.
type recorder[T any] struct {
	mu      sync.Mutex
	items   []T
	changed chan struct{} // closed and replaced on every add
}

func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, v)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.items...)
}

func (r *recorder[T]) update(i int, f func(*T)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.items[i])
}

// wait returns the records once there are at least n, or ctx's error.
func (r *recorder[T]) wait(ctx context.Context, n int) ([]T, error) {
	for {
		r.mu.Lock()
		if len(r.items) >= n {
			out := append([]T(nil), r.items...)
			r.mu.Unlock()
			return out, nil
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch, have := r.changed, len(r.items)
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("notifytest: waited for %d records, have %d: %w", n, have, ctx.Err())
		}
	}
}

// failures is a FIFO of injected failures.
type failures[T any] struct {
	mu sync.Mutex
	q  []T
}

func (f *failures[T]) push(n int, v T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.q = append(f.q, v)
	}
}

func (f *failures[T]) pop() (T, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var zero T
	if len(f.q) == 0 {
		return zero, false
	}
	v := f.q[0]
	f.q = f.q[1:]
	return v, true
}

var linkRE = regexp.MustCompile(`https?://[^\s<>"'\x60]+`)

// Links returns the http(s) URLs found in s, in order, without trailing
// sentence punctuation.
func Links(s string) []string {
	var out []string
	for _, l := range linkRE.FindAllString(s, -1) {
		out = append(out, strings.TrimRight(l, ".,;:!?)]}"))
	}
	return out
}

func firstLink(s string) string {
	if l := Links(s); len(l) > 0 {
		return l[0]
	}
	return ""
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
