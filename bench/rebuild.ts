// What a re-run redoes (issue 23): a build, then the same build again, each the exact CLI command in its own child
// process, sharing one fresh embedding cache (KIT_CACHE_DIR) and the dataset folder's own caches.
//   Apollo (default): `npm start`'s build run twice. Prints each stage's seconds (build.json), the second run's LLM
//     requests (target 0 sent) and its index stage over the first's (target <= 0.1).
//   --kep: the whole KEP corpus built, then built again with only a generation parameter changed
//     (--questions-per-chunk 3); prints both wall times and their ratio (target <= 0.4). About 40 minutes on 2 cores;
//     --slice-bytes N uses the corpus's first N bytes (cut back to a line end) instead.
// Usage: node_modules/.bin/tsx bench/rebuild.ts [--kep [--slice-bytes N]] [--out datasets/.cache/bench-rebuild] [--keep]
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";

const APOLLO = "datasets/corpora/apollo13_mission_report.md";
const KEP = "../shared/corpora/kubernetes_keps.md";
const TARGET_INDEX_RATIO = 0.1;
const TARGET_KEP_RATIO = 0.4;

const { values } = parseArgs({
  options: {
    kep: { type: "boolean", default: false },
    "slice-bytes": { type: "string" },
    out: { type: "string", default: "datasets/.cache/bench-rebuild" },
    keep: { type: "boolean", default: false },
  },
});

interface Run {
  wall: number;
  record: { seconds: Record<string, number>; llm_requests: { sent: number; answered_from_cache: number } };
}

/** `kit build --corpus corpus --out out --llm builtin ...extra`, as a user runs it; its wall time and build.json. */
async function build(corpus: string, out: string, cacheDir: string, extra: string[] = []): Promise<Run> {
  const started = Date.now();
  const child = spawn(process.execPath, ["bin/kit.js", "build", "--corpus", corpus, "--out", out, "--llm", "builtin", ...extra], {
    env: { ...process.env, KIT_CACHE_DIR: cacheDir, CI: "true" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`kit build exited ${code}: ${stderr}`);
  return { wall: (Date.now() - started) / 1000, record: JSON.parse(fs.readFileSync(path.join(out, "build.json"), "utf8")) };
}

/** The first `bytes` of `file`, cut back to a line end, written to `to`. */
function slice(file: string, bytes: number, to: string): string {
  const text = fs.readFileSync(file, "utf8").slice(0, bytes);
  fs.writeFileSync(to, text.slice(0, text.lastIndexOf("\n") + 1));
  return to;
}

const stages = (r: Run) => Object.entries(r.record.seconds).map(([stage, s]) => `${stage} ${s.toFixed(2)}s`).join(", ");
const requests = (r: Run) => `${r.record.llm_requests.sent} LLM requests sent, ${r.record.llm_requests.answered_from_cache} answered from the cache`;
const verdict = (ratio: number, target: number) => `${ratio.toFixed(4)} (target <= ${target}: ${ratio <= target ? "met" : "NOT met"})`;

async function main() {
  const root = path.resolve(values.out!);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const cacheDir = path.join(root, "embedding-cache");
  console.log(`rebuild bench, ${os.availableParallelism()} cores, load average ${os.loadavg()[0].toFixed(1)} at the start`);
  try {
    if (!values.kep) {
      const out = path.join(root, "apollo13");
      const first = await build(APOLLO, out, cacheDir);
      const second = await build(APOLLO, out, cacheDir);
      console.log(`Apollo, kit build --corpus ${APOLLO} --llm builtin (npm start), twice into one folder:`);
      console.log(`  first:  ${first.wall.toFixed(1)} s wall; ${stages(first)}; ${requests(first)}`);
      console.log(`  second: ${second.wall.toFixed(1)} s wall; ${stages(second)}; ${requests(second)}`);
      console.log(`  second run's LLM requests sent: ${second.record.llm_requests.sent} (target 0: ${second.record.llm_requests.sent === 0 ? "met" : "NOT met"})`);
      console.log(`  index stage, second / first: ${second.record.seconds.index.toFixed(3)} s / ${first.record.seconds.index.toFixed(2)} s = ${verdict(second.record.seconds.index / first.record.seconds.index, TARGET_INDEX_RATIO)}`);
      console.log(`  whole build, second / first: ${(second.wall / first.wall).toFixed(3)}`);
    } else {
      const out = path.join(root, "keps");
      const corpus = values["slice-bytes"] ? slice(KEP, Number(values["slice-bytes"]), path.join(root, "keps-slice.md")) : KEP;
      const first = await build(corpus, out, cacheDir);
      const second = await build(corpus, out, cacheDir, ["--questions-per-chunk", "3"]);
      console.log(`KEP corpus${corpus === KEP ? "" : ", its first"} ${(fs.statSync(corpus).size / 1e6).toFixed(1)} MB, kit build --llm builtin, then again with --questions-per-chunk 3:`);
      console.log(`  first:   ${first.wall.toFixed(0)} s wall; ${stages(first)}; ${requests(first)}`);
      console.log(`  rebuild: ${second.wall.toFixed(0)} s wall; ${stages(second)}; ${requests(second)}`);
      console.log(`  rebuild / first: ${verdict(second.wall / first.wall, TARGET_KEP_RATIO)}`);
    }
  } finally {
    if (!values.keep) fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
