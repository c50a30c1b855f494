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
log "building vexil"
(cd "$REPO_ROOT" && cargo build -p vexil-node --bin vexil)

export VEXIL_DATA_DIR="${VEXIL_DATA_DIR:-$REPO_ROOT/vexil-data}"
log "starting vexil on http://127.0.0.1:7070 (data in $VEXIL_DATA_DIR)"
if [ -f "$VEXIL_DATA_DIR/admin-token" ]; then
    log "admin token: $(cat "$VEXIL_DATA_DIR/admin-token")  (from $VEXIL_DATA_DIR/admin-token)"
fi
exec "$CARGO_TARGET_DIR/debug/vexil" serve "$@"
