#!/usr/bin/env bash
# Part 3: replicated writes, a 3-node Vexil cluster against a 3-member etcd,
# both driven by the same load generator (`vexil-bench writes`). etcd keeps
# its defaults (every write fsynced); it is reached through its JSON
# gateway, `POST /v3/kv/put`. Prints summary rows on stdout.
#
# One 10 s sample per system varied by ±15% on a small VM (the disk's fsync
# latency drifts), more than the difference being measured. So it runs
# ROUNDS rounds, each on a fresh Vexil cluster and a fresh etcd, in
# alternating order (Vexil first in odd rounds, etcd first in even ones),
# and reports each system's median per concurrency; every round's numbers
# go to stderr.
#
#   scripts/bench.d/writes.sh                  # 5 rounds, 6 s per row
#   ROUNDS=1 SECONDS_PER_ROW=5 scripts/bench.d/writes.sh
source "$(dirname "${BASH_SOURCE[0]}")/_build.sh"

apt_install etcd-server
bench_build

ROUNDS="${ROUNDS:-5}"
# 6 s, not 10: a row's flags count against the state's limit (`MAX_FLAGS`,
# 50,000), and at 64 writers a 10 s row reached it (5,000 writes/s measured
# the limit, and its refusals showed as errors). 6 s rows stay under it up
# to 8,300 writes/s; more rounds make up for the shorter samples.
SECONDS_PER_ROW="${SECONDS_PER_ROW:-6}"
CONCURRENCY="1,16,64"
work="$(mktemp -d -t vexil-bench-writes.XXXXXX)"
pids=()
stop_etcd() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
}
cleanup() {
    stop_etcd
    rm -rf "$work"
}
trap cleanup EXIT

# Three etcd members on loopback: client ports 23791-23793, peer 23801-23803.
urls=("http://127.0.0.1:23791" "http://127.0.0.1:23792" "http://127.0.0.1:23793")
start_etcd() {
    local dir="$1" i url
    local cluster="e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803"
    for i in 1 2 3; do
        etcd --name "e$i" --data-dir "$dir/e$i" \
            --listen-client-urls "http://127.0.0.1:2379$i" \
            --advertise-client-urls "http://127.0.0.1:2379$i" \
            --listen-peer-urls "http://127.0.0.1:2380$i" \
            --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
            --initial-cluster "$cluster" --initial-cluster-token vexil-bench \
            --initial-cluster-state new >"$dir/e$i.log" 2>&1 &
        pids+=("$!")
    done
    for url in "${urls[@]}"; do
        for _ in $(seq 100); do
            curl -fsS "$url/health" 2>/dev/null | grep -q '"health":"true"' && break
            sleep 0.2
        done
    done
}

# Runs one system's rows and appends `system round concurrency rate p50 p99
# errors` lines to $work/rows.
run_target() {
    local target="$1" round="$2" dir="$3" out
    out="$dir/$target.out"
    "$VEXIL_BENCH" --dir "$dir/vexil" writes --concurrency "$CONCURRENCY" \
        --seconds "$SECONDS_PER_ROW" --target "$target" \
        --etcd-urls "$(IFS=,; echo "${urls[*]}")" >"$out"
    cat "$out" >&2
    # Table rows: | concurrency | writes/s | p50 | p99 | max | errors |
    awk -F'|' -v t="$target" -v r="$round" \
        '$2 ~ /^ *[0-9]+ *$/ { gsub(/ /, ""); print t, r, $2, $3, $4, $5, $7 }' \
        "$out" >>"$work/rows"
}

log "etcd $(etcd --version | head -1 | awk '{print $3}'); $ROUNDS rounds of ${SECONDS_PER_ROW} s per row"
load_note
for round in $(seq "$ROUNDS"); do
    dir="$work/round$round"
    mkdir -p "$dir"
    start_etcd "$dir"
    if [ $((round % 2)) -eq 1 ]; then order=(vexil etcd); else order=(etcd vexil); fi
    for target in "${order[@]}"; do
        log "round $round/$ROUNDS: $target"
        run_target "$target" "$round" "$dir"
    done
    stop_etcd
    rm -rf "$dir"
done
load_note

# Per round, then medians. Rates: higher is better; latencies: lower.
{
    echo
    echo "### Replicated writes, every round (writes/s, p99 ms)"
    echo
    echo "| round | concurrency | Vexil writes/s | etcd writes/s | ratio | Vexil p99 | etcd p99 |"
    echo "|---|---|---|---|---|---|---|"
    awk '
        $1 == "vexil" { vr[$2" "$3] = $4; vp[$2" "$3] = $6 }
        $1 == "etcd" { er[$2" "$3] = $4; ep[$2" "$3] = $6 }
        END {
            for (k in vr) {
                split(k, a, " ")
                printf "| %s | %s | %s | %s | %.2f× | %s | %s |\n", a[1], a[2], vr[k], er[k], (er[k] > 0 ? vr[k] / er[k] : 0), vp[k], ep[k]
            }
        }' "$work/rows" | sort -t'|' -k2,2n -k3,3n
} >&2

# median FORMAT: the median of stdin's numbers, printed with FORMAT.
median() {
    sort -n | awk -v f="$1" '{ a[NR] = $1 }
        END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf f, m }'
}
for n in ${CONCURRENCY//,/ }; do
    col() { awk -v t="$1" -v n="$n" -v c="$2" '$1 == t && $3 == n { print $c }' "$work/rows" | median "$3"; }
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "–" }'; }
    range() { awk -v t="$1" -v n="$n" '$1 == t && $3 == n { print $4 }' "$work/rows" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%d–%d", lo, hi }'; }
    vr="$(col vexil 4 %.0f)" er="$(col etcd 4 %.0f)"
    echo "| writes | c=$n acked writes/s (median of $ROUNDS) | $vr | $er | $(ratio "$vr" "$er") |"
    echo "| writes | c=$n acked writes/s (range) | $(range vexil) | $(range etcd) | – |"
    vp="$(col vexil 5 %.2f)" ep="$(col etcd 5 %.2f)"
    echo "| writes | c=$n p50 ms (median) | $vp | $ep | $(ratio "$vp" "$ep") |"
    vp="$(col vexil 6 %.2f)" ep="$(col etcd 6 %.2f)"
    echo "| writes | c=$n p99 ms (median) | $vp | $ep | $(ratio "$vp" "$ep") |"
    ve="$(awk -v n="$n" '$1 == "vexil" && $3 == n { s += $7 } END { print s + 0 }' "$work/rows")"
    ee="$(awk -v n="$n" '$1 == "etcd" && $3 == n { s += $7 } END { print s + 0 }' "$work/rows")"
    if [ "$ve" != 0 ] || [ "$ee" != 0 ]; then
        echo "| writes | c=$n errors (all rounds) | $ve | $ee | – |"
    fi
done
