package acd

import "sync"

// Callbacks delivers callbacks in order, one at a time, from one goroutine
// that it starts on the first push and stops in close. It has its own lock,
// taken under the ACD's lock (never the other way round), so the order of
// pushes is the order of the ACD's state changes.
type Callbacks struct {
	mu         sync.Mutex
	cond       sync.Cond
	queue      []func()
	delivering bool // a callback is running outside mu
	started    bool
	closed     bool
	done       chan struct{} // closed when run returns
}

// NewCallbacks returns an empty, idle queue of callbacks.
func NewCallbacks() *Callbacks {
	n := &Callbacks{done: make(chan struct{})}
	n.cond.L = &n.mu
	return n
}

// Push queues f. After close it does nothing.
func (n *Callbacks) Push(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.queue = append(n.queue, f)
	if !n.started {
		n.started = true
		go n.run()
	}
	n.cond.Broadcast()
}

func (n *Callbacks) run() {
	defer close(n.done)
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		for len(n.queue) == 0 && !n.closed {
			n.cond.Wait()
		}
		if n.closed {
			return
		}
		f := n.queue[0]
		n.queue[0] = nil
		n.queue = n.queue[1:]
		n.delivering = true
		n.mu.Unlock()
		f()
		n.mu.Lock()
		n.delivering = false
		n.cond.Broadcast()
	}
}

// Flush waits until every queued callback, including those queued by
// callbacks meanwhile, has returned. It must not be called from a callback.
func (n *Callbacks) Flush() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for (len(n.queue) > 0 || n.delivering) && !n.closed {
		n.cond.Wait()
	}
}

// Close drops undelivered callbacks and waits for a running one to return.
// It is idempotent and must not be called from a callback.
func (n *Callbacks) Close() {
	n.mu.Lock()
	n.closed = true
	n.queue = nil
	started := n.started
	n.cond.Broadcast()
	n.mu.Unlock()
	if started {
		<-n.done
	}
}
