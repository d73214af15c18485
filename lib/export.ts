import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as arrow from "apache-arrow";
import { Compression, Table as ParquetTable, WriterPropertiesBuilder, writeParquet } from "parquet-wasm";
import { stringify as toYaml } from "yaml";
import type { BuildRecord } from "./build";
import type { Chunk } from "./chunking";
import { KitError } from "./errors";
import { readJsonl, writeFileAtomic } from "./files";
import { type CheckedParaphrase, KEPT_VERDICTS, verdictOf } from "./paraphrase";
import type { Question } from "./questions";
import { type EnvManifest, type EnvRow, MODES } from "./environment";
import { loadIndex } from "./vector-index";

export interface ExportOptions {
  /** Dataset folder written by kit build. */
  dataset: string;
  /** Folder to write the Hugging Face dataset repo into. */
  out: string;
  /** Share of chunks whose questions and paraphrases go to the test split. Default 0.1. */
  testFraction?: number;
  /** Seed of the chunk shuffle that picks the test chunks. Default 42. */
  seed?: number;
  /** Most rows in one parquet file. Default 100,000. */
  rowsPerShard?: number;
  /** Replace an existing `out`. */
  force?: boolean;
  /** The dataset's name in the card, and the path or repo id in its loading example. Default: out's folder name. */
  name?: string;
  /** Hub license identifier for the card. Default "unknown": the card then asks for it to be set. */
  license?: string;
}

export interface ExportedSplit {
  name: "train" | "test";
  rows: number;
  /** Parquet files, relative to the export folder. */
  files: string[];
}

export interface ExportResult {
  out: string;
  configs: { name: ConfigName; splits: ExportedSplit[] }[];
  chunks: number;
  testChunks: number;
  /** Rows left out, by reason (build failures, then the export's own filters). */
  removed: Record<string, number>;
}


type ConfigName = "questions" | "paraphrases" | "chunks";
type Dtype = "string" | "int32" | "list<string>";
interface Column {
  name: string;
  dtype: Dtype;
  nullable?: boolean;
}

const QUESTION_COLUMNS: Column[] = [
  { name: "id", dtype: "string" },
  { name: "question", dtype: "string" },
  { name: "answer", dtype: "string" },
  { name: "chunk_id", dtype: "string" },
  { name: "difficulty", dtype: "string" },
  { name: "window", dtype: "list<string>" },
  { name: "model", dtype: "string" },
  { name: "prompt_version", dtype: "string" },
];
const PARAPHRASE_COLUMNS: Column[] = [
  { name: "paraphrase_id", dtype: "string" },
  { name: "chunk_id", dtype: "string" },
  { name: "paragraph_index", dtype: "int32", nullable: true },
  { name: "style", dtype: "string" },
  { name: "text", dtype: "string" },
  { name: "verdict", dtype: "string" },
  { name: "model", dtype: "string" },
];
const CHUNK_COLUMNS: Column[] = [
  { name: "chunk_id", dtype: "string" },
  { name: "text", dtype: "string" },
  { name: "source", dtype: "string" },
  { name: "start", dtype: "int32" },
  { name: "end", dtype: "int32" },
];

const COLUMNS: Record<ConfigName, Column[]> = { questions: QUESTION_COLUMNS, paraphrases: PARAPHRASE_COLUMNS, chunks: CHUNK_COLUMNS };

/** The kit build stage that writes each file of a dataset folder, for errors about a missing one. */
const WRITTEN_BY: Record<string, string> = {
  "chunks.jsonl": "the chunk stage",
  "faiss_index": "the index stage",
  "questions.jsonl": "the questions stage",
  "paraphrases.jsonl": "the paraphrase stage",
  "env/original": "the environments stage",
  "env/paraphrased": "the environments stage",
  "env/merged": "the environments stage",
  "build.json": "the last step",
};
const INDEX_FOLDERS = ["faiss_index", ...MODES.map((mode) => `env/${mode}`)];

/** The path of `name` in a dataset folder; a one-line error naming the kit build stage that makes it when it is missing. */
export function datasetFile(dataset: string, name: string): string {
  const file = path.join(dataset, name);
  if (!fs.existsSync(file)) throw new KitError(`${dataset} has no ${name}; it is written by ${WRITTEN_BY[name]} of kit build: run kit build --out ${dataset} again`);
  return file;
}

