import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { parse as parseYaml } from "yaml";
import { type EnvRow, MODES, type Mode } from "../lib/environment";
import { KitError } from "../lib/errors";
import { exportDataset, type ExportOptions, type ExportResult, formatExport } from "../lib/export";
import { bucketOf } from "../lib/export/difficulty";
import { blockSplit } from "../lib/export/split";
import { readJsonl, writeJsonlAtomic } from "../lib/files";
import type { Question } from "../lib/questions";
import { tierWarning, verdictLines } from "../lib/verdict";
import { allChunksReward, type Discount, exactAnswerReward, retrievalReward } from "../lib/reward";
import { buildApolloPart, keepEveryParaphrase } from "./helpers/apollo-build";
import { restamp } from "./helpers/restamp";
import { kitError } from "./helpers/throws-kit";
import { type OllamaServer, startOllamaServer } from "./helpers/ollama-server";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-export-"));
const dataset = path.join(tmp, "dataset");
const EMBEDDER = "ollama:nomic-embed-text";
// Few rows a shard, so every config is written as several files.
const ROWS_PER_SHARD = 7;
// The main export: blocks of 4 of the ~19 chunks, so the split has several blocks and questions at their edges.
const SPLIT = { testFraction: 0.3, seed: 42, blockChunks: 4 };
const SPLITS = ["train", "test"] as const;
const SEARCH_AGENT_PROMPT = fs.readFileSync("lib/export/search-agent-prompt.md", "utf8").trim();
const RECOVERY_PROMPT = fs.readFileSync("lib/export/recovery-prompt.md", "utf8").trim();

let server: OllamaServer;
let db: DuckDBInstance;
let sql: DuckDBConnection;
let main: ExportResult;
/** What kit build printed. */
let summary: string;

test.before(async () => {
  server = await startOllamaServer({ models: ["nomic-embed-text"] });
  summary = await buildApolloPart(tmp, dataset, server.url);
  keepEveryParaphrase(dataset);
  db = await DuckDBInstance.create(":memory:");
  sql = await db.connect();
  main = await exportTo("main", SPLIT);
});
test.after(async () => {
  sql?.closeSync();
  db?.closeSync();
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------- helpers

const hf = (name: string) => path.join(tmp, "hf", name);
const exportTo = (name: string, options: Partial<ExportOptions> = {}) => exportDataset({ dataset, out: hf(name), rowsPerShard: ROWS_PER_SHARD, ...options });
const query = async (text: string) => (await sql.runAndReadAll(text)).getRowObjectsJson() as Record<string, any>[];
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, "utf8"));

const chunkIds = () => readJsonl<{ chunk_id: string }>(path.join(dataset, "chunks.jsonl")).map((c) => c.chunk_id);
const acceptedQuestions = () => readJsonl<Question>(path.join(dataset, "questions.jsonl")).filter((q) => q.status === "accepted");
/** The main export's test chunks. */
const testChunks = () => blockSplit(chunkIds(), SPLIT.testFraction, SPLIT.seed, SPLIT.blockChunks).test;
/** An accepted question is exported when its context (its window) lies on one side of the split. */
const crosses = (q: Question, testSet: Set<string>) => new Set(q.window.map((id) => testSet.has(id))).size > 1;

function readCard(dir: string): { front: any; prose: string } {
  const card = fs.readFileSync(path.join(dir, "README.md"), "utf8");
  const match = /^---\n([\s\S]*?\n)---\n([\s\S]*)$/.exec(card);
  assert.ok(match, "README.md starts with YAML front matter");
  return { front: parseYaml(match![1]), prose: match![2] };
}

/** The files a data_files glob (data/<config>/<split>-*) matches, in shard order. */
function filesOf(dir: string, glob: string): string[] {
  const folder = path.join(dir, path.dirname(glob));
  const prefix = path.basename(glob).replace(/\*$/, "");
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder).filter((f) => f.startsWith(prefix)).sort().map((f) => path.join(folder, f));
}

/** Rows of parquet files as DuckDB reads them, file after file, each in its own order. */
async function parquetRows(files: string[], select = "*"): Promise<Record<string, any>[]> {
  const rows: Record<string, any>[] = [];
  for (const file of files) rows.push(...(await query(`SELECT ${select} FROM read_parquet('${file}')`)));
  return rows;
}
const configRows = (dir: string, config: string, split: string, select = "*") => parquetRows(filesOf(dir, `data/${config}/${split}-*`), select);

