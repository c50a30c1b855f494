#!/usr/bin/env bash
# Part `http` of scripts/bench.sh: server-side evaluation over HTTP, one Vexil
# node against Unleash Edge in offline mode, on 127.0.0.1.
#
# For each flag count (5 and 350) both servers hold the same flags (half like
# `rollout_in`, half like `multi` from flags/benches/peer/unleash.rs). wrk
# (64 connections, 2 threads, $BENCH_SECONDS s, scripts/bench.d/eval.lua)
# cycles through 10,000 users and measures:
#   - Edge:  GET /api/frontend?userId=…&country=…&plan=… (every flag);
#   - Vexil: POST /v1/evaluate for every flag, and for one flag.
# Then, if `oha` is installed, p99 at a fixed 10,000 requests/s.
#
# Prints table rows `| http | metric | vexil | peer | ratio |` on stdout
# (ratio = vexil ÷ peer); everything else goes to stderr.
#
# Vexil is a release build (BENCH_PROFILE, see _build.sh); Edge is
# `cargo install`ed, also release.

source "$(dirname "${BASH_SOURCE[0]}")/_build.sh"

SECONDS_PER_RUN="${BENCH_SECONDS:-15}"
FLAG_COUNTS="${BENCH_FLAG_COUNTS:-5 350}"
CONNECTIONS=64
THREADS=2
PEERS="${VEXIL_PEERS:-$HOME/.cache/vexil/peers}"
EDGE_PORT=3063
VEXIL_PORT=17070
ADMIN=bench-admin-secret
EDGE_TOKEN='*:development.bench-frontend-secret'
# Offline mode refuses to start without a client token, though we use none.
EDGE_CLIENT_TOKEN='*:development.bench-client-secret'
LUA="$REPO_ROOT/scripts/bench.d/eval.lua"
WORK="$(mktemp -d)"
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || apt_install wrk
command -v curl >/dev/null || apt_install curl
command -v python3 >/dev/null || apt_install python3

# Unleash Edge from crates.io, into $PEERS (a one-off build of ~15 min at -j 1).
EDGE="$(command -v unleash-edge || echo "$PEERS/bin/unleash-edge")"
if [ ! -x "$EDGE" ]; then
    log "installing unleash-edge into $PEERS (cargo install, bounded to 60 min)"
    CARGO_TARGET_DIR="$HOME/.cache/vexil/peer-target" timeout 3600 \
        cargo install --locked unleash-edge -j 1 --root "$PEERS" >&2
fi
OHA="$(command -v oha || echo "$PEERS/bin/oha")"
if [ ! -x "$OHA" ] && [ "${BENCH_INSTALL_OHA:-1}" = 1 ]; then
    log "installing oha into $PEERS (fixed-rate load; bounded to 30 min)"
    CARGO_TARGET_DIR="$HOME/.cache/vexil/peer-target" timeout 1800 \
        cargo install --locked oha -j 1 --root "$PEERS" >&2 || log "oha not installed: fixed-rate check skipped"
fi

# VEXIL_BIN: a vexil binary to measure instead of building one.
if [ -z "${VEXIL_BIN:-}" ]; then bench_build; fi
VEXIL="$VEXIL_BIN"

# flags N DIR: writes DIR/edge.json (Unleash ClientFeatures) and
# DIR/vexil.jsonl (one Vexil flag a line) for N equivalent flags.
flags() {
    python3 - "$1" "$2" <<'PY'
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
ids = [f"user-{i * 997}" for i in range(20)]

def rollout(pct):
    return {"rollout": {"variations": [{"variation": 0, "weight": pct * 1000},
                                       {"variation": 1, "weight": 100_000 - pct * 1000}]}}

def clause(attr, values):
    return {"attribute": attr, "operator": "in", "values": values}

def constraint(name, values):
    return {"contextName": name, "operator": "IN", "values": values}

def flexible(group, pct, constraints):
    return {"name": "flexibleRollout", "constraints": constraints,
            "parameters": {"rollout": str(pct), "stickiness": "userId", "groupId": group}}

features, vexil = [], []
for i in range(n):
    key = f"f{i:03d}"
    anz = ["NZ", "AU"]
    if i % 2 == 0:  # rollout_in
        strategies = [flexible(key, 50, [constraint("country", anz)])]
        rules, fallthrough = [([clause("country", anz)], rollout(50))], {"variation": 1}
    else:  # multi
        strategies = [
            {"name": "userWithId", "parameters": {"userIds": ",".join(ids)}},
            {"name": "default", "constraints": [constraint("plan", ["pro", "team"]),
                                                constraint("country", ["DE", "GB"])]},
            flexible(key, 50, [constraint("country", anz)]),
            flexible(key, 10, []),
        ]
        rules = [([clause("key", ids)], {"variation": 0}),
                 ([clause("plan", ["pro", "team"]), clause("country", ["DE", "GB"])], {"variation": 0}),
                 ([clause("country", anz)], rollout(50))]
        fallthrough = rollout(10)
    features.append({"name": key, "enabled": True, "strategies": strategies})
    vexil.append({"key": key, "kind": "boolean", "enabled": True, "off_variation": 1,
                  "variations": [{"value": True}, {"value": False}],
                  "rules": [{"id": f"r{j}", "clauses": c, "serve": s} for j, (c, s) in enumerate(rules)],
                  "fallthrough": fallthrough})
json.dump({"version": 2, "features": features}, open(f"{out}/edge.json", "w"))
with open(f"{out}/vexil.jsonl", "w") as f:
    for flag in vexil:
        f.write(json.dumps(flag) + "\n")
PY
}

