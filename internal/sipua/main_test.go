package sipua

import (
	"flag"
	"os"
	"testing"

	"github.com/split-hub/split/internal/testutil/netns"
)

// The tests bind fixed SIP ports on 127.0.0.1: in a network namespace of
// their own they cannot collide with another package's tests, a second
// checkout's, or a hub running on this machine.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(netns.Main(m))
}
