#!/usr/bin/env bash
# Builds the admin UI's static files into node/ui/dist (embedded by the
# binary). Nothing to do yet when the UI has no build step.
source "$(dirname "$0")/lib.sh"
exit 0
