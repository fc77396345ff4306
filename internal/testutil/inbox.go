package testutil

import (
	"context"
	"sync"
)

// inbox collects the signalling messages a test client receives and wakes
// whoever waits for one. The socket's reader adds; tests wait.
type inbox struct {
	mu      sync.Mutex
	msgs    []Message
	changed chan struct{} // closed and replaced on every message
	err     error         // why the socket closed, once it has
}

func newInbox() *inbox { return &inbox{changed: make(chan struct{})} }

func (b *inbox) add(m Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, m)
	b.wake()
}

// close records that no more messages will come.
func (b *inbox) close(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
	b.wake()
}

func (b *inbox) wake() {
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *inbox) all() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.msgs...)
}

// wait returns the first message (received so far or later) for which
// match is true; the socket's error once it closed, or ctx's.
func (b *inbox) wait(ctx context.Context, match func(Message) bool) (Message, error) {
	seen := 0
	for {
		b.mu.Lock()
		for ; seen < len(b.msgs); seen++ {
			if match(b.msgs[seen]) {
				m := b.msgs[seen]
				b.mu.Unlock()
				return m, nil
			}
		}
		ch, err := b.changed, b.err
		b.mu.Unlock()
		if err != nil {
			return Message{}, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}
