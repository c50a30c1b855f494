#!/usr/bin/env bash
# Part `eval` of scripts/bench.sh: local evaluation, Vexil's evaluator against
# Unleash's (`unleash-yggdrasil`, a dev-dependency of vexil-flags), on the same
# flags and users (flags/benches/peer_unleash.rs, flags/benches/peer/unleash.rs).
#
# Prints table rows `| eval | metric | vexil | peer | ratio |` on stdout
# (ratio = vexil ÷ peer: below 1 is faster); everything else goes to stderr.
# Criterion's medians, release (bench) profile.

source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$REPO_ROOT"

log "load before eval runs: $(cut -d' ' -f1-3 /proc/loadavg)"
log "criterion: cargo bench -p vexil-flags --bench peer_unleash"
cargo bench --offline -p vexil-flags --bench peer_unleash >&2
log "allocations per evaluation: flags/tests/t31_peer_unleash.rs"
allocs="$(cargo test --offline -p vexil-flags --test t31_peer_unleash -- --nocapture allocations 2>&1 |
    grep 'allocations per evaluation')"
echo "$allocs" >&2

median() { # BENCH: criterion's median for BENCH, in ns
    python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["median"]["point_estimate"])' \
        "$CARGO_TARGET_DIR/criterion/$1/new/estimates.json"
}

for flag in rollout_in multi; do
    ours="$(median "peer_unleash_$flag/vexil")"
    theirs="$(median "peer_unleash_$flag/yggdrasil")"
    ratio="$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f×", a / b }')"
    printf '| eval | %s: ns per evaluation (median) | %s | %s | %s |\n' "$flag" "$ours" "$theirs" "$ratio"
    read -r a b < <(echo "$allocs" | sed -n "s/^$flag: allocations per evaluation: vexil \([0-9.]*\), yggdrasil \([0-9.]*\)/\1 \2/p")
    printf '| eval | %s: allocations per evaluation | %s | %s | – |\n' "$flag" "$a" "$b"
done
log "load after eval runs: $(cut -d' ' -f1-3 /proc/loadavg)"
