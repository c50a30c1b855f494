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

BIN="$CARGO_TARGET_DIR/debug"
VEXIL="$BIN/vexil"
WORK="$(mktemp -d)"
PIDS=()
WRITER=""  # the background writer of steps 4 and 5
SECRET=""  # the cluster's secret, read from vexil-cluster's cluster.json
FAST=(--heartbeat-ms 50 --election-timeout-min-ms 300 --election-timeout-max-ms 600 --write-timeout-ms 1500)
# A leader counts a voter as healthy while it acked within 2 × the election
# timeout's maximum (1.2 s with FAST); wait this long after a node dies.
ACK_HORIZON=1.5

cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        for f in "$WORK"/src/node*.log "$WORK"/*.log; do
            [ -f "$f" ] || continue
            echo "--- $f (last 15 lines) ---" >&2
            tail -n 15 "$f" >&2
        done
    fi
    if [ -n "$WRITER" ]; then kill "$WRITER" 2>/dev/null || true; wait "$WRITER" 2>/dev/null || true; fi
    "$BIN/vexil-cluster" --dir "$WORK/src" down >/dev/null 2>&1 || true
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    # A node that ignores SIGTERM must not hang the drill: 10 s, then SIGKILL.
    for _ in $(seq 1 100); do
        local alive=""
        for pid in "${PIDS[@]}"; do
            case "$(ps -o stat= -p "$pid" 2>/dev/null || true)" in "" | Z*) ;; *) alive=1 ;; esac
        done
        [ -n "$alive" ] || break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
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
# stop_node ID: SIGTERM, as systemd stops the unit; the node must exit 0
# within 20 s.
stop_node() {
    local id=$1 pid_var="PID_$1" rc=0
    local pid="${!pid_var}"
    kill -TERM "$pid"
    for _ in $(seq 1 200); do
        case "$(ps -o stat= -p "$pid" 2>/dev/null || true)" in
            "" | Z*)
                wait "$pid" 2>/dev/null || rc=$?
                [ "$rc" -eq 0 ] || fail "node $id exited with status $rc after SIGTERM"
                return 0
                ;;
        esac
        sleep 0.1
    done
    fail "node $id did not stop within 20 s of SIGTERM"
}
# start_member ID [ARGS…]: a member of the restored cluster, as deployed in
# cluster/deploy/: its own data and backup directories, scheduled backups
# (every second here, keeping two).
start_member() {
    local id=$1; shift
    start_node "$id" "${API[$id]}" "${PEER[$id]}" "$WORK/dst/node$id" \
        --backup-dir "$WORK/backups/node$id" --backup-every 1s --backup-keep 2 "$@"
}
state_hash() { "$VEXIL" --output json backup --verify "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state_hash"])'; }

# One fact from `vexil cluster status` (JSON on stdin).
cat >"$WORK/status.py" <<'PY'
import json, sys
view = json.load(sys.stdin)
members = {m["id"]: m for m in view["members"]}
leader = view["leader"]
what = sys.argv[1]
if what == "leader":                # the leader's id
    assert leader is not None, "no leader"
    print(leader)
elif what == "ids":                 # every member's id
    print(*sorted(members))
elif what == "all-healthy":         # a leader, and every member answers
    print("yes" if leader is not None and all(m["healthy"] for m in members.values()) else "no")
elif what == "commit":              # the leader's commit index
    assert leader is not None and members[leader]["commit_index"] is not None, "no leader"
    print(members[leader]["commit_index"])
elif what == "applied":             # a member's applied index; -1 if it does not answer
    m = members.get(int(sys.argv[2]))
    ok = m is not None and m["healthy"] and m["applied_index"] is not None
    print(m["applied_index"] if ok else -1)
elif what == "healthy":             # whether a member answers
    print("yes" if members[int(sys.argv[2])]["healthy"] else "no")
PY
# st QUERY [ID]: asks `vexil cluster status` through $VEXIL_URL for one fact
# (see status.py); retries for 10 s.
st() {
    local out
    for _ in $(seq 1 50); do
        if out="$("$VEXIL" --output json cluster status 2>/dev/null | python3 "$WORK/status.py" "$@" 2>/dev/null)"; then
            echo "$out"
            return 0
        fi
        sleep 0.2
    done
    fail "\`vexil cluster status\` through $VEXIL_URL kept failing ($*)"
}
# wait_healthy: until there is a leader and every member answers (30 s).
wait_healthy() {
    for _ in $(seq 1 150); do
        [ "$(st all-healthy)" = yes ] && return 0
        sleep 0.2
    done
    fail "the cluster did not become healthy"
}
# wait_caught_up ID: until member ID has applied what the leader had
# committed when it came back (30 s).
wait_caught_up() {
    local id=$1 target
    target="$(st commit)"
    for _ in $(seq 1 150); do
        [ "$(st applied "$id")" -ge "$target" ] && return 0
        sleep 0.2
    done
    fail "node $id did not catch up to index $target"
}

# The writer of steps 4 and 5: creates flags through the nodes in turn and
# records each one acknowledged (exit 0). Stops at $WORK/stop-writer, or
# after 3000 writes.
writer() {
    local i=0 n=${#WRITE_URLS[@]}
    while [ ! -e "$WORK/stop-writer" ] && [ "$i" -lt 3000 ]; do
        i=$((i + 1))
        if VEXIL_URL="${WRITE_URLS[i % n]}" timeout 10 "$VEXIL" flags create "rolling-$i" >/dev/null 2>&1; then
            echo "rolling-$i" >>"$WORK/acked"
        fi
    done
    echo "$i" >"$WORK/attempted"
}
acked() { wc -l <"$WORK/acked"; }
# wait_progress: until the writer gets one more write acknowledged (20 s).
wait_progress() {
    local before
    before="$(acked)"
    for _ in $(seq 1 200); do
        [ "$(acked)" -gt "$before" ] && return 0
        sleep 0.1
    done
    fail "no write was acknowledged for 20 s"
}

step "a three-node cluster with flags, segments and history"
"$BIN/vexil-cluster" --dir "$WORK/src" --bin "$VEXIL" up 3 -- "${FAST[@]}" >"$WORK/up.txt"
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
curl -sf "$VEXIL_URL/v1/flags/banner?consistency=local" -H "Authorization: Bearer $VEXIL_TOKEN" >/dev/null \
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
    NEXT=""
    for id in 1 2 3; do
        case "$RESTARTED" in *" $id "*) continue ;; esac
        if [ "$id" != "$LEADER" ]; then NEXT=$id; break; fi
    done
    NEXT="${NEXT:-$LEADER}"
    # Ask the cluster through another member while this one is down.
    for id in 1 2 3; do [ "$id" != "$NEXT" ] && { export VEXIL_URL="${URL_OF[$id]}"; break; }; done
    log "drill: restarting node $NEXT (leader: $LEADER)"
    # An SDK's stream is open on the node: SIGTERM must end it, not wait on it.
    curl -sN --max-time 60 -H "Authorization: Bearer $VEXIL_TOKEN" "${URL_OF[$NEXT]}/v1/stream" \
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
wait_progress
touch "$WORK/stop-writer"
wait "$WRITER"
WRITER=""
"$VEXIL" --output json flags list | python3 -c 'import json,sys; print("\n".join(f["key"] for f in json.load(sys.stdin)))' \
    | sort >"$WORK/keys"
MISSING="$(sort "$WORK/acked" | comm -23 - "$WORK/keys")"
[ -z "$MISSING" ] || fail "acknowledged writes are missing: $(tr "\n" " " <<<"$MISSING")"
EXPORT="$("$VEXIL" export)"
for id in $REMAINING; do
    [ "$(VEXIL_URL="${URL_OF[$id]}" "$VEXIL" export)" = "$EXPORT" ] || fail "node $id serves different flags"
done
log "drill: $(acked) of $(cat "$WORK/attempted") writes acknowledged during steps 4 and 5, all present"
step "passed"