/** Column name -> DuckDB type of a parquet file; the type's quotes (DuckDB quotes keywords such as "role") dropped unless `exact`. */
async function columnTypes(file: string, exact = false): Promise<[string, string][]> {
  const columns = await query(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
  return columns.map((c) => [c.column_name, exact ? c.column_type : c.column_type.replaceAll('"', "")]);
}

/** The DuckDB type a Hugging Face feature reads as (without quotes). */
function duckType(feature: any): string {
  const struct = (fields: any[]) => `STRUCT(${fields.map((f) => `${f.name} ${duckType(f)}`).join(", ")})`;
  if (feature.dtype) return ({ string: "VARCHAR", int32: "INTEGER", bool: "BOOLEAN" } as Record<string, string>)[feature.dtype] ?? `?${feature.dtype}`;
  if (feature.sequence) return `${duckType(typeof feature.sequence === "string" ? { dtype: feature.sequence } : feature.sequence)}[]`;
  if (feature.list) return `${struct(feature.list)}[]`;
  if (feature.struct) return struct(feature.struct);
  return `?${JSON.stringify(feature)}`;
}

const PROMPT_TYPE = 'STRUCT("role" VARCHAR, "content" VARCHAR)[]';

/** Copy of the dataset folder to change in one way. */
function copyDataset(name: string): string {
  const dir = path.join(tmp, name);
  fs.cpSync(dataset, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}cache`) });
  return dir;
}

/** Rewrites a JSONL file of a dataset copy row by row. */
function editJsonl<T>(file: string, edit: (row: T, i: number) => T): void {
  writeJsonlAtomic(file, readJsonl<T>(file).map(edit));
  restamp(path.dirname(file));
}

/** Export folders left half-written beside `dir`. */
const leftovers = (dir: string) => fs.readdirSync(path.dirname(dir)).filter((f) => f.startsWith(`${path.basename(dir)}.`));

/** Runs a Python script with JSON on stdin and returns the JSON it prints. */
function python(script: string, input: unknown, args: string[] = []): any {
  const run = spawnSync("/usr/bin/python3", ["-c", script, ...args], { input: JSON.stringify(input), encoding: "utf8" });
  assert.is(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

/** `kit search --dataset <dataset> --mode <mode> --queries F --out F2 --k k`: the hits of each query. */
function kitSearch(mode: Mode, queries: { id: string; text: string }[], k: number): Map<string, { chunk_id: string }[]> {
  const dir = fs.mkdtempSync(path.join(tmp, "search-"));
  const [queriesFile, out] = [path.join(dir, "queries.jsonl"), path.join(dir, "hits.jsonl")];
  writeJsonlAtomic(queriesFile, queries);
  const run = spawnSync(process.execPath, ["bin/kit.js", "search", "--dataset", dataset, "--mode", mode, "--queries", queriesFile, "--out", out, "--k", String(k)], {
    encoding: "utf8",
    env: { ...process.env, CI: "true" },
  });
  assert.is(run.status, 0, run.stderr);
  return new Map(readJsonl<{ id: string; hits: { chunk_id: string }[] }>(out).map((r) => [r.id, r.hits]));
}

const byId = <T extends Record<string, any>>(rows: T[]) => [...rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

// ---------------------------------------------------------------- layout, card and configs

test("the export holds the configs, indexes, environments, each trainer's layout, rewards.py, environment.py, the card and its marker", () => {
  const out = hf("main");
  assert.equal(main.configs.map((c) => c.name), ["questions", "recovery", "paraphrases", "chunks"]);
  assert.equal(main.layouts, {
    "search-r1": ["search-r1/train.parquet", "search-r1/test.parquet", ...MODES.map((m) => `search-r1/corpus-${m}.jsonl`)],
    verl: ["verl/train.parquet", "verl/test.parquet", "verl/search_tool_config.yaml"],
    rezero: ["rezero/index.faiss", "rezero/index.pkl", "rezero/questions.jsonl", "rezero/chunks.csv", "rezero/paragraphs_noise.csv"],
    autodidact: ["autodidact/saved_data/chunks.pkl", "autodidact/saved_data/questions.json", "autodidact/faiss_index/index.faiss", "autodidact/faiss_index/index.pkl"],
  });
  for (const file of [...Object.values(main.layouts).flat(), ...main.configs.flatMap((c) => c.splits.flatMap((s) => s.files))]) assert.ok(fs.existsSync(path.join(out, file)), file);
  for (const dir of ["faiss_index", ...MODES.map((m) => `env/${m}`)]) {
    for (const file of ["index.faiss", "ids.json", "manifest.json"]) assert.ok(fs.existsSync(path.join(out, dir, file)), `${dir}/${file}`);
  }
  for (const mode of MODES) assert.is(fs.readFileSync(path.join(out, "env", mode, "rows.jsonl"), "utf8"), fs.readFileSync(path.join(dataset, "env", mode, "rows.jsonl"), "utf8"), `env/${mode}/rows.jsonl`);
  for (const file of ["rewards.py", "environment.py"]) assert.is(fs.readFileSync(path.join(out, file), "utf8"), fs.readFileSync(`lib/export/${file}`, "utf8"));
  assert.is(fs.readFileSync(path.join(out, "faiss_index", "index.pkl")).toString("hex"), fs.readFileSync(path.join(dataset, "faiss_index", "index.pkl")).toString("hex"));
  assert.ok(fs.existsSync(path.join(out, ".kit-export")));
  assert.equal(fs.readdirSync(out).sort(), [".kit-export", "README.md", "autodidact", "data", "env", "environment.py", "faiss_index", "rewards.py", "rezero", "search-r1", "verl"]);
  assert.equal(leftovers(out), [], "no temp folder left behind");
});

test("DuckDB reads every config with the card's features, num_examples, num_bytes and sizes", async () => {
  const out = hf("main");
  const { front: card } = readCard(out);
  assert.is(card.pretty_name, "Apollo part", "the corpus's file name as words");
  assert.is(card.license, "unknown");
  assert.equal(card.language, ["en"]);
  assert.equal(card.annotations_creators, ["machine-generated"]);
  assert.equal(card.size_categories, ["n<1K"]);
  assert.equal(card.task_categories, ["question-answering", "text-retrieval"]);
  assert.equal(card.task_ids, ["open-domain-qa", "document-retrieval"]);
  assert.equal(card.tags, ["grpo", "retrieval", "search-agent", "synthetic"]);
  assert.equal(card.configs.map((c: any) => c.config_name), ["questions", "recovery", "paraphrases", "chunks"]);
  assert.equal(card.configs.map((c: any) => c.default === true), [true, false, false, false]);
  assert.equal(card.configs.map((c: any) => c.data_files.map((d: any) => d.split)), [["train", "test"], ["train", "test"], ["train", "test"], ["train"]]);
  const questionInfo = card.dataset_info.find((i: any) => i.config_name === "questions");
  assert.equal(questionInfo.features.find((f: any) => f.name === "prompt"), { name: "prompt", list: [{ name: "role", dtype: "string" }, { name: "content", dtype: "string" }] });
  assert.equal(questionInfo.features.find((f: any) => f.name === "context_chunk_ids"), { name: "context_chunk_ids", sequence: "string" });

  const listed = new Set<string>();
  for (const config of card.configs) {
    const info = card.dataset_info.find((i: any) => i.config_name === config.config_name);
    const expected: [string, string][] = info.features.map((f: any) => [f.name, duckType(f)]);
    assert.not.match(JSON.stringify(expected), "?", `every feature has a type: ${JSON.stringify(info.features)}`);
    const exported = main.configs.find((c) => c.name === config.config_name)!;
    assert.equal(info.splits.map((s: any) => s.name), exported.splits.map((s) => s.name));
    for (const { split, path: glob } of config.data_files) {
      const files = filesOf(out, glob);
      const { num_examples: rows, num_bytes: bytes } = info.splits.find((s: any) => s.name === split);
      assert.ok(bytes > 0, `${glob}: num_bytes ${bytes}`);
      assert.is(files.length, Math.ceil(rows / ROWS_PER_SHARD), `${glob}: one shard per ${ROWS_PER_SHARD} rows`);
      assert.equal(files.map((f) => path.relative(out, f)), exported.splits.find((s) => s.name === split)!.files);
      files.forEach((f, i) => assert.is(path.basename(f), `${split}-${String(i).padStart(5, "0")}-of-${String(files.length).padStart(5, "0")}.parquet`));
      let total = 0;
      for (const file of files) {
        listed.add(file);
        assert.equal(await columnTypes(file), expected, file);
        if (info.features.some((f: any) => f.name === "prompt")) assert.equal((await columnTypes(file, true)).find(([name]) => name === "prompt"), ["prompt", PROMPT_TYPE]);
        const [{ n }] = await query(`SELECT count(*)::INTEGER AS n FROM read_parquet('${file}')`);
        assert.ok(n >= 1 && n <= ROWS_PER_SHARD, `${file}: ${n} rows`);
        total += n;
        const codecs = await query(`SELECT DISTINCT compression FROM parquet_metadata('${file}')`);
        assert.equal(codecs.map((c) => c.compression), ["ZSTD"], file);
      }
      assert.is(total, rows, `${glob}: rows against num_examples`);
      assert.is(total, exported.splits.find((s) => s.name === split)!.rows);
    }
    const fileBytes = config.data_files.flatMap((d: any) => filesOf(out, d.path)).reduce((n: number, f: string) => n + fs.statSync(f).size, 0);
    assert.is(info.download_size, fileBytes, `${config.config_name}: download_size`);
    assert.is(info.dataset_size, info.splits.reduce((n: number, s: any) => n + s.num_bytes, 0), `${config.config_name}: dataset_size`);
  }
  const written = (fs.readdirSync(path.join(out, "data"), { recursive: true }) as string[]).filter((f) => f.endsWith(".parquet"));
  assert.is(written.length, listed.size, "every parquet file is in a config");
});

test("questions: the accepted questions on one side of the split, values intact; prompt is {role, content} messages ending with the question", async () => {
  const out = hf("main");
  const testSet = testChunks();
  const want = acceptedQuestions()
    .filter((q) => !crosses(q, testSet))
    .map(({ id, question, answer, chunk_id, difficulty, window, model, prompt_version }) => ({ id, question, answer, chunk_id, difficulty, context_chunk_ids: window, model, prompt_version }));
  assert.ok(want.length >= 5, `${want.length} exported questions`);
  const rows = [...(await configRows(out, "questions", "train")), ...(await configRows(out, "questions", "test"))];
  const got = rows.map(({ id, question, answer, chunk_id, difficulty, context_chunk_ids, model, prompt_version }) => ({ id, question, answer, chunk_id, difficulty, context_chunk_ids, model, prompt_version }));
  assert.equal(byId(got), byId(want));
  for (const row of rows) {
    assert.equal(row.prompt, [{ role: "system", content: SEARCH_AGENT_PROMPT }, { role: "user", content: row.question }], row.id);
  }
  // The same, in SQL: the last message of each prompt is the user's question.
  const [{ n }] = await query(`SELECT count(*)::INTEGER AS n FROM read_parquet('${out}/data/questions/*.parquet') WHERE prompt[len(prompt)].role = 'user' AND prompt[len(prompt)].content = question`);
  assert.is(n, rows.length);
});

test("recovery, paraphrases and chunks: every kept paraphrase and every chunk, values intact", async () => {
  const out = hf("main");
  const both = async (config: string) => [...(await configRows(out, config, "train")), ...(await configRows(out, config, "test"))];
  const chunks = readJsonl<any>(path.join(dataset, "chunks.jsonl"));
  const textOf = new Map(chunks.map((c) => [c.chunk_id, c.text]));
  const paraphrases = readJsonl<any>(path.join(dataset, "paraphrases.jsonl"));
  const byParaphraseId = (rows: any[]) => [...rows].sort((a, b) => (a.paraphrase_id < b.paraphrase_id ? -1 : 1));
  assert.equal(byParaphraseId(await both("paraphrases")), byParaphraseId(paraphrases.map((p) => ({ ...p, verdict: "unchecked" }))));
  const recovery = paraphrases.map((p) => ({
    id: p.paraphrase_id,
    prompt: [{ role: "system", content: RECOVERY_PROMPT }, { role: "user", content: p.text }],
    chunk_id: p.chunk_id,
    style: p.style,
    paraphrase: p.text,
    original: textOf.get(p.chunk_id),
  }));
  assert.equal(byId(await both("recovery")), byId(recovery));
  assert.equal(await configRows(out, "chunks", "train"), chunks, "every chunk, in document order, in train");
});

test("the card tells how the data was made, split, loaded, rewarded and searched", () => {
  const { prose } = readCard(hf("main"));
  const build = readJson(path.join(dataset, "build.json"));
  const chunks = chunkIds().length;
  assert.match(prose, "# Apollo part\n");
  assert.match(prose, "set it in the front matter");
  assert.match(prose, "## How it was made");
  assert.match(prose, `| corpus | \`apollo-part.md\`, ${chunks} chunks of at most 1000 characters, 0 overlap`);
  assert.match(prose, `| embedder | \`${EMBEDDER}\`; FAISS \`Flat\``);
  assert.match(prose, "| questions | builtin (rule-based, no LLM), 2 per chunk");
  assert.match(prose, `| verdicts | ${readJsonl(path.join(dataset, "paraphrases.jsonl")).length} unchecked; only faithful or unchecked rows are kept |`);
  for (const [reason, n] of Object.entries(build.failures)) assert.match(prose, `| ${reason} | ${n} |`);
  assert.is(build.judge, "rules");
  assert.match(prose, "\n\nThe rules alone do not see meaning changes in the order of events, causes, time spans, negation or modality: `--judge ollama:bespoke-minicheck` (or any `ollama:<model>`) checks them.\n");
  assert.match(prose, 'load_dataset("path/to/main", "questions")');
  assert.match(prose, "reward_funcs=[answer_reward]");
  assert.match(prose, "environment_factory=SearchEnvironment");
  assert.match(prose, "## Rewards\n\n`rewards.py` (beside this card)");
  for (const signature of ['retrieval_reward(target, retrieved, k=None, discount="none")', "exact_answer_reward(predicted, gold)", "answer_reward(completions, answer, **kwargs)", "search_reward(completions, chunk_id, supporting_chunk_ids=None, environments=None, **kwargs)"]) {
    assert.match(prose, signature);
  }
  assert.match(prose, `- \`faiss_index\`: one row per chunk (${chunks} rows), ids are chunk ids.`);
  for (const mode of MODES) {
    const m = readJson(path.join(dataset, "env", mode, "manifest.json"));
    assert.match(prose, `- \`env/${mode}\`: ${m.rows} rows, `);
    assert.match(prose, `; ${m.coverage.by_paraphrase} of ${m.coverage.chunks} chunks appear through a kept paraphrase.`);
  }
  // A section per consumer, each with the command that trains on its layout.
  for (const [consumer, command] of [
    ["TRL", "trainer.train()"],
    ["Search-R1", "bash train_ppo.sh"],
    ["verl", "bash examples/sglang_multiturn/search_r1_like/run_qwen2.5-3b_instruct_search_multiturn.sh"],
    ["AutoDidact", "cp -r EXPORT/autodidact/saved_data EXPORT/autodidact/faiss_index ."],
    ["ReZero", "python train_grpo.py"],
  ]) {
    const section = prose.split(`## Train with ${consumer}\n`)[1]?.split("\n## ")[0];
    assert.ok(section, `a "Train with ${consumer}" section`);
    assert.match(section!, command, consumer);
  }
  assert.match(prose, "`data_source` `nq` (its exact-match reward)");
  assert.match(prose, "`data_source` `searchR1_nq`");
  assert.match(prose, "`search-r1/corpus-<mode>.jsonl`");
});

