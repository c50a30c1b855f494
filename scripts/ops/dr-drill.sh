#!/usr/bin/env bash
# The disaster-recovery drill: follows docs/OPERATIONS.md on a local
# three-node cluster, step by step, with the same commands an operator runs:
#   1. a lost node: remove it, start a replacement with --join, add it;
#   2. quorum loss: writes refuse (exit 6) while reads stay up; bring the
#      members back and writes resume;
#   3. a full restore: back up through any node, lose every node, restore
#      the file into three new data directories, start them, and check that
#      the state hash and the exported flags are what they were.
# Usage: scripts/ops/dr-drill.sh (after
# `cargo build -p vexil-node -p vexil-cluster --bin vexil --bin vexil-cluster`).
source "$(dirname "$0")/../lib.sh"
set -euo pipefail

BIN="$CARGO_TARGET_DIR/debug"
VEXIL="$BIN/vexil"
WORK="$(mktemp -d)"
PIDS=()
SECRET=""  # the cluster's secret, read from vexil-cluster's cluster.json
FAST=(--heartbeat-ms 50 --election-timeout-min-ms 300 --election-timeout-max-ms 600 --write-timeout-ms 1500)

cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        for f in "$WORK"/src/node*.log "$WORK"/*.log; do
            [ -f "$f" ] || continue
            echo "--- $f (last 15 lines) ---" >&2
            tail -n 15 "$f" >&2
        done
    fi
    "$BIN/vexil-cluster" --dir "$WORK/src" down >/dev/null 2>&1 || true
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { log "drill: $*"; }
fail() { echo "drill failed: $*" >&2; exit 1; }
free_ports() { python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))' "$1"; }
# wait_ready URL: until /readyz answers 200 (30 s at most).
wait_ready() {
    for _ in $(seq 1 300); do
        curl -sf --max-time 1 "$1/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "$1 never became ready"
}
# retry N CMD…: runs CMD until it succeeds, N times at most, 0.2 s apart.
retry() {
    local n=$1; shift
    for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    "$@"
}
# start_node ID API PEER DATA [ARGS…]: `vexil serve` in the background.
start_node() {
    local id=$1 api=$2 peer=$3 data=$4; shift 4
    "$VEXIL" serve --id "$id" --data-dir "$data" --listen "127.0.0.1:$api" \
        --peer-listen "127.0.0.1:$peer" --cluster-secret "$SECRET" "${FAST[@]}" "$@" \
        >>"$WORK/node-$id.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$id=$!"
}
state_hash() { "$VEXIL" --output json backup --verify "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state_hash"])'; }

step "a three-node cluster with flags, segments and history"
"$BIN/vexil-cluster" --dir "$WORK/src" --bin "$VEXIL" up 3 -- --write-timeout-ms 1500 >"$WORK/up.txt"
export VEXIL_TOKEN; VEXIL_TOKEN="$(sed -n 's/^admin token: //p' "$WORK/up.txt")"
SECRET="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"]["cluster_secret"])' "$WORK/src/cluster.json")"
mapfile -t URLS < <(sed -n 's/^node [0-9]*: \(http[^ ]*\).*/\1/p' "$WORK/up.txt")
export VEXIL_URL="${URLS[0]}"
# The first admin token exists once a leader committed it.
retry 100 "$VEXIL" flags list >/dev/null
cat >"$WORK/flags.yaml" <<'YAML'
segments:
  - key: beta-testers
    included: [u1, u2, u3]
flags:
  - key: new-checkout
    kind: boolean
    variations: [{value: true}, {value: false}]
    off_variation: 1
    fallthrough: {variation: 1}
    enabled: true
    rules:
      - id: beta
        clauses: [{attribute: key, operator: segment_match, values: [beta-testers]}]
        serve: {variation: 0}
  - key: banner
    kind: string
    variations: [{value: "hello"}, {value: "bye"}]
    off_variation: 1
    fallthrough: {variation: 0}
YAML
"$VEXIL" apply -f "$WORK/flags.yaml" >/dev/null
for i in $(seq 1 20); do "$VEXIL" flags create "bulk-$i" >/dev/null; done
"$VEXIL" flags on banner >/dev/null
"$VEXIL" flags off new-checkout >/dev/null
"$VEXIL" flags rollback new-checkout --version 1 >/dev/null

