import * as fs from "node:fs";
import * as path from "node:path";
import { KitError } from "../errors";
import { acquireLock, describeFsError, writeFileAtomic } from "../files";
import { type CheckedParaphrase, isKept, verdictOf } from "../paraphrase";
import type { Question } from "../questions";
import { type CardConfig, datasetCard } from "./card";
import { INDEX_FOLDERS, readDataset } from "./dataset";
import { checkOut, installExport, removeLeftovers, stagingDir } from "./in-place";
import { type Bucket, bucketOf, goldRanks } from "./difficulty";
import { arrowBytes, arrowTable, type Columns, int32, list, messages, string, toParquet } from "./parquet";
import { paraphraseOriginal } from "../quality";
import { writeAutoDidact } from "./autodidact";
import { chatPrompt, readTemplate, RECOVERY_TEMPLATE, SEARCH_AGENT_TEMPLATE, SEARCH_R1_TEMPLATE } from "./prompts";
import { writeReZero } from "./rezero";
import { DEFAULT_DATA_SOURCE, writeSearchR1 } from "./search-r1";
import { writeVerl } from "./verl";
import { blockSplit, DEFAULT_BLOCK_CHUNKS } from "./split";
import { recordVerdict, tierWarning, type Verdict, verdictLines } from "../verdict";

export { datasetFile } from "./dataset";
export { DEFAULT_DATA_SOURCE } from "./search-r1";

export interface ExportOptions {
  /** Dataset folder written by kit build. */
  dataset: string;
  /** Folder to write the Hugging Face dataset repo into. */
  out: string;
  /** Share of chunks whose questions and paraphrases go to the test split. Default 0.1. */
  testFraction?: number;
  /** Seed of the shuffle that picks the test blocks. Default 42. */
  seed?: number;
  /** Consecutive chunks in one block of the split. Default 16. */
  blockChunks?: number;
  /** Most rows in one parquet file. Default 100,000. */
  rowsPerShard?: number;
  /** Write into an existing export (or a fresh clone of a Hub repo); it is updated in place. */
  force?: boolean;
  /** Replace a README.md that is not the card the last export wrote (the user edited it, or it came with a repo clone). */
  overwriteReadme?: boolean;
  /** The dataset's name in the card (its pretty_name), and the path or repo id in its loading example. Default: the corpus's name. */
  name?: string;
  /** Hub license identifier for the card. Default "unknown": the card then asks for it to be set. */
  license?: string;
  /** A file holding the search agent's instructions for the questions config's and verl's `prompt` (see prompts.ts). Default: lib/export/search-agent-prompt.md. */
  promptTemplate?: string;
  /** `data_source` of the search-r1/ rows, default "nq" (Search-R1's exact-match reward); verl/ rows get it as "searchR1_<source>". */
  dataSource?: string;
}

export interface ExportedSplit {
  name: "train" | "test";
  rows: number;
  /** Parquet files, relative to the export folder. */
  files: string[];
}

export type ConfigName = "questions" | "recovery" | "paraphrases" | "chunks";

export interface ExportResult {
  out: string;
  configs: { name: ConfigName; splits: ExportedSplit[] }[];
  chunks: number;
  testChunks: number;
  /** Questions dropped because their prompt showed a chunk of the other split. */
  crossing: number;
  /** Files of each trainer's layout, relative to the export folder. */
  layouts: Record<Layout, string[]>;
  /** Rows left out, by reason (build failures, then the export's own filters). */
  removed: Record<string, number>;
  /** Lines for the user: a README.md kept, a stale lock taken over, the configs left out. */
  notices: string[];
  /** build.json's verdict (lib/verdict.ts), which the card shows too. */
  verdict: Verdict;
}

/** The folders laid out as each consumer's own preprocessing writes them. */
export type Layout = "search-r1" | "verl" | "rezero" | "autodidact";

const COLUMNS: Record<ConfigName, Columns> = {
  questions: {
    id: string,
    prompt: messages,
    question: string,
    answer: string,
    chunk_id: string,
    kind: string,
    supporting_chunk_ids: list(string),
    difficulty: string,
    measured_difficulty: string,
    gold_rank_original: int32(true),
    gold_rank_paraphrased: int32(true),
    gold_rank_merged: int32(true),
    context_chunk_ids: list(string),
    model: string,
    prompt_version: string,
  },
  recovery: { id: string, prompt: messages, chunk_id: string, style: string, paraphrase: string, original: string },
  paraphrases: { paraphrase_id: string, chunk_id: string, paragraph_index: int32(true), style: string, text: string, verdict: string, model: string },
  chunks: { chunk_id: string, text: string, source: string, start: int32(), end: int32() },
};