test("Debian's python3-faiss reads the exported indexes, with ids.json as their row map", () => {
  const probe = spawnSync("/usr/bin/python3", ["-c", "import faiss"], { encoding: "utf8" });
  if (probe.status !== 0) {
    console.log(`  skipped the python3-faiss check: /usr/bin/python3 cannot import faiss (${probe.stderr.trim().split("\n").pop()})`);
    return;
  }
  const script = [
    "import json, sys, faiss",
    "out = []",
    "for d in json.load(sys.stdin):",
    "    index = faiss.read_index(d + '/index.faiss')",
    "    ids = json.load(open(d + '/ids.json'))",
    "    manifest = json.load(open(d + '/manifest.json'))",
    "    scores, rows = index.search(index.reconstruct_n(0, index.ntotal), 1)",
    "    # a row finds itself, or a row with the same text (the same unit vector)",
    "    out.append({'ntotal': index.ntotal, 'd': index.d, 'ids': len(ids), 'count': manifest['count'], 'dimension': manifest['dimension'], 'self_hits': int(sum(int(r[0]) == i or s[0] > 0.9999 for i, (r, s) in enumerate(zip(rows, scores))))})",
    "print(json.dumps(out))",
  ].join("\n");
  const folders = ["faiss_index", ...MODES.map((m) => `env/${m}`)];
  const dirs = folders.map((d) => path.join(hf("main"), d));
  const [chunkIndex, ...environments] = python(script, dirs);
  const chunks = chunkIds().length;
  assert.equal(chunkIndex, { ntotal: chunks, d: 64, ids: chunks, count: chunks, dimension: 64, self_hits: chunks });
  const manifest = readJson(path.join(dirs[0], "manifest.json"));
  assert.is(manifest.embedder, EMBEDDER);
  assert.not.ok("chunks" in manifest, "the manifest no longer points at a chunks.jsonl the export lacks");
  environments.forEach((env: any, i: number) => {
    const dir = dirs[i + 1];
    const envManifest = readJson(path.join(dir, "manifest.json"));
    // An environment carries its rows: FAISS row i is rows.jsonl line i, with its chunk and paraphrase ids.
    const rows = readJsonl<EnvRow>(path.join(dir, envManifest.chunks));
    assert.equal(env, { ntotal: rows.length, d: 64, ids: rows.length, count: rows.length, dimension: 64, self_hits: rows.length }, folders[i + 1]);
    assert.is(envManifest.rows, rows.length);
    assert.equal(rows.map((r) => r.row_id), readJson(path.join(dir, "ids.json")));
    assert.ok(rows.every((r) => (r.kind === "paraphrase" ? r.paraphrase_id === r.row_id : r.paraphrase_id === null && r.row_id === r.chunk_id)));
  });
});

// ---------------------------------------------------------------- split

