#!/usr/bin/env bash
# Runs asl-validator (npm, pinned in the workspace's package.json) over every
# *.asl.json file in the directories given as arguments. Exits non-zero when a
# definition is invalid, when a directory holds no definitions, or when the
# validator cannot be run.
#
#   local/sfn-local/scripts/validate-asl.sh local/sfn-local/testdata statemachines
#
# The validator is installed from package-lock.json (`npm ci`) at the
# workspace root when it is not there yet.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 DIR [DIR ...]" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
validator="$root/node_modules/.bin/asl-validator"
if [ ! -x "$validator" ]; then
    echo "validate-asl: asl-validator is not installed; running 'npm ci' in $root" >&2
    (cd "$root" && npm ci --no-audit --no-fund >&2)
fi

status=0
checked=0
for dir in "$@"; do
    if [ ! -d "$dir" ]; then
        echo "validate-asl: $dir is not a directory" >&2
        status=1
        continue
    fi
    found=0
    while IFS= read -r -d '' file; do
        found=1
        checked=$((checked + 1))
        if ! "$validator" --json-path "$file"; then
            status=1
        fi
    done < <(find "$dir" -maxdepth 1 -type f -name '*.asl.json' -print0 | sort -z)
    if [ "$found" -eq 0 ]; then
        echo "validate-asl: no *.asl.json files in $dir" >&2
        status=1
    fi
done

echo "validate-asl: checked $checked definition(s)"
exit "$status"
