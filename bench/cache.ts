// A build resuming from an LLM cache of over 1 GiB (issue 23): builds a slice of the Apollo report with the builtin
// generator (buildDataset, embeddings from the test Ollama server's hashed vectors), pads the dataset's
// cache/llm.jsonl past --pad-gib with unrelated answers, and runs the same build again. Each build runs in its own
// child process, so its peak RSS (maxRSS) is its own. Prints the cache's size, the resume's requests (target: 0
// sent), the time to open the padded cache and the RSS that adds, and the resume's peak RSS as a ratio to the
// first build's (target <= 1.25: memory independent of the cache's size).
// Usage: node_modules/.bin/tsx bench/cache.ts [--chars 16000] [--pad-gib 1.05] [--answer-bytes 5000] [--out datasets/.cache/bench-cache] [--keep]
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { openCache } from "../lib/cache";
import { buildDataset } from "../lib/pipeline";
import { startOllamaServer } from "../test/helpers/ollama-server";

const TARGET_RSS_RATIO = 1.25;

const { values } = parseArgs({
  options: {
    chars: { type: "string", default: "16000" },
    "pad-gib": { type: "string", default: "1.05" },
    "answer-bytes": { type: "string", default: "5000" },
    out: { type: "string", default: "datasets/.cache/bench-cache" },
    keep: { type: "boolean", default: false },
    // Internal: run one build in this (child) process and print what it measured as JSON.
    child: { type: "string" },
  },
});

interface Measured {
  llm_requests: { sent: number; answered_from_cache: number; rejected?: number };
  seconds: number;
  maxRssBytes: number;
}

if (values.child) {
  const { corpus, out, ollamaHost } = JSON.parse(values.child);
  const started = Date.now();
  buildDataset({ corpus, out, ollamaHost, llm: "builtin", judge: "rules", embedder: "ollama:nomic-embed-text", log: () => {} }).then((record) => {
    const measured: Measured = { llm_requests: record.llm_requests, seconds: (Date.now() - started) / 1000, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
    console.log(JSON.stringify(measured));
  });
} else {
  main();
}

/** One build in a child process (the same tsx loader), so that its maxRSS is the build's alone. */
async function childBuild(corpus: string, out: string, ollamaHost: string): Promise<Measured> {
  const child = spawn(process.execPath, [...process.execArgv, __filename, "--child", JSON.stringify({ corpus, out, ollamaHost })]);
  let stdout = "";
  let stderr = ""; // progress lines, shown only if the build fails
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`the build into ${out} exited with ${code}:\n${stderr}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

/** Appends unrelated answers (sha256-like keys, `answerBytes` of text) until `file` holds `bytes`; 8 MiB writes. */
function pad(file: string, bytes: number, answerBytes: number): number {
  const template = Buffer.from(`{"key":"${"0".repeat(64)}","answer":"${"lorem ipsum ".repeat(Math.ceil(answerBytes / 12)).slice(0, answerBytes)}"}\n`);
  const block = Buffer.alloc(Math.floor((8 << 20) / template.length) * template.length);
  const fd = fs.openSync(file, "a");
  let lines = 0;
  for (let size = fs.fstatSync(fd).size; size < bytes; size += block.length) {
    for (let at = 0; at < block.length; at += template.length) {
      template.write((lines++).toString(16).padStart(64, "0"), 8);
      template.copy(block, at);
    }
    fs.writeSync(fd, block);
  }
  fs.closeSync(fd);
  return lines;
}

async function main() {
  const out = path.resolve(values.out!);
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  const corpus = path.join(out, "apollo-part.md");
  fs.writeFileSync(corpus, fs.readFileSync("datasets/corpora/apollo13_mission_report.md", "utf8").slice(0, Number(values.chars)));
  const dataset = path.join(out, "dataset");
  const cacheFile = path.join(dataset, "cache", "llm.jsonl");
  const server = await startOllamaServer({ models: ["nomic-embed-text"] });
  try {
    const first = await childBuild(corpus, dataset, server.url);
    const ownBytes = fs.statSync(cacheFile).size;
    let started = Date.now();
    const padded = pad(cacheFile, Number(values["pad-gib"]) * 2 ** 30, Number(values["answer-bytes"]));
    const padSeconds = (Date.now() - started) / 1000;
    const size = fs.statSync(cacheFile).size;

    const rss = process.memoryUsage().rss;
    started = Date.now();
    const cache = openCache(cacheFile);
    const openSeconds = (Date.now() - started) / 1000;
    const openRss = process.memoryUsage().rss - rss;
    const answers = cache.size;
    cache.close();

    const resume = await childBuild(corpus, dataset, server.url);
    const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
    const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
    const ratio = resume.maxRssBytes / first.maxRssBytes;
    console.log(`cache bench: builtin build of the first ${values.chars} chars of the Apollo report, built, padded, resumed`);
    console.log(`  first build: ${first.llm_requests.sent} requests sent, ${first.llm_requests.answered_from_cache} answered from the cache, ${first.llm_requests.rejected ?? 0} answers rejected; ${first.seconds.toFixed(1)} s, peak RSS ${mb(first.maxRssBytes)}; cache ${(ownBytes / 1024).toFixed(0)} KB`);
    console.log(`  padded: cache ${gib(size)} (${size} bytes), ${padded} unrelated answers of ${values["answer-bytes"]} bytes added in ${padSeconds.toFixed(1)} s`);
    console.log(`  open: ${answers} answers indexed in ${openSeconds.toFixed(1)} s (${(size / 2 ** 20 / openSeconds).toFixed(0)} MB/s), RSS +${mb(openRss)} (${((100 * openRss) / size).toFixed(1)}% of the file)`);
    console.log(`  resume: ${resume.llm_requests.sent} requests sent (target 0: ${resume.llm_requests.sent === 0 ? "met" : "MISSED"}), ${resume.llm_requests.answered_from_cache} answered from the cache; ${resume.seconds.toFixed(1)} s, ${(resume.seconds / first.seconds).toFixed(2)}x the first build's`);
    console.log(`  peak RSS: resume ${mb(resume.maxRssBytes)} / first build ${mb(first.maxRssBytes)} = ${ratio.toFixed(2)} (target <= ${TARGET_RSS_RATIO}: ${ratio <= TARGET_RSS_RATIO ? "met" : "MISSED"})`);
  } finally {
    await server.close();
    if (!values.keep) fs.rmSync(out, { recursive: true, force: true });
  }
}