const ABOUT: Record<ConfigName, string> = {
  questions:
    "`prompt` (system instructions for a search agent, then the question), `question`, `answer` (short, no reasoning), `chunk_id` (the chunk holding the answer), `kind` (`single`, or `multi-hop`: the answer needs two chunks), `supporting_chunk_ids` (the chunks the answer needs, in search order, the last holding it; `[chunk_id]` for a single question), `difficulty` (the generator's label), `measured_difficulty` and `gold_rank_<mode>` (below), `context_chunk_ids` (the chunks the generator was shown), `model`, `prompt_version`",
  recovery: "the seed's task: `prompt` holds a kept paraphrase, the target is `chunk_id`, the chunk it was made from; `paraphrase`, `original` (the chunk's text), `style`",
  paraphrases: "`paraphrase_id`, `chunk_id` (the original chunk), `paragraph_index` (null: the whole chunk), `style`, `text`, `verdict`, `model`",
  chunks: "`chunk_id`, `text`, `source` (relative to the corpus root), `start`, `end` (character offsets into the loaded source)",
};

/**
 * Writes a dataset folder as a Hugging Face dataset repo: parquet configs (questions with a chat prompt,
 * recovery, paraphrases, chunks), the chunk index and the environments, Search-R1/verl files, rewards.py
 * and a dataset card. An existing export is updated in place (see in-place.ts); one export at a time writes
 * into a folder (its lock).
 */
