#!/usr/bin/env bash
# The upgrade rehearsal: a three-node cluster of a previous release is
# upgraded to this one node by node, followers first and the leader last,
# as docs/OPERATIONS.md says, while a writer keeps writing through every
# node. It checks that:
#   - each data directory of the previous release opens under this one;
#   - every acknowledged write is there afterwards, on every node;
#   - the cluster level stays at the previous release's until the last node
#     runs this one, then rises to this release's (`vexil_raft::version`);
#   - the admin token the operator chose under the previous release (kept
#     as SHA-256 there) still opens every node;
#   - a backup the previous release wrote verifies, restores with this
#     release to the same state (state hash as restored, exported flags);
#   - until the last node runs this release a command of the new level
#     (creating a project from a release before projects, a promotion from
#     one before promotions, an environment copied from another from one
#     before copies; level 7 adds no command) answers 503
#     `cluster_upgrade_pending`; after it, the leader has created project
#     `default` (development, staging, production), projects can be created,
#     a promotion applies and rolls back, an environment can start as a copy
#     of another, and a flag made through `/v1/flags` has its staging
#     configuration derived (level 7), alike on every node after a restart.
# Usage: scripts/ops/upgrade-rehearsal.sh [--from REV]
# REV defaults to the last release before projects (3ec32f5 is the last
# before cluster levels, and upgrades as well); scripts/test.d/42-upgrade.sh
# also runs it from the previous release (f002d90, level 5). It is built once per machine
# (kept under ~/.cache/vexil/releases), in a temporary git worktree into the
# shared target directory (the
# same dependency selection, so RocksDB is not compiled again); this
# release is built again afterwards, so run nothing else on that target
# directory meanwhile (until then its binaries are the old release's).
# scripts/test.d/42-upgrade.sh runs it: the first time on a machine it
# costs a build of the previous release (~10 minutes on 2 cores), then
# about two.
source "$(dirname "$0")/../lib.sh"
set -euo pipefail
DRILL=upgrade
FROM=7263f8e
while [ $# -gt 0 ]; do
    case "$1" in
        --from) FROM="$2"; shift 2 ;;
        *) echo "usage: $0 [--from REV]" >&2; exit 2 ;;
    esac
done
source "$(dirname "$0")/cluster-lib.sh"
OLD_SRC="$WORK/old-src"
drill_cleanup() {
    [ -d "$OLD_SRC" ] && git -C "$REPO_ROOT" worktree remove --force "$OLD_SRC"
    git -C "$REPO_ROOT" worktree prune
}

# The previous release's binary is kept per commit under the cache
# directory, so only the first rehearsal on a machine builds it.
OLD_CACHE="$HOME/.cache/vexil/releases/vexil-$(git -C "$REPO_ROOT" rev-parse --short=12 "$FROM")"
if [ -x "$OLD_CACHE" ]; then
    step "the previous release ($(git -C "$REPO_ROOT" rev-parse --short "$FROM")), built before: $OLD_CACHE"
    cp "$OLD_CACHE" "$WORK/vexil-old"
else
    step "building the previous release ($(git -C "$REPO_ROOT" rev-parse --short "$FROM"))"
    git -C "$REPO_ROOT" worktree add --quiet --detach "$OLD_SRC" "$FROM"
    (cd "$OLD_SRC" && cargo build --quiet --workspace --bins --tests)
    cp "$CARGO_TARGET_DIR/debug/vexil" "$WORK/vexil-old"
    git -C "$REPO_ROOT" worktree remove --force "$OLD_SRC"
    mkdir -p "$(dirname "$OLD_CACHE")"
    cp "$WORK/vexil-old" "$OLD_CACHE.tmp" && mv "$OLD_CACHE.tmp" "$OLD_CACHE"
    # Cargo fingerprints workspace crates by their sources' relative paths
    # and times, so the other checkout's artifacts now look fresh to this
    # one (a build here once linked the previous release's vexil-flags):
    # make this checkout's sources newer, so this release is rebuilt.
    find "$REPO_ROOT" -name '*.rs' -not -path '*/node_modules/*' -exec touch {} +
fi
step "building this release"
build_dev_bins
cmp -s "$WORK/vexil-old" "$VEXIL" && fail "$VEXIL is still the previous release's binary"

LEVEL_NOW="$(sed -n 's/^pub const SUPPORTED: u32 = \([0-9]*\);/\1/p' "$REPO_ROOT/raft/src/version.rs")"
[ -n "$LEVEL_NOW" ] || fail "cannot read SUPPORTED from raft/src/version.rs"
# level: the cluster's level through $VEXIL_URL (retried for 10 s).
level() {
    local out
    for _ in $(seq 1 50); do
        if out="$(curl -sf --max-time 2 -H @"$(auth_header)" "$VEXIL_URL/v1/cluster" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin).get("level", 1))' 2>/dev/null)"; then
            echo "$out"
            return 0
        fi
        sleep 0.2
    done
    fail "GET /v1/cluster through $VEXIL_URL kept failing"
}