/** Checks that `test` is whole blocks of `blockChunks` consecutive ids, but for one run cut short; returns the blocks it touches. */
function assertWholeBlocks(ids: string[], testSet: Set<string>, blockChunks: number, what: string): number {
  const inBlock = new Map<number, number[]>();
  ids.forEach((id, i) => {
    if (!testSet.has(id)) return;
    const block = Math.floor(i / blockChunks);
    inBlock.set(block, [...(inBlock.get(block) ?? []), i]);
  });
  let cut = 0;
  for (const [block, positions] of inBlock) {
    const size = Math.min(blockChunks, ids.length - block * blockChunks);
    if (positions.length === size) continue;
    cut++;
    assert.ok(positions.every((p, i) => i === 0 || p === positions[i - 1] + 1), `${what}: block ${block} is cut into a run of consecutive chunks, got ${positions}`);
  }
  assert.ok(cut <= 1, `${what}: ${cut} blocks cut`);
  return inBlock.size;
}

test("blockSplit: whole blocks of consecutive chunks, exact in size, the same for the same seed", () => {
  const datasetIds = chunkIds();
  const synthetic = Array.from({ length: 50 }, (_, i) => `c${i}`);
  for (const ids of [datasetIds, synthetic]) {
    for (const blockChunks of [1, 3, 4, 16, 64]) {
      for (const fraction of [0.1, 0.25, SPLIT.testFraction, 0.5, 0.9]) {
        for (const seed of [1, 42]) {
          const what = `${ids.length} chunks, blocks of ${blockChunks}, fraction ${fraction}, seed ${seed}`;
          const split = blockSplit(ids, fraction, seed, blockChunks);
          assert.is(split.test.size, Math.round(fraction * ids.length), what);
          assert.ok([...split.test].every((id) => ids.includes(id)), what);
          assert.is(split.blocks, Math.ceil(ids.length / blockChunks), what);
          assert.is(assertWholeBlocks(ids, split.test, blockChunks, what), split.testBlocks, what);
          assert.equal([...blockSplit(ids, fraction, seed, blockChunks).test], [...split.test], `${what}: the same again`);
        }
      }
    }
    assert.is(blockSplit(ids, 0, 42, 4).test.size, 0);
  }
  const picked = (seed: number) => [...blockSplit(datasetIds, SPLIT.testFraction, seed, SPLIT.blockChunks).test].sort();
  assert.not.equal(picked(7), picked(42), "another seed, other blocks");
});

test("the export's split: no chunk on both sides, no question shown a chunk of the other split, the dropped ones counted in the card", async () => {
  const out = hf("main");
  const ids = chunkIds();
  const testSet = testChunks();
  assert.is(main.chunks, ids.length);
  assert.is(main.testChunks, Math.round(SPLIT.testFraction * ids.length));
  assert.is(testSet.size, main.testChunks);
  for (const config of ["questions", "recovery", "paraphrases"]) {
    const side = async (split: string) => new Set((await configRows(out, config, split, "chunk_id")).map((r) => r.chunk_id as string));
    const [train, testSide] = [await side("train"), await side("test")];
    assert.ok(train.size > 0 && testSide.size > 0, config);
    assert.equal([...train].filter((id) => testSide.has(id)), [], `${config}: no chunk on both sides`);
    assert.ok([...testSide].every((id) => testSet.has(id)), `${config}: test rows are of test chunks`);
    assert.ok([...train].every((id) => !testSet.has(id)), `${config}: train rows are of train chunks`);
  }
  for (const split of SPLITS) {
    for (const row of await configRows(out, "questions", split, "id, context_chunk_ids")) {
      const strays = (row.context_chunk_ids as string[]).filter((id) => testSet.has(id) !== (split === "test"));
      assert.equal(strays, [], `${split} question ${row.id} was shown chunks of the other split`);
    }
  }
  const accepted = acceptedQuestions();
  const exported = new Set((await parquetRows(filesOf(out, "data/questions/*"), "id")).map((r) => r.id));
  const missing = accepted.filter((q) => !exported.has(q.id));
  assert.ok(main.crossing > 0, "some questions sit at block edges, so the count is tested");
  assert.is(main.crossing, missing.length);
  assert.ok(missing.every((q) => crosses(q, testSet)), "only questions shown both sides are dropped");
  const { prose } = readCard(out);
  const split = blockSplit(ids, SPLIT.testFraction, SPLIT.seed, SPLIT.blockChunks);
  assert.match(prose, `Splits are by contiguous blocks of ${SPLIT.blockChunks} chunks in document order: ${split.testBlocks} of ${split.blocks} blocks`);
  assert.match(prose, `hold the ${main.testChunks} test chunks of ${ids.length}`);
  assert.match(prose, `so the ${main.crossing} questions that were shown a chunk of the other split (at block edges) are dropped`);
  assert.match(prose, `| question dropped: its prompt showed a chunk of the other split | ${main.crossing} |`);
});

test("the same seed writes the same files byte for byte; another seed other test chunks", async () => {
  await exportTo("same-seed", SPLIT);
  const files = (dir: string) => (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".parquet") || f.endsWith(".jsonl")).sort();
  const [a, b] = [hf("main"), hf("same-seed")];
  assert.equal(files(b), files(a));
  for (const f of files(a)) assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), `${f} byte for byte`);

  const other = await exportTo("other-seed", { ...SPLIT, seed: 7 });
  const testIds = async (dir: string) => (await configRows(dir, "paraphrases", "test", "DISTINCT chunk_id")).map((r) => r.chunk_id as string).sort();
  assert.is(other.testChunks, main.testChunks);
  assert.not.equal(await testIds(hf("other-seed")), await testIds(a));
});

// ---------------------------------------------------------------- Search-R1

test("search-r1: train and test.parquet in nq_search.py's columns and nested types, one user message, data_source nq; a corpus per environment", async () => {
  const out = hf("main");
  const groundTruth = 'STRUCT("target" VARCHAR[])';
  const want: [string, string][] = [
    ["id", "VARCHAR"],
    ["question", "VARCHAR"],
    ["golden_answers", "VARCHAR[]"],
    ["metadata", "STRUCT(chunk_id VARCHAR, supporting_chunk_ids VARCHAR[])"],
    ["data_source", "VARCHAR"],
    ["prompt", PROMPT_TYPE],
    ["ability", "VARCHAR"],
    ["reward_model", `STRUCT(style VARCHAR, ground_truth ${groundTruth})`],
    ["extra_info", 'STRUCT(split VARCHAR, "index" BIGINT)'],
  ];
  const instructions = fs.readFileSync("lib/export/search-r1-prompt.md", "utf8").trim();
  const testSet = testChunks();
  for (const split of SPLITS) {
    const file = path.join(out, "search-r1", `${split}.parquet`);
    assert.equal(await columnTypes(file, true), want, file);
    const questions = await configRows(out, "questions", split);
    const expected = questions.map((q, index) => ({
      id: q.id,
      question: q.question,
      golden_answers: [q.answer],
      metadata: { chunk_id: q.chunk_id, supporting_chunk_ids: [q.chunk_id] },
      data_source: "nq",
      // One user message: Search-R1 feeds the first message alone to a model without a chat template.
      prompt: [{ role: "user", content: instructions.replace("{question}", q.question) }],
      ability: "fact-reasoning",
      reward_model: { style: "rule", ground_truth: { target: [q.answer] } },
      // DuckDB's JSON rows show a BIGINT as a string.
      extra_info: { split, index: String(index) },
    }));
    assert.ok(expected.length > 0, split);
    assert.equal(await parquetRows([file]), expected, file);
    const gold = await parquetRows([file], "metadata.chunk_id AS chunk_id");
    assert.ok(gold.every((r) => testSet.has(r.chunk_id) === (split === "test")), `${split}: gold chunks on the split's side`);
  }
  for (const mode of MODES) {
    const rows = readJsonl<EnvRow>(path.join(out, "env", mode, "rows.jsonl"));
    const corpus = readJsonl(path.join(out, "search-r1", `corpus-${mode}.jsonl`));
    assert.equal(corpus, rows.map((r) => ({ id: r.row_id, contents: `"${r.chunk_id}"\n${r.text}`, chunk_id: r.chunk_id, kind: r.kind })), mode);
  }
});

