#!/usr/bin/env bash
# Usage: benchmarks/record.sh RESULT_FILE COMMAND [ARG...]
#
# Runs a benchmark, shows its output as it goes, and puts the run at the top of RESULT_FILE under a
# header with the date, the commit and the exact command. Earlier runs stay below it: the results
# files are a dated history that the README's figures cite, so a new run must never erase one.
# If the benchmark fails, RESULT_FILE is left as it was.
set -euo pipefail
result_file=$1
shift
run=$(mktemp)
trap 'rm -f "$run" "$result_file.new"' EXIT

commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- || commit="$commit with uncommitted changes"
{
    echo "# $(date -u +%F), commit $commit"
    echo "# command: $*"
    "$@"
} 2>&1 | tee "$run"

{
    cat "$run"
    if [[ -s $result_file ]]; then
        echo
        cat "$result_file"
    fi
} > "$result_file.new"
mv "$result_file.new" "$result_file"
