#!/usr/bin/env bash
# Floods a local 3-node cluster the way issue 21 did, and checks that it
# keeps serving. Bounded: about a minute, a few thousand sockets, 127.0.0.x
# only.
#
#   scripts/flood.sh                  # the form scripts/test.sh runs
#   FLOOD_SECONDS=90 scripts/flood.sh # a longer flood
#
# For FLOOD_SECONDS (45), scripts/flood.py attacks every node's API and peer
# ports: unauthenticated 250 MiB bodies (OFREP, a flag write, a Raft append,
# a snapshot) and 1 MB OFREP bodies (under the API's limit), slowloris and
# idle sockets (about 10,000 open at once), made-up HTTP methods, wrong
# tokens, and /v1/stream subscribers that never read.
# The attack comes from 127.0.0.2 (wrong tokens from 127.0.0.3): loopback
# addresses of their own, as an attacker's would be. From 127.0.0.1 the
# per-IP caps and the back-off could not tell it from the probes and the
# peers, which all come from there.
# Meanwhile it measures, from 127.0.0.1 and on a new connection each time,
# /healthz on every node, a write through the leader every 250 ms, and each
# node's RSS. Targets: /healthz p99 <= 100 ms, every write succeeds, RSS
# growth <= 256 MiB per node. Prints a table and exits 1 if one is missed.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

SECONDS_FLOOD="${FLOOD_SECONDS:-45}"
SOURCE="${FLOOD_SOURCE:-127.0.0.2}"

build_dev_bins
VEXIL="$CARGO_TARGET_DIR/debug/vexil"
CLUSTER="$CARGO_TARGET_DIR/debug/vexil-cluster"
# The attacker holds thousands of sockets; the nodes raise their own limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vexil-flood.XXXXXX")"
cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        for f in "$WORK"/*/*.log "$WORK"/*.log; do
            [ -f "$f" ] && { echo "--- $f (last 10 lines) ---" >&2; tail -n 10 "$f" >&2; }
        done
    fi
    "$CLUSTER" --dir "$WORK" down >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

export VEXIL_ADMIN_TOKEN="flood-admin-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export VEXIL_CLUSTER_SECRET="flood-cluster-secret-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
log "flood: starting 3 nodes in $WORK"
timeout 60 "$CLUSTER" --dir "$WORK" --bin "$VEXIL" up 3 >/dev/null

SDK_TOKEN="$(python3 - "$WORK/cluster.json" <<'PY'
import http.client, json, os, sys
nodes = json.load(open(sys.argv[1]))["nodes"]
host, port = next(iter(nodes.values()))["api"].rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port), timeout=10)
c.request("POST", "/v1/tokens", json.dumps({"name": "flood-sdk", "role": "sdk"}),
          {"Authorization": "Bearer " + os.environ["VEXIL_ADMIN_TOKEN"], "Content-Type": "application/json"})
r = c.getresponse()
assert r.status == 201, (r.status, r.read())
print(json.loads(r.read())["secret"])
PY
)"

log "flood: ${SECONDS_FLOOD}s from $SOURCE while probing from 127.0.0.1"
python3 scripts/flood.py probe "$WORK/cluster.json" "$((SECONDS_FLOOD + 3))" "$VEXIL_ADMIN_TOKEN" "$WORK/probe.json" &
PROBE=$!
sleep 1 # the probe reads each node's RSS before the attack starts
timeout "$((SECONDS_FLOOD + 30))" python3 scripts/flood.py attack "$WORK/cluster.json" "$SECONDS_FLOOD" "$SOURCE" "$SDK_TOKEN" \
    || log "flood: the attacker exited with $?"
wait "$PROBE"

python3 - "$WORK/probe.json" "$SECONDS_FLOOD" "$SOURCE" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")
missed = []
print(f"{'node':<12}{'healthz n':>10}{'failed':>8}{'p50 ms':>9}{'p99 ms':>9}{'RSS before MiB':>16}{'peak MiB':>10}{'growth MiB':>12}")
for nid, samples in sorted(p["health"].items(), key=lambda kv: int(kv[0])):
    ok = [ms for status, ms in samples if status == 200]
    failed = len(samples) - len(ok)
    base, peak = p["base_rss_kib"][nid] / 1024, p["peak_rss_kib"][nid] / 1024
    p99 = pct(ok, 0.99)
    lead = " (leader)" if int(nid) == p["leader"] else ""
    print(f"{nid + lead:<12}{len(samples):>10}{failed:>8}{pct(ok, 0.5):>9.1f}{p99:>9.1f}{base:>16.1f}{peak:>10.1f}{peak - base:>12.1f}")
    if failed or not ok or p99 > 100:
        missed.append(f"node {nid}: /healthz p99 {p99:.1f} ms, {failed} failed (target p99 <= 100 ms, none failed)")
    if peak - base > 256:
        missed.append(f"node {nid}: RSS grew {peak - base:.0f} MiB (target <= 256)")
w = p["writes"]
ok = [ms for status, ms in w if 200 <= status < 300]
print(f"writes through the leader (node {p['leader']}): {len(ok)}/{len(w)} succeeded, "
      f"p50 {pct(ok, 0.5):.1f} ms, p99 {pct(ok, 0.99):.1f} ms, max {max(ok, default=float('nan')):.1f} ms")
if len(ok) != len(w) or not w:
    missed.append(f"writes: {len(w) - len(ok)} of {len(w)} failed (statuses {sorted({s for s, _ in w})})")
print(f"reproduce: FLOOD_SECONDS={sys.argv[2]} FLOOD_SOURCE={sys.argv[3]} scripts/flood.sh")
for m in missed:
    print("MISSED:", m)
sys.exit(1 if missed else 0)
PY
