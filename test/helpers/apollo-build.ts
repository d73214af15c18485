import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readJsonl, writeJsonlAtomic } from "../../lib/files";
import { startOllamaServer } from "./ollama-server";
import { restamp } from "./restamp";

/**
 * `kit build` of the first `chars` of the Apollo report (written to `dir`/apollo-part.md) into `dataset`, with the
 * builtin generator and the test server's hashed nomic-embed-text vectors. Asynchronously: the test server
 * answering the build's embedding requests lives in the calling process. Returns what the build printed (its summary).
 */
export async function buildApolloPart(dir: string, dataset: string, ollamaUrl: string, chars = 16_000): Promise<string> {
  const corpus = path.join(dir, "apollo-part.md");
  fs.writeFileSync(corpus, fs.readFileSync("datasets/corpora/apollo13_mission_report.md", "utf8").slice(0, chars));
  const args = ["bin/kit.js", "build", "--corpus", corpus, "--out", dataset, "--llm", "builtin", "--embedder", "ollama:nomic-embed-text", "--ollama-host", ollamaUrl];
  const child = spawn(process.execPath, args, { env: { ...process.env, CI: "true" } });
  let [stdout, stderr] = ["", ""];
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  assert.is(await new Promise((resolve) => child.once("exit", resolve)), 0, stderr);
  return stdout;
}

/**
 * Makes a built dataset as a build without the quality checks would leave it: every paraphrase unchecked, and kept
 * (the builtin generator's paraphrases are mostly judged copies, which would leave export tests few rows), its
 * build.json recording the file as it now is.
 */
export function keepEveryParaphrase(dataset: string): void {
  const file = path.join(dataset, "paraphrases.jsonl");
  writeJsonlAtomic(file, readJsonl<Record<string, unknown>>(file).map(({ verdict, reasons, ...row }) => row));
  restamp(dataset);
}

// Characters of the report that hold chunk_128 (the 99 ampere-hours chunk) chunked as in the whole report.
const THROUGH_CHUNK_128 = 110_000;
let shared: Promise<string> | undefined;

/**
 * A dataset of the report's first 110,000 characters (136 chunks), built once a test process for the test files that
 * only read it (kit serve, kit mcp); removed when the process exits. Dense search would need its embedder, which is
 * gone: BM25 only.
 */
export function sharedApolloDataset(): Promise<string> {
  shared ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-apollo-"));
    process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
    const ollama = await startOllamaServer({ models: ["nomic-embed-text"] });
    try {
      await buildApolloPart(dir, path.join(dir, "dataset"), ollama.url, THROUGH_CHUNK_128);
    } finally {
      await ollama.close();
    }
    return path.join(dir, "dataset");
  })();
  return shared;
}
