#!/usr/bin/env bash
# bench-compare.sh [benchcompare run flags...]
#
# Measures SPLIT's media and SIP paths side by side with rtpengine
# (userspace, Debian rtpengine-daemon, driven by its ng protocol), Kamailio
# (Debian) and a floor relay (test/benchcompare floor), on the same load,
# interleaved, in a loopback-only network namespace, and prints one table of
# medians and ratios (docs/benchmarks.md § Side by side). Default: 3 rounds,
# 20 and 50 passthrough calls for 20 s each, OPTIONS at 1k/4k/16k per second.
#
#   scripts/bench-compare.sh                         # make bench-compare
#   scripts/bench-compare.sh -rounds 1 -duration 5s  # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
for bin in rtpengine kamailio unshare ip; do
	command -v "$bin" >/dev/null || { echo "bench-compare: $bin missing (apt-get install rtpengine-daemon kamailio iproute2)" >&2; exit 1; }
done
out=$(mktemp -d /tmp/bench-compare.XXXXXX)
GO=${GO:-go}
"$GO" build -o "$out/split" ./cmd/split
"$GO" build -o "$out/splitload" ./cmd/splitload
"$GO" build -o "$out/benchcompare" ./test/benchcompare
echo "bench-compare: binaries in $out; $(nproc) cores; $(rtpengine --version 2>&1 | head -1); $(kamailio -v | head -1)" >&2
# a network namespace with only loopback: nothing leaves the machine
exec unshare --net bash -c 'ip link set lo up && exec "$0" run -split "$1/split" -splitload "$1/splitload" "${@:2}"' \
	"$out/benchcompare" "$out" "$@"
