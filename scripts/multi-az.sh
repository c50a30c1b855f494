#!/usr/bin/env bash
# A five-node cluster across three simulated availability zones, one of
# which is then cut off. Needs root (network namespaces); prints SKIPPED and
# exits 0 where it cannot run.
#
# Topology: every node runs in its own network namespace vxaz-nN with one
# interface (10.77.0.N/24) on its AZ's bridge in the root namespace; each AZ
# bridge has one uplink (a veth pair, vxaz-up-X on the AZ bridge, vxaz-co-X on
# the core bridge) to a core bridge. A star, so no loops.
#
#   AZ a: nodes 1, 2 ──vxaz-br-a──┐
#   AZ b: nodes 3, 4 ──vxaz-br-b──┼── vxaz-core
#   AZ c: node 5     ──vxaz-br-c──┘
#
# Latency (tc netem, when the kernel has it): 1 ms on each node's egress,
# 7 ms on each uplink end, so 1 ms one way inside an AZ and 15 ms between
# AZs. Cutting an AZ off = its uplink down: its nodes still reach each other,
# and the script talks to every node from inside the node's own namespace (a
# client in the same AZ). The cut AZ is the leader's, the harder case.
# Usage: scripts/multi-az.sh (after the test run,
# or `build_dev_bins` from scripts/lib.sh).
source "$(dirname "$0")/lib.sh"
set -euo pipefail

VEXIL="$CARGO_TARGET_DIR/debug/vexil"
NODES=(1 2 3 4 5)
declare -A AZ=([1]=a [2]=a [3]=b [4]=b [5]=c)
CUT_WRITES=10
# Raft's default timing (a heartbeat RPC may take at most --heartbeat-ms, so
# it must stay well above the 30 ms inter-AZ round trip); shorter write timeout.
TIMING=(--heartbeat-ms 100 --election-timeout-min-ms 400 --election-timeout-max-ms 800 --write-timeout-ms 1500)

