#!/usr/bin/env bash
# Type-checks, runs every uvu suite and every notebook, and ends with the one line CI reads: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
# Tests and notebooks embed through a fresh embedding cache of their own, never the user's (lib/embedding-cache.ts).
export KIT_CACHE_DIR=$(mktemp -d)
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
# The notebooks, executed headless with the tslab kernel (not saved): one test each, failed when a notebook's
# outputs are not byte for byte the committed ones (--check; it embeds without the embedding cache).
/usr/bin/python3 scripts/run-notebooks.py --check 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
passed=$((passed + $(grep -c ': [0-9]*s, ok$' "$log")))
failed=$((failed + $(grep -c ': [0-9]*s, failed$' "$log")))
((status == 0 || failed > 0)) || failed=$((failed + 1))
rm -f "$log"
rm -rf "$KIT_CACHE_DIR"
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
