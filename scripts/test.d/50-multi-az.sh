#!/usr/bin/env bash
# Multi-AZ: scripts/multi-az.sh runs five nodes in network namespaces across
# three simulated availability zones (with tc netem latency where the kernel
# has it), cuts the leader's AZ off and heals it: the majority keeps writing,
# the cut-off side refuses writes but serves local reads and SDK streams, and
# every node converges. Needs root; prints SKIPPED (and passes) without it.
source "$(dirname "$0")/../lib.sh"
set -euo pipefail
cd "$REPO_ROOT"

log "building vexil"
build_dev_bins
timeout 300 bash "$REPO_ROOT/scripts/multi-az.sh"
