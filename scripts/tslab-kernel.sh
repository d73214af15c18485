#!/usr/bin/env bash
# The tslab kernel, started from the repository root: tslab compiles only TypeScript under its working
# folder, so this lets notebooks import lib/ (as "./lib/...") and read datasets/ by the same paths as the CLI.
cd "$(dirname "$0")/.." && exec node_modules/.bin/tslab "$@"
