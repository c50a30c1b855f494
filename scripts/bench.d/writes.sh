#!/usr/bin/env bash
# Part 3: replicated writes, a 3-node Vexil cluster against a 3-member etcd,
# both driven by the same load generator (`vexil-bench writes --target both`).
# etcd keeps its defaults (every write fsynced); it is reached through its
# JSON gateway, `POST /v3/kv/put`. Prints summary rows on stdout.
#
#   scripts/bench.d/writes.sh            # 10 s per concurrency
#   SECONDS_PER_ROW=5 scripts/bench.d/writes.sh
source "$(dirname "${BASH_SOURCE[0]}")/_build.sh"

apt_install etcd-server
bench_build

work="$(mktemp -d -t vexil-bench-writes.XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Three etcd members on loopback: client ports 23791-23793, peer 23801-23803.
cluster="e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803"
urls=()
for i in 1 2 3; do
    etcd --name "e$i" --data-dir "$work/e$i" \
        --listen-client-urls "http://127.0.0.1:2379$i" \
        --advertise-client-urls "http://127.0.0.1:2379$i" \
        --listen-peer-urls "http://127.0.0.1:2380$i" \
        --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
        --initial-cluster "$cluster" --initial-cluster-token vexil-bench \
        --initial-cluster-state new >"$work/e$i.log" 2>&1 &
    pids+=("$!")
    urls+=("http://127.0.0.1:2379$i")
done
for url in "${urls[@]}"; do
    for _ in $(seq 100); do
        curl -fsS "$url/health" 2>/dev/null | grep -q '"health":"true"' && break
        sleep 0.2
    done
done
log "etcd $(etcd --version | head -1 | awk '{print $3}') up at ${urls[*]}"

load_note
bench_rows writes --dir "$work/vexil" writes --concurrency 1,16,64 \
    --seconds "${SECONDS_PER_ROW:-10}" --target both \
    --etcd-urls "$(IFS=,; echo "${urls[*]}")"
load_note
