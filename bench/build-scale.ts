// Cost of a whole builtin build at scale (issue 12): `kit build --llm builtin` of a 2 MB slice of the KEP corpus and of
// the whole KEP corpus (21 MB, ~23,000 chunks), each in its own child process, so peak RSS (the process's maxRSS,
// embedding worker threads included) is per build. Prints each stage's seconds (build.json), the total, the child's
// wall time, peak RSS and the targets: checks at most half the index stage; the whole corpus in at most 35 minutes
// on 2 cores, peak RSS at most 2.5 GB. Also what the coverage rounds asked and gained (build.json `coverage_rounds`).
// Usage: node_modules/.bin/tsx bench/build-scale.ts [--skip-full | --skip-slice] [--slice-bytes 2000000] [--out datasets/.cache/build-scale] [--keep]
//   Each build runs, from a fresh folder (no cached answers), the exact command
//     node bin/kit.js build --corpus FILE --out DIR --llm builtin
//   with FILE the slice (first --slice-bytes bytes of the corpus, cut back to a line end, written beside DIR) or the
//   corpus. --skip-full builds the slice only (the whole corpus takes ~27 minutes on 2 cores); --skip-slice the
//   corpus only. A build's log (its stdout and progress lines) is DIR.log; DIR is deleted afterwards unless --keep.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { parseArgs } from "node:util";

const CORPUS = "../shared/corpora/kubernetes_keps.md";
const TARGET_TOTAL_SECONDS = 35 * 60;
const TARGET_RSS_BYTES = 2.5 * 1024 ** 3;
const TARGET_CHECKS_OVER_INDEX = 0.5;

const { values } = parseArgs({
  options: {
    "skip-full": { type: "boolean", default: false },
    "skip-slice": { type: "boolean", default: false },
    "slice-bytes": { type: "string", default: "2000000" },
    out: { type: "string", default: "datasets/.cache/build-scale" },
    keep: { type: "boolean", default: false },
  },
});

/** Runs in the child: records maxRSS on exit (however the CLI ends), then runs the CLI as bin/kit.js does. */
const WRAPPER = `
const fs = require("node:fs");
const [rssFile, ...args] = process.argv.slice(1);
process.on("exit", () => fs.writeFileSync(rssFile, String(process.resourceUsage().maxRSS * 1024)));
process.argv = [process.argv[0], "bin/kit.js", ...args];
require("./bin/kit.js");
`;

interface Measured {
  name: string;
  corpusBytes: number;
  wallSeconds: number;
  maxRssBytes: number;
  /** Largest RSS seen by sampling /proc, and when (seconds after the start): which stage holds the peak. */
  sampledPeak?: { bytes: number; at: number };
  /** Largest sampled RSS under each progress label of the build's log ("questions", "paraphrases, round 2", ...). */
  peakByStep: Map<string, number>;
  record: {
    counts: Record<string, number>;
    seconds: Record<string, number>;
    llm_requests: { sent: number; answered_from_cache: number };
    coverage_rounds?: { round: number; style: string; asked: number; newly_covered: number; seconds: { paraphrases: number; checks: number } }[];
  };
}

const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MB`;
const clock = (s: number) => `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;

