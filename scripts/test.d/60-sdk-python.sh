#!/usr/bin/env bash
# The Python SDK (sdk/python): checks the extension's Rust (fmt, clippy),
# checks that the conformance cases are generated from their sources, builds
# the abi3 wheel with maturin (release), installs that wheel into a fresh
# venv (as a user would), and runs pytest there against the installed
# package: the shared conformance suite (sdk/conformance), context
# conversion, the client offline, the OpenFeature provider, the Flask
# example, and a real 3-node cluster; then the same on CPython 3.9 where
# the machine has it.
#
# The extension builds in its own target directory ($VEXIL_PY_TARGET_DIR,
# default ~/.cache/vexil/target-py), never the workspace's. Tools come from
# PyPI through sdk/python/scripts/setup.sh (a venv under ~/.cache/vexil).
source "$(dirname "$0")/../lib.sh"
set -euo pipefail
cd "$REPO_ROOT"

HERE="$REPO_ROOT/sdk/python"
PY_TARGET="${VEXIL_PY_TARGET_DIR:-$HOME/.cache/vexil/target-py}"
export CI="${CI:-true}"

command -v python3 >/dev/null || apt_install python3
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv

log "sdk/python: tools (maturin, pytest, openfeature-sdk)"
TOOLS="$(timeout 600 bash "$HERE/scripts/setup.sh")"

dev_bin_dir  # BIN_DIR: vexil and vexil-cluster (scripts/lib.sh)

log "sdk/conformance: the cases match their sources"
python3 "$REPO_ROOT/sdk/conformance/generate.py" --check

log "sdk/python: cargo fmt --check, clippy -D warnings"
(cd "$HERE" && cargo fmt --check)
(cd "$HERE" && CARGO_TARGET_DIR="$PY_TARGET" PYO3_PYTHON="$TOOLS/bin/python" \
    timeout 1800 cargo clippy --release --all-targets --quiet -- -D warnings)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vexil-sdk-python.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "sdk/python: maturin build --release"
(cd "$HERE" && CARGO_TARGET_DIR="$PY_TARGET" timeout 1800 "$TOOLS/bin/maturin" build \
    --release --quiet --interpreter "$TOOLS/bin/python" --out "$WORK/dist")
WHEEL="$(ls "$WORK"/dist/vexil_sdk-*.whl)"
CONTENTS="$(python3 -m zipfile -l "$WHEEL")"
for f in vexil/__init__.py vexil/_native.abi3.so vexil/_native.pyi vexil/py.typed vexil/openfeature.py; do
    grep -q "^$f " <<<"$CONTENTS" || { echo "the wheel lacks $f" >&2; exit 1; }
done

log "installing the wheel into a fresh venv"
python3 -m venv "$WORK/venv"
# The test-only packages at the versions setup.sh pins, then the wheel.
"$TOOLS/bin/pip" freeze --disable-pip-version-check | grep -iE '^(pytest|openfeature-sdk|flask|mypy)==' >"$WORK/pins.txt" || true
timeout 600 "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check -r "$WORK/pins.txt" "$WHEEL"
# The tests import the installed package, not the source tree.
cp -r "$HERE/tests" "$HERE/examples" "$WORK/"

log "mypy --strict on the installed package (its stubs and annotations)"
(cd "$WORK" && timeout 300 "$WORK/venv/bin/python" -m mypy --strict --no-incremental -p vexil)

log "pytest against the installed wheel"
(cd "$WORK/tests" && VEXIL_REQUIRE_CLUSTER=1 VEXIL_BIN_DIR="$BIN_DIR" \
    VEXIL_CONFORMANCE_DIR="$REPO_ROOT/sdk/conformance" \
    timeout 600 "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider)

# CPython 3.9, the oldest the abi3 wheel supports (`requires-python`): the
# same wheel and tests, when this machine has a 3.9 interpreter (on PATH or
# under pyenv). Debian's own Python is newer, and no registry this project
# uses ships CPython itself, so without one this part says SKIPPED.
# (pyenv's own interpreter, not its shim: the shim fails unless 3.9 is
# selected.)
PY39=""
if command -v pyenv >/dev/null; then
    PY39="$(ls -d "$(pyenv root)"/versions/3.9*/bin/python3.9 2>/dev/null | tail -n 1 || true)"
fi
if [ -z "$PY39" ] && python3.9 -c 'import venv' >/dev/null 2>&1; then
    PY39="$(command -v python3.9)"
fi
if [ -z "$PY39" ]; then
    echo "SKIPPED: CPython 3.9 run: no python3.9 on this machine"
else
    log "the same wheel and tests on $("$PY39" --version)"
    "$PY39" -m venv "$WORK/venv39"
    # openfeature-sdk 0.9 and later need Python 3.10: 3.9 gets 0.8.4, the
    # last release for it (the provider supports both).
    grep -iE '^(pytest|flask)==' "$WORK/pins.txt" >"$WORK/pins39.txt" || true
    echo "openfeature-sdk==0.8.4" >>"$WORK/pins39.txt"
    timeout 600 "$WORK/venv39/bin/pip" install --quiet --disable-pip-version-check -r "$WORK/pins39.txt" "$WHEEL"
    (cd "$WORK/tests" && VEXIL_REQUIRE_CLUSTER=1 VEXIL_BIN_DIR="$BIN_DIR" \
        VEXIL_CONFORMANCE_DIR="$REPO_ROOT/sdk/conformance" \
        timeout 600 "$WORK/venv39/bin/python" -m pytest -q -p no:cacheprovider)
fi
