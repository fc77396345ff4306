package acd_test

import (
	"fmt"
	"time"

	"github.com/split-hub/split/internal/acd"
)

// offers is a Dispatcher that passes on offers and ignores the rest.
type offers chan string

func (o offers) Offer(agentID, sessionID, queue string) {
	o <- fmt.Sprintf("ring %s for %s (%s)", agentID, sessionID, queue)
}
func (offers) CancelOffer(agentID, sessionID, reason string)                {}
func (offers) Overflow(sessionID, queue, target string)                     {}
func (offers) Position(sessionID, queue string, pos int, ewt time.Duration) {}
func (offers) AgentState(acd.AgentStatus)                                   {}

func Example() {
	ring := make(offers, 8)
	a, err := acd.New([]acd.QueueConfig{{Name: "sales", WrapUp: 30 * time.Second, Overflow: "sip:voicemail@pbx"}}, ring)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()

	if err := a.Login("alice", "Alice", []string{"sales"}); err != nil {
		fmt.Println(err)
		return
	}
	_ = a.SetReady("alice", true)
	pos, _ := a.Enqueue("call-1", "sales", 0)
	fmt.Println("position", pos)
	fmt.Println(<-ring)

	_ = a.Accept("alice", "call-1")
	_ = a.CallEnded("alice")
	st := a.Agents()[0]
	fmt.Println(st.ID, st.State, st.Handled)
	// Output:
	// position 1
	// ring alice for call-1 (sales)
	// alice wrap_up 1
}
