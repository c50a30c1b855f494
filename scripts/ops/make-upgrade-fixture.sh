#!/usr/bin/env bash
# Makes the upgrade fixture: a data directory and a backup written by a
# previous release, which node/tests/t28_upgrade_fixture.rs opens with this
# one. Run once per change to the replicated data model, with the previous
# release's binary:
#   scripts/ops/make-upgrade-fixture.sh OLD_VEXIL_BINARY OUT_DIR
# OUT_DIR gets `data/` (the stopped node's data directory), `backup.vexil`,
# and `expect.json` (what the test checks is still there). The admin token
# is a fixed test value, not a secret: it exists only in this fixture.
source "$(dirname "$0")/../lib.sh"
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OLD_VEXIL_BINARY OUT_DIR" >&2; exit 2; }
OLD="$1"
OUT="$2"
TOKEN="fixture-admin-token-0123456789"
[ -x "$OLD" ] || { echo "$OLD is not executable" >&2; exit 2; }
[ -e "$OUT" ] && { echo "$OUT exists; remove it first" >&2; exit 2; }
WORK="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }; rm -rf "$WORK"' EXIT
# Ports below the ephemeral range, as the drills pick them.
API=$((20000 + RANDOM % 10000))
PEER=$((API + 1))
URL="http://127.0.0.1:$API"
"$OLD" serve --id 1 --data-dir "$WORK/data" --listen "127.0.0.1:$API" \
    --peer-listen "127.0.0.1:$PEER" --admin-token "$TOKEN" >"$WORK/node.log" 2>&1 &
PID=$!
for i in $(seq 1 100); do
    curl -sf --max-time 2 "$URL/readyz" >/dev/null && break
    [ "$i" = 100 ] && { cat "$WORK/node.log" >&2; echo "the node never became ready" >&2; exit 1; }
    sleep 0.1
done
vx() { "$OLD" --url "$URL" --token "$TOKEN" "$@"; }
vx --output json segments create -f - <<'EOF'
{"key": "beta-testers", "name": "Beta testers", "included": ["user-1", "user-2"]}
EOF
vx flags create checkout >/dev/null
vx flags create -f - >/dev/null <<'EOF'
{"key": "banner", "kind": "string", "variations": [{"value": "red"}, {"value": "blue"}],
 "off_variation": 0, "enabled": true, "fallthrough": {"variation": 1},
 "rules": [{"id": "beta", "clauses": [{"attribute": "key", "operator": "segment_match", "values": ["beta-testers"]}],
            "serve": {"variation": 0}}]}
EOF
vx flags create gone >/dev/null
vx flags off checkout >/dev/null
vx flags delete gone >/dev/null
vx tokens create ci --role editor >/dev/null
vx --output json backup --to "$WORK/backup.vexil" >"$WORK/backup.json"
vx --output json flags list >"$WORK/flags.json"
AUDIT="$(curl -sf --max-time 5 -H "authorization: Bearer $TOKEN" "$URL/v1/audit?limit=1000" \
    | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["entries"]))')"
kill -TERM "$PID"
wait "$PID" || true
PID=""
mkdir -p "$OUT"
cp -r "$WORK/data" "$OUT/data"
rm -f "$OUT/data/db/LOCK" "$OUT/data/db/LOG"*
cp "$WORK/backup.vexil" "$OUT/backup.vexil"
python3 - "$WORK" "$AUDIT" "$TOKEN" >"$OUT/expect.json" <<'EOF'
import json, sys
work, audit, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
flags = json.load(open(f"{work}/flags.json"))
backup = json.load(open(f"{work}/backup.json"))
print(json.dumps({
    "admin_token": token,
    "flags": {f["key"]: {"version": f["version"], "enabled": f["enabled"]} for f in flags},
    "segments": ["beta-testers"],
    "tokens": ["admin", "ci"],
    "audit_entries": audit,
    "backup_state_hash": backup["state_hash"],
}, indent=2, sort_keys=True))
EOF
log "wrote $OUT ($(du -sh "$OUT" | cut -f1))"
