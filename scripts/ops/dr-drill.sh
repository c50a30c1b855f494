#!/usr/bin/env bash
# The disaster-recovery drill: follows docs/OPERATIONS.md on local
# three-node clusters, step by step, with the same commands an operator runs:
#   1. a lost node: removing a healthy member is refused while one is down
#      (exit 4); remove the lost one, start a replacement with --join, add it;
#   2. a full restore: back up through any node, lose every node, restore
#      the file into three new data directories, start them, and check that
#      the state hash and the exported flags are what they were;
#   3. quorum loss: writes refuse (exit 6) while local reads and the
#      survivor's scheduled backups go on; bring the members back and writes
#      resume;
#   4. a rolling restart: SIGTERM one node at a time (with a change-feed
#      stream open on it), leader last, each back (/readyz) and caught up
#      (`vexil cluster status`) before the next, while a writer keeps writing;
#   5. adding and removing nodes: add a fourth with --join, remove the
#      leader while it runs, stop it; every acknowledged write is there.
# Usage: scripts/ops/dr-drill.sh (after the test run,
# or `build_dev_bins` from scripts/lib.sh).
source "$(dirname "$0")/../lib.sh"
set -euo pipefail

source "$(dirname "$0")/cluster-lib.sh"

# start_member ID [ARGS…]: a member of the restored cluster, as deployed in
# cluster/deploy/: its own data and backup directories, scheduled backups
# (every second here, keeping two).
start_member() {
    local id=$1; shift
    start_node "$id" "${API[$id]}" "${PEER[$id]}" "$WORK/dst/node$id" \
        --backup-dir "$WORK/backups/node$id" --backup-every 1s --backup-keep 2 "$@"
}

step "a three-node cluster with flags, segments and history"
"$BIN/vexil-cluster" --dir "$WORK/src" --bin "$VEXIL" up 3 -- "${FAST[@]}" >"$WORK/up.txt"
export VEXIL_TOKEN; VEXIL_TOKEN="$(sed -n 's/^admin token: //p' "$WORK/up.txt")"
SECRET="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"]["cluster_secret"])' "$WORK/src/cluster.json")"
mapfile -t URLS < <(sed -n 's/^node [0-9]*: \(http[^ ]*\).*/\1/p' "$WORK/up.txt")
export VEXIL_URL="${URLS[0]}"
# The first admin token exists once a leader committed it.
retry 100 "$VEXIL" flags list >/dev/null
seed_flags

