#!/usr/bin/env bash
# Part 8: promotion at scale. One project of 2,000 flags on a 3-node
# cluster, each configured differently in staging than in production; the
# dry run, the promotion of all of them (one Raft entry) and its rollback,
# timed end to end through the API (the issue's target: apply <= 2 s).
# Prints summary rows on stdout.
#
#   scripts/bench.d/promote.sh
#   FLAGS=500 BENCH_PROFILE=dev scripts/bench.d/promote.sh
source "$(dirname "${BASH_SOURCE[0]}")/_build.sh"

bench_build
work="$(mktemp -d -t vexil-bench-promote.XXXXXX)"
trap 'rm -rf "$work"' EXIT
load_note
bench_rows promote --dir "$work" promote --flags "${FLAGS:-2000}" --rounds "${ROUNDS:-3}"
load_note
