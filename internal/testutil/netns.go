package testutil

import (
	"testing"

	"github.com/split-hub/split/internal/testutil/netns"
)

// MainInNetns runs a package's tests inside a fresh network namespace that
// has only loopback (see package netns). Call it from TestMain after
// flag.Parse; under -short it just runs the tests.
func MainInNetns(m *testing.M) int { return netns.Main(m) }
