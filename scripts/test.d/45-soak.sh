#!/usr/bin/env bash
# The real-process soaks in their short form: kill -9 of the leader for 30 s
# under ~100 writes/s, a kill during snapshot install and during a
# membership change, and disk full. `scripts/soak.sh` runs the long form.
exec "$(dirname "$0")/../soak.sh" --short
