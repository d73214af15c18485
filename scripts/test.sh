#!/usr/bin/env bash
# Type-checks, runs every uvu suite, and ends with the one line CI reads: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
status=0
node_modules/.bin/tsc -p . || status=1
node_modules/.bin/uvu -r tsx/cjs --no-color test '\.test\.ts$' 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
total=$(sed -n 's/^ *Total: *\([0-9]*\).*/\1/p' "$log" | tail -1)
passed=$(sed -n 's/^ *Passed: *\([0-9]*\).*/\1/p' "$log" | tail -1)
skipped=$(sed -n 's/^ *Skipped: *\([0-9]*\).*/\1/p' "$log" | tail -1)
total=${total:-0}; passed=${passed:-0}; skipped=${skipped:-0}
failed=$((total - passed - skipped))
((status == 0 || failed > 0)) || failed=1   # a crash or a type error counts as a failure
rm -f "$log"
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