step "1. runbook: a lost node (node 3's disk is gone)"
"$BIN/vexil-cluster" --dir "$WORK/src" kill 3
rm -rf "$WORK/src/node3"
"$VEXIL" flags create written-without-node-3 >/dev/null || fail "2 of 3 nodes must accept writes"
for _ in $(seq 1 50); do [ "$(st healthy 3)" = no ] && break; sleep 0.2; done
[ "$(st healthy 3)" = no ] || fail "cluster status still shows node 3 healthy"
sleep "$ACK_HORIZON"
set +e
"$VEXIL" cluster remove 2 >/dev/null 2>&1
CODE=$?
set -e
[ "$CODE" -eq 4 ] || fail "removing a healthy member while another is down must be refused (exit 4), got $CODE"
"$VEXIL" cluster remove 3 >/dev/null
read -r API4 PEER4 < <(free_ports 2)
start_node 4 "$API4" "$PEER4" "$WORK/node4" --join
retry 50 "$VEXIL" cluster add 4 --peer "127.0.0.1:$PEER4" --client "127.0.0.1:$API4"
wait_ready "http://127.0.0.1:$API4"
[ "$(VEXIL_URL="http://127.0.0.1:$API4" "$VEXIL" export)" = "$("$VEXIL" export)" ] \
    || fail "the replacement node does not serve the same flags"
[ "$(st ids)" = "1 2 4" ] || fail "members are $(st ids), not 1 2 4"

step "2. runbook: a full restore from a backup"
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
API=([1]="$A1" [2]="$A2" [3]="$A3")
PEER=([1]="$P1" [2]="$P2" [3]="$P3")
URL_OF=([1]="http://127.0.0.1:$A1" [2]="http://127.0.0.1:$A2" [3]="http://127.0.0.1:$A3")
for id in 1 2 3; do start_member "$id"; done
for id in 1 2 3; do wait_ready "${URL_OF[$id]}"; done
export VEXIL_URL="${URL_OF[3]}"
"$VEXIL" backup --to "$WORK/after.backup" >/dev/null
AFTER="$(state_hash "$WORK/after.backup")"
[ "$BEFORE" = "$AFTER" ] || fail "state hash $AFTER after the restore, $BEFORE before"
[ "$("$VEXIL" export)" = "$(cat "$WORK/before.json")" ] || fail "the flags differ after the restore"
"$VEXIL" flags off banner >/dev/null || fail "the restored cluster must accept writes"
LAST_AUDIT="$("$VEXIL" --output json audit list --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')"
APPLIED="$("$VEXIL" --output json backup --verify "$WORK/full.backup" | python3 -c 'import json,sys; print(json.load(sys.stdin)["applied_index"])')"
[ "$LAST_AUDIT" -gt "$APPLIED" ] || fail "audit ids went backwards ($LAST_AUDIT <= $APPLIED)"

step "3. runbook: quorum loss (2 of 3 nodes down)"
touch "$WORK/quorum-lost"
kill -9 "$PID_1" "$PID_2"; wait "$PID_1" "$PID_2" 2>/dev/null || true
set +e
"$VEXIL" flags on banner >/dev/null 2>&1
CODE=$?
set -e
[ "$CODE" -eq 6 ] || fail "a write without quorum must exit 6 (unavailable), got $CODE"
curl -sf --max-time 10 "$VEXIL_URL/v1/flags/banner?consistency=local" -H @"$(auth_header)" >/dev/null \
    || fail "local reads must survive quorum loss"
NEWEST=""
for _ in $(seq 1 100); do
    NEWEST="$(find "$WORK/backups/node3" -name 'vexil-3-*.backup' -newer "$WORK/quorum-lost" | sort | tail -n 1)"
    [ -n "$NEWEST" ] && break
    sleep 0.1
done
[ -n "$NEWEST" ] || fail "the survivor wrote no scheduled backup without a quorum"
"$VEXIL" backup --verify "$NEWEST" >/dev/null || fail "the survivor's scheduled backup does not verify"
[ "$(find "$WORK/backups/node3" -name 'vexil-3-*.backup' | wc -l)" -le 2 ] || fail "--backup-keep 2 kept more than 2"
start_member 1
start_member 2
retry 100 "$VEXIL" flags on banner || fail "writes must resume once a quorum is back"

step "4. runbook: a rolling restart (SIGTERM one node at a time, leader last), writes going on"
WRITE_URLS=("${URL_OF[1]}" "${URL_OF[2]}" "${URL_OF[3]}")
: >"$WORK/acked"
writer &
WRITER=$!
wait_progress
RESTARTED=" "
for _ in 1 2 3; do
    wait_healthy
    LEADER="$(st leader)"
    next_to_restart "$RESTARTED"
    log "drill: restarting node $NEXT (leader: $LEADER)"
    # An SDK's stream is open on the node: SIGTERM must end it, not wait on it.
    curl -sN --max-time 60 -H @"$(auth_header)" "${URL_OF[$NEXT]}/v1/stream" \
        >"$WORK/stream-$NEXT" 2>/dev/null &
    SUBSCRIBER=$!
    PIDS+=("$SUBSCRIBER")
    for _ in $(seq 1 50); do grep -q '^event: snapshot' "$WORK/stream-$NEXT" && break; sleep 0.1; done
    grep -q '^event: snapshot' "$WORK/stream-$NEXT" || fail "node $NEXT's change feed sent no snapshot"
    stop_node "$NEXT"
    wait "$SUBSCRIBER" || true
    start_member "$NEXT"
    wait_ready "${URL_OF[$NEXT]}"
    wait_caught_up "$NEXT"
    wait_progress
    RESTARTED="$RESTARTED$NEXT "
done
wait_healthy

step "5. runbook: adding a node, and removing one (the leader, while it runs)"
read -r A4 P4 < <(free_ports 2)
API[4]="$A4"
PEER[4]="$P4"
URL_OF[4]="http://127.0.0.1:$A4"
start_member 4 --join
retry 50 "$VEXIL" cluster add 4 --peer "127.0.0.1:$P4" --client "127.0.0.1:$A4"
wait_ready "${URL_OF[4]}"
[ "$(st ids)" = "1 2 3 4" ] || fail "members are $(st ids), not 1 2 3 4"
LEADER="$(st leader)"
export VEXIL_URL="${URL_OF[4]}"
"$VEXIL" cluster remove "$LEADER" >/dev/null
stop_node "$LEADER"
rm -rf "$WORK/dst/node$LEADER"
REMAINING="$(for id in 1 2 3 4; do [ "$id" != "$LEADER" ] && echo "$id"; done | xargs)"
[ "$(st ids)" = "$REMAINING" ] || fail "members are $(st ids), not $REMAINING"
[ "$(st leader)" != "$LEADER" ] || fail "node $LEADER still leads after its removal"
# shellcheck disable=SC2086 # the ids, one word each
finish_writes $REMAINING
log "drill: $(acked) of $(cat "$WORK/attempted") writes acknowledged during steps 4 and 5, all present"
step "passed"