skip() { echo "SKIPPED: multi-AZ test needs root and network namespaces: $*" >&2; exit 0; }
fail() { echo "multi-AZ test failed: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "not running as root (uid $(id -u))"
{ command -v ip && command -v tc; } >/dev/null || apt_install iproute2
command -v curl >/dev/null || apt_install curl
command -v python3 >/dev/null || apt_install python3
[ -x "$VEXIL" ] || fail "$VEXIL is missing: build it first"

# Can this machine make namespaces, bridges and veth pairs? If not, skip.
probe() { ip netns add vxaz-probe && ip link add vxaz-probe type bridge && ip link add vxaz-pa type veth peer name vxaz-pb; }
unprobe() { { ip netns del vxaz-probe; ip link del vxaz-probe; ip link del vxaz-pa; } 2>/dev/null || true; }
err="$(probe 2>&1)" || { unprobe; skip "$err"; }
unprobe
# Leftovers of a run that was killed: removed unless a process still uses them.
for ns in $(ip netns list | grep -o '^vxaz-[a-z0-9-]*' || true); do
    [ -z "$(ip netns pids "$ns")" ] || fail "namespace $ns is in use: is another multi-AZ run going on?"
    ip netns del "$ns"
done
for l in $(ip -o link show | grep -o 'vxaz-[a-z0-9-]*' | sort -u); do ip link del "$l" 2>/dev/null || true; done

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        for f in "$WORK"/node-*.log; do
            [ -f "$f" ] && { echo "--- $(basename "$f") (last 15 lines) ---" >&2; tail -n 15 "$f" >&2; }
        done
    fi
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for n in "${NODES[@]}"; do ip link del "vxaz-h$n" 2>/dev/null || true; ip netns del "vxaz-n$n" 2>/dev/null || true; done
    for x in a b c; do ip link del "vxaz-up-$x" 2>/dev/null || true; ip link del "vxaz-br-$x" 2>/dev/null || true; done
    ip link del vxaz-core 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "topology: 5 nodes in 3 AZs (a: 1 2, b: 3 4, c: 5)"
ip link add vxaz-core type bridge && ip link set vxaz-core up
for x in a b c; do
    ip link add "vxaz-br-$x" type bridge && ip link set "vxaz-br-$x" up
    ip link add "vxaz-up-$x" type veth peer name "vxaz-co-$x"
    ip link set "vxaz-up-$x" master "vxaz-br-$x" up
    ip link set "vxaz-co-$x" master vxaz-core up
done
for n in "${NODES[@]}"; do
    ip netns add "vxaz-n$n"
    ip link add "vxaz-h$n" type veth peer name eth0 netns "vxaz-n$n"
    ip link set "vxaz-h$n" master "vxaz-br-${AZ[$n]}" up
    ip -n "vxaz-n$n" addr add "10.77.0.$n/24" dev eth0
    ip -n "vxaz-n$n" link set eth0 up
    ip -n "vxaz-n$n" link set lo up
done
if err="$(ip netns exec vxaz-n1 tc qdisc add dev eth0 root netem delay 1ms 2>&1)"; then
    for n in "${NODES[@]:1}"; do ip netns exec "vxaz-n$n" tc qdisc add dev eth0 root netem delay 1ms; done
    for x in a b c; do
        tc qdisc add dev "vxaz-up-$x" root netem delay 7ms
        tc qdisc add dev "vxaz-co-$x" root netem delay 7ms
    done
    LATENCY="netem: 1 ms within an AZ, 15 ms between AZs (one way)"
else
    log "tc netem unavailable on this kernel ($err): running without injected latency"
    LATENCY="none (tc netem unavailable)"
fi

SECRET="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ADMIN="az-admin-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
CLUSTER="$(for n in "${NODES[@]}"; do printf '%s=10.77.0.%s:7071,' "$n" "$n"; done)"
for n in "${NODES[@]}"; do
    ip netns exec "vxaz-n$n" "$VEXIL" serve --id "$n" --data-dir "$WORK/data$n" \
        --listen "10.77.0.$n:7070" --peer-listen "10.77.0.$n:7071" --initial-cluster "${CLUSTER%,}" \
        --cluster-secret "$SECRET" --admin-token "$ADMIN" "${TIMING[@]}" >"$WORK/node-$n.log" 2>&1 &
    PIDS+=($!)
done

# req N METHOD PATH [JSON]: a request to node N from inside its namespace.
# Prints the status (000: no answer within 10 s); the body is in $WORK/body,
# the headers in $WORK/headers, the time taken (s) in $WORK/time.
req() {
    local n=$1 method=$2 path=$3 args=() out
    [ $# -lt 4 ] || args=(-H 'content-type: application/json' -d "$4")
    out="$(ip netns exec "vxaz-n$n" curl -s --max-time 10 -X "$method" -o "$WORK/body" -D "$WORK/headers" \
        -w '%{http_code} %{time_total}' -H "Authorization: Bearer $ADMIN" "${args[@]}" \
        "http://10.77.0.$n:7070$path" || true)"
    echo "${out#* }" >"$WORK/time"; echo "${out%% *}"
}
took() { awk '{printf "%d ms", $1 * 1000}' "$WORK/time"; }
body() { python3 -c "import json,sys; d=json.load(open('$WORK/body')); print($1)"; }
header() { sed -n "s/^$1: *\([^[:space:]]*\).*/\1/Ip" "$WORK/headers"; }
flag() { printf '{"key":"%s","kind":"boolean","variations":[{"value":true},{"value":false}],"off_variation":1,"fallthrough":{"variation":0},"enabled":true}' "$1"; }
now_ms() { date +%s%3N; }
# leader_seen_by N: the leader node N knows of (empty if none), from /readyz.
leader_seen_by() { req "$1" GET /readyz >/dev/null; body "d.get('leader') or d.get('status', {}).get('leader') or ''" 2>/dev/null || true; }
# keys N: node N's flag keys from its local replica, one line.
keys() { if [ "$(req "$1" GET '/v1/flags?consistency=local&limit=1000')" = 200 ]; then body "' '.join(sorted(f['key'] for f in d['flags']))"; fi; }

log "(1) the cluster forms, elects one leader and takes a write"
for n in "${NODES[@]}"; do
    for _ in $(seq 1 150); do [ "$(req "$n" GET /readyz)" = 200 ] && break; sleep 0.2; done
    [ "$(req "$n" GET /readyz)" = 200 ] || fail "node $n never became ready: $(cat "$WORK/body")"
done
LEADER="$(leader_seen_by 1)"
[ -n "$LEADER" ] || fail "no leader"
for n in "${NODES[@]}"; do [ "$(leader_seen_by "$n")" = "$LEADER" ] || fail "node $n does not see leader $LEADER"; done
ACKED=(k1)
# (a retried write whose first try did commit answers 409 already_exists)
for _ in $(seq 1 50); do [[ "$(req 2 POST /v1/flags "$(flag k1)")" =~ ^(201|409)$ ]] && break; sleep 0.2; done
[ "$(req 1 GET /v1/flags/k1)" = 200 ] || fail "the first write did not take: $(cat "$WORK/body")"

log "(2) write latency: 20 writes through leader $LEADER from a client in its AZ"
for i in $(seq 1 20); do
    s="$(req "$LEADER" POST /v1/flags "$(flag "lat-$i")")"
    [ "$s" = 201 ] || fail "write lat-$i answered $s: $(cat "$WORK/body")"
    cat "$WORK/time" >>"$WORK/latency"; ACKED+=("lat-$i")
done
read -r P50 MAX < <(sort -n "$WORK/latency" | awk '{v[NR]=$1*1000} END {printf "%.1f %.1f\n", v[int((NR+1)/2)], v[NR]}')
log "write latency: p50 $P50 ms, max $MAX ms ($LATENCY)"

CUT_AZ="${AZ[$LEADER]}"
CUT=(); MAJ=()
for n in "${NODES[@]}"; do if [ "${AZ[$n]}" = "$CUT_AZ" ]; then CUT+=("$n"); else MAJ+=("$n"); fi; done
# SDK streams: one on each node to be cut off, one on the majority as the reference.
for n in "${CUT[@]}" "${MAJ[0]}"; do
    ip netns exec "vxaz-n$n" curl -sN --max-time 600 -H "Authorization: Bearer $ADMIN" \
        "http://10.77.0.$n:7070/v1/stream" >"$WORK/stream-$n" 2>/dev/null &
    PIDS+=($!); eval "STREAM_PID_$n=$!"
    for _ in $(seq 1 50); do grep -qs '^event: snapshot' "$WORK/stream-$n" && break; sleep 0.1; done
    grep -qs '^event: snapshot' "$WORK/stream-$n" || fail "node $n's stream sent no snapshot"
done

log "(3) cutting AZ $CUT_AZ (nodes ${CUT[*]}, with leader $LEADER) off"
ip link set "vxaz-up-$CUT_AZ" down
CUT_AT="$(now_ms)"
KA_BEFORE="$(grep -sc '^:' "$WORK/stream-${CUT[0]}" || true)"
NEW=""
for _ in $(seq 1 150); do
    NEW="$(leader_seen_by "${MAJ[0]}")"
    [[ " ${MAJ[*]} " = *" $NEW "* ]] && break; sleep 0.2
done
[[ " ${MAJ[*]} " = *" $NEW "* ]] || fail "the majority (${MAJ[*]}) elected no leader in 30 s"
ELECTION_MS=$(( $(now_ms) - CUT_AT ))
log "majority elected node $NEW in $ELECTION_MS ms"
for i in $(seq 1 "$CUT_WRITES"); do
    n="${MAJ[$(( i % ${#MAJ[@]} ))]}"
    s="$(req "$n" POST /v1/flags "$(flag "cut-$i")")"
    [ "$s" = 201 ] || fail "majority write cut-$i through node $n answered $s: $(cat "$WORK/body")"
    ACKED+=("cut-$i")
done
log "the majority acknowledged $CUT_WRITES writes"
[ "$(req "$NEW" GET '/v1/flags/k1?consistency=local')" = 200 ] || fail "local read on node $NEW failed"
MAJ_APPLIED="$(header x-vexil-applied-index)"

log "(4) the cut-off side refuses writes, serves local reads, keeps its streams"
REFUSED=()
for n in "${CUT[@]}"; do
    s="$(req "$n" POST /v1/flags "$(flag "refused-$n")")"
    [ "$s" != 000 ] || fail "a write on cut-off node $n hung (no answer in 10 s)"
    [ "$s" = 503 ] || fail "a write on cut-off node $n answered $s, not 503: $(cat "$WORK/body")"
    code="$(body "d['error']")"
    case "$code" in no_quorum|no_leader) REFUSED+=("refused-$n") ;; write_timeout) ;;
        *) fail "node $n refused with an unclear cause: $(cat "$WORK/body")" ;; esac
    log "node $n refuses writes in $(took): 503 $(cat "$WORK/body")"
    s="$(req "$n" GET /v1/flags/k1)"
    [ "$s" != 000 ] || fail "a linearizable read on cut-off node $n hung (no answer in 10 s)"
    [ "$s" = 503 ] || fail "a linearizable read on cut-off node $n answered $s: $(cat "$WORK/body")"
    log "node $n refuses linearizable reads in $(took): 503 $(cat "$WORK/body")"
    s="$(req "$n" GET '/v1/flags/k1?consistency=local')"
    [ "$s" = 200 ] || fail "a local read on cut-off node $n answered $s: $(cat "$WORK/body")"
    [ "$(header x-vexil-consistency)" = local ] || fail "node $n's local read is not marked local"
    applied="$(header x-vexil-applied-index)"
    [ "$applied" -lt "$MAJ_APPLIED" ] || fail "node $n's applied index $applied is not behind the majority's $MAJ_APPLIED"
    log "node $n serves local reads: 200, x-vexil-consistency: local, applied index $applied (majority: $MAJ_APPLIED)"
