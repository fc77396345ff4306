// Package netns runs a test binary inside a network namespace that has only
// loopback. It imports nothing of SPLIT's, so any package's tests can use it.
package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Main runs a package's tests inside a fresh network namespace that
// has only loopback (`unshare --net`, then `ip link set lo up`), so that no
// packet of an end-to-end test can leave the machine. Call it from TestMain
// after flag.Parse; under -short it just runs the tests. It needs root (or
// CAP_SYS_ADMIN) and util-linux's unshare.
func Main(m *testing.M) int {
	if testing.Short() || os.Getenv("SPLIT_TEST_NETNS") != "" {
		return m.Run()
	}
	args := append([]string{"--net", "--", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, os.Args[0]}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), "SPLIT_TEST_NETNS=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "netns: cannot create a network namespace (needs root and util-linux unshare):", err)
		return 1
	}
	return 0
}
