import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { parse as parseYaml } from "yaml";
import { KitError } from "../lib/errors";
import { exportDataset, type ExportOptions, testChunkIds } from "../lib/export";
import { readJsonl, toJsonl } from "../lib/files";
import { type OllamaServer, startOllamaServer } from "./helpers/ollama-server";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-export-"));
const dataset = path.join(tmp, "dataset");
const EMBEDDER = "ollama:nomic-embed-text";
// Few rows a shard, so every config is written as several files.
const ROWS_PER_SHARD = 7;

let server: OllamaServer;
let db: DuckDBInstance;
let sql: DuckDBConnection;

test.before(async () => {
  server = await startOllamaServer({ models: ["nomic-embed-text"] });
  const corpus = path.join(tmp, "apollo-part.md");
  fs.writeFileSync(corpus, fs.readFileSync("datasets/corpora/apollo13_mission_report.md", "utf8").slice(0, 16_000));
  // Asynchronously: the test server answering the build's embedding requests lives in this process.
  const args = ["bin/kit.js", "build", "--corpus", corpus, "--out", dataset, "--llm", "builtin", "--embedder", EMBEDDER, "--ollama-host", server.url];
  const child = spawn(process.execPath, args, { env: { ...process.env, CI: "true" } });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  assert.is(code, 0, stderr);
  // As a dataset from a build without the quality checks: every paraphrase unchecked, and indexed. The
  // builtin generator's paraphrases are mostly judged copies, which would leave these tests few rows.
  const file = path.join(dataset, "paraphrases.jsonl");
  fs.writeFileSync(file, toJsonl(readJsonl<Record<string, unknown>>(file).map(({ verdict, reasons, ...row }) => row)));
  db = await DuckDBInstance.create(":memory:");
  sql = await db.connect();
});
test.after(async () => {
  sql.closeSync();
  db.closeSync();
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const query = async (text: string) => (await sql.runAndReadAll(text)).getRowObjectsJson() as Record<string, any>[];
const exportTo = (name: string, options: Partial<ExportOptions> = {}) => exportDataset({ dataset, out: path.join(tmp, "hf", name), rowsPerShard: ROWS_PER_SHARD, ...options });

function frontMatter(dir: string): any {
  const card = fs.readFileSync(path.join(dir, "README.md"), "utf8");
  const match = /^---\n([\s\S]*?\n)---\n/.exec(card);
  assert.ok(match, "README.md starts with YAML front matter");
  return parseYaml(match![1]);
}

/** The files a data_files glob (data/<config>/<split>-*) matches. */
function filesOf(dir: string, glob: string): string[] {
  const folder = path.dirname(glob);
  const prefix = path.basename(glob).replace(/\*$/, "");
  return fs.readdirSync(path.join(dir, folder)).filter((f) => f.startsWith(prefix)).sort().map((f) => path.join(dir, folder, f));
}

const parquetList = (files: string[]) => `[${files.map((f) => `'${f}'`).join(", ")}]`;

/** Copy of the dataset folder to break in one way. */
function copyDataset(name: string): string {
  const dir = path.join(tmp, name);
  fs.cpSync(dataset, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}cache`) });
  return dir;
}

function kitError(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    assert.instance(err, KitError);
    assert.not.match((err as Error).message, /\n/);
    return (err as Error).message;
  }
  assert.unreachable("expected a KitError");
  return "";
}

test("DuckDB reads every parquet file, and each agrees with the card's features and num_examples", async () => {
  const out = path.join(tmp, "hf", "main");
  exportTo("main", { testFraction: 0.2 });
  const card = frontMatter(out);
  assert.is(card.license, "unknown");
  assert.equal(card.language, ["en"]);
  assert.equal(card.task_categories, ["question-answering", "text-retrieval"]);
  assert.equal(card.tags, ["grpo", "retrieval", "search-agent", "synthetic"]);
  assert.equal(card.configs.map((c: any) => c.config_name), ["questions", "paraphrases", "chunks"]);
  assert.equal(card.configs.map((c: any) => c.default === true), [true, false, false]);
  assert.equal(card.configs.map((c: any) => c.data_files.map((d: any) => d.split)), [["train", "test"], ["train", "test"], ["train"]]);

  const duckType: Record<string, string> = { string: "VARCHAR", int32: "INTEGER" };
  const listed = new Set<string>();
  for (const config of card.configs) {
    const info = card.dataset_info.find((i: any) => i.config_name === config.config_name);
    const expected = info.features.map((f: any) => [f.name, f.sequence ? `${duckType[f.sequence]}[]` : duckType[f.dtype]]);
    assert.ok(expected.every(([, type]: string[]) => type && !type.startsWith("undefined")), JSON.stringify(info.features));
    for (const { split, path: glob } of config.data_files) {
      const files = filesOf(out, glob);
      const rows = info.splits.find((s: any) => s.name === split).num_examples;
      assert.is(files.length, Math.ceil(rows / ROWS_PER_SHARD), `${glob}: one shard per ${ROWS_PER_SHARD} rows`);
      files.forEach((f, i) => assert.is(path.basename(f), `${split}-${String(i).padStart(5, "0")}-of-${String(files.length).padStart(5, "0")}.parquet`));
      let total = 0;
      for (const file of files) {
        listed.add(file);
        const columns = await query(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
        assert.equal(columns.map((c) => [c.column_name, c.column_type]), expected, file);
        const [{ n }] = await query(`SELECT count(*)::INTEGER AS n FROM read_parquet('${file}')`);
        assert.ok(n >= 1 && n <= ROWS_PER_SHARD, `${file}: ${n} rows`);
        total += n;
        const codecs = await query(`SELECT DISTINCT compression FROM parquet_metadata('${file}')`);
        assert.equal(codecs.map((c) => c.compression), ["ZSTD"], file);
      }
      assert.is(total, rows, `${glob}: rows against num_examples`);
    }
    const bytes = config.data_files.flatMap((d: any) => filesOf(out, d.path)).reduce((n: number, f: string) => n + fs.statSync(f).size, 0);
    assert.is(info.download_size, bytes);
  }
  const written = (fs.readdirSync(path.join(out, "data"), { recursive: true }) as string[]).filter((f) => f.endsWith(".parquet"));
  assert.is(written.length, listed.size, "every parquet file is in a config");
});

test("exported rows are the accepted questions, the kept paraphrases and every chunk, values intact", async () => {
  const out = path.join(tmp, "hf", "main");
  const data = (config: string) => parquetList(fs.readdirSync(path.join(out, "data", config)).map((f) => path.join(out, "data", config, f)));
  const questions = readJsonl<any>(path.join(dataset, "questions.jsonl")).filter((q) => q.status === "accepted");
  assert.ok(questions.length >= 5, `${questions.length} accepted questions`);
  const got = await query(`SELECT id, question, answer, chunk_id, difficulty, "window", model, prompt_version FROM read_parquet(${data("questions")}) ORDER BY id`);
  const want = questions
    .map(({ id, question, answer, chunk_id, difficulty, window, model, prompt_version }) => ({ id, question, answer, chunk_id, difficulty, window, model, prompt_version }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  assert.equal(got, want);

  const paraphrases = readJsonl<any>(path.join(dataset, "paraphrases.jsonl"));
  const gotParaphrases = await query(`SELECT paraphrase_id, chunk_id, paragraph_index, style, text, verdict, model FROM read_parquet(${data("paraphrases")}) ORDER BY paraphrase_id`);
  assert.equal(gotParaphrases, paraphrases.map((p) => ({ ...p, verdict: "unchecked" })).sort((a, b) => (a.paraphrase_id < b.paraphrase_id ? -1 : 1)));

  const chunks = readJsonl<any>(path.join(dataset, "chunks.jsonl"));
  const gotChunks = await query(`SELECT chunk_id, text, source, start, "end" FROM read_parquet(${data("chunks")})`);
  assert.equal(gotChunks, chunks);
});

test("the card tells how the data was made, loaded and rewarded", () => {
  const card = fs.readFileSync(path.join(tmp, "hf", "main", "README.md"), "utf8");
  assert.match(card, "Questions: builtin (rule-based, no LLM)");
  assert.match(card, `Embedder: \`${EMBEDDER}\``);
  assert.match(card, "chunks of at most 1000 characters");
  const build = JSON.parse(fs.readFileSync(path.join(dataset, "build.json"), "utf8"));
  for (const [reason, n] of Object.entries(build.failures)) assert.match(card, `| ${reason} | ${n} |`);
  assert.match(card, 'load_dataset("path/to/main", "questions")');
  assert.match(card, 'faiss.read_index("faiss_index/index.faiss")');
  assert.match(card, "retrievalReward(target: string, retrieved: readonly string[]");
  assert.match(card, "reward_funcs=[answer_reward, search_reward]");
  assert.match(card, "set it in the front matter");
});