done
# A keep-alive comment arriving during the cut shows the stream is served, not just an open socket.
for _ in $(seq 1 250); do
    [ "$(grep -sc '^:' "$WORK/stream-${CUT[0]}" || true)" -gt "$KA_BEFORE" ] && break; sleep 0.1
done
[ "$(grep -sc '^:' "$WORK/stream-${CUT[0]}" || true)" -gt "$KA_BEFORE" ] \
    || fail "node ${CUT[0]}'s stream sent no keep-alive during the cut"
for n in "${CUT[@]}"; do
    pid="STREAM_PID_$n"; kill -0 "${!pid}" 2>/dev/null || fail "node $n's SDK stream closed during the cut"
done
log "the cut-off SDK streams stay open (keep-alive after $(( $(now_ms) - CUT_AT )) ms)"

log "(5) healing"
ip link set "vxaz-up-$CUT_AZ" up
HEAL_AT="$(now_ms)"
for _ in $(seq 1 100); do [[ "$(req "${CUT[0]}" POST /v1/flags "$(flag healed)")" =~ ^(201|409)$ ]] && break; sleep 0.2; done
[ "$(req "${CUT[0]}" GET /v1/flags/healed)" = 200 ] || fail "no write through formerly cut-off node ${CUT[0]} within 20 s of healing"
ACKED+=(healed)
CONVERGED=""
for _ in $(seq 1 150); do
    ref="$(keys "${NODES[0]}")"; same=1
    for n in "${NODES[@]:1}"; do [ "$(keys "$n")" = "$ref" ] || same=0; done
    for k in "${ACKED[@]}"; do [[ " $ref " = *" $k "* ]] || same=0; done
    [ "$same" = 1 ] && { CONVERGED=$(( $(now_ms) - HEAL_AT )); break; }; sleep 0.2