test("verl: train and test.parquet in preprocess_search_r1_dataset.py's columns, the tool-calling prompt, tools_kwargs; a tool config pointing at kit serve", async () => {
  const out = hf("main");
  const groundTruth = 'STRUCT("target" VARCHAR[])';
  const want: [string, string][] = [
    ["data_source", "VARCHAR"],
    ["prompt", PROMPT_TYPE],
    ["ability", "VARCHAR"],
    ["reward_model", `STRUCT(style VARCHAR, ground_truth ${groundTruth})`],
    [
      "extra_info",
      `STRUCT("index" BIGINT, need_tools_kwargs BOOLEAN, question VARCHAR, split VARCHAR, tools_kwargs STRUCT("search" STRUCT(create_kwargs STRUCT(ground_truth ${groundTruth}, question VARCHAR, data_source VARCHAR))))`,
    ],
    ["metadata", "STRUCT(chunk_id VARCHAR, supporting_chunk_ids VARCHAR[])"],
  ];
  for (const split of SPLITS) {
    const file = path.join(out, "verl", `${split}.parquet`);
    assert.equal(await columnTypes(file, true), want, file);
    const questions = await configRows(out, "questions", split);
    const expected = questions.map((q, index) => {
      const ground_truth = { target: [q.answer] };
      return {
        data_source: "searchR1_nq",
        prompt: q.prompt,
        ability: "fact-reasoning",
        reward_model: { style: "rule", ground_truth },
        extra_info: { index: String(index), need_tools_kwargs: true, question: q.question, split, tools_kwargs: { search: { create_kwargs: { ground_truth, question: q.question, data_source: "searchR1_nq" } } } },
        metadata: { chunk_id: q.chunk_id, supporting_chunk_ids: [q.chunk_id] },
      };
    });
    assert.equal(await parquetRows([file]), expected, file);
  }
  // The prompt asks for the search tool, not for a tag protocol the tool loop would not run.
  assert.not.match(SEARCH_AGENT_PROMPT, "<search>");
  assert.match(SEARCH_AGENT_PROMPT, "search tool");
  const config = parseYaml(fs.readFileSync(path.join(out, "verl", "search_tool_config.yaml"), "utf8"));
  assert.is(config.tools[0].class_name, "verl.tools.search_tool.SearchTool");
  assert.is(config.tools[0].config.retrieval_service_url, "http://127.0.0.1:8000/retrieve");
  assert.is(config.tools[0].tool_schema.function.name, "search");
  assert.equal(config.tools[0].tool_schema.function.parameters.required, ["query_list"]);
});

// ---------------------------------------------------------------- measured difficulty

test("gold_rank_<mode> is the gold chunk's rank under kit search, and measured_difficulty buckets the paraphrased one", async () => {
  const out = hf("main");
  const rows = await parquetRows(filesOf(out, "data/questions/*"), "id, question, chunk_id, difficulty, measured_difficulty, gold_rank_original, gold_rank_paraphrased, gold_rank_merged");
  const queries = rows.map((r) => ({ id: r.id, text: r.question }));
  for (const mode of MODES) {
    const hits = kitSearch(mode, queries, 20);
    const ranks = rows.map((r) => {
      const at = hits.get(r.id)!.findIndex((h) => h.chunk_id === r.chunk_id);
      return at < 0 ? null : at + 1;
    });
    assert.equal(rows.map((r) => r[`gold_rank_${mode}`]), ranks, `gold_rank_${mode}`);
    assert.ok(ranks.some((r) => r !== null), `the gold chunks are found, so the check compares ranks: ${ranks}`);
  }
  const bucket = (rank: number | null) => (rank === 1 ? "easy" : rank !== null && rank <= 5 ? "medium" : "hard");
  assert.equal(rows.map((r) => r.measured_difficulty), rows.map((r) => bucket(r.gold_rank_paraphrased)));
  assert.equal([1, 2, 5, 6, 20, null].map(bucketOf), ["easy", "medium", "medium", "hard", "hard", "hard"]);
  // The card's table: measured difficulty by the generator's label.
  const { prose } = readCard(out);
  const header = /\| measured \\ labelled \| (.*) \|\n/.exec(prose);
  assert.ok(header, "the card has the difficulty table");
  const labels = header![1].split(" | ");
  for (const b of ["easy", "medium", "hard"]) {
    const counts = labels.map((l) => rows.filter((r) => r.measured_difficulty === b && r.difficulty === l).length);
    assert.match(prose, `| ${b} | ${counts.join(" | ")} |\n`);
  }
  assert.is(labels.length, new Set([...labels, ...rows.map((r) => r.difficulty)]).size, "every label has a column");
});

// ---------------------------------------------------------------- rewards.py

type RewardCase = { retrieval: [string, string[]]; k?: number; discount?: Discount } | { allChunks: [string[], string[]]; k?: number; discount?: Discount } | { answer: [string, string] };

/** Each case's reward from lib/reward.ts and from the exported rewards.py ("error" where they refuse the input). */
function rewardsOfBoth(cases: RewardCase[]): { js: (number | string)[]; py: (number | string)[] } {
  const js = cases.map((c) => {
    try {
      if ("retrieval" in c) return retrievalReward(c.retrieval[0], c.retrieval[1], { k: c.k, discount: c.discount });
      return "allChunks" in c ? allChunksReward(c.allChunks[0], c.allChunks[1], { k: c.k, discount: c.discount }) : exactAnswerReward(...c.answer);
    } catch (err) {
      assert.instance(err, KitError);
      return "error";
    }
  });
  const script = [
    "import json, sys",
    "sys.path.insert(0, sys.argv[1])",
    "import rewards",
    "def reward(c):",
    "    try:",
    "        if 'retrieval' in c:",
    "            return rewards.retrieval_reward(*c['retrieval'], **{k: c[k] for k in ('k', 'discount') if k in c})",
    "        if 'allChunks' in c:",
    "            return rewards.all_chunks_reward(*c['allChunks'], **{k: c[k] for k in ('k', 'discount') if k in c})",
    "        return rewards.exact_answer_reward(*c['answer'])",
    "    except ValueError:",
    "        return 'error'",
    "print(json.dumps([reward(c) for c in json.load(sys.stdin)]))",
  ].join("\n");
  return { js, py: python(script, cases, [hf("main")]) };
}

/** Non-printable and non-ASCII characters as \uXXXX escapes, for messages. */
const ascii = (text: string) => text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

function assertRewardsAgree(cases: RewardCase[]): void {
  const { js, py } = rewardsOfBoth(cases);
  const disagree = cases.flatMap((c, i) => {
    const same = typeof js[i] === "number" && typeof py[i] === "number" ? Math.abs((js[i] as number) - (py[i] as number)) < 1e-12 : js[i] === py[i];
    return same ? [] : [`${ascii(JSON.stringify(c))}: lib/reward.ts ${js[i]}, rewards.py ${py[i]}`];
  });
  assert.ok(!disagree.length, `rewards.py disagrees with lib/reward.ts on ${disagree.length} of ${cases.length} cases:\n${disagree.join("\n")}`);
}

