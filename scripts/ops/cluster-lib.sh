# Shared by the operations drills (dr-drill.sh, upgrade-rehearsal.sh):
# local nodes on 127.0.0.1, their clean-up, and the checks a runbook step
# makes through `vexil cluster status`. Sourced after scripts/lib.sh.
# BIN is where this release's binaries are and VEXIL its CLI; `start_node`
# runs "$NODE_BIN" when set (another release's binary), else "$VEXIL".
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
    # A drill's own clean-up, if it defines one.
    if declare -F drill_cleanup >/dev/null; then drill_cleanup || true; fi
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

step() { log "${DRILL:-drill}: $*"; }
# fail MESSAGE: ends the drill, also from inside `$(…)` (a subshell's exit
# alone would only end the subshell): it signals the drill's shell, whose
# TERM trap exits through the clean-up.
DRILL_PID=$$
trap 'exit 1' TERM
fail() {
    echo "${DRILL:-drill} failed: $*" >&2
    [ "${BASHPID:-$$}" = "$DRILL_PID" ] || kill -TERM "$DRILL_PID"
    exit 1
}
# free_ports N: N free ports below Linux's ephemeral range (32768-60999),
# as vexil-cluster picks them: a port the kernel picked is in that range,
# and an outgoing connection may take it while its node restarts.
free_ports() { python3 -c '
import random, socket, sys
picked = []
while len(picked) < int(sys.argv[1]):
    port = random.randint(20000, 32767)
    if port in picked:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        picked.append(port)
    except OSError:
        pass
    finally:
        s.close()
print(*picked)' "$1"; }
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
    "${NODE_BIN:-$VEXIL}" serve --id "$id" --data-dir "$data" --listen "127.0.0.1:$api" \
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
                # Reaped: its PID may be reused, so the clean-up must not signal it.
                local kept=() p
                for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
                PIDS=("${kept[@]}")
                [ "$rc" -eq 0 ] || fail "node $id exited with status $rc after SIGTERM"
                return 0
                ;;
        esac
        sleep 0.1
    done
    fail "node $id did not stop within 20 s of SIGTERM"
}
# auth_header: a file (0600) holding the `Authorization` header for
# $VEXIL_TOKEN, for curl's `-H @file`, so the token is not on a command line.
auth_header() {
    (umask 077 && printf 'Authorization: Bearer %s\n' "$VEXIL_TOKEN" >"$WORK/auth-header")
    echo "$WORK/auth-header"
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
# finish_writes ID…: once one more write is acknowledged, stops the writer,
# then checks that every acknowledged write is there and that members ID…
# all serve the same flags.
finish_writes() {
    wait_progress
    touch "$WORK/stop-writer"
    wait "$WRITER"
    WRITER=""
    "$VEXIL" --output json flags list | python3 -c 'import json,sys; print("\n".join(f["key"] for f in json.load(sys.stdin)))' \
        | sort >"$WORK/keys"
    local missing exported id
    missing="$(sort "$WORK/acked" | comm -23 - "$WORK/keys")"
    [ -z "$missing" ] || fail "acknowledged writes are missing: $(tr "\n" " " <<<"$missing")"
    exported="$("$VEXIL" export)"
    for id in "$@"; do
        [ "$(VEXIL_URL="${URL_OF[$id]}" "$VEXIL" export)" = "$exported" ] || fail "node $id serves different flags"
    done
}
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

# next_to_restart DONE: sets NEXT to the member a rolling restart takes
# next, a follower not in DONE (ids between spaces, " 1 3 "), else the
# leader, and points VEXIL_URL at another member, to ask the cluster while
# NEXT is down.
next_to_restart() {
    local done=$1 leader id
    leader="$(st leader)"
    NEXT=""
    for id in 1 2 3; do
        case "$done" in *" $id "*) continue ;; esac
        if [ "$id" != "$leader" ]; then NEXT=$id; break; fi
    done
    NEXT="${NEXT:-$leader}"
    for id in 1 2 3; do [ "$id" != "$NEXT" ] && { export VEXIL_URL="${URL_OF[$id]}"; break; }; done
}

# seed_flags: flags, a segment and history through $VEXIL_URL: what a
# runbook step must carry over.
seed_flags() {
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
}