export async function exportDataset(options: ExportOptions): Promise<ExportResult> {
  const { dataset, testFraction = 0.1, seed = 42, blockChunks = DEFAULT_BLOCK_CHUNKS, rowsPerShard = 100_000, force = false, license = "unknown" } = options;
  const dataSource = options.dataSource ?? DEFAULT_DATA_SOURCE;
  const out = path.resolve(options.out);
  if (!(testFraction >= 0 && testFraction < 1)) throw new KitError(`test fraction must be at least 0 and below 1, got ${testFraction}`);
  if (!Number.isInteger(seed)) throw new KitError(`seed must be an integer, got ${seed}`);
  if (!Number.isInteger(rowsPerShard) || rowsPerShard < 1) throw new KitError(`rows per shard must be an integer >= 1, got ${rowsPerShard}`);
  if (!Number.isInteger(blockChunks) || blockChunks < 1) throw new KitError(`chunks per split block must be an integer >= 1, got ${blockChunks}`);
  if (options.name !== undefined && !/^[\w][\w .\/-]*$/.test(options.name)) throw new KitError(`--name "${options.name}" must be letters, digits, spaces and _ . / - (e.g. user/apollo13)`);
  if (!/^[\w.:/-]+$/.test(dataSource)) throw new KitError(`--data-source "${dataSource}" must be letters, digits and _ . : / - (e.g. searchR1_nq)`);
  if (!fs.existsSync(dataset) || !fs.statSync(dataset).isDirectory()) throw new KitError(`dataset folder ${dataset} does not exist; make it with kit build --out ${dataset}`);
  const within = path.relative(out, path.resolve(dataset));
  if (!within.startsWith("..") && !path.isAbsolute(within)) throw new KitError(`--out ${options.out} would replace the dataset folder ${dataset} itself; choose another folder, e.g. hf-export/NAME`);
  checkOut(out, options.out, force);
  const template = readTemplate(options.promptTemplate ?? SEARCH_AGENT_TEMPLATE);
  const searchR1Template = readTemplate(SEARCH_R1_TEMPLATE);
  const recoveryTemplate = readTemplate(RECOVERY_TEMPLATE);
  const created = !fs.existsSync(out);
  const notices: string[] = [];
  const release = acquireLock(out, "--out", (line) => notices.push(line));
  const tmp = stagingDir(out);
  let done = false;
  try {
    // Again under the lock: another export may have written `out` since the check above.
    checkOut(out, options.out, force);
    removeLeftovers(out);
    const input = readDataset(dataset);
    const split = blockSplit(input.chunks.map((c) => c.chunk_id), testFraction, seed, blockChunks);
    const side = (chunkId: string): ExportedSplit["name"] => (split.test.has(chunkId) ? "test" : "train");
    const accepted = input.questions.filter((q) => q.status === "accepted");
    if (!accepted.length) throw new KitError(`${path.join(dataset, "questions.jsonl")} has no accepted questions, so there is nothing to train on; rebuild with another --llm or more chunks`);
    const kept = input.paraphrases.filter(isKept);
    // Without a kept paraphrase the questions still train an agent (the paraphrased environment holds the originals);
    // only the configs made of paraphrases go.
    const skipped: ConfigName[] = kept.length ? [] : ["recovery", "paraphrases"];
    if (!kept.length) notices.push(noParaphraseNotice(path.join(dataset, "paraphrases.jsonl")));
    const verdict = recordVerdict(input.build);

    const removed: Record<string, number> = { ...input.build.failures };
    const count = (reason: string) => (removed[reason] = (removed[reason] ?? 0) + 1);
    for (const p of input.paraphrases) if (!isKept(p)) count(`paraphrase verdict: ${verdictOf(p)}`);
    // A question whose prompt showed a chunk of the other split would leak it; it goes.
    const clean = accepted.filter((q) => (q.window ?? [q.chunk_id]).every((id) => side(id) === side(q.chunk_id)));
    const crossing = accepted.length - clean.length;
    if (crossing) removed["question dropped: its prompt showed a chunk of the other split"] = crossing;

    const ranks = await goldRanks(dataset, clean);
    const questionRows = clean.map((q, i) => questionRow(q, template, ranks.original[i], ranks.paraphrased[i], ranks.merged[i]));
    const chunkText = new Map(input.chunks.map((c) => [c.chunk_id, c.text]));
    const recoveryRows = kept.map((p) => recoveryRow(p, recoveryTemplate, chunkText.get(p.chunk_id)!));
    const bySide = <T extends { chunk_id: string }>(rows: T[]) => ({ train: rows.filter((r) => side(r.chunk_id) === "train"), test: rows.filter((r) => side(r.chunk_id) === "test") });
    const plan: { name: ConfigName; idField: string; file: string; splits: Record<ExportedSplit["name"], readonly Record<string, unknown>[]> }[] = [
      { name: "questions", idField: "id", file: "questions.jsonl", splits: bySide(questionRows) },
      { name: "recovery", idField: "id", file: "paraphrases.jsonl", splits: bySide(recoveryRows) },
      { name: "paraphrases", idField: "paraphrase_id", file: "paraphrases.jsonl", splits: bySide(kept.map((p) => ({ ...p, verdict: verdictOf(p) }))) },
      { name: "chunks", idField: "chunk_id", file: "chunks.jsonl", splits: { train: input.chunks as unknown as Record<string, unknown>[], test: [] } },
    ];

    const configs: ExportResult["configs"] = [];
    const cardConfigs: CardConfig[] = [];
    for (const config of plan.filter((c) => !skipped.includes(c.name))) {
      const splits: ExportedSplit[] = [];
      const card: CardConfig = { name: config.name, columns: COLUMNS[config.name], splits: [], downloadBytes: 0, about: ABOUT[config.name] };
      for (const name of ["train", "test"] as const) {
        const rows = config.splits[name];
        // An empty split (e.g. test with --test-fraction 0) is left out of the card rather than written as an empty file.
        if (!rows.length) continue;
        const shards = Math.ceil(rows.length / rowsPerShard);
        const files: string[] = [];
        let bytes = 0;
        for (let s = 0; s < shards; s++) {
          const file = `data/${config.name}/${name}-${pad(s)}-of-${pad(shards)}.parquet`;
          const table = arrowTable(COLUMNS[config.name], rows.slice(s * rowsPerShard, (s + 1) * rowsPerShard), (row) => `${path.join(dataset, config.file)}: ${config.idField} ${String(row[config.idField])}`);
          const parquet = toParquet(table);
          writeFileAtomic(path.join(tmp, file), parquet);
          bytes += arrowBytes(table);
          card.downloadBytes += parquet.length;
          files.push(file);
        }
        splits.push({ name, rows: rows.length, files });
        card.splits.push({ name, rows: rows.length, bytes });
      }
      configs.push({ name: config.name, splits });
      cardConfigs.push(card);
    }
    for (const folder of INDEX_FOLDERS) copyIndex(path.join(dataset, folder), path.join(tmp, folder));
    const chunkById = new Map(input.chunks.map((c) => [c.chunk_id, c]));
    const under = (folder: Layout, files: string[]) => files.map((f) => `${folder}/${f}`);
    const layouts: Record<Layout, string[]> = {
      "search-r1": under("search-r1", writeSearchR1(path.join(tmp, "search-r1"), bySide(questionRows), searchR1Template, input.rows, dataSource)),
      verl: under("verl", writeVerl(path.join(tmp, "verl"), bySide(questionRows), dataSource)),
      rezero: under(
        "rezero",
        writeReZero(path.join(tmp, "rezero"), {
          chunks: input.chunks,
          // All accepted questions: ReZero splits them itself.
          questions: accepted.map((q) => ({ ...q, supporting_chunk_ids: q.supporting_chunk_ids ?? [q.chunk_id] })),
          noise: kept.map((p) => ({ chunk_id: p.chunk_id, original: paraphraseOriginal(p, chunkById), paraphrase: p.text })),
          index: path.join(dataset, "faiss_index"),
        }),
      ),
      autodidact: under("autodidact", writeAutoDidact(path.join(tmp, "autodidact"), dataset)),
    };
    for (const file of ["rewards.py", "environment.py"]) fs.copyFileSync(path.join(__dirname, file), path.join(tmp, file));

    const difficulty = {} as Record<Bucket, Record<string, number>>;
    for (const q of questionRows) {
      const row = (difficulty[q.measured_difficulty] ??= {});
      row[q.difficulty] = (row[q.difficulty] ?? 0) + 1;
    }
    const verdicts: Record<string, number> = {};
    for (const p of input.paraphrases) verdicts[verdictOf(p)] = (verdicts[verdictOf(p)] ?? 0) + 1;
    const card = datasetCard({
      name: options.name ?? path.basename(out),
      prettyName: options.name ?? corpusTitle(input.build.corpus),
      license,
      build: input.build,
      configs: cardConfigs,
      chunks: input.chunks.length,
      split: { testChunks: split.test.size, blocks: split.blocks, testBlocks: split.testBlocks, blockChunks, seed, testFraction, dropped: crossing },
      environments: input.environments,
      questionModels: distinct(clean.map((q) => q.model)),
      paraphraseModels: distinct(kept.map((p) => p.model)),
      verdicts,
      difficulty,
      removed,
      dataSource,
      verdict,
      skipped,
    });
    writeFileAtomic(path.join(tmp, "README.md"), card);
    notices.push(...installExport(tmp, out, dataset, options.overwriteReadme === true));
    done = true;
    return { out, configs, chunks: input.chunks.length, testChunks: split.test.size, crossing, layouts, removed, notices, verdict };
  } catch (err) {
    // A full disk while copying an index, say: files not yet moved in are as the last export left them.
    if (err instanceof KitError || !(err as NodeJS.ErrnoException).code) throw err;
    throw new KitError(`cannot write the export ${out}: ${describeFsError(err)}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    // A folder this export made holds nothing of the user's; its lock goes with it.
    if (created && !done) fs.rmSync(out, { recursive: true, force: true });
    else release();
  }
}

function questionRow(q: Question, template: string, original: number | null, paraphrased: number | null, merged: number | null) {
  return {
    id: q.id,
    prompt: chatPrompt(template, q.question),
    question: q.question,
    answer: q.answer,
    chunk_id: q.chunk_id,
    // Rows of datasets built before multi-hop questions have neither field.
    kind: q.kind ?? "single",
    supporting_chunk_ids: q.supporting_chunk_ids ?? [q.chunk_id],
    difficulty: q.difficulty,
    measured_difficulty: bucketOf(paraphrased),
    gold_rank_original: original,
    gold_rank_paraphrased: paraphrased,
    gold_rank_merged: merged,
    context_chunk_ids: q.window,
    model: q.model,
    prompt_version: q.prompt_version,
  };
}

function recoveryRow(p: CheckedParaphrase, template: string, original: string) {
  return { id: p.paraphrase_id, prompt: chatPrompt(template, p.text), chunk_id: p.chunk_id, style: p.style, paraphrase: p.text, original };
}

/** The card's pretty_name without --name: the corpus file's (or folder's) name as words, "Apollo13 mission report". */
function corpusTitle(corpus: string): string {
  const words = path.basename(corpus).replace(/\.(md|markdown)$/i, "").replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Why a dataset with no kept paraphrase exports without its recovery and paraphrases configs, and what brings them. */
function noParaphraseNotice(file: string): string {
  return `${file} has no paraphrase judged faithful: the recovery and paraphrases configs are left out (the questions, chunks, environments and layouts are exported; rezero/paragraphs_noise.csv holds no rows); rebuild with an LLM generator (--llm ollama:<model>) for paraphrases`;
}

/**
 * For the CLI: one line with each config's rows per split and the folder written, the notices, then the verdict;
 * below "trainable with caveats" the last line is a warning naming what would lift it.
 */
export function formatExport(result: ExportResult): string {
  const configs = result.configs.map((c) => `${c.name} ${c.splits.map((s) => `${s.rows} ${s.name}`).join(" / ")}`);
  const summary = `export: ${configs.join(" | ")} (${result.testChunks} of ${result.chunks} chunks in test, ${result.crossing} questions dropped at the split's edges); ${Object.keys(result.layouts).join("/, ")}/ and environment.py for TRL -> ${result.out}`;
  return [summary, ...result.notices, ...verdictLines(result.verdict), ...tierWarning(result.verdict)].join("\n");
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
  // The chunk index's LangChain docstore, so FAISS.load_local reads the exported folder too.
  if (fs.existsSync(path.join(from, "index.pkl"))) fs.copyFileSync(path.join(from, "index.pkl"), path.join(to, "index.pkl"));
  fs.copyFileSync(path.join(from, manifest.ids), path.join(to, manifest.ids));
  writeFileAtomic(path.join(to, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
}

const pad = (n: number) => String(n).padStart(5, "0");
const distinct = (values: readonly string[]) => [...new Set(values)].sort();
