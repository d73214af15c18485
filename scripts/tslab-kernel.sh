#!/usr/bin/env bash
# The tslab kernel, started from the repository root: notebooks import lib/ (as "./lib/...") and read
# datasets/ by the same paths as the CLI. scripts/tslab-kernel.js runs tslab with lib/ loaded through tsx
# (a kernel ready in seconds), folder imports resolved, and no cells aborted after an error when the
# client asked to go on (nbclient's allow_errors).
cd "$(dirname "$0")/.." && exec node scripts/tslab-kernel.js "$@"