wait_http() { # URL: waits up to 60 s for any HTTP answer
    for _ in $(seq 600); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2
    return 1
}

# start_edge DIR / start_vexil DIR: start a server on the flags in DIR.
start_edge() {
    "$EDGE" --port "$EDGE_PORT" --interface 127.0.0.1 offline \
        --bootstrap-file "$1/edge.json" --frontend-tokens "$EDGE_TOKEN" \
        --client-tokens "$EDGE_CLIENT_TOKEN" \
        >"$1/edge.log" 2>&1 &
    PIDS+=($!)
    EDGE_PID=$!
    wait_http "http://127.0.0.1:$EDGE_PORT/internal-backstage/health"
}

start_vexil() {
    "$VEXIL" serve --data-dir "$1/vexil-data" --listen "127.0.0.1:$VEXIL_PORT" \
        --peer-listen "127.0.0.1:$((VEXIL_PORT + 1))" --admin-token "$ADMIN" \
        >"$1/vexil.log" 2>&1 &
    PIDS+=($!)
    VEXIL_PID=$!
    for _ in $(seq 600); do
        # Ready once the first admin token (a Raft write at first start) works.
        curl -sf -o /dev/null "http://127.0.0.1:$VEXIL_PORT/v1/me" -H "Authorization: Bearer $ADMIN" && break
        sleep 0.1
    done
    local api="http://127.0.0.1:$VEXIL_PORT/v1"
    while read -r flag; do
        curl -sf -o /dev/null -X POST "$api/flags" -H "Authorization: Bearer $ADMIN" \
            -H 'content-type: application/json' -d "$flag"
    done <"$1/vexil.jsonl"
    VEXIL_TOKEN="$(curl -sf -X POST "$api/tokens" -H "Authorization: Bearer $ADMIN" \
        -H 'content-type: application/json' -d '{"name":"bench-sdk","role":"sdk"}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')"
}