test("Debian's python3-faiss reads both exported indexes, with ids.json as their row map", () => {
  const probe = spawnSync("/usr/bin/python3", ["-c", "import faiss"], { encoding: "utf8" });
  if (probe.status !== 0) {
    console.log(`  skipped the python3-faiss check: /usr/bin/python3 cannot import faiss (${probe.stderr.trim().split("\n").pop()})`);
    return;
  }
  const script = [
    "import json, sys, faiss",
    "out = []",
    "for d in sys.argv[1:]:",
    "    index = faiss.read_index(d + '/index.faiss')",
    "    ids = json.load(open(d + '/ids.json'))",
    "    manifest = json.load(open(d + '/manifest.json'))",
    "    scores, rows = index.search(index.reconstruct_n(0, index.ntotal), 1)",
    "    # a row finds itself, or a row with the same text (the same unit vector)",
    "    out.append({'ntotal': index.ntotal, 'd': index.d, 'ids': len(ids), 'count': manifest['count'], 'dimension': manifest['dimension'], 'self_hits': int(sum(int(r[0]) == i or s[0] > 0.9999 for i, (r, s) in enumerate(zip(rows, scores))))})",
    "print(json.dumps(out))",
  ].join("\n");
  const dirs = ["faiss_index", "env/merged"].map((d) => path.join(tmp, "hf", "main", d));
  const run = spawnSync("/usr/bin/python3", ["-c", script, ...dirs], { encoding: "utf8" });
  assert.is(run.status, 0, run.stderr);
  const [chunkIndex, paraphraseIndex] = JSON.parse(run.stdout);
  const chunks = readJsonl(path.join(dataset, "chunks.jsonl")).length;
  assert.equal(chunkIndex, { ntotal: chunks, d: 64, ids: chunks, count: chunks, dimension: 64, self_hits: chunks });
  assert.is(paraphraseIndex.ntotal, paraphraseIndex.ids);
  assert.is(paraphraseIndex.self_hits, paraphraseIndex.ntotal);
  const manifest = JSON.parse(fs.readFileSync(path.join(dirs[0], "manifest.json"), "utf8"));
  assert.is(manifest.embedder, EMBEDDER);
  assert.not.ok("chunks" in manifest, "the manifest no longer points at a chunks.jsonl the export lacks");
  // An environment carries its rows: FAISS row i is rows.jsonl line i, with its chunk and paraphrase ids.
  const envManifest = JSON.parse(fs.readFileSync(path.join(dirs[1], "manifest.json"), "utf8"));
  const rows = readJsonl<{ row_id: string; chunk_id: string; kind: string; paraphrase_id: string | null }>(path.join(dirs[1], envManifest.chunks));
  assert.equal(rows.map((r) => r.row_id), JSON.parse(fs.readFileSync(path.join(dirs[1], "ids.json"), "utf8")));
  assert.ok(rows.every((r) => (r.kind === "paraphrase" ? r.paraphrase_id === r.row_id : r.paraphrase_id === null && r.row_id === r.chunk_id)));
});

