#!/usr/bin/env bash
# Part 5: scale. 10,000 flags and 1,000,000 audit entries, built by running
# every write through the real apply path on an in-process node (in-memory
# engine, so no fsync), written as a backup and restored into a fresh 3-node
# cluster. Then: pages, snapshot size, restart, SDK cold start and a join.
# Needs ~10 GB of free disk in $TMPDIR (a 2 GB backup, three restored nodes
# and a joiner). Prints summary rows on stdout.
#
#   scripts/bench.d/scale.sh
#   AUDIT=100000 scripts/bench.d/scale.sh     # smaller and quicker
#   PROJECTS=10 AUDIT=100000 scripts/bench.d/scale.sh
#       # also 10 projects × 5 environments × 2,000 flags (issue 22):
#       # their list pages, and restart and data size with them
source "$(dirname "${BASH_SOURCE[0]}")/_build.sh"

bench_build
work="$(mktemp -d -t vexil-bench-scale.XXXXXX)"
trap 'rm -rf "$work"' EXIT
load_note
bench_rows scale --dir "$work" scale --flags "${FLAGS:-10000}" --audit "${AUDIT:-1000000}" \
    --projects "${PROJECTS:-0}" --envs "${ENVS:-5}" --project-flags "${PROJECT_FLAGS:-2000}"
load_note
