#!/usr/bin/env bash
# gotest.sh LOG FILTER go-test-args...
#
# Runs `go test go-test-args...`, keeps its whole output in LOG and prints the
# lines that match FILTER (an extended regexp; "." prints everything). When
# tests fail, the failed top-level tests are run once more, alone, with the
# same flags (the way gotestsum --rerun-fails and Bazel's flaky_test_attempts
# work). A test that passes the second time is reported loudly as FLAKY — in
# the output and in LOG.flaky — and does not fail the run; one that fails twice
# fails it. A package that fails without naming a test (build error, panic,
# timeout) is not run again: it fails the run.
#
# Why: the end-to-end tests drive real browsers and SIP peers on a shared
# machine, and one lost race in one of ~300 tests should be seen and fixed,
# not throw away a whole CI run. Every FLAKY line is a defect to look at.
set -uo pipefail
log=$1 filter=$2
shift 2
GO=${GO:-go}

"$GO" test "$@" 2>&1 | tee "$log" | grep -E --line-buffered "$filter"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] && exit 0

# Failed top-level tests, per package: go test prints a package's test lines
# before the package's own "FAIL <pkg>" line.
mapfile -t pairs < <(awk '
	/^--- FAIL: / { t[++n] = $3; next }
	/^FAIL\t/ { for (i = 1; i <= n; i++) print $2 " " t[i]; if (n == 0) print $2 " -"; n = 0 }
' "$log" | sort -u)

if [ "${#pairs[@]}" -eq 0 ]; then
	echo "gotest.sh: go test failed (exit $rc) with no failed test named; not run again" >&2
	exit "$rc"
fi

# Flags to keep: everything before the first package pattern.
flags=()
for a in "$@"; do
	case $a in
	./* | github.com/*) break ;;
	*) flags+=("$a") ;;
	esac
done

declare -A tests=()
for p in "${pairs[@]}"; do
	pkg=${p%% *} t=${p#* }
	if [ "$t" = "-" ]; then
		# a timeout's or panic's goroutine dump buries what matters under
		# thousands of lines: say it again last (the test that was running)
		awk '/^panic: /{p=1} p && /^goroutine [0-9]+ \[/{exit} p' "$log" | head -40 >&2
		echo "gotest.sh: $pkg failed without naming a test (build error, panic or timeout); not run again" >&2
		exit "$rc"
	fi
	tests[$pkg]+="${tests[$pkg]:+|}$t"
done

status=0
: >"$log.flaky"
for pkg in "${!tests[@]}"; do
	run="^(${tests[$pkg]})\$"
	echo "=== gotest.sh: running again, alone: $pkg -run '$run'"
	if "$GO" test "${flags[@]}" -run "$run" "$pkg" 2>&1 | tee -a "$log" | grep -E --line-buffered "$filter"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
		for t in ${tests[$pkg]//|/ }; do
			echo "FLAKY: $pkg $t failed, then passed alone" | tee -a "$log.flaky" "$log"
		done
	else
		echo "FAIL again: $pkg $run" | tee -a "$log"
		status=1
	fi
done
exit $status