# check_equivalent N: over 2,000 users, the share of NZ and of US users for
# whom each server enables f000 (rollout_in) matches (NZ ~50%, US 0%).
check_equivalent() {
    python3 - "$EDGE_PORT" "$EDGE_TOKEN" "$VEXIL_PORT" "$VEXIL_TOKEN" <<'PY'
import json, sys, urllib.request
edge_port, edge_token, vexil_port, vexil_token = sys.argv[1:]
countries = ["NZ", "AU", "US", "DE", "JP", "BR", "IN", "GB"]
plans = ["free", "pro", "team"]
def edge(i):
    c, p = countries[i % 8], plans[(i // 8) % 3]
    req = urllib.request.Request(
        f"http://127.0.0.1:{edge_port}/api/frontend?userId=user-{i}&country={c}&plan={p}",
        headers={"Authorization": edge_token})
    toggles = json.load(urllib.request.urlopen(req))["toggles"]
    return any(t["name"] == "f000" and t["enabled"] for t in toggles)
def vexil(i):
    c, p = countries[i % 8], plans[(i // 8) % 3]
    body = json.dumps({"flag": "f000", "context": {"key": f"user-{i}", "country": c, "plan": p}})
    req = urllib.request.Request(f"http://127.0.0.1:{vexil_port}/v1/evaluate", data=body.encode(),
        headers={"Authorization": f"Bearer {vexil_token}", "content-type": "application/json"})
    return json.load(urllib.request.urlopen(req))["value"] is True
for country, want in (("NZ", 0.5), ("US", 0.0)):
    users = [i for i in range(2000) if countries[i % 8] == country]
    for name, on in (("edge", edge), ("vexil", vexil)):
        share = sum(on(i) for i in users) / len(users)
        if abs(share - want) > 0.1:
            sys.exit(f"{name} enables f000 for {share:.2f} of {country} users, expected {want}")
        print(f"f000: {name} enables {share:.2f} of {country} users", file=sys.stderr)
PY
}

# run_wrk PORT NAME [ENV…]: runs wrk against PORT with eval.lua (ENV sets its
# MODE, TOKEN, FLAG); prints "RPS P50_MS P99_MS" and keeps wrk's report.
run_wrk() {
    local port="$1" name="$2"
    shift 2
    env "$@" wrk -t "$THREADS" -c "$CONNECTIONS" -d "${SECONDS_PER_RUN}s" --latency \
        -s "$LUA" "http://127.0.0.1:$port" >"$WORK/$name.wrk"
    cat "$WORK/$name.wrk" >&2
    if grep -q 'Non-2xx' "$WORK/$name.wrk"; then
        echo "$name: some answers were not 2xx" >&2
        return 1
    fi
    awk '
        function ms(v) {
            if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
            if (v ~ /s$/) return v * 1000; return v
        }
        $1 == "Requests/sec:" { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        END { printf "%.0f %.2f %.2f\n", rps, p50, p99 }' "$WORK/$name.wrk"
}

# fixed_rate PORT NAME ARGS…: oha at 10,000 requests/s for SECONDS_PER_RUN; prints p99 in ms.
fixed_rate() {
    local port="$1" name="$2"
    shift 2
    "$OHA" --no-tui -z "${SECONDS_PER_RUN}s" -q 10000 -c "$CONNECTIONS" --output-format json \
        "$@" "http://127.0.0.1:$port$PATH_AND_QUERY" >"$WORK/$name.oha"
    python3 - "$WORK/$name.oha" "$name" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
codes = d.get("statusCodeDistribution", {})
if set(codes) != {"200"}:
    sys.exit(f"{sys.argv[2]}: answers other than 200: {codes}")
print("%.2f %.0f" % (d["latencyPercentiles"]["p99"] * 1000, d["summary"]["requestsPerSec"]))
PY
}

row() { # METRIC VEXIL PEER
    local ratio
    ratio="$(awk -v a="$2" -v b="$3" 'BEGIN { if (b + 0 > 0 && a != "–") printf "%.2f×", a / b; else print "–" }')"
    printf '| http | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$ratio"
}

log "load before http runs: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $FLAG_COUNTS; do
    dir="$WORK/$n"
    mkdir -p "$dir"
    flags "$n" "$dir"
    log "$n flags: starting Unleash Edge and a Vexil node"
    start_edge "$dir"
    start_vexil "$dir"
    check_equivalent
    log "$n flags: wrk, Edge /api/frontend"
    read -r e_rps e_p50 e_p99 < <(run_wrk "$EDGE_PORT" "edge-$n" MODE=edge "TOKEN=$EDGE_TOKEN")
    log "$n flags: wrk, Vexil /v1/evaluate, every flag"
    read -r a_rps a_p50 a_p99 < <(run_wrk "$VEXIL_PORT" "vexil-all-$n" MODE=vexil "TOKEN=$VEXIL_TOKEN")
    log "$n flags: wrk, Vexil /v1/evaluate, one flag"
    read -r o_rps o_p50 o_p99 < <(run_wrk "$VEXIL_PORT" "vexil-one-$n" MODE=vexil "TOKEN=$VEXIL_TOKEN" FLAG=f001)
    row "$n flags, all flags: requests/s" "$a_rps" "$e_rps"
    row "$n flags, all flags: p50 ms" "$a_p50" "$e_p50"
    row "$n flags, all flags: p99 ms" "$a_p99" "$e_p99"
    row "$n flags, one flag: requests/s (peer: all flags)" "$o_rps" "$e_rps"
    row "$n flags, one flag: p50 ms" "$o_p50" "$e_p50"
    row "$n flags, one flag: p99 ms" "$o_p99" "$e_p99"
    if [ -x "$OHA" ]; then
        log "$n flags: oha at a fixed 10,000 requests/s (one user)"
        ctx='{"key":"user-7","country":"NZ","plan":"pro"}'
        read -r e_q99 e_qrps < <(PATH_AND_QUERY="/api/frontend?userId=user-7&country=NZ&plan=pro" \
            fixed_rate "$EDGE_PORT" "edge-q-$n" -H "Authorization: $EDGE_TOKEN")
        read -r a_q99 a_qrps < <(PATH_AND_QUERY="/v1/evaluate" fixed_rate "$VEXIL_PORT" "vexil-q-$n" \
            -m POST -H "Authorization: Bearer $VEXIL_TOKEN" -T application/json -d "{\"context\":$ctx}")
        read -r o_q99 o_qrps < <(PATH_AND_QUERY="/v1/evaluate" fixed_rate "$VEXIL_PORT" "vexil-q1-$n" \
            -m POST -H "Authorization: Bearer $VEXIL_TOKEN" -T application/json \
            -d "{\"flag\":\"f001\",\"context\":$ctx}")
        row "$n flags, all flags at 10k req/s: p99 ms (achieved $a_qrps / $e_qrps req/s)" "$a_q99" "$e_q99"
        row "$n flags, one flag at 10k req/s: p99 ms (achieved $o_qrps / $e_qrps req/s)" "$o_q99" "$e_q99"
    fi
    kill "$EDGE_PID" "$VEXIL_PID"
    wait "$EDGE_PID" "$VEXIL_PID" 2>/dev/null || true
done
log "load after http runs: $(cut -d' ' -f1-3 /proc/loadavg)"