done
[ -n "$CONVERGED" ] || { for n in "${NODES[@]}"; do echo "node $n: $(keys "$n")" >&2; done; fail "no convergence within 30 s of healing"; }
for k in "${REFUSED[@]}"; do [[ " $ref " != *" $k "* ]] || fail "refused write $k was applied after all"; done
log "all 5 nodes hold the same ${#ACKED[@]} acknowledged flags, $CONVERGED ms after healing"
L="$(leader_seen_by 1)"
for n in "${NODES[@]}"; do [ "$(leader_seen_by "$n")" = "$L" ] || fail "after healing node $n does not see leader $L"; done
for n in "${CUT[@]}"; do
    pid="STREAM_PID_$n"; kill -0 "${!pid}" 2>/dev/null || fail "node $n's SDK stream closed"
    # Both streams must carry the same change events (ids and keys) after
    # their snapshots, in an unbroken prev_id chain, including every write
    # the majority acknowledged during the cut.
    python3 - "$WORK/stream-$n" "$WORK/stream-${MAJ[0]}" "${ACKED[*]}" "$n" <<'PY' || fail "node $n's SDK stream is incomplete"
import json, sys, time
def changes(path):
    events = [dict(l.split(": ", 1) for l in block.split("\n") if not l.startswith(":"))
              for block in open(path).read().split("\n\n")[:-1] if not block.startswith(":")]
    snap, last, got = int(events[0]["id"]), None, {}
    for d in (json.loads(e["data"]) for e in events[1:]):
        if d["prev_id"] != last if last is not None else d["prev_id"] > snap:
            sys.exit(f"{path}: change {d['id']} follows {d['prev_id']}, the last one seen was {last}")
        last, got[d["id"]] = d["id"], d.get("flag", {}).get("key") or d.get("key")
    return snap, got
want = {k for k in sys.argv[3].split() if k.startswith("cut-")} | {"healed"}
for _ in range(50):
    (s1, cut), (s2, ref) = changes(sys.argv[1]), changes(sys.argv[2])
    a, b = ({i: k for i, k in c.items() if i > max(s1, s2)} for c in (cut, ref))
    if a == b and want <= set(a.values()):
        break
    time.sleep(0.2)
else:
    sys.exit(f"cut-off stream {a}, majority stream {b}, missing {sorted(want - set(a.values()))}")
print(f"node {sys.argv[4]}'s SDK stream: {len(a)} changes after id {max(s1, s2)}, as on the majority's")
PY
done

echo
printf '%-28s %s\n' "nodes" "5 (a: 1 2, b: 3 4, c: 5)" "latency" "$LATENCY" \
    "write p50 / max" "$P50 ms / $MAX ms" "cut AZ" "$CUT_AZ (nodes ${CUT[*]}, leader $LEADER)" \
    "majority leader after cut" "node $NEW in $ELECTION_MS ms" \
    "writes during cut" "$CUT_WRITES of $CUT_WRITES acknowledged" \
    "cut-off writes" "refused (503)" "convergence after heal" "$CONVERGED ms, ${#ACKED[@]} flags on every node"
log "multi-AZ test passed"
