#!/usr/bin/env bash
# The admin UI has no build step: the binary embeds the files in node/ui/ as
# they are (ARCHITECTURE.md, "Admin UI"). scripts/test.sh calls this script so
# that a build step, should one ever be added, runs from the README's commands.
source "$(dirname "$0")/lib.sh"
exit 0