/**
 * Which chunks are test chunks: the chunk ids ordered by a hash of (seed, id), the first
 * round(testFraction * n) taken. Deterministic for a seed, whatever the order of the input, and exact in size.
 */
export function testChunkIds(chunkIds: readonly string[], testFraction: number, seed: number): Set<string> {
  const key = (id: string) => createHash("sha256").update(`${seed}\u0000${id}`).digest("hex");
  const order = [...new Set(chunkIds)].map((id) => ({ id, key: key(id) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return new Set(order.slice(0, Math.round(testFraction * order.length)).map((o) => o.id));
}

/** Writes a dataset folder as a Hugging Face dataset repo: parquet configs, both FAISS indexes, and a dataset card. */
export function exportDataset(options: ExportOptions): ExportResult {
  const { dataset, testFraction = 0.1, seed = 42, rowsPerShard = 100_000, force = false, license = "unknown" } = options;
  const out = path.resolve(options.out);
  if (!(testFraction >= 0 && testFraction < 1)) throw new KitError(`test fraction must be at least 0 and below 1, got ${testFraction}`);
  if (!Number.isInteger(seed)) throw new KitError(`seed must be an integer, got ${seed}`);
  if (!Number.isInteger(rowsPerShard) || rowsPerShard < 1) throw new KitError(`rows per shard must be an integer >= 1, got ${rowsPerShard}`);
  if (!fs.existsSync(dataset) || !fs.statSync(dataset).isDirectory()) throw new KitError(`dataset folder ${dataset} does not exist; make it with kit build --out ${dataset}`);
  const within = path.relative(out, path.resolve(dataset));
  if (!within.startsWith("..") && !path.isAbsolute(within)) throw new KitError(`--out ${options.out} would replace the dataset folder ${dataset} itself; choose another folder, e.g. hf-export/NAME`);
  if (fs.existsSync(out) && !force) throw new KitError(`${options.out} already exists; pass --force to replace it`);

  const input = readDataset(dataset);
  const testIds = testChunkIds(input.chunks.map((c) => c.chunk_id), testFraction, seed);
  const split = (chunkId: string): ExportedSplit["name"] => (testIds.has(chunkId) ? "test" : "train");
  const accepted = input.questions.filter((q) => q.status === "accepted");
  if (!accepted.length) throw new KitError(`${path.join(dataset, "questions.jsonl")} has no accepted questions, so there is nothing to train on; rebuild with another --llm or more chunks`);
  const paraphrases = input.paraphrases.map((p) => ({ ...p, verdict: verdictOf(p) }));
  const kept = paraphrases.filter((p) => KEPT_VERDICTS.includes(p.verdict));
  if (!kept.length) throw new KitError(`${path.join(dataset, "paraphrases.jsonl")} has no paraphrase judged ${KEPT_VERDICTS.join(" or ")}; rebuild the paraphrases`);

  const removed: Record<string, number> = { ...input.build.failures };
  for (const p of paraphrases) {
    const filter = `paraphrase verdict: ${p.verdict}`;
    if (!KEPT_VERDICTS.includes(p.verdict)) removed[filter] = (removed[filter] ?? 0) + 1;
  }

  const bySplit = <T extends { chunk_id: string }>(rows: T[]) => ({ train: rows.filter((r) => split(r.chunk_id) === "train"), test: rows.filter((r) => split(r.chunk_id) === "test") });
  const plan: { name: ConfigName; file: string; idField: string; splits: Record<ExportedSplit["name"], readonly object[]> }[] = [
    { name: "questions", file: "questions.jsonl", idField: "id", splits: bySplit(accepted) },
    { name: "paraphrases", file: "paraphrases.jsonl", idField: "paraphrase_id", splits: bySplit(kept) },
    { name: "chunks", file: "chunks.jsonl", idField: "chunk_id", splits: { train: input.chunks, test: [] } },
  ];

  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const old = `${out}.old-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    const configs: ExportResult["configs"] = [];
    const bytes: Record<string, number> = {};
    for (const config of plan) {
      const splits: ExportedSplit[] = [];
      bytes[config.name] = 0;
      for (const name of ["train", "test"] as const) {
        const rows = config.splits[name];
        // An empty split (e.g. test with --test-fraction 0) is left out of the card rather than written as an empty file.
        if (!rows.length) continue;
        const shards = Math.ceil(rows.length / rowsPerShard);
        const files: string[] = [];
        for (let s = 0; s < shards; s++) {
          const file = `data/${config.name}/${name}-${pad(s)}-of-${pad(shards)}.parquet`;
          const table = arrowTable(COLUMNS[config.name], rows.slice(s * rowsPerShard, (s + 1) * rowsPerShard), path.join(dataset, config.file), config.idField);
          const parquet = toParquet(table);
          writeFileAtomic(path.join(tmp, file), parquet);
          bytes[config.name] += parquet.length;
          files.push(file);
        }
        splits.push({ name, rows: rows.length, files });
      }
      configs.push({ name: config.name, splits });
    }
    for (const folder of INDEX_FOLDERS) copyIndex(path.join(dataset, folder), path.join(tmp, folder));
    const result: ExportResult = { out, configs, chunks: input.chunks.length, testChunks: testIds.size, removed };
    const card = datasetCard({
      result,
      build: input.build,
      name: options.name ?? path.basename(out),
      license,
      testFraction,
      seed,
      bytes,
      questionModels: distinct(accepted.map((q) => q.model)),
      paraphraseModels: distinct(kept.map((p) => p.model)),
      questionCounts: countBy(input.questions.map((q) => q.status)),
      environments: input.environments,
    });
    writeFileAtomic(path.join(tmp, "README.md"), card);

    const replacing = fs.existsSync(out);
    if (replacing) fs.renameSync(out, old);
    try {
      fs.renameSync(tmp, out);
    } catch (e) {
      if (replacing) fs.renameSync(old, out);
      throw e;
    }
    fs.rmSync(old, { recursive: true, force: true });
    return result;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** One line per config for the CLI: rows per split and the folder written. */
export function formatExport(result: ExportResult): string {
  const configs = result.configs.map((c) => `${c.name} ${c.splits.map((s) => `${s.rows} ${s.name}`).join(" / ")}`);
  return `export: ${configs.join(" | ")} (${result.testChunks} of ${result.chunks} chunks in test) -> ${result.out}`;
}

interface DatasetInput {
  chunks: Chunk[];
  questions: Question[];
  paraphrases: CheckedParaphrase[];
  build: BuildRecord;
  environments: EnvManifest[];
}

/** Reads and cross-checks a dataset folder: every file present, ids consistent, indexes made by the build's embedder. */
function readDataset(dataset: string): DatasetInput {
  const chunksFile = datasetFile(dataset, "chunks.jsonl");
  const questionsFile = datasetFile(dataset, "questions.jsonl");
  const paraphrasesFile = datasetFile(dataset, "paraphrases.jsonl");
  for (const folder of INDEX_FOLDERS) datasetFile(dataset, folder);
  const buildFile = datasetFile(dataset, "build.json");
  let build: BuildRecord;
  try {
    build = JSON.parse(fs.readFileSync(buildFile, "utf8"));
  } catch {
    throw new KitError(`${buildFile} is not valid JSON; run kit build --out ${dataset} again`);
  }
  const embedder = build?.parameters?.embedder;
  if (typeof embedder !== "string") throw new KitError(`${buildFile} has no parameters.embedder; run kit build --out ${dataset} again`);

  const chunks = readJsonl<Chunk>(chunksFile);
  if (!chunks.length) throw new KitError(`${chunksFile} holds no chunks; run kit build --out ${dataset} again`);
  const chunkIds = new Set(chunks.map((c) => c.chunk_id));
  const questions = readJsonl<Question>(questionsFile);
  const paraphrases = readJsonl<CheckedParaphrase>(paraphrasesFile);
  const strayQuestion = questions.find((r) => !chunkIds.has(r.chunk_id));
  const strayParaphrase = paraphrases.find((r) => !chunkIds.has(r.chunk_id));
  const stray = strayQuestion ? ([questionsFile, `id ${strayQuestion.id}`, strayQuestion.chunk_id] as const) : strayParaphrase && ([paraphrasesFile, `paraphrase_id ${strayParaphrase.paraphrase_id}`, strayParaphrase.chunk_id] as const);
  if (stray) throw new KitError(`${stray[0]}: ${stray[1]} refers to chunk ${stray[2]}, which chunks.jsonl does not hold; the folder mixes two builds: run kit build --out ${dataset} again`);

  const environments: EnvManifest[] = [];
  for (const folder of INDEX_FOLDERS) {
    const dir = path.join(dataset, folder);
    const index = loadIndex(dir);
    if (index.manifest.embedder !== embedder) {
      throw new KitError(`index ${dir} was built with embedder ${index.manifest.embedder} but build.json says ${embedder}; rebuild the dataset with kit build --out ${dataset} --embedder ${embedder}`);
    }
    const rowChunks = folder === "faiss_index" ? index.ids : readJsonl<EnvRow>(path.join(dir, index.manifest.chunks ?? "rows.jsonl")).map((r) => r.chunk_id);
    const stray = rowChunks.find((id) => !chunkIds.has(id));
    if (stray !== undefined) throw new KitError(`index ${dir} maps a row to chunk ${stray}, which chunks.jsonl does not hold; run kit build --out ${dataset} again`);
    if (folder !== "faiss_index") environments.push(index.manifest as EnvManifest);
  }
  return { chunks, questions, paraphrases, build, environments };
}

/**
 * Copies an index folder. An environment's rows.jsonl comes along; the chunk index's manifest loses
 * `chunks`, whose chunks.jsonl stays behind (the chunks config holds them).
 */
function copyIndex(from: string, to: string): void {
  const manifest = JSON.parse(fs.readFileSync(path.join(from, "manifest.json"), "utf8"));
  fs.mkdirSync(to, { recursive: true });
  if (manifest.chunks && !manifest.chunks.includes("/")) fs.copyFileSync(path.join(from, manifest.chunks), path.join(to, manifest.chunks));
  else delete manifest.chunks;
  fs.copyFileSync(path.join(from, "index.faiss"), path.join(to, "index.faiss"));
  fs.copyFileSync(path.join(from, manifest.ids), path.join(to, manifest.ids));
  writeFileAtomic(path.join(to, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
}

const pad = (n: number) => String(n).padStart(5, "0");

function arrowType(dtype: Dtype): arrow.DataType {
  if (dtype === "string") return new arrow.Utf8();
  if (dtype === "int32") return new arrow.Int32();
  return new arrow.List(new arrow.Field("item", new arrow.Utf8(), true));
}

/** An Arrow table with exactly `columns`, each value checked against its type (a one-line error naming the row otherwise). */
function arrowTable(columns: readonly Column[], rows: readonly object[], file: string, idField: string): arrow.Table {
  const vectors: Record<string, arrow.Vector> = {};
  for (const column of columns) {
    const values = rows.map((r) => {
      const row = r as Record<string, unknown>;
      const value = row[column.name];
      const ok =
        column.dtype === "string"
          ? typeof value === "string"
          : column.dtype === "int32"
            ? (Number.isInteger(value) && Math.abs(value as number) < 2 ** 31) || (column.nullable === true && value === null)
            : Array.isArray(value) && value.every((v) => typeof v === "string");
      if (!ok) {
        const want = column.dtype === "list<string>" ? "a list of strings" : column.dtype === "int32" ? `a 32-bit integer${column.nullable ? " or null" : ""}` : "a string";
        throw new KitError(`${file}: ${idField} ${String(row[idField])}: "${column.name}" must be ${want}, got ${JSON.stringify(value) ?? "nothing"}; run kit build again`);
      }
      return value;
    });
    vectors[column.name] = arrow.vectorFromArray(values, arrowType(column.dtype));
  }
  return new arrow.Table(vectors);
}

function toParquet(table: arrow.Table): Uint8Array {
  const properties = new WriterPropertiesBuilder().setCompression(Compression.ZSTD).build();
  return writeParquet(ParquetTable.fromIPCStream(arrow.tableToIPC(table, "stream")), properties);
}

/** The Hub's `features` entry of a column. */
function feature(column: Column): Record<string, string> {
  return column.dtype === "list<string>" ? { name: column.name, sequence: "string" } : { name: column.name, dtype: column.dtype };
}

const distinct = (values: readonly string[]) => [...new Set(values)].sort();

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

/** How a generator is named in the card; the builtin one is not a language model and says so. */
const describeModel = (model: string) => (model === "builtin" ? "builtin (rule-based, no LLM)" : `\`${model}\``);

interface CardInput {
  result: ExportResult;
  build: BuildRecord;
  name: string;
  license: string;
  testFraction: number;
  seed: number;
  bytes: Record<string, number>;
  questionModels: string[];
  paraphraseModels: string[];
  questionCounts: Record<string, number>;
  environments: EnvManifest[];
}

/** README.md: Hub front matter (configs, features, split sizes) and how the data was made and is used. */
function datasetCard(c: CardInput): string {
  const { result, build } = c;
  const p = build.parameters;
  const frontMatter = {
    pretty_name: c.name,
    license: c.license,
    language: ["en"],
    task_categories: ["question-answering", "text-retrieval"],
    tags: ["grpo", "retrieval", "search-agent", "synthetic"],
    configs: result.configs.map((config) => ({
      config_name: config.name,
      ...(config.name === "questions" ? { default: true } : {}),
      data_files: config.splits.map((s) => ({ split: s.name, path: `data/${config.name}/${s.name}-*` })),
    })),
    dataset_info: result.configs.map((config) => ({
      config_name: config.name,
      features: COLUMNS[config.name].map(feature),
      splits: config.splits.map((s) => ({ name: s.name, num_examples: s.rows })),
      download_size: c.bytes[config.name],
    })),
  };
  const rows = (name: ConfigName) =>
    result.configs
      .find((x) => x.name === name)!
      .splits.map((s) => `${s.rows} ${s.name}`)
      .join(", ");
  const q = c.questionCounts;
  const removed = Object.entries(result.removed).sort((a, b) => b[1] - a[1]);
  const loadFrom = JSON.stringify(c.name.includes("/") ? c.name : `path/to/${c.name}`);
  const licenseNote =
    c.license === "unknown"
      ? "The license is not set (`license: unknown`): set it in the front matter to the corpus's license before publishing (the questions and paraphrases derive from the corpus)."
      : `License: \`${c.license}\`.`;
  const styles = Array.isArray(p.styles) ? (p.styles as string[]).join(", ") : String(p.styles);
  const envNote = (e: EnvManifest) => {
    const what = {
      original: "the chunks",
      paraphrased: `each chunk through its kept paraphrases; the ${e.coverage.by_original_only} chunks with none through their original text`,
      merged: "the chunks, plus every kept paraphrase as a distractor",
    }[e.mode];
    return `- \`env/${e.mode}\`: ${e.rows} rows, ${what}; ${e.coverage.by_paraphrase} of ${e.coverage.chunks} chunks appear through a kept paraphrase.`;
  };

  const prose = [
    `# ${c.name}`,
    "",
    `A dataset for training search agents with reinforcement learning (GRPO): questions whose short answers are in one chunk of a corpus, the chunks themselves, paraphrased chunks ("paraphrase as noise"), and FAISS indexes over both. Made with retrieval-dataset-kit ${build.kit_version} (\`kit build\`, then \`kit export\`).`,
    "",
    licenseNote,
    "",
    "## Configs",
    "",
    "| config | rows | columns |",
    "|---|---|---|",
    `| \`questions\` (default) | ${rows("questions")} | \`question\`, \`answer\` (short, no reasoning), \`chunk_id\` (the chunk holding the answer), \`difficulty\` (easy, medium, hard); provenance: \`id\`, \`window\` (the chunk ids the generator was shown), \`model\`, \`prompt_version\` |`,
    `| \`paraphrases\` | ${rows("paraphrases")} | \`paraphrase_id\`, \`chunk_id\` (the original chunk), \`paragraph_index\` (null: the whole chunk was paraphrased), \`style\`, \`text\`, \`verdict\` (faithfulness check: faithful, or unchecked), \`model\` |`,
    `| \`chunks\` | ${rows("chunks")} | \`chunk_id\`, \`text\`, \`source\`, \`start\`, \`end\` (character offsets into the loaded source) |`,
    "",
    `Splits are by chunk, so no chunk is on both sides: ${result.testChunks} of ${result.chunks} chunks, picked by a shuffle with seed ${c.seed} (test fraction ${c.testFraction}), are test chunks, and every question and paraphrase of a test chunk is in \`test\`. \`chunks\` holds every chunk in \`train\`: it is the corpus the agent searches.`,
    "",
    "## How it was made",
    "",
    `- Corpus: \`${path.basename(build.corpus)}\`, split into ${result.chunks} chunks of at most ${p.chunk_size} characters with ${p.chunk_overlap} characters of overlap (a recursive markdown splitter: headings, paragraphs, sentences).`,
    `- Embedder: \`${p.embedder}\`; FAISS index \`${p.factory}\` over L2-normalised vectors, scored by inner product (cosine).`,
    `- Questions: ${c.questionModels.map(describeModel).join(", ")}, ${p.questions_per_chunk} asked per chunk, each prompt showing the chunk with its neighbours; an answer must be found in the chunk it is attributed to.`,
    `- Paraphrases: ${c.paraphraseModels.map(describeModel).join(", ")}, styles ${styles}, ${p.paraphrases_per_style} per style and ${p.by_paragraph ? "paragraph" : "chunk"}.`,
    `- The build wrote ${q.accepted ?? 0} accepted questions, ${q.rejected ?? 0} rejected ones and ${q.failed ?? 0} chunks that got too few questions; only accepted questions are exported, and only paraphrases judged ${KEPT_VERDICTS.join(" or ")}.`,
    "",
    "Rows not kept, by filter:",
    "",
    "| filter | rows |",
    "|---|---|",
    ...(removed.length ? removed.map(([reason, n]) => `| ${reason.replace(/\|/g, "\\|")} | ${n} |`) : ["| (none) | 0 |"]),
    "",
    "## Loading",
    "",
    "```python",
    "from datasets import load_dataset",
    "",
    `questions = load_dataset(${loadFrom}, "questions")  # a local path to this folder, or the Hub repo id`,
    `chunks = load_dataset(${loadFrom}, "chunks", split="train")`,
    `paraphrases = load_dataset(${loadFrom}, "paraphrases")`,
    "```",
    "",
    `The indexes are standard FAISS files; \`ids.json\` maps each row to its chunk id, \`manifest.json\` names the embedder. Queries must be embedded with the same embedder (\`${p.embedder}\`) and L2-normalised:`,
    "",
    "```python",
    "import json, faiss",
    "",
    'index = faiss.read_index("faiss_index/index.faiss")',
    'row_to_chunk = json.load(open("faiss_index/ids.json"))',
    "scores, rows = index.search(query_vectors, 5)  # float32 array, one row per query",
    "hits = [[row_to_chunk[r] for r in row if r >= 0] for row in rows]",
    "```",
    "",
    "`faiss_index` has one row per chunk. Each `env/<mode>/` folder is a search environment: every chunk appears in every mode, and `rows.jsonl` gives each FAISS row (in `ids.json` order) its `row_id`, `chunk_id` (what a reward checks), `kind` (original or paraphrase), `paraphrase_id`, `style` and `text` (what the agent reads).",
    "",
    ...c.environments.map(envNote),
    "",
    "## Rewards",
    "",
    "The kit's reward functions (`lib/reward.ts`):",
    "",
    "```ts",
    'retrievalReward(target: string, retrieved: readonly string[], options?: { k?: number; discount?: "none" | "reciprocal" | "log2" }): number',
    "exactAnswerReward(predicted: string, gold: string): number",
    "```",
    "",
    "- `retrievalReward`: `target` is the question's `chunk_id` (or that chunk's text), `retrieved` the agent's search results, best first, as chunk ids (or texts); entries match when equal after Unicode NFKC normalisation and whitespace collapsing. By default 1 if the first result is the target, else 0; `k` rewards a hit anywhere in the top k; `discount` gives 1/rank (`reciprocal`) or 1/log2(rank + 1) (`log2`) for a hit at `rank`, over all results unless `k` is given.",
    "- `exactAnswerReward`: 1 if the predicted answer equals `answer` after lower-casing and removing punctuation (a decimal point between digits and % stay), the articles a/an/the, thousands separators and extra whitespace; else 0.",
    "- Malformed input (a non-string target, `retrieved` not an array, `k` < 1) throws.",
    "",
    "As reward functions for TRL's `GRPOTrainer` (which passes each dataset column as a keyword argument, one value per completion), a Python port looks like:",
    "",
    "```python",
    "from trl import GRPOTrainer",
    "",
    'def retrieval_reward(target: str, retrieved: list[str], k: int = 1, discount: str = "none") -> float: ...',
    "def exact_answer_reward(predicted: str, gold: str) -> float: ...",
    "",
    "def answer_reward(completions, answer: list[str], **kwargs) -> list[float]: ...  # exact_answer_reward per completion",
    "def search_reward(completions, chunk_id: list[str], **kwargs) -> list[float]: ...  # retrieval_reward of the chunks each rollout retrieved",
    "",
    'train = questions["train"].map(lambda r: {"prompt": [{"role": "user", "content": r["question"]}]})',
    "trainer = GRPOTrainer(model=model, reward_funcs=[answer_reward, search_reward], train_dataset=train)",
    "```",
    "",
  ];
  return `---\n${toYaml(frontMatter)}---\n\n${prose.join("\n")}`;
}