test("the split is by chunk, exact in size and the same for the same seed", async () => {
  const chunkIds = readJsonl<{ chunk_id: string }>(path.join(dataset, "chunks.jsonl")).map((c) => c.chunk_id);
  const picked = testChunkIds(chunkIds, 0.25, 7);
  assert.is(picked.size, Math.round(0.25 * chunkIds.length));
  assert.equal([...testChunkIds([...chunkIds].reverse(), 0.25, 7)].sort(), [...picked].sort(), "input order does not matter");
  assert.not.equal([...testChunkIds(chunkIds, 0.25, 8)].sort(), [...picked].sort(), "another seed, other chunks");
  assert.is(testChunkIds(chunkIds, 0, 7).size, 0);

  const sides = async (name: string) => {
    const out = path.join(tmp, "hf", name);
    const chunksOf = async (config: string, split: string) =>
      (await query(`SELECT DISTINCT chunk_id FROM read_parquet('${out}/data/${config}/${split}-*.parquet') ORDER BY chunk_id`)).map((r) => r.chunk_id as string);
    return { train: [...(await chunksOf("questions", "train")), ...(await chunksOf("paraphrases", "train"))], test: [...(await chunksOf("questions", "test")), ...(await chunksOf("paraphrases", "test"))] };
  };
  exportTo("seed7-a", { testFraction: 0.25, seed: 7 });
  exportTo("seed7-b", { testFraction: 0.25, seed: 7 });
  exportTo("seed8", { testFraction: 0.25, seed: 8 });
  const [a, b, c] = [await sides("seed7-a"), await sides("seed7-b"), await sides("seed8")];
  assert.equal(a, b);
  assert.not.equal(a.test, c.test);
  for (const s of [a, c]) {
    assert.ok(s.test.length > 0);
    assert.is(s.test.filter((id) => s.train.includes(id)).length, 0, "no chunk on both sides");
  }
  assert.ok(a.test.every((id) => picked.has(id)), "test rows come from the seed's test chunks");
  for (const config of ["questions", "paraphrases", "chunks"]) {
    const files = fs.readdirSync(path.join(tmp, "hf", "seed7-a", "data", config));
    for (const f of files) assert.ok(fs.readFileSync(path.join(tmp, "hf", "seed7-a", "data", config, f)).equals(fs.readFileSync(path.join(tmp, "hf", "seed7-b", "data", config, f))), `${config}/${f} byte for byte`);
  }
});

