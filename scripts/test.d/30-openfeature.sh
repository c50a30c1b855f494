#!/usr/bin/env bash
# OFREP under real OpenFeature clients: starts one `vexil` node on free ports
# in a temp dir, seeds it with scripts/openfeature/flags.json through the
# admin API, then runs the Python SDK + OFREP provider and the JavaScript web
# SDK + OFREP web provider (in Node) against it. Installs what is missing:
# a venv under ~/.cache/vexil/venv, and npm packages from package-lock.json.
source "$(dirname "$0")/../lib.sh"
set -euo pipefail
cd "$REPO_ROOT"

HERE="$REPO_ROOT/scripts/openfeature"
VENV="$HOME/.cache/vexil/venv"
PY_PACKAGES=(openfeature-sdk==0.10.0 openfeature-provider-ofrep==0.3.0)

command -v python3 >/dev/null || apt_install python3
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
command -v npm >/dev/null || apt_install nodejs npm
command -v curl >/dev/null || apt_install curl

if ! "$VENV/bin/python" -c 'import openfeature.contrib.provider.ofrep' 2>/dev/null; then
    log "installing ${PY_PACKAGES[*]} into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
fi
if [ ! -d "$HERE/node_modules/@openfeature/ofrep-web-provider" ]; then
    log "installing the OpenFeature web SDK (npm ci)"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi

log "building vexil"
build_dev_bins

WORK="$(mktemp -d)"
NODE_PID=""
# Shows the node's log on failure, stops the node (SIGTERM, then SIGKILL
# after 5 s: an SSE client left open would hold its graceful shutdown) and
# removes the temp dir.
cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ -f "$WORK/node.log" ]; then
        echo "--- the node's log (last 40 lines) ---" >&2
        tail -n 40 "$WORK/node.log" >&2
    fi
    if [ -n "$NODE_PID" ]; then
        kill "$NODE_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$NODE_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$NODE_PID" 2>/dev/null || true
        wait "$NODE_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

read -r API_PORT PEER_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
URL="http://127.0.0.1:$API_PORT"
ADMIN="$(python3 -c 'import secrets; print("of-admin-" + secrets.token_hex(16))')"

"$CARGO_TARGET_DIR/debug/vexil" serve --data-dir "$WORK/data" \
    --listen "127.0.0.1:$API_PORT" --peer-listen "127.0.0.1:$PEER_PORT" \
    --admin-token "$ADMIN" >"$WORK/node.log" 2>&1 &
NODE_PID=$!

# api METHOD PATH [BODY]: an admin request; prints the body, fails on >= 400.
api() {
    curl -sS --fail-with-body --max-time 10 -X "$1" "$URL$2" \
        -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' ${3:+-d "$3"}
}

for _ in $(seq 1 100); do
    curl -sf --max-time 1 -H "Authorization: Bearer $ADMIN" "$URL/v1/me" >/dev/null 2>&1 && break
    kill -0 "$NODE_PID" 2>/dev/null || { cat "$WORK/node.log" >&2; exit 1; }
    sleep 0.1
done
api GET /v1/me >/dev/null || { echo "the node never became ready" >&2; cat "$WORK/node.log" >&2; exit 1; }

SDK_TOKEN="$(api POST /v1/tokens '{"name":"openfeature-clients","role":"sdk"}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')"
python3 -c 'import json, sys; [print(json.dumps(f)) for f in json.load(open(sys.argv[1]))]' \
    "$HERE/flags.json" | while read -r flag; do api POST /v1/flags "$flag" >/dev/null; done

export VEXIL_URL="$URL" VEXIL_SDK_TOKEN="$SDK_TOKEN" VEXIL_ADMIN_TOKEN="$ADMIN"
log "python: openfeature-sdk + openfeature-provider-ofrep"
timeout 120 "$VENV/bin/python" "$HERE/ofrep_python_test.py"
log "javascript: @openfeature/web-sdk + @openfeature/ofrep-web-provider"
timeout 120 node "$HERE/ofrep_web_test.mjs"
