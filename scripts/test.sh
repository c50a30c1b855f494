#!/usr/bin/env bash
# Runs the whole test suite, as CI does: formatting, clippy, every Rust test
# (unit, integration, real clusters, the simulation), and the browser and
# OpenFeature client tests. Installs what a fresh Debian machine lacks.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

ensure_build_deps
ensure_nextest
"$REPO_ROOT/scripts/ui-build.sh"

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

log "cargo nextest run"
cargo nextest run --workspace --no-fail-fast

for extra in "$REPO_ROOT"/scripts/test.d/*.sh; do
    [ -e "$extra" ] || continue
    log "$(basename "$extra")"
    bash "$extra"
done
log "all tests passed"
