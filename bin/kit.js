#!/usr/bin/env node
// V8 lets the old generation of a machine with much memory grow to 4x what survived the last full GC; a whole-corpus
// build's checks make garbage fast, which took the heap to 2 GB over 0.6 GB live. At 1.5x the whole KEP build's peak
// RSS went from 2,525 MB (2x) to 2,453 MB, its time from 29m17s to 31m36s (bench/build-scale.ts, one run each).
// Set before anything is allocated; worker threads share it.
require("node:v8").setFlagsFromString("--heap-growing-percent=50");
// Runs the TypeScript CLI through tsx, so editing lib/ needs no build step.
require("tsx/cjs");
require("../lib/cli.ts").main(process.argv.slice(2));
