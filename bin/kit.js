#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so editing lib/ needs no build step.
require("tsx/cjs");
require("../lib/cli.ts").main(process.argv.slice(2));
