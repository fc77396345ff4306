package auth

import (
	"net/netip"
)

// ACL is the set of source addresses allowed to send us INVITEs. Anything
// else is refused with 403 before any routing happens, so nobody can reach a
// trunk through the hub without being listed.
type ACL struct {
	prefixes []netip.Prefix
	names    []string // parallel: which trunk (or "allow") each prefix belongs to
}

// Add allows prefix on behalf of name (a trunk name, or "allow").
func (a *ACL) Add(name string, p netip.Prefix) {
	a.prefixes = append(a.prefixes, p)
	a.names = append(a.names, name)
}

// Match returns who addr belongs to, and whether it is allowed at all.
func (a *ACL) Match(addr netip.Addr) (string, bool) {
	addr = addr.Unmap()
	for i, p := range a.prefixes {
		if p.Contains(addr) {
			return a.names[i], true
		}
	}
	return "", false
}

// Len is the number of allowed prefixes.
func (a *ACL) Len() int { return len(a.prefixes) }