step "runbook: a lost node (node 3's disk is gone)"
"$BIN/vexil-cluster" --dir "$WORK/src" kill 3
rm -rf "$WORK/src/node3"
"$VEXIL" flags create written-without-node-3 >/dev/null || fail "2 of 3 nodes must accept writes"
"$VEXIL" cluster remove 3 >/dev/null
read -r API4 PEER4 < <(free_ports 2)
start_node 4 "$API4" "$PEER4" "$WORK/node4" --join
retry 50 "$VEXIL" cluster add 4 --peer "127.0.0.1:$PEER4" --client "127.0.0.1:$API4"
wait_ready "http://127.0.0.1:$API4"
[ "$(VEXIL_URL="http://127.0.0.1:$API4" "$VEXIL" export)" = "$("$VEXIL" export)" ] \
    || fail "the replacement node does not serve the same flags"
"$VEXIL" --output json cluster status | python3 -c '
import json, sys
ids = sorted(m["id"] for m in json.load(sys.stdin)["members"])
assert ids == [1, 2, 4], ids'

step "runbook: a full restore from a backup"
"$VEXIL" backup --to "$WORK/full.backup" >/dev/null
"$VEXIL" export >"$WORK/before.json"
BEFORE="$(state_hash "$WORK/full.backup")"
"$BIN/vexil-cluster" --dir "$WORK/src" down
kill "$PID_4"; wait "$PID_4" 2>/dev/null || true
read -r A1 P1 A2 P2 A3 P3 < <(free_ports 6)
MEMBERS="1=127.0.0.1:$P1,2=127.0.0.1:$P2,3=127.0.0.1:$P3"
for id in 1 2 3; do
    "$VEXIL" restore "$WORK/full.backup" --data-dir "$WORK/dst/node$id" --id "$id" \
        --initial-cluster "$MEMBERS" >/dev/null
done
start_node 1 "$A1" "$P1" "$WORK/dst/node1"
start_node 2 "$A2" "$P2" "$WORK/dst/node2"
start_node 3 "$A3" "$P3" "$WORK/dst/node3"
for a in "$A1" "$A2" "$A3"; do wait_ready "http://127.0.0.1:$a"; done
export VEXIL_URL="http://127.0.0.1:$A3"
"$VEXIL" backup --to "$WORK/after.backup" >/dev/null
AFTER="$(state_hash "$WORK/after.backup")"
[ "$BEFORE" = "$AFTER" ] || fail "state hash $AFTER after the restore, $BEFORE before"
[ "$("$VEXIL" export)" = "$(cat "$WORK/before.json")" ] || fail "the flags differ after the restore"
"$VEXIL" flags off banner >/dev/null || fail "the restored cluster must accept writes"
LAST_AUDIT="$("$VEXIL" --output json audit list --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')"
APPLIED="$("$VEXIL" --output json backup --verify "$WORK/full.backup" | python3 -c 'import json,sys; print(json.load(sys.stdin)["applied_index"])')"
[ "$LAST_AUDIT" -gt "$APPLIED" ] || fail "audit ids went backwards ($LAST_AUDIT <= $APPLIED)"

step "runbook: quorum loss (2 of 3 nodes down)"
kill -9 "$PID_1" "$PID_2"; wait "$PID_1" "$PID_2" 2>/dev/null || true
set +e
"$VEXIL" flags on banner >/dev/null 2>&1
CODE=$?
set -e
[ "$CODE" -eq 6 ] || fail "a write without quorum must exit 6 (unavailable), got $CODE"
curl -sf "$VEXIL_URL/v1/flags/banner?consistency=local" -H "Authorization: Bearer $VEXIL_TOKEN" >/dev/null \
    || fail "local reads must survive quorum loss"
start_node 1 "$A1" "$P1" "$WORK/dst/node1"
start_node 2 "$A2" "$P2" "$WORK/dst/node2"
retry 100 "$VEXIL" flags on banner || fail "writes must resume once a quorum is back"
step "passed"