step "a three-node cluster of the previous release, with flags, segments and history"
read -r A1 P1 A2 P2 A3 P3 < <(free_ports 6)
API=([1]="$A1" [2]="$A2" [3]="$A3")
PEER=([1]="$P1" [2]="$P2" [3]="$P3")
URL_OF=([1]="http://127.0.0.1:$A1" [2]="http://127.0.0.1:$A2" [3]="http://127.0.0.1:$A3")
MEMBERS="1=127.0.0.1:$P1,2=127.0.0.1:$P2,3=127.0.0.1:$P3"
SECRET="rehearsal-secret-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
# An operator-chosen admin token: the previous release keeps its SHA-256.
export VEXIL_TOKEN="rehearsal-admin-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
# start_member ID BINARY: a member as deployed, with the same flags under
# either release.
start_member() {
    NODE_BIN="$2" start_node "$1" "${API[$1]}" "${PEER[$1]}" "$WORK/node$1" \
        --initial-cluster "$MEMBERS" --admin-token "$VEXIL_TOKEN"
}
for id in 1 2 3; do start_member "$id" "$WORK/vexil-old"; done
for id in 1 2 3; do wait_ready "${URL_OF[$id]}"; done
export VEXIL_URL="${URL_OF[1]}"
retry 100 "$VEXIL" flags list >/dev/null
seed_flags
"$VEXIL" backup --to "$WORK/old.backup" >/dev/null
"$VEXIL" export >"$WORK/before.json"
BEFORE="$(state_hash "$WORK/old.backup")"
# The previous release's own level (1 before levels existed), once its
# leader has raised the fresh cluster to it.
OLD_LEVEL="$({ git -C "$REPO_ROOT" show "$FROM:raft/src/version.rs" 2>/dev/null || true; } \
    | sed -n 's/^pub const SUPPORTED: u32 = \([0-9]*\);/\1/p')"
OLD_LEVEL="${OLD_LEVEL:-1}"
for _ in $(seq 1 150); do [ "$(level)" = "$OLD_LEVEL" ] && break; sleep 0.2; done
[ "$(level)" = "$OLD_LEVEL" ] || fail "the previous release's cluster is at level $(level), not $OLD_LEVEL"
[ "$OLD_LEVEL" -lt "$LEVEL_NOW" ] || fail "the previous release already supports level $LEVEL_NOW"
# too_early URL: a command of a level the previous release lacks, which
# must answer 503 until every member runs this release: creating a project
# (level 3) from a release before projects, promoting a flag (level 5) from
# level 4, else (from level 5) an environment copied from another (level 6).
too_early() {
    local path='/v1/projects' body='{"key": "too-early"}'
    if [ "$OLD_LEVEL" -ge 5 ]; then
        path='/v1/projects/default/environments'
        body='{"key": "too-early", "copy_from": "staging"}'
    elif [ "$OLD_LEVEL" -ge 4 ]; then
        path='/v1/projects/default/promote'
        body='{"from": "staging", "to": "production", "flags": ["banner"]}'
    fi
    curl -s --max-time 10 -o "$WORK/pending.json" -w '%{http_code}' -H @"$(auth_header)" \
        -H 'content-type: application/json' -d "$body" "$1$path" || true
}

step "rolling upgrade: one node at a time, leader last, a writer writing through every node"
WRITE_URLS=("${URL_OF[1]}" "${URL_OF[2]}" "${URL_OF[3]}")
: >"$WORK/acked"
writer &
WRITER=$!
wait_progress
UPGRADED=" "
for round in 1 2 3; do
    wait_healthy
    LEADER="$(st leader)"
    next_to_restart "$UPGRADED"
    log "upgrade: node $NEXT (leader: $LEADER)"
    stop_node "$NEXT"
    start_member "$NEXT" "$VEXIL"
    wait_ready "${URL_OF[$NEXT]}"
    wait_caught_up "$NEXT"
    wait_progress
    UPGRADED="$UPGRADED$NEXT "
    if [ "$round" -lt 3 ]; then
        [ "$(level)" -lt "$LEVEL_NOW" ] || fail "the level rose while a node still runs the previous release"
    fi
    # Level 7 adds no command: from level 6 there is none to refuse.
    if [ "$round" -lt 3 ] && [ "$OLD_LEVEL" -lt 6 ]; then
        code="$(too_early "${URL_OF[$NEXT]}")"
        [ "$code" = 503 ] && grep -q cluster_upgrade_pending "$WORK/pending.json" \
            || fail "a new-level command before the last node was upgraded answered $code: $(cat "$WORK/pending.json")"
    fi
done
wait_healthy
for _ in $(seq 1 150); do [ "$(level)" = "$LEVEL_NOW" ] && break; sleep 0.2; done
[ "$(level)" = "$LEVEL_NOW" ] || fail "the cluster level is $(level), not $LEVEL_NOW, with every node upgraded"