test("rewards.py gives lib/reward.ts's rewards, case by case", () => {
  const cases: RewardCase[] = [
    { retrieval: ["chunk_3", ["chunk_3", "chunk_1"]] },
    { retrieval: ["chunk_3", ["chunk_1", "chunk_3"]] },
    { retrieval: ["chunk_3", ["chunk_1", "chunk_3"]], k: 2 },
    { retrieval: ["chunk_3", ["chunk_1", "chunk_2", "chunk_3"]], k: 2 },
    { retrieval: ["chunk_3", ["chunk_1", "chunk_3"]], k: 2, discount: "reciprocal" },
    { retrieval: ["chunk_3", ["chunk_1", "chunk_2", "chunk_4", "chunk_3"]], discount: "reciprocal" },
    { retrieval: ["chunk_3", ["chunk_1", "chunk_3"]], discount: "log2" },
    { retrieval: ["chunk_3", ["chunk_1", "chunk_2", "chunk_3"]], k: 2, discount: "log2" },
    { retrieval: ["chunk_3", []] },
    { retrieval: ["chunk_3", ["Chunk_3"]] },
    { retrieval: ["Apollo  13\nlaunch", [" Apollo 13\tlaunch "]] },
    { retrieval: ["ﬁle Ａ１３", ["file A13"]] },
    { retrieval: ["chunk_3", ["chunk_3"]], k: 0 },
    { retrieval: ["chunk_3", ["chunk_3"]], discount: "square" as Discount },
    { retrieval: ["  ", ["chunk_3"]] },
    { answer: ["The Moon", "moon"] },
    { answer: ["an apple", "the Apple"] },
    { answer: ["moonbase", "moon"] },
    { answer: ["theory", "ory"] },
    { answer: ['"Aquarius!"', "aquarius"] },
    { answer: ["O'Brien", "OBrien"] },
    { answer: ["  Jim\n  Lovell ", "jim lovell"] },
    { answer: ["1,000", "1000"] },
    { answer: ["1,000 kg", "1000 kg"] },
    { answer: ["4,000.5", "4000.5"] },
    { answer: ["3.5", "3.5"] },
    { answer: ["3.5", "35"] },
    { answer: ["3.5.", "3.5"] },
    { answer: ["50%", "50"] },
    { answer: ["50 %", "50%"] },
    { answer: ["$5", "5"] },
    { answer: ["2:30 p.m.", "230 pm"] },
    { answer: ["１２０", "120"] },
    { answer: ["ﬁve", "five"] },
    { answer: ["Ångström", "ångström"] },
    { answer: ["café", "cafe"] },
    { answer: ["ΟΔΟΣ", "οδος"] },
    { answer: ["«Odyssey»", "odyssey"] },
    { answer: ["", "moon"] },
    { answer: ["moon", " "] },
  ];
  const { js } = rewardsOfBoth(cases);
  // The cases mean something: both rewards and refusals among them.
  assert.ok([0, 1, 0.5, "error"].every((v) => js.includes(v)), JSON.stringify(js));
  assertRewardsAgree(cases);
});

test("rewards.py's all_chunks_reward gives lib/reward.ts's allChunksReward, case by case", () => {
  const cases: RewardCase[] = [
    { allChunks: [["chunk_1", "chunk_6"], ["chunk_6", "chunk_1"]] },
    { allChunks: [["chunk_1", "chunk_6"], ["chunk_6", "chunk_3", "chunk_1"]] },
    { allChunks: [["chunk_1", "chunk_6"], ["chunk_6", "chunk_3", "chunk_1"]], k: 3 },
    { allChunks: [["chunk_1", "chunk_6"], ["chunk_6", "chunk_3", "chunk_1"]], discount: "reciprocal" },
    { allChunks: [["chunk_1", "chunk_6"], ["chunk_6", "chunk_3", "chunk_2", "chunk_1"]], discount: "log2" },
    { allChunks: [["chunk_1", "chunk_6"], ["chunk_6", "chunk_3", "chunk_2", "chunk_1"]], k: 3, discount: "log2" },
    { allChunks: [["chunk_1", "chunk_6"], ["chunk_1", "chunk_1", "chunk_3"]], k: 3 },
    { allChunks: [["chunk_1", "chunk_6", "chunk_9"], ["chunk_9", "chunk_6", "x", "chunk_1"]], discount: "reciprocal" },
    { allChunks: [["chunk_1", " chunk_1\u00a0"], ["chunk_1"]] },
    { allChunks: [["chunk_1"], ["chunk_2", "chunk_1"]], discount: "reciprocal" },
    { allChunks: [["chunk_1", "chunk_6"], []] },
    { allChunks: [["chunk_1", "chunk_6"], ["chunk_6", "chunk_1"]], k: 0 },
    { allChunks: [["chunk_1", "chunk_6"], ["chunk_6", "chunk_1"]], discount: "square" as Discount },
    { allChunks: [[], ["chunk_1"]] },
    { allChunks: [["chunk_1", "  "], ["chunk_1"]] },
  ];
  const { js } = rewardsOfBoth(cases);
  assert.ok([0, 1, 2 / 3, "error"].every((v) => js.includes(v)), JSON.stringify(js));
  assertRewardsAgree(cases);
});

test("rewards.py counts as whitespace what lib/reward.ts does (BOM, NEL, information separators)", () => {
  assertRewardsAgree([
    { answer: ["\ufeff42", "42"] },
    { answer: ["42\u0085", "42"] },
    { answer: ["42\u001f", "42"] },
    { answer: ["Jim\u001fLovell", "jim lovell"] },
    { retrieval: ["chunk_3", ["chunk_3\ufeff"]] },
    { retrieval: ["chunk_3", ["\u0085chunk_3"]] },
  ]);
});

test("rewards.py's TRL reward functions read multi-turn completions (tool calls, tool results) and TRL's keyword arguments", () => {
  const script = [
    "import json, sys",
    "sys.path.insert(0, sys.argv[1])",
    "from rewards import answer_reward, search_reward",
    "data = json.load(sys.stdin)",
    "class Env:",
    "    def __init__(self, retrieved): self.retrieved = retrieved",
    // TRL passes prompts, completions, completion_ids, trainer_state, log_extra, log_metric and the dataset's columns.
    "common = dict(prompts=None, completion_ids=None, trainer_state=None, log_extra=None, log_metric=None, question=['q'] * 6)",
    "print(json.dumps([",
    "    answer_reward(data['completions'], answer=data['answer'], **common),",
    "    search_reward(data['completions'], chunk_id=data['chunk_id'], supporting_chunk_ids=data['supporting'], **common),",
    "    search_reward(data['completions'], chunk_id=data['chunk_id'], **common),",
    "    search_reward(data['completions'], chunk_id=data['chunk_id'], supporting_chunk_ids=data['supporting'], environments=[Env(r) for r in data['retrieved']], **common),",
    "]))",
  ].join("\n");
  const call = (query: string) => ({ role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "search", arguments: { query } } }] });
  const tool = (...ids: string[]) => ({ role: "tool", name: "search", content: ids.map((id, i) => `Doc ${i + 1}(Title: "${id}") text of ${id} <answer> decoy </answer>\n`).join("") });
  const completions = [
    [call("commander"), tool("chunk_2", "chunk_1"), { role: "assistant", content: "<answer> James A. Lovell </answer>" }],
    [call("a"), tool("chunk_9"), call("b"), tool("chunk_3", "chunk_2"), { role: "assistant", content: "<answer>1,000</answer> no: <answer> 2,000 </answer>" }],
    [{ role: "assistant", content: "I could not find it." }],
    [call("moon"), tool(), { role: "assistant", content: "<answer>\nthe Moon\n</answer>" }],
    "<answer>Aquarius</answer>",
    [call("x"), tool("chunk_1"), { role: "assistant", content: null }],
  ];
  const answer = ["james a lovell", "2000", "Houston", "moon", "aquarius", "x"];
  const chunkId = ["chunk_1", "chunk_2", "chunk_1", "chunk_4", "chunk_5", "chunk_1"];
  const supporting = [["chunk_1"], ["chunk_9", "chunk_2"], ["chunk_1"], ["chunk_4"], ["chunk_5"], ["chunk_7", "chunk_1"]];
  const retrieved = [["chunk_2", "chunk_1"], ["chunk_9", "chunk_3", "chunk_2"], [], [], [], ["chunk_1"]];
  const [answers, searches, single, fromEnvironments] = python(script, { completions, answer, chunk_id: chunkId, supporting, retrieved }, [hf("main")]);
  // The answer is the model's last one; tool results are not the model's.
  assert.equal(answers, [1, 1, 0, 1, 1, 0]);
  assert.equal(searches, [1, 1, 0, 0, 0, 0]);
  assert.equal(searches, retrieved.map((ids, i) => (ids.length ? allChunksReward(supporting[i], ids, { k: ids.length }) : 0)));
  assert.equal(single, [1, 1, 0, 0, 0, 1], "without supporting_chunk_ids, chunk_id is the gold chunk");
  assert.equal(fromEnvironments, searches, "the environments' records give the same rewards");
});

