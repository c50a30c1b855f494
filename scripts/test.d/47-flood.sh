#!/usr/bin/env bash
# The resource-control flood of issue 21 (scripts/flood.sh): a 3-node
# cluster under unauthenticated large bodies, slowloris, idle sockets,
# made-up methods and stalled subscribers keeps answering /healthz
# (p99 <= 100 ms) and writes, and grows by at most 256 MiB per node.
exec "$(dirname "$0")/../flood.sh"
