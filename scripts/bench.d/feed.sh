#!/usr/bin/env bash
# Part 4: SSE fan-out. 10,000 subscribers on /v1/stream of one follower of a
# 3-node cluster; 20 writes at the leader, one per 500 ms; time from each
# write's acknowledgement to its arrival at every subscriber, and the
# follower's RSS per subscriber. Prints summary rows on stdout.
#
#   scripts/bench.d/feed.sh
#   SUBSCRIBERS=1000 scripts/bench.d/feed.sh
source "$(dirname "${BASH_SOURCE[0]}")/_build.sh"

# One descriptor per subscriber, in the load generator and in the follower.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
subscribers="${SUBSCRIBERS:-10000}"
if [ "$(ulimit -n)" -lt $((subscribers + 1000)) ]; then
    echo "feed.sh: open-file limit $(ulimit -n) is too low for $subscribers subscribers" >&2
    exit 1
fi
bench_build

work="$(mktemp -d -t vexil-bench-feed.XXXXXX)"
trap 'rm -rf "$work"' EXIT
load_note
bench_rows feed --dir "$work" feed --subscribers "$subscribers" --writes 20 --interval-ms 500
load_note
