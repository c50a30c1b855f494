#!/usr/bin/env bash
# The rolling upgrade from the previous release, under writes
# (scripts/ops/upgrade-rehearsal.sh; docs/OPERATIONS.md, "Upgrades").
exec "$(dirname "$0")/../ops/upgrade-rehearsal.sh"
