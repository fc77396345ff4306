#!/usr/bin/env bash
# soak.sh [DURATION] [SESSIONS_PER_NODE] [HOLD]
#
# Three hub nodes (the real binary) on one throwaway PostgreSQL, in a
# loopback-only network namespace, under a steady load of Forward sessions
# (customer → hub → SIP "ACD"; media asserted both ways; each record read back
# ended from another node) for DURATION (default 1h). Fails on any failed
# session, on goroutines not back to idle after the load, or on memory growing
# in the second half of the run. docs/benchmarks.md, "Soak", has the results.
# CI runs the same test for 2 minutes (make test-e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-1h} calls=${2:-8} hold=${3:-15s}
# the test bounds itself (DURATION + 5 minutes); go test's own timeout is off
exec go test -count=1 -v -run '^TestSoak$' -timeout 0 ./test/soak/ -args -soak="$dur" -soak.calls="$calls" -soak.hold="$hold"
