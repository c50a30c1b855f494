# Shared by the bench.d parts: builds vexil and vexil-bench once and names
# them. Sourced, not run. The default is a release build: what an operator
# deploys, and what the peers are (etcd's Go binary, Edge's `cargo install`).
# Its first run compiles RocksDB's C++ a second time (~15 min on 2 cores;
# tests and CI use the dev profile only). BENCH_PROFILE=dev measures the dev
# build instead (dependencies at opt-level 3, Vexil's crates at 1).
# VEXIL_BIN and VEXIL_BENCH, both set, name prebuilt binaries instead.

source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

BENCH_PROFILE="${BENCH_PROFILE:-release}"
bench_build() {
    # Prebuilt binaries: VEXIL_BIN and VEXIL_BENCH both set skips the build.
    if [ -n "${VEXIL_BIN:-}" ] && [ -n "${VEXIL_BENCH:-}" ]; then
        log "using prebuilt $VEXIL_BIN and $VEXIL_BENCH"
        export VEXIL_BIN
        return
    fi
    local dir=debug
    log "building vexil and vexil-bench ($BENCH_PROFILE profile)"
    if [ "$BENCH_PROFILE" = release ]; then
        # The only release build: its selection never changes, so its
        # RocksDB is compiled once, beside the dev one.
        (cd "$REPO_ROOT" && cargo build -q --release -p vexil-node -p vexil-cluster \
            --bin vexil --bin vexil-bench >&2)
        dir=release
    else
        # The dev build the tests and every other script share; a narrower
        # dev selection would compile RocksDB again.
        build_dev_bins >&2
    fi
    export VEXIL_BIN="$CARGO_TARGET_DIR/$dir/vexil"
    VEXIL_BENCH="$CARGO_TARGET_DIR/$dir/vexil-bench"
}

# Runs vexil-bench with its tables on stderr and only the summary rows
# (`| part | metric | vexil | peer | ratio |`) on stdout.
bench_rows() {
    local part="$1"
    shift
    local out
    out="$(mktemp)"
    "$VEXIL_BENCH" "$@" >"$out"
    cat "$out" >&2
    grep "^| $part |" "$out"
    rm -f "$out"
}

# The load on the machine, for the record.
load_note() {
    log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
