#!/usr/bin/env bash
# Part `sdk-node`: the Node.js SDK (@vexil/sdk) against npm `unleash-client`,
# both evaluating locally and offline (Vexil from a cache file, Unleash from
# bootstrap data), on the flags of eval.sh (flags/benches/peer/unleash.rs):
#   - outcomes first: both enable the expected share (±5 points) of each
#     country's users for both flags, or the part fails;
#   - ns per evaluation: `client.boolValue(flag, {key, country, plan})`
#     against `unleash.isEnabled(flag, {userId, properties})`, median of 7
#     rounds of 500,000 calls over 10,000 users (and `boolDetail`, Vexil only);
#   - cold start with 10,000 flags (to the first evaluation) and the memory
#     it holds, each engine in a fresh `node --expose-gc` process.
#
#   bash scripts/bench.d/sdk-node.sh      # run alone (reproduce)
#
# Prints table rows `| sdk-node | metric | vexil | peer | ratio |` on
# stdout (ratio = vexil ÷ peer: below 1 is better); progress on stderr.
# Builds the addon (release) into $VEXIL_NODE_TARGET_DIR (default
# ~/.cache/vexil/target-node) when it is missing, and installs the pinned
# unleash-client from sdk/node/bench/package-lock.json.

source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$REPO_ROOT"

HERE="$REPO_ROOT/sdk/node"
command -v npm >/dev/null || apt_install nodejs npm
if [ ! -f "$HERE/native/vexil.node" ] || [ "${BENCH_REBUILD:-0}" = 1 ]; then
    log "building @vexil/sdk's addon (release)"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >&2 &&
        CARGO_TARGET_DIR="${VEXIL_NODE_TARGET_DIR:-$HOME/.cache/vexil/target-node}" npm run --silent build >&2)
fi
log "installing unleash-client (npm ci in sdk/node/bench)"
(cd "$HERE/bench" && npm ci --no-audit --no-fund --loglevel=error >&2)

log "load before: $(cut -d' ' -f1-3 /proc/loadavg); node $(node --version)"
cd "$HERE/bench"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vexil-bench-node.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
log "outcomes, then ns per evaluation"
evals="$(timeout 900 node eval.js evaluations)"
log "cold start and memory with 10,000 flags"
node eval.js prepare "$WORK" >/dev/null
cold_v="$(timeout 300 node --expose-gc eval.js coldstart vexil "$WORK")"
cold_u="$(timeout 300 node --expose-gc eval.js coldstart unleash "$WORK")"
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$evals" "$cold_v" "$cold_u" <<'PY'
import json, sys
ev, cv, cu = (json.loads(a) for a in sys.argv[1:4])
def row(metric, v, p, fmt):
    ratio = f"{v / p:.2f}×" if v > 0 and p > 0 else "–"
    print(f"| sdk-node | {metric} | {fmt.format(v)} | {fmt.format(p)} | {ratio} |")
for flag, r in ev["flags"].items():
    row(f"{flag}: ns per boolValue vs isEnabled (median)", r["vexil"], r["unleash"], "{:.0f}")
    row(f"{flag}: ns per boolValue, PreparedContext, vs isEnabled (median)", r["vexilPrepared"], r["unleash"], "{:.0f}")
    print(f"| sdk-node | {flag}: ns per boolDetail (median) | {r['vexilDetail']:.0f} | – | – |")
row("cold start, 10,000 flags: ms to the first evaluation", cv["startMs"], cu["startMs"], "{:.1f}")
row("memory held, 10,000 flags: RSS MiB", cv["rssMiB"], cu["rssMiB"], "{:.1f}")
row("memory held, 10,000 flags: JS heap MiB", cv["heapMiB"], cu["heapMiB"], "{:.1f}")
PY
log "reproduce: bash scripts/bench.d/sdk-node.sh"
