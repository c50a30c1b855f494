#!/usr/bin/env bash
# The rolling upgrade from the previous release, under writes
# (scripts/ops/upgrade-rehearsal.sh; docs/OPERATIONS.md, "Upgrades").
# From the last release before projects (level 2), from f002d90 (level 5:
# promotions, before environment copies), and from the previous release
# (a2d9f46, level 6: before derived records): each earlier release's
# binary is built once per machine and kept.
set -e
"$(dirname "$0")/../ops/upgrade-rehearsal.sh"
"$(dirname "$0")/../ops/upgrade-rehearsal.sh" --from f002d90
exec "$(dirname "$0")/../ops/upgrade-rehearsal.sh" --from a2d9f46
