#!/usr/bin/env bash
# Creates (or reuses) the Python SDK's build-and-test venv, outside the repo,
# and installs its tools from PyPI: maturin builds the wheel, pytest and
# openfeature-sdk run the tests, flask the example, mypy checks the types.
# Prints the venv's path.
#
#   sdk/python/scripts/setup.sh            # → $HOME/.cache/vexil/venv-py
#   VEXIL_PY_VENV=/tmp/v sdk/python/scripts/setup.sh
set -euo pipefail

VENV="${VEXIL_PY_VENV:-$HOME/.cache/vexil/venv-py}"
# Pinned so that every machine builds and tests with the same tools.
PACKAGES=(maturin==1.16.0 pytest==8.3.5 openfeature-sdk==0.10.0 flask==3.1.3 mypy==2.4.1)

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "python3 with venv and ensurepip is required (Debian: apt-get install python3-venv)" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >&2
fi
want="$(printf '%s\n' "${PACKAGES[@]}")"
have="$("$VENV/bin/pip" freeze --disable-pip-version-check 2>/dev/null || true)"
if [ -n "$(comm -23 <(sort <<<"$want") <(sort <<<"$have" | tr 'A-Z' 'a-z' | sed 's/_/-/g'))" ]; then
    echo "installing ${PACKAGES[*]} into $VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}" >&2
fi
echo "$VENV"