step "the new level: project default exists, and projects can be made"
for _ in $(seq 1 100); do
    "$VEXIL" --output json projects get default >"$WORK/default.json" 2>/dev/null && break
    sleep 0.2
done
python3 - "$WORK/default.json" <<'EOF' || fail "project default: $(cat "$WORK/default.json")"
import json, sys
p = json.load(open(sys.argv[1]))
envs = [e["key"] for e in p["environments"]]
assert envs == ["development", "staging", "production"], envs
EOF
retry 25 "$VEXIL" projects create web >/dev/null

step "the new level: a promotion applies, and rolls back"
"$VEXIL" promote --from staging --to production --flag banner >"$WORK/promote.out" 2>&1 \
    || fail "promoting banner: $(cat "$WORK/promote.out")"
PROMOTION="$(sed -n 's/.*promotions rollback \([0-9]*\).*/\1/p' "$WORK/promote.out")"
[ -n "$PROMOTION" ] || fail "no promotion id in: $(cat "$WORK/promote.out")"
"$VEXIL" promotions rollback "$PROMOTION" >/dev/null || fail "rolling back promotion $PROMOTION"

step "the new level: an environment starts as a copy of another"
"$VEXIL" envs create qa --project default --copy-from staging >"$WORK/copy.out" 2>&1 \
    || fail "copying staging: $(cat "$WORK/copy.out")"
"$VEXIL" --output json envs compare staging qa --project default >"$WORK/copy.json" \
    || fail "comparing staging and its copy"
python3 - "$WORK/copy.json" <<'EOF' || fail "the copy differs from staging: $(cat "$WORK/copy.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["flags"] == [], d["flags"]
EOF

step "level 7: a new flag's staging configuration is derived, alike on every node after a restart"
retry 25 "$VEXIL" flags create derived-after-upgrade >/dev/null
LEADER="$(st leader)"
RESTART=""
for id in 1 2 3; do [ "$id" != "$LEADER" ] && { RESTART=$id; break; }; done
stop_node "$RESTART"
start_member "$RESTART" "$VEXIL"
wait_ready "${URL_OF[$RESTART]}"
wait_caught_up "$RESTART"
for id in 1 2 3; do
    curl -sf --max-time 10 -H @"$(auth_header)" -o "$WORK/derived.$id.json" \
        "${URL_OF[$id]}/v1/projects/default/environments/staging/flags/derived-after-upgrade/versions?consistency=local" \
        || fail "node $id has no staging versions of derived-after-upgrade"
done
python3 - "$WORK"/derived.1.json "$WORK"/derived.2.json "$WORK"/derived.3.json <<'EOF' \
    || fail "the derived staging configuration differs: $(cat "$WORK"/derived.*.json)"
import json, sys
docs = [json.load(open(p)) for p in sys.argv[1:]]
for d in docs:
    v = d["versions"]
    assert [e["version"] for e in v] == [1], v
    assert v[0]["state"]["enabled"] is False, v
assert all(d == docs[0] for d in docs), docs
EOF

step "a leadership move is audited (level 2, kept)"
LEADER="$(st leader)"
TO=""
for id in 1 2 3; do [ "$id" != "$LEADER" ] && { TO=$id; break; }; done
retry 25 "$VEXIL" cluster transfer-leader --to "$TO"
"$VEXIL" --output json audit list --limit 50 | python3 -c '
import json, sys
entries = json.load(sys.stdin)
assert any(e["action"] == "cluster.leader_transfer" for e in entries), "no cluster.leader_transfer entry"'
finish_writes 1 2 3
for id in 1 2 3; do
    curl -sf --max-time 10 -H @"$(auth_header)" "${URL_OF[$id]}/v1/flags" >/dev/null \
        || fail "the admin token chosen under the previous release does not open node $id"
done
log "upgrade: $(acked) of $(cat "$WORK/attempted") writes acknowledged during the upgrade, all present on every node"

step "a backup of the previous release restores with this one"
read -r RA RP < <(free_ports 2)
"$VEXIL" restore "$WORK/old.backup" --data-dir "$WORK/restored" --id 1 \
    --initial-cluster "1=127.0.0.1:$RP" >"$WORK/restore.out"
grep -q "$BEFORE" "$WORK/restore.out" \
    || fail "the restore did not report the backup's state hash $BEFORE: $(cat "$WORK/restore.out")"
NODE_BIN="$VEXIL" start_node 1 "$RA" "$RP" "$WORK/restored"
export VEXIL_URL="http://127.0.0.1:$RA"
wait_ready "$VEXIL_URL"
[ "$("$VEXIL" export)" = "$(cat "$WORK/before.json")" ] || fail "the restored flags differ from the backup's"
# Served, the state moves on (the level rises and the leader creates
# project default), so the hash was compared as restored, above.
retry 50 "$VEXIL" projects get default >/dev/null
"$VEXIL" flags create written-after-restore >/dev/null || fail "the restored node must accept writes"
step "passed"