/** The step a build's log is at: the label of its last progress line ("embedding chunks 44/2023 (2%) ..." -> "embedding chunks"). */
function stepOf(logFile: string): string | undefined {
  const size = fs.statSync(logFile).size;
  const fd = fs.openSync(logFile, "r");
  const tail = Buffer.alloc(Math.min(size, 400));
  fs.readSync(fd, tail, 0, tail.length, size - tail.length);
  fs.closeSync(fd);
  const lines = tail.toString("utf8").split(/[\r\n]+/).filter((l) => l.trim());
  return /^([a-z][a-z ,0-9'-]*?) \d+\/\d+/i.exec(lines[lines.length - 1] ?? "")?.[1];
}

/** VmRSS of a process in bytes, or undefined where /proc is not there. */
function rssOf(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function build(name: string, corpus: string, out: string): Promise<Measured> {
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const rssFile = `${out}.maxrss`;
  const log = fs.openSync(`${out}.log`, "w");
  console.log(`${name}: building into ${out} (log ${out}.log)`);
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  const child = spawn(process.execPath, ["-e", WRAPPER, rssFile, "build", "--corpus", corpus, "--out", out, "--llm", "builtin"], {
    stdio: ["ignore", log, log],
    env: { ...process.env, CI: "true" },
  });
  let sampledPeak: Measured["sampledPeak"];
  const peakByStep = new Map<string, number>();
  const sampler = setInterval(() => {
    const bytes = rssOf(child.pid!);
    if (bytes === undefined) return;
    if (bytes > (sampledPeak?.bytes ?? 0)) sampledPeak = { bytes, at: elapsed() };
    const step = stepOf(`${out}.log`) ?? "start";
    peakByStep.set(step, Math.max(bytes, peakByStep.get(step) ?? 0));
  }, 2000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", resolve);
  });
  clearInterval(sampler);
  fs.closeSync(log);
  const wallSeconds = elapsed();
  if (code !== 0) throw new Error(`${name}: kit build exited with ${code}; see ${out}.log`);
  const record = JSON.parse(fs.readFileSync(path.join(out, "build.json"), "utf8")) as Measured["record"];
  const maxRssBytes = Number(fs.readFileSync(rssFile, "utf8"));
  fs.rmSync(rssFile, { force: true });
  if (!values.keep) fs.rmSync(out, { recursive: true, force: true });
  return { name, corpusBytes: fs.statSync(corpus).size, wallSeconds, maxRssBytes, sampledPeak, peakByStep, record };
}

function show(m: Measured) {
  const { seconds, counts } = m.record;
  const total = Object.values(seconds).reduce((a, b) => a + b, 0);
  console.log(
    `${m.name} (${mb(m.corpusBytes)}, ${counts.chunks} chunks): ` +
      Object.entries(seconds).map(([stage, s]) => `${stage} ${s.toFixed(1)} s`).join(" | "),
  );
  console.log(`  total ${total.toFixed(0)} s (${clock(total)}), child process wall ${clock(m.wallSeconds)} | peak RSS ${mb(m.maxRssBytes)}` +
    (m.sampledPeak ? ` (sampled peak ${mb(m.sampledPeak.bytes)} at ${clock(m.sampledPeak.at)})` : ""));
  // A step's label stays on the log until the next one starts, so the work between two bars counts under the first.
  console.log(`  sampled peak RSS by step of the log: ${[...m.peakByStep].map(([step, bytes]) => `${step} ${mb(bytes)}`).join(" | ")}`);
  const perChunk = (stage: string) => `${((1000 * (seconds[stage] ?? 0)) / counts.chunks).toFixed(1)} ms`;
  console.log(`  per chunk: index ${perChunk("index")}, questions ${perChunk("questions")}, paraphrases ${perChunk("paraphrases")}, checks ${perChunk("checks")}, environments ${perChunk("environments")}`);
  console.log(
    `  paraphrases ${counts.paraphrases} (${counts.paraphrases_kept} kept), chunks paraphrased ${counts.chunks_paraphrased} of ${counts.chunks} ` +
      `(${((100 * counts.chunks_paraphrased) / counts.chunks).toFixed(1)}%); generator requests ${m.record.llm_requests.sent}`,
  );
  for (const r of m.record.coverage_rounds ?? []) {
    console.log(
      `  coverage round ${r.round} (${r.style}): asked ${r.asked} chunks, ${r.newly_covered} newly covered; ` +
        `paraphrases ${r.seconds.paraphrases.toFixed(1)} s, checks ${r.seconds.checks.toFixed(1)} s (in the stage times above)`,
    );
  }
  const ratio = (seconds.checks ?? 0) / (seconds.index || Infinity);
  const verdict = (ok: boolean) => (ok ? "ok" : "MISSED");
  console.log(`  checks/index ${ratio.toFixed(2)} (target <= ${TARGET_CHECKS_OVER_INDEX}: ${verdict(ratio <= TARGET_CHECKS_OVER_INDEX)})`);
  console.log(`  total/35 min ${(total / TARGET_TOTAL_SECONDS).toFixed(2)} (target <= 1 for the whole corpus: ${verdict(total <= TARGET_TOTAL_SECONDS)})`);
  console.log(`  peak RSS/2.5 GB ${(m.maxRssBytes / TARGET_RSS_BYTES).toFixed(2)} (target <= 1: ${verdict(m.maxRssBytes <= TARGET_RSS_BYTES)})`);
}

/** The first `bytes` bytes of the corpus, cut back to the end of a line. */
function writeSlice(file: string, bytes: number): string {
  const buffer = fs.readFileSync(CORPUS);
  const end = buffer.lastIndexOf(0x0a, bytes - 1) + 1;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, buffer.subarray(0, end || bytes));
  return file;
}

(async () => {
  const sliceBytes = Number(values["slice-bytes"]);
  console.log(`kit build --llm builtin at scale; ${os.availableParallelism()} cores, 1-minute load average ${os.loadavg()[0].toFixed(1)} at the start`);
  const builds: { name: string; corpus: string; out: string }[] = [];
  if (!values["skip-slice"]) {
    const slice = writeSlice(`${values.out}-slice.md`, sliceBytes);
    builds.push({ name: `KEP slice (first ${sliceBytes.toLocaleString("en")} bytes)`, corpus: slice, out: `${values.out}/slice` });
  }
  if (!values["skip-full"]) builds.push({ name: "KEP corpus", corpus: CORPUS, out: `${values.out}/full` });
  for (const b of builds) {
    const m = await build(b.name, b.corpus, b.out);
    show(m);
  }
  console.log(`1-minute load average at the end: ${os.loadavg()[0].toFixed(1)} (this bench adds up to ${os.availableParallelism()}; more means other work competed)`);
})().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
