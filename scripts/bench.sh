#!/usr/bin/env bash
# Benchmarks against peers, printed as one table.
#
#   scripts/bench.sh [eval|http|writes|feed|scale|promote|sdk-python|sdk-node|all]   (default: all)
#
# Each part is a script in scripts/bench.d/ that prints table rows
# `| part | metric | vexil | peer | ratio |` on stdout and its progress on
# stderr; it installs what it needs (apt, cargo install) when missing.
#   eval    local evaluation: Vexil's evaluator vs unleash-yggdrasil
#   http    HTTP evaluation: a Vexil node vs Unleash Edge
#   writes, feed, scale, promote: see their scripts
#   sdk-python, sdk-node: the SDKs' evaluation vs UnleashClient / unleash-client
# Results and how to read them: docs/BENCHMARKS.md.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PARTS=(eval http writes feed scale promote sdk-python sdk-node)
case "${1:-all}" in
    all) parts=("${PARTS[@]}") ;;
    eval | http | writes | feed | scale | promote | sdk-python | sdk-node) parts=("$1") ;;
    *)
        echo "usage: $0 [eval|http|writes|feed|scale|promote|sdk-python|sdk-node|all]" >&2
        exit 2
        ;;
esac

log "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
rows=()
failed=()
for part in "${parts[@]}"; do
    log "part $part"
    if out="$(bash "$REPO_ROOT/scripts/bench.d/$part.sh")"; then
        rows+=("$out")
    else
        failed+=("$part")
        [ -n "$out" ] && rows+=("$out")
    fi
done

echo
echo "| part | metric | vexil | peer | ratio |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "failed parts: ${failed[*]}" >&2
    exit 1
fi
