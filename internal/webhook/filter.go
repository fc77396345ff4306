package webhook

import (
	"fmt"
	"strings"
)

// filter selects the event types an endpoint receives. It is immutable
// after compileFilter, so Send reads it without locking.
type filter struct {
	all      bool
	exact    map[string]bool
	prefixes []string // "session." for the pattern "session.*"
}

// compileFilter validates patterns: an exact type ("agent.state"), a prefix
// wildcard ending in ".*" ("session.*", matching "session.created" and
// "session.x.y" but not "session"), or "*". No patterns means every type.
func compileFilter(patterns []string) (filter, error) {
	f := filter{all: len(patterns) == 0, exact: map[string]bool{}}
	for _, p := range patterns {
		switch {
		case p == "*":
			f.all = true
		case p == "":
			return f, fmt.Errorf("empty event filter")
		case strings.HasSuffix(p, ".*") && len(p) > 2 && !strings.Contains(p[:len(p)-2], "*"):
			f.prefixes = append(f.prefixes, p[:len(p)-1])
		case strings.Contains(p, "*"):
			return f, fmt.Errorf("event filter %q: a wildcard must be \"*\" or a final \".*\"", p)
		default:
			f.exact[p] = true
		}
	}
	return f, nil
}

func (f filter) match(typ string) bool {
	if f.all || f.exact[typ] {
		return true
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}