// ---------------------------------------------------------------- options

test("--prompt-template: a template without {question} is the system message, one with it a single user message; --name and --data-source reach the card, search-r1 and verl", async () => {
  const template = (name: string, text: string) => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const system = "You are a careful research assistant.\nSearch with <search> query </search>; answer in <answer> </answer>.";
  const oneMessage = "Answer this question by searching: {question}\nThe question again: {question}";
  await exportTo("template-system", { promptTemplate: template("system.md", `\n  ${system}\n\n`), name: "someone/apollo-13", dataSource: "nq" });
  await exportTo("template-user", { promptTemplate: template("user.md", `${oneMessage}\n`) });
  const prompts = async (name: string) => (await configRows(hf(name), "questions", "train", "question, prompt")).concat(await configRows(hf(name), "questions", "test", "question, prompt"));

  const systemRows = await prompts("template-system");
  assert.ok(systemRows.length > 0);
  for (const { question, prompt } of systemRows) assert.equal(prompt, [{ role: "system", content: system }, { role: "user", content: question }]);
  const userRows = await prompts("template-user");
  assert.is(userRows.length, systemRows.length);
  for (const { question, prompt } of userRows) assert.equal(prompt, [{ role: "user", content: oneMessage.split("{question}").join(question) }]);
  // The template is the questions' alone: the recovery task keeps its own instructions.
  const [recovery] = await configRows(hf("template-user"), "recovery", "train", "prompt");
  assert.is(recovery.prompt[0].content, RECOVERY_PROMPT);
  // verl carries the same prompts; search-r1 keeps Search-R1's own.
  const verl = await parquetRows([path.join(hf("template-user"), "verl", "train.parquet")], "prompt");
  assert.equal(verl.map((r) => r.prompt), (await configRows(hf("template-user"), "questions", "train", "prompt")).map((r) => r.prompt));

  const { front, prose } = readCard(hf("template-system"));
  assert.is(front.pretty_name, "someone/apollo-13");
  assert.match(prose, 'load_dataset("someone/apollo-13", "questions")');
  assert.match(prose, "`data_source` `nq`");
  const [row] = await parquetRows([path.join(hf("template-system"), "verl", "test.parquet")], "data_source, extra_info.tools_kwargs.search.create_kwargs.data_source AS tool_source");
  assert.equal(row, { data_source: "searchR1_nq", tool_source: "searchR1_nq" });
});

test("a {question} template takes the question verbatim, $ signs and all", async () => {
  const dir = copyDataset("dollars");
  editJsonl<Question>(path.join(dir, "questions.jsonl"), (q) => (q.status === "accepted" ? { ...q, question: `${q.question} Was it $$5, $& or $' more?` } : q));
  const file = path.join(tmp, "dollars.md");
  fs.writeFileSync(file, "Question: {question} Search first.");
  const out = hf("dollars");
  await exportDataset({ dataset: dir, out, promptTemplate: file, ...SPLIT });
  const rows = [...(await configRows(out, "questions", "train", "question, prompt")), ...(await configRows(out, "questions", "test", "question, prompt"))];
  assert.ok(rows.length > 0);
  for (const { question, prompt } of rows) assert.equal(prompt, [{ role: "user", content: `Question: ${question} Search first.` }]);
});

test("--force updates an earlier export in place (test/export-in-place.test.ts), but never writes into a folder without .kit-export", async () => {
  const out = hf("forced");
  await exportTo("forced");
  assert.is(await kitError(() => exportTo("forced")), `${out} already exists; pass --force to replace it`);
  fs.writeFileSync(path.join(out, "stale.txt"), "from before");
  await exportTo("forced", { force: true });
  assert.ok(fs.existsSync(path.join(out, "stale.txt")), "a file the kit did not write is kept");
  assert.ok(fs.existsSync(path.join(out, "README.md")) && fs.existsSync(path.join(out, ".kit-export")));
  assert.equal(leftovers(out), [], "no temp folder left behind");

  const mine = hf("not-an-export");
  fs.mkdirSync(mine, { recursive: true });
  fs.writeFileSync(path.join(mine, "keep.txt"), "mine");
  assert.is(await kitError(() => exportTo("not-an-export", { force: true })), `${mine} is not a kit export (it has no .kit-export), so --force will not replace it; choose another --out`);
  assert.equal(fs.readdirSync(mine), ["keep.txt"], "nothing written");
  assert.is(fs.readFileSync(path.join(mine, "keep.txt"), "utf8"), "mine");
  assert.equal(leftovers(mine), []);

  assert.match(await kitError(() => exportDataset({ dataset, out: tmp, force: true })), "would replace the dataset folder");
  assert.ok(fs.existsSync(path.join(dataset, "chunks.jsonl")));
});

test("a missing file names the kit build stage that writes it, and nothing is written", async () => {
  const cases: [string, string][] = [
    ["chunks.jsonl", "the chunk stage"],
    ["questions.jsonl", "the questions stage"],
    ["paraphrases.jsonl", "the paraphrase stage"],
    ["faiss_index", "the index stage"],
    ["env/original", "the environments stage"],
    ["env/paraphrased", "the environments stage"],
    ["env/merged", "the environments stage"],
    // The seed's files, which a dataset built before kit 0.3 lacks.
    ["chunks.pkl", "the chunk stage"],
    ["questions.json", "the questions stage"],
    ["faiss_index/index.pkl", "the index stage"],
  ];
  for (const [file, stage] of cases) {
    const name = `missing-${file.replaceAll("/", "-")}`;
    const dir = copyDataset(name);
    fs.rmSync(path.join(dir, file), { recursive: true });
    assert.is(await kitError(() => exportDataset({ dataset: dir, out: hf(name) })), `${dir} has no ${file}; it is written by ${stage} of kit build: run kit build --out ${dir} again`);
    assert.not.ok(fs.existsSync(hf(name)));
    assert.equal(leftovers(hf(name)), []);
  }
  const dir = copyDataset("missing-build.json");
  fs.rmSync(path.join(dir, "build.json"));
  assert.is(await kitError(() => exportDataset({ dataset: dir, out: hf("missing-build.json") })), `${dir} has no build.json: it is not a dataset folder, or its first build never finished; run kit build --corpus CORPUS --out ${dir}`);
});

test("an index made by another embedder than build.json names is refused", async () => {
  const dir = copyDataset("other-embedder");
  const buildFile = path.join(dir, "build.json");
  const build = readJson(buildFile);
  build.parameters.embedder = "use-lite";
  fs.writeFileSync(buildFile, JSON.stringify(build));
  const message = await kitError(() => exportDataset({ dataset: dir, out: hf("other-embedder") }));
  assert.is(message, `index ${path.join(dir, "faiss_index")} was built with embedder ${EMBEDDER} but build.json says use-lite; rebuild the dataset with kit build --out ${dir} --embedder use-lite`);
  assert.not.ok(fs.existsSync(hf("other-embedder")));
});

