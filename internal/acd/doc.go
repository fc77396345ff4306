// Package acd is SPLIT's built-in automatic call distributor, used when no
// external PBX or ACD sits behind the hub. It is pure logic: it knows nothing
// about SIP, WebRTC or HTTP. It decides which agent is offered which waiting
// session and tells its owner through a Dispatcher.
//
// # Model
//
// A queue (QueueConfig) holds waiting sessions, ordered by priority (higher
// first) and then by arrival. A session that is being offered (its agent is
// ringing) keeps its place in the queue until it is accepted, so callers
// behind it do not move. Transfers into a queue go to the front of it.
//
// An agent logs in to one or more queues and moves through the states
//
//	logged_out → not_ready ⇄ ready → ringing → busy → wrap_up → ready
//	                              ↘ not_ready (ring timeout or decline)
//
// A waiting session is offered to the ready agent of its queue that has been
// idle longest (idle since the end of its last wrap-up, or since it became
// ready). Across queues the best session goes first: transfers, then higher
// priority, then earlier arrival. An agent rings for at most one session and
// a session rings at most one agent. A ring that is not accepted within
// RingTimeout is cancelled (reason "timeout"), the agent goes not_ready (a
// missed call, like Asterisk's autopause) and the session is offered to the
// next agent from its place in the queue. A declined offer is treated the
// same way, without a CancelOffer (the agent's side already stopped ringing).
// A cancelled offer that was not the agent's fault (abandon, overflow) leaves
// the agent ready and keeps its place in the idle order.
//
// When a queue has an Overflow target, a session that waits longer than
// MaxWait, or that arrives while no agent is logged in to the queue, leaves
// the queue through Dispatcher.Overflow. Without an Overflow target sessions
// wait for ever.
//
// # Estimated wait time
//
// For a session s in queue q:
//
//	EWT(s) = k × AHT(q) / N(q)          rounded to the second
//	k      = 1 + the sessions ahead of s that are not ringing an agent
//	         (those are being served already)
//	AHT(q) = mean handle time (answer to end of wrap-up, i.e. talk + wrap-up)
//	         of the last 20 calls answered from q; before the first such call
//	         ends it is the default handle time (60 s, WithDefaultHandleTime)
//	N(q)   = agents logged in to q (any state but logged_out), at least 1
//
// For a new caller (QueueStatus.EWT) k = 1 + the sessions of q not ringing an
// agent, and EWT is 0 when an agent of q is ready. Agents that serve several
// queues count fully in each.
//
// The Dispatcher gets Position when a session's position changes (on
// enqueue, and when someone ahead is answered, abandons, overflows or is
// transferred in ahead), or when its EWT moved by at least 10 s and 25 %
// since the last notification. Nothing is sent when nothing changed.
//
// # Concurrency
//
// An ACD is safe for concurrent use. State lives under one mutex; Dispatcher
// methods are called in order, one at a time, from one goroutine owned by the
// ACD and never while its lock is held, so a Dispatcher may call back into
// the ACD (for example Accept from inside Offer). A callback describes the
// state when it was queued: an Offer may already be withdrawn when it is
// delivered (its CancelOffer follows), and Accept then returns ErrNotOffered.
// The goroutine starts with the first callback and Close stops it. Timers
// run on an injectable Clock (WithClock) so tests are deterministic.
//
// Agents that log out are kept (as logged_out, with their counters) for
// Agents and a later Login.
package acd
