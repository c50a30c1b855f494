#!/usr/bin/env bash
# Starts Vexil: one node with an embedded data directory, its API and UI on
# http://127.0.0.1:7070. Installs what a fresh Debian machine lacks, builds,
# then runs in the foreground (Ctrl-C stops it).
#
#   scripts/start.sh                 # data in ./vexil-data
#   VEXIL_DATA_DIR=/var/lib/vexil scripts/start.sh
#   scripts/start.sh --listen 127.0.0.1:8080   # extra flags go to `vexil serve`
source "$(dirname "$0")/lib.sh"

ensure_build_deps
"$REPO_ROOT/scripts/ui-build.sh"
# The test suite's selection, not just `vexil`: a narrower build resolves a
# host dependency of RocksDB's build script with other features (memchr's
# `default`, which the tests' proc-macros turn on), and `scripts/test.sh`
# would then compile RocksDB's C++ a second time. The test binaries cost a
# few minutes here once; a second RocksDB costs ~15.
log "building vexil (and the test binaries, so that scripts/test.sh reuses this build)"
build_dev_bins --progress

export VEXIL_DATA_DIR="${VEXIL_DATA_DIR:-$REPO_ROOT/vexil-data}"
# Say the address the node will really use: --listen (either spelling),
# else VEXIL_LISTEN, else the default.
listen="${VEXIL_LISTEN:-127.0.0.1:7070}"
args=("$@")
for i in "${!args[@]}"; do
    case "${args[$i]}" in
        --listen=*) listen="${args[$i]#--listen=}" ;;
        --listen) listen="${args[$((i + 1))]:-$listen}" ;;
    esac
done
log "starting vexil on http://$listen (data in $VEXIL_DATA_DIR)"
if [ -f "$VEXIL_DATA_DIR/admin-token" ]; then
    log "admin token: $(cat "$VEXIL_DATA_DIR/admin-token")  (from $VEXIL_DATA_DIR/admin-token)"
fi
exec "$CARGO_TARGET_DIR/debug/vexil" serve "$@"
