#!/usr/bin/env bash
# Fault scenarios on real `vexil` processes (RocksDB, real sockets, SIGKILL).
#
#   scripts/soak.sh                       # every scenario, kill9 for 120 s
#   scripts/soak.sh --seconds 600         # a longer kill -9 soak
#   scripts/soak.sh --short               # the form the test suite runs (30 s)
#
# Scenarios (cluster/src/bin/soak/): kill9 (SIGKILL the leader every 5 s
# under ~100 writes/s, restart it; then every acknowledged write on every
# node, a complete audit log, and an SDK holding the final state),
# snapshot-kill, membership-kill, and disk-full (a 64 MiB tmpfs as the data
# device; root only: skipped, saying why, otherwise).
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

SECONDS_KILL9=120
while [ $# -gt 0 ]; do
    case "$1" in
        --short) SECONDS_KILL9=30 ;;
        --seconds) SECONDS_KILL9="${2:?--seconds needs a value}"; shift ;;
        *) echo "usage: scripts/soak.sh [--short] [--seconds N]" >&2; exit 2 ;;
    esac
    shift
done

ensure_build_deps
build_dev_bins
SOAK="$CARGO_TARGET_DIR/debug/vexil-soak"
WORK="$(mktemp -d)"
MNT=""
cleanup() {
    if [ -n "$MNT" ]; then umount "$MNT" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

run() {
    local name="$1"; shift
    log "soak: $name"
    local started=$SECONDS
    # Each scenario bounds its own waits; this is the backstop.
    timeout $((SECONDS_KILL9 + 240)) "$SOAK" --dir "$WORK/$name" "$@"
    log "soak: $name passed in $((SECONDS - started)) s"
}

run kill9 kill9 --seconds "$SECONDS_KILL9" --rate 100 --kill-every 5
run snapshot-kill snapshot-kill
run membership-kill membership-kill

if [ "$(id -u)" -ne 0 ]; then
    log "soak: disk-full SKIPPED: mounting a small tmpfs needs root (uid $(id -u))"
else
    MNT="$WORK/small"
    mkdir -p "$MNT"
    if err="$(mount -t tmpfs -o size=64m vexil-soak "$MNT" 2>&1)"; then
        run disk-full disk-full --device-dir "$MNT"
    else
        MNT=""
        log "soak: disk-full SKIPPED: cannot mount a tmpfs here: $err"
    fi
fi
