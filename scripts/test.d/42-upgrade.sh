#!/usr/bin/env bash
# The rolling upgrade from the previous release, under writes
# (scripts/ops/upgrade-rehearsal.sh; docs/OPERATIONS.md, "Upgrades").
# From the last release before projects (level 2), and from the previous
# release (f002d90, level 5: promotions, before environment copies): each
# previous release's binary is built once per machine and kept.
set -e
"$(dirname "$0")/../ops/upgrade-rehearsal.sh"
exec "$(dirname "$0")/../ops/upgrade-rehearsal.sh" --from f002d90
