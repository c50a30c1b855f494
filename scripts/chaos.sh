#!/usr/bin/env bash
# Long soaks of the deterministic simulation (chaos-tests/).
#
#   scripts/chaos.sh --seeds 10000            # seeds 0..10000 (3 nodes)
#   scripts/chaos.sh --seeds 500 --start 20000 --nodes 5
#   scripts/chaos.sh --seed 4242              # replay one seed, printing its faults
#
# A failing seed prints its violations and the command that replays it.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
ensure_build_deps
# The one dev build every script shares (scripts/lib.sh): a narrower
# `cargo build -p vexil-chaos-tests` resolves features differently and
# compiles RocksDB's C++ again (~15 min).
build_dev_bins
exec "$CARGO_TARGET_DIR/debug/vexil-chaos" "$@"
