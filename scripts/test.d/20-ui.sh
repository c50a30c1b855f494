#!/usr/bin/env bash
# Browser tests of the admin UI: a real 3-node cluster of the dev `vexil`
# binary on free local ports, driven in Debian's headless Chromium by
# playwright-core (node/ui/tests; no browser is downloaded). Screenshots of
# the main pages go to artifacts/ui/. UI_TESTS_ONLY=./t55_promote.test.mjs runs
# only the files named.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
cd "$REPO_ROOT"

UI_TESTS="$REPO_ROOT/node/ui/tests"
ARTIFACTS="$REPO_ROOT/artifacts/ui"

apt_install chromium chromium-driver
command -v node >/dev/null || apt_install nodejs npm

log "npm ci in node/ui/tests (playwright-core only)"
(cd "$UI_TESTS" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)

log "building vexil (dev profile)"
build_dev_bins
VEXIL="$CARGO_TARGET_DIR/debug/vexil"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vexil-ui.XXXXXX")"
PIDS=()
# Stops the nodes (SIGTERM, then SIGKILL after 5 s) and removes the temp dir;
# shows the nodes' logs if the tests failed.
cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        for log in "$WORK"/node*.log; do
            [ -f "$log" ] && { echo "--- $(basename "$log") (last 30 lines) ---" >&2; tail -n 30 "$log" >&2; }
        done
    fi
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# Six free ports (client and peer for each node), chosen by the kernel.
read -r -a PORTS <<<"$(node -e '
const net = require("net");
const servers = Array.from({ length: 6 }, () => net.createServer().listen(0, "127.0.0.1"));
Promise.all(servers.map((s) => new Promise((r) => s.on("listening", r)))).then(() => {
  console.log(servers.map((s) => s.address().port).join(" "));
  servers.forEach((s) => s.close());
});')"

ADMIN_TOKEN="ui-test-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
CLUSTER_SECRET="ui-test-secret-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
INITIAL="1=127.0.0.1:${PORTS[1]},2=127.0.0.1:${PORTS[3]},3=127.0.0.1:${PORTS[5]}"
NODES=()
for id in 1 2 3; do
    client="127.0.0.1:${PORTS[$(((id - 1) * 2))]}"
    peer="127.0.0.1:${PORTS[$(((id - 1) * 2 + 1))]}"
    "$VEXIL" serve --id "$id" --listen "$client" --peer-listen "$peer" \
        --initial-cluster "$INITIAL" --cluster-secret "$CLUSTER_SECRET" \
        --data-dir "$WORK/node$id" --admin-token "$ADMIN_TOKEN" \
        >"$WORK/node$id.log" 2>&1 &
    PIDS+=("$!")
    disown # the node-down test kills one; no "Killed" notice from bash
    NODES+=("$id=http://$client")
done

log "waiting for the cluster to be ready"
deadline=$((SECONDS + 60))
for node in "${NODES[@]}"; do
    until curl -sf "${node#*=}/readyz" >/dev/null; do
        if ((SECONDS > deadline)); then
            echo "node ${node%%=*} was not ready within 60 s; its log:" >&2
            cat "$WORK/node${node%%=*}.log" >&2
            exit 1
        fi
        sleep 0.2
    done
done

rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
log "browser tests (node --test)"
cd "$UI_TESTS"
VEXIL_URL="${NODES[0]#*=}" \
    VEXIL_NODES="$(IFS=,; echo "${NODES[*]}")" \
    VEXIL_PIDS="$(IFS=,; echo "${PIDS[*]}")" \
    VEXIL_ADMIN_TOKEN="$ADMIN_TOKEN" \
    VEXIL_ARTIFACTS="$ARTIFACTS" \
    node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec ${UI_TESTS_ONLY:-./*.test.mjs}
log "UI screenshots are in artifacts/ui/"
