// Package interpreter holds the policy of the Deaf Interpreter mode
// (docs/interpreter.md): the media plan's listen matrix (who hears whom,
// §4.2) as a session.Policy, and the dial policy for the phone party's
// number (§3.3). The hub calls it; it starts no goroutine and holds no
// network resource.
package interpreter
