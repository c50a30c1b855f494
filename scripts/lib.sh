# Shared by the scripts: where builds go, and how to install what is missing.
# Sourced, not run.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# One target directory outside the clone, shared by every checkout on this
# machine, so a fresh clone (and CI) reuses the RocksDB build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vexil/target}"
mkdir -p "$CARGO_TARGET_DIR"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG... : installs the Debian packages that are not installed yet.
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# What building Vexil needs: a C++ toolchain and libclang for RocksDB's bindgen.
ensure_build_deps() {
    command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
    apt_install clang libclang-dev build-essential pkg-config
}

ensure_nextest() {
    cargo nextest --version >/dev/null 2>&1 || { log "installing cargo-nextest"; cargo install --locked cargo-nextest; }
}

# Builds every binary of the workspace (dev profile) with the feature
# resolution of `cargo nextest run --workspace`: test targets are selected,
# so dev-dependencies count. A narrower `cargo build -p vexil-node --bin
# vexil` resolves a host dependency of RocksDB's build script (memchr, whose
# `default` feature the tests' proc-macros enable) with other features, and
# so compiles RocksDB again, ~15 minutes on two cores for each distinct
# selection. scripts/start.sh builds through here too. After the test run
# this is a no-op.
# `build_dev_bins --progress` shows cargo's progress (scripts/start.sh).
build_dev_bins() {
    local quiet=(--quiet)
    if [ "${1:-}" = --progress ]; then quiet=(); fi
    (cd "$REPO_ROOT" && cargo build "${quiet[@]}" --workspace --bins --tests)
}

# dev_bin_dir: sets BIN_DIR to a directory holding `vexil` and
# `vexil-cluster`, for tests that start a cluster: $VEXIL_BIN_DIR when set
# (prebuilt: a quicker local run, or while another build holds cargo's
# lock), else the shared dev build (a no-op after the test run's nextest).
dev_bin_dir() {
    if [ -n "${VEXIL_BIN_DIR:-}" ]; then
        BIN_DIR="$VEXIL_BIN_DIR"
    else
        log "building vexil and vexil-cluster (for the cluster tests)"
        build_dev_bins
        BIN_DIR="$CARGO_TARGET_DIR/debug"
    fi
}
