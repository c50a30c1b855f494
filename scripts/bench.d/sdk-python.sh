#!/usr/bin/env bash
# Part `sdk-python` of the benchmarks: the Python SDK's per-evaluation cost
# (`vexil.Client.bool_value`, with the context as a dict and as a prebuilt
# `vexil.Context`) against `UnleashClient.is_enabled` (PyPI `UnleashClient`,
# on Unleash's Rust engine yggdrasil), on the flags of scripts/bench.d/eval.sh,
# after checking that both SDKs enable the expected share of every
# country's users; then cold start and RSS growth with 10,000 flags, each
# from its own offline bootstrap (sdk/python/bench/eval_vs_unleash.py).
#
# Prints table rows `| sdk-python | metric | vexil | unleash | ratio |` on
# stdout (ratio = vexil ÷ unleash: below 1 is faster); the rest on stderr.
#
#   scripts/bench.d/sdk-python.sh
#   BENCH_USERS=100000 BENCH_CALLS=300000 BENCH_ROUNDS=5 scripts/bench.d/sdk-python.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$REPO_ROOT"

HERE="$REPO_ROOT/sdk/python"
PY_TARGET="${VEXIL_PY_TARGET_DIR:-$HOME/.cache/vexil/target-py}"
BENCH_VENV="${VEXIL_PY_BENCH_VENV:-$HOME/.cache/vexil/venv-py-bench}"
UNLEASH=UnleashClient==6.9.1

TOOLS="$(bash "$HERE/scripts/setup.sh")"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vexil-bench-py.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "sdk-python: maturin build --release"
(cd "$HERE" && CARGO_TARGET_DIR="$PY_TARGET" "$TOOLS/bin/maturin" build --release --quiet \
    --interpreter "$TOOLS/bin/python" --out "$WORK/dist" >&2)
[ -x "$BENCH_VENV/bin/python" ] || python3 -m venv "$BENCH_VENV" >&2
log "sdk-python: installing the wheel and $UNLEASH into $BENCH_VENV"
"$BENCH_VENV/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$WORK"/dist/*.whl >&2
"$BENCH_VENV/bin/pip" install --quiet --disable-pip-version-check "$UNLEASH" >&2

log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$WORK" && "$BENCH_VENV/bin/python" "$HERE/bench/eval_vs_unleash.py")
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