test("paraphrases judged unfaithful are left out of paraphrases and recovery, and counted in the card", async () => {
  const dir = copyDataset("verdicts");
  const file = path.join(dir, "paraphrases.jsonl");
  // Judged by a model: the card does not say what the rules alone miss.
  const buildFile = path.join(dir, "build.json");
  fs.writeFileSync(buildFile, JSON.stringify({ ...readJson(buildFile), judge: "ollama:bespoke-minicheck" }));
  editJsonl<any>(file, (p, i) => ({ ...p, verdict: ["faithful", "unfaithful", "unchecked"][i % 3], reasons: i % 3 === 1 ? ["adds a fact"] : [] }));
  const rows = readJsonl<any>(file);
  const out = hf("verdicts");
  const result = await exportDataset({ dataset: dir, out });
  const kept = rows.filter((r) => r.verdict !== "unfaithful");
  const total = (name: string) => result.configs.find((c) => c.name === name)!.splits.reduce((n, s) => n + s.rows, 0);
  assert.is(total("paraphrases"), kept.length);
  assert.is(total("recovery"), kept.length);
  const verdicts = await query(`SELECT verdict, count(*)::INTEGER AS n FROM read_parquet('${out}/data/paraphrases/*.parquet') GROUP BY verdict ORDER BY verdict`);
  assert.equal(verdicts, [
    { verdict: "faithful", n: rows.filter((r) => r.verdict === "faithful").length },
    { verdict: "unchecked", n: rows.filter((r) => r.verdict === "unchecked").length },
  ]);
  const recoveryIds = (await query(`SELECT id FROM read_parquet('${out}/data/recovery/*.parquet') ORDER BY id`)).map((r) => r.id);
  assert.equal(recoveryIds, kept.map((p) => p.paraphrase_id).sort());
  const { prose } = readCard(out);
  assert.match(prose, `| paraphrase verdict: unfaithful | ${rows.length - kept.length} |`);
  assert.not.match(prose, "The rules alone");
  const merged = readJson(path.join(dir, "env/merged/manifest.json"));
  assert.match(prose, `- \`env/merged\`: ${merged.rows} rows, the chunks, plus every kept paraphrase as a distractor; ${merged.coverage.by_paraphrase} of ${merged.coverage.chunks} chunks appear through a kept paraphrase.`);
});

test("one verdict for one build: the build summary, build.json, report.html, kit export's output and the card's first section", () => {
  const verdict = readJson(path.join(dataset, "build.json")).verdict;
  assert.is(verdict.tier, "smoke test only", "a builtin build of an Apollo slice");
  assert.equal(main.verdict, verdict);
  const lines = [...verdictLines(verdict), ...tierWarning(verdict)];
  assert.ok(summary.endsWith(`\n${lines.join("\n")}\n`), summary);
  const output = formatExport(main).split("\n");
  assert.equal(output.slice(-lines.length), lines);
  assert.match(output.at(-1)!, /^warning: this dataset is a smoke test only; to train on it, lift it with .*an LLM generator \(--llm ollama:<model>\)/);
  assert.match(fs.readFileSync(path.join(dataset, "report.html"), "utf8"), '<p class="lead warn-text">Smoke test only: the pipeline ran');
  const { prose } = readCard(hf("main"));
  const first = prose.split("\n## ")[1];
  assert.match(first, /^Can I train on this\?\n\n\*\*Smoke test only\*\*: the pipeline ran, but a search agent trained on this would learn little\./);
  assert.is(first.split("\n").filter((l: string) => l.startsWith("- Warning: ")).length, verdict.reasons.length);
  assert.is(first.split("\n").filter((l: string) => l.startsWith("- OK: ")).length, verdict.passed.length);
});

test("with no paraphrase kept the questions still export: recovery and paraphrases are left out, and the output and the card say so", async () => {
  const dir = copyDataset("no-paraphrase");
  editJsonl<any>(path.join(dir, "paraphrases.jsonl"), (p) => ({ ...p, verdict: "hallucinated", reasons: ["adds a fact"] }));
  const out = hf("no-paraphrase");
  const result = await exportDataset({ dataset: dir, out });
  assert.equal(result.configs.map((c) => c.name), ["questions", "chunks"]);
  assert.not.ok(fs.existsSync(path.join(out, "data/recovery")));
  assert.not.ok(fs.existsSync(path.join(out, "data/paraphrases")));
  const notice = `${path.join(dir, "paraphrases.jsonl")} has no paraphrase judged faithful: the recovery and paraphrases configs are left out (the questions, chunks, environments and layouts are exported; rezero/paragraphs_noise.csv holds no rows); rebuild with an LLM generator (--llm ollama:<model>) for paraphrases`;
  assert.equal(result.notices, [notice]);
  assert.match(formatExport(result), `\n${notice}\n`);
  const exported = (await query(`SELECT count(*)::INTEGER AS n FROM read_parquet('${out}/data/questions/*.parquet')`))[0].n;
  assert.is(exported, acceptedQuestions().length - result.crossing);
  // The layouts that read paraphrases are still whole: a header-only noise file, every environment.
  assert.is(fs.readFileSync(path.join(out, "rezero/paragraphs_noise.csv"), "utf8"), "chunk_id,original_paragraph,paraphrased_text\n");
  for (const file of Object.values(result.layouts).flat()) assert.ok(fs.existsSync(path.join(out, file)), file);
  for (const mode of MODES) assert.ok(fs.existsSync(path.join(out, "env", mode, "index.faiss")), mode);
  const { front, prose } = readCard(out);
  assert.equal(front.configs.map((c: any) => c.config_name), ["questions", "chunks"]);
  assert.match(prose, "No paraphrase was judged faithful, so this export has no `recovery` or `paraphrases` config and `rezero/paragraphs_noise.csv` holds no rows; a build with an LLM generator (`--llm ollama:<model>`) has them.");
  assert.match(prose, `| paraphrase verdict: hallucinated | ${readJsonl(path.join(dir, "paraphrases.jsonl")).length} |`);
});

test("bad options are one-line errors, and nothing is written", async () => {
  const out = hf("bad");
  const empty = path.join(tmp, "empty.md");
  fs.writeFileSync(empty, " \n");
  const cases: [Partial<ExportOptions>, string][] = [
    [{ testFraction: 1 }, "test fraction must be at least 0 and below 1, got 1"],
    [{ testFraction: Number.NaN }, "test fraction must be at least 0 and below 1, got NaN"],
    [{ rowsPerShard: 0 }, "rows per shard must be an integer >= 1, got 0"],
    [{ blockChunks: 0 }, "chunks per split block must be an integer >= 1, got 0"],
    [{ seed: 1.5 }, "seed must be an integer, got 1.5"],
    [{ dataSource: "nq; rm" }, '--data-source "nq; rm" must be letters, digits and _ . : / - (e.g. searchR1_nq)'],
    [{ promptTemplate: path.join(tmp, "no-such.md") }, `prompt template ${path.join(tmp, "no-such.md")}: cannot read it`],
    [{ promptTemplate: empty }, `prompt template ${empty} is empty`],
    [{ dataset: path.join(tmp, "nope") }, `dataset folder ${path.join(tmp, "nope")} does not exist; make it with kit build`],
  ];
  for (const [options, message] of cases) {
    assert.match(await kitError(() => exportTo("bad", options)), message);
    assert.not.ok(fs.existsSync(out), `${JSON.stringify(options)}: nothing written`);
    assert.equal(leftovers(out), []);
  }
});

test.run();