test("an existing folder is kept unless --force, and replaced whole with it", () => {
  const out = path.join(tmp, "hf", "forced");
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, "keep.txt"), "mine");
  assert.is(kitError(() => exportTo("forced")), `${out} already exists; pass --force to replace it`);
  assert.is(fs.readFileSync(path.join(out, "keep.txt"), "utf8"), "mine");
  exportTo("forced", { force: true });
  assert.not.ok(fs.existsSync(path.join(out, "keep.txt")));
  assert.ok(fs.existsSync(path.join(out, "README.md")));
  assert.equal(fs.readdirSync(path.dirname(out)).filter((f) => /\.(tmp|old)-/.test(f)), [], "no temp folder left behind");
  assert.match(kitError(() => exportDataset({ dataset, out: tmp, force: true })), "would replace the dataset folder");
  assert.ok(fs.existsSync(path.join(dataset, "chunks.jsonl")));
});

test("a missing file names the kit build stage that writes it, and nothing is written", () => {
  const cases: [string, string][] = [
    ["paraphrases.jsonl", "the paraphrase stage"],
    ["questions.jsonl", "the questions stage"],
    ["chunks.jsonl", "the chunk stage"],
    ["env/paraphrased", "the environments stage"],
    ["build.json", "the last step"],
  ];
  for (const [file, stage] of cases) {
    const dir = copyDataset(`missing-${file.replace("/", "-")}`);
    fs.rmSync(path.join(dir, file), { recursive: true });
    const out = path.join(tmp, "hf", `missing-${file.replace("/", "-")}`);
    assert.is(kitError(() => exportDataset({ dataset: dir, out })), `${dir} has no ${file}; it is written by ${stage} of kit build: run kit build --out ${dir} again`);
    assert.not.ok(fs.existsSync(out));
  }
});

test("an index made by another embedder than build.json names is refused", () => {
  const dir = copyDataset("other-embedder");
  const buildFile = path.join(dir, "build.json");
  const build = JSON.parse(fs.readFileSync(buildFile, "utf8"));
  build.parameters.embedder = "use-lite";
  fs.writeFileSync(buildFile, JSON.stringify(build));
  const message = kitError(() => exportDataset({ dataset: dir, out: path.join(tmp, "hf", "other-embedder") }));
  assert.is(message, `index ${path.join(dir, "faiss_index")} was built with embedder ${EMBEDDER} but build.json says use-lite; rebuild the dataset with kit build --out ${dir} --embedder use-lite`);
});

test("paraphrases judged unfaithful are left out and counted in the card", async () => {
  const dir = copyDataset("verdicts");
  const file = path.join(dir, "paraphrases.jsonl");
  const rows = readJsonl<any>(file).map((p, i) => ({ ...p, verdict: ["faithful", "unfaithful", "unchecked"][i % 3], reasons: i % 3 === 1 ? ["adds a fact"] : [] }));
  fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const out = path.join(tmp, "hf", "verdicts");
  const result = exportDataset({ dataset: dir, out });
  const kept = rows.filter((r) => r.verdict !== "unfaithful");
  assert.is(result.configs.find((c) => c.name === "paraphrases")!.splits.reduce((n, s) => n + s.rows, 0), kept.length);
  const verdicts = await query(`SELECT verdict, count(*)::INTEGER AS n FROM read_parquet('${out}/data/paraphrases/*.parquet') GROUP BY verdict ORDER BY verdict`);
  assert.equal(verdicts, [
    { verdict: "faithful", n: rows.filter((r) => r.verdict === "faithful").length },
    { verdict: "unchecked", n: rows.filter((r) => r.verdict === "unchecked").length },
  ]);
  const card = fs.readFileSync(path.join(out, "README.md"), "utf8");
  assert.match(card, `| paraphrase verdict: unfaithful | ${rows.length - kept.length} |`);
  const merged = JSON.parse(fs.readFileSync(path.join(dir, "env/merged/manifest.json"), "utf8"));
  assert.match(card, `- \`env/merged\`: ${merged.rows} rows, the chunks, plus every kept paraphrase as a distractor; ${merged.coverage.by_paraphrase} of ${merged.coverage.chunks} chunks appear through a kept paraphrase.`);
});

test("bad options are one-line errors", () => {
  assert.match(kitError(() => exportTo("bad", { testFraction: 1 })), "test fraction must be at least 0 and below 1, got 1");
  assert.match(kitError(() => exportTo("bad", { rowsPerShard: 0 })), "rows per shard must be an integer >= 1, got 0");
  assert.match(kitError(() => exportDataset({ dataset: path.join(tmp, "nope"), out: path.join(tmp, "hf", "bad") })), "does not exist; make it with kit build");
});

test.run();
