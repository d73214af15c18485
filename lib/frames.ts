import * as fs from "node:fs";
import * as path from "node:path";
import type { DataFrame } from "danfojs-node";
import { version as KIT_VERSION } from "../package.json";
import { chartPng } from "./charts";
import { digestFiles, digestOf } from "./pipeline/identity";
import type { BuildRecord } from "./pipeline/record";
import { type Chunk, splitParagraphs } from "./chunking";
import { MODES } from "./environment";
import { KitError } from "./errors";
import { writeFileAtomic } from "./files";
import { type FrameLike, type Rows, type TableOptions, tableHtml } from "./html";
import { displayBundle, inNotebook } from "./notebook";
import type { CheckedParaphrase } from "./paraphrase";
import type { Check } from "./quality/types";
import { verdictOf } from "./verdict";

/**
 * What the notebooks call: danfojs DataFrames of chunks, questions and paraphrases; escaped HTML tables; charts
 * shown as PNG; progress lines; build.json one step at a time. The rendering itself is in lib/html.ts and
 * lib/charts.ts (which lib/report.ts uses too), re-exported here so that a notebook imports one file.
 *
 * In a notebook, importing this file also makes any danfojs DataFrame or Series that ends a cell (or is passed to
 * console.log) show as a table, not as danfo's internals.
 */

export { type Bar, type BarOptions, barSvg, barsOf, type ChartOptions, chartPng, chartSvg, type HistogramOptions, histogramSvg, svgTitle } from "./charts";
export { diffHtml, escapeHtml, type FrameLike, markAnswerHtml, percent, type RawHtml, rawHtml, type Rows, sampleWarning, type TableOptions, tableHtml } from "./html";
export { defaultProgress, inNotebook, notebookProgress } from "./notebook";

type Danfo = typeof import("danfojs-node");
let danfo: Danfo | undefined;
/** danfojs-node loads TensorFlow.js (a few seconds): only a caller that makes a DataFrame pays for it. */
function dfd(): Danfo {
  return (danfo ??= require("danfojs-node") as Danfo);
}

// ---------------------------------------------------------------------------------------------------------------
// Row types, restated by their fields so that importing this file does not load the type declarations of every
// model client (lib/paraphrase.ts and lib/questions.ts import lib/generators/): that is most of the time tslab
// takes for a notebook's first cell. lib/paraphrase.ts's CheckedParaphrase and lib/questions.ts's Question fit.

/** A paraphrases.jsonl row: a Paraphrase, with its verdict and reasons once checked. */
export type ParaphraseRow = CheckedParaphrase;

/** A questions.jsonl row (with status and reason) or a questions.json row (the seed's four fields). */
export interface QuestionRow {
  chunk_id: string;
  question: string;
  answer: string;
  difficulty: string;
  id?: string;
  status?: string;
  reason?: string | null;
  model?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// DataFrames

/** Rows as a DataFrame with exactly `columns`, in that order (an empty one keeps its columns). */
function frame(rows: readonly Record<string, unknown>[], columns: readonly string[]): DataFrame {
  const { DataFrame } = dfd();
  if (!rows.length) return new DataFrame([], { columns: [...columns] });
  return new DataFrame(rows.map((r) => columns.map((c) => r[c] ?? null)), { columns: [...columns] });
}

/** One row per chunk: where it comes from, its size, its text. */
export function chunksFrame(chunks: readonly Chunk[]): DataFrame {
  const rows = chunks.map((c) => ({
    chunk_id: c.chunk_id,
    source: path.basename(c.source),
    start: c.start,
    end: c.end,
    chars: c.text.length,
    paragraphs: splitParagraphs(c.text).length,
    text: c.text,
  }));
  return frame(rows, ["chunk_id", "source", "start", "end", "chars", "paragraphs", "text"]);
}

/** One row per question: questions.jsonl rows (with status and reason) or questions.json rows (the seed's four fields). */
export function questionsFrame(rows: readonly QuestionRow[]): DataFrame {
  const withStatus = rows.some((r) => r.status !== undefined);
  const columns = withStatus
    ? ["id", "chunk_id", "question", "answer", "difficulty", "status", "reason", "model"]
    : ["chunk_id", "question", "answer", "difficulty"];
  return frame(rows as unknown as Record<string, unknown>[], columns);
}

/**
 * One row per paraphrase, with its verdict and reasons when it has them: from `checks` (lib/quality, one per
 * row, in order; their scores become columns too) or else from the rows' own verdict fields (paraphrases.jsonl
 * after the check).
 */
export function paraphrasesFrame(rows: readonly ParaphraseRow[], checks?: readonly Check[]): DataFrame {
  if (checks && checks.length !== rows.length) throw new KitError(`paraphrasesFrame: ${checks.length} checks for ${rows.length} paraphrases; pass one check per row, in the rows' order`);
  const scoreNames = checks ? [...new Set(checks.flatMap((c) => Object.keys(c.scores)))] : [];
  const withVerdict = Boolean(checks) || rows.some((r) => r.verdict !== undefined);
  const table = rows.map((p, i) => ({
    ...p,
    chars: p.text.length,
    verdict: checks ? checks[i].verdict : p.verdict,
    reasons: (checks ? checks[i].reasons : p.reasons)?.join("; "),
    ...(checks ? checks[i].scores : {}),
  }));
  const columns = ["paraphrase_id", "chunk_id", "paragraph_index", "style", "chars", ...(withVerdict ? ["verdict", "reasons"] : []), ...scoreNames, "text", "model"];
  return frame(table, columns);
}

/** How often each value occurs, most frequent first (ties in first-seen order). */
export function countBy(values: readonly string[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
}

// ---------------------------------------------------------------------------------------------------------------
// Showing things in a notebook

/** Shows a DataFrame, Series or rows in a tslab notebook as tableHtml's table. */
export function showTable(data: FrameLike | Rows, options: TableOptions = {}): void {
  displayBundle({ "text/html": tableHtml(data, options) });
}

/**
 * Shows a chart in a tslab notebook as a PNG (twice the pixels, shown at the chart's size; its title as alt text),
 * which every notebook viewer and nbconvert's HTML show. Takes the SVG of histogramSvg / barSvg / chartSvg, or the
 * promise of one: `await showChart(histogramSvg(lengths, { title: "chunk lengths" }))`.
 */
export async function showChart(svg: string | Promise<string>): Promise<void> {
  const chart = await chartPng(await svg);
  displayBundle({ "image/png": chart.png, "text/plain": `[chart: ${chart.title}]` }, { "image/png": { width: chart.width, height: chart.height } });
}

/** A search hit as retrievalMisses reads it (lib/search.ts's SearchResult fits). */
export interface HitRow {
  chunk_id: string;
  text: string;
  style?: string | null;
}

/** The 1-based rank of the first hit on chunk `gold`, or null when no hit is on it. */
export function goldRank(hits: readonly HitRow[], gold: string): number | null {
  const at = hits.findIndex((h) => h.chunk_id === gold);
  return at < 0 ? null : at + 1;
}

/**
 * Why a retriever missed, as rows for showTable: each query (with `gold`, the chunk that answers it) whose gold
 * chunk is not among its `hits`, with the gold chunk's rank in `deeper` (the same queries searched deeper; "not in
 * the first N" past them) and the hit ranked first instead. `extra` is prepended to every row (a retriever's name, say).
 */
export function retrievalMisses(
  asked: readonly { query: string; gold: string }[],
  hits: readonly (readonly HitRow[])[],
  deeper: readonly (readonly HitRow[])[] = hits,
  extra: Record<string, string> = {},
): Record<string, unknown>[] {
  return asked.flatMap(({ query, gold }, q) => {
    if (goldRank(hits[q], gold) !== null) return [];
    const top = hits[q][0];
    return [
      {
        ...extra,
        query,
        "gold chunk": gold,
        "its rank": goldRank(deeper[q], gold) ?? `not in the first ${deeper[q].length}`,
        "ranked first": top ? `${top.chunk_id}${top.style ? ` (${top.style})` : ""}` : "(nothing)",
        "its text": top?.text ?? "",
      },
    ];
  });
}

const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/**
 * Makes danfo's DataFrames and Series show as tables when a cell ends with one (tslab console.logs the value).
 * Set on NDframe, their common base: the DataFrames that danfo's own methods return (head, query, groupby, ...)
 * are instances of danfojs-base's class, not of the one danfojs-node exports.
 */
function tablesForFrames(d: Danfo): void {
  const base = ((d as unknown as { NDframe?: { prototype: object } }).NDframe ?? Object.getPrototypeOf(d.DataFrame.prototype).constructor).prototype as Record<symbol, unknown>;
  if (Object.prototype.hasOwnProperty.call(base, INSPECT)) return;
  Object.defineProperty(base, INSPECT, {
    configurable: true,
    value(this: FrameLike & { constructor: { name: string } }) {
      const series = this.constructor.name === "Series";
      const size = series ? `${this.shape[0]} rows` : `${this.shape[0]} rows, ${this.shape[1]} columns`;
      if (!inNotebook()) return `${this.constructor.name} of ${size}`;
      showTable(this);
      return `${series ? "Series" : "DataFrame"}: ${size}`;
    },
  });
}

// Inside a notebook: danfo, whenever it is loaded (by this file, or by the notebook's own import).
if (inNotebook()) {
  const loaded = require.cache[require.resolve("danfojs-node")];
  if (loaded) tablesForFrames(loaded.exports as Danfo);
  else {
    const Module = require("node:module") as { _load: (request: string, ...rest: unknown[]) => unknown };
    const load = Module._load;
    let done = false;
    Module._load = function (this: unknown, request: string, ...rest: unknown[]) {
      const exports = load.call(this, request, ...rest);
      if (!done && request === "danfojs-node") {
        done = true;
        tablesForFrames(exports as Danfo);
      }
      return exports;
    };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Notebook state: the notebooks build a dataset folder one step at a time

/** One notebook step's part of build.json. */
export type StepRecord = Partial<Pick<BuildRecord, "corpus" | "parameters" | "counts" | "failures" | "generator" | "judge" | "llm_requests" | "environments" | "measured_difficulty">>;

/**
 * The notebooks' steps: the notebook of each, the files it writes into the dataset, and the steps whose files it
 * reads. A step run again makes the steps that read its files stale: they are dropped from build.json, so the
 * dataset counts as unfinished (kit export refuses it) until they run again.
 */
const NOTEBOOK_STEPS: Record<string, { notebook: string; files: string[]; reads: string[] }> = {
  chunks: { notebook: "01-chunking", files: ["chunks.jsonl", "chunks.pkl"], reads: [] },
  index: { notebook: "02-embeddings-and-index", files: ["faiss_index"], reads: ["chunks"] },
  questions: { notebook: "03-questions", files: ["questions.jsonl", "questions.json"], reads: ["chunks"] },
  paraphrases: { notebook: "04-paraphrases", files: [], reads: ["chunks", "index"] },
  // 05 rewrites paraphrases.jsonl with each row's verdict, so the file is recorded as its.
  quality: { notebook: "05-quality", files: ["paraphrases.jsonl", ...MODES.map((mode) => `env/${mode}`)], reads: ["chunks", "index", "paraphrases"] },
};

/**
 * Records what a notebook step made in the dataset's build.json (what kit export reads for the dataset card),
 * keeping each step's part under `notebook_steps` so a step run again replaces its own part only, with the
 * build identity kit build writes: the digest of each file the step wrote. Record what the step really used:
 * its settings variables, not the library defaults. `failures` are the rows a step failed to make (as
 * lib/pipeline/ counts them); rows made but judged unusable are counted by kit export from the rows' own verdicts,
 * so they do not belong here. Timings are left out: the notebooks' files stay the same from run to run.
 */
export function recordStep(dataset: string, step: string, part: StepRecord): BuildRecord {
  const file = path.join(dataset, "build.json");
  const spec = NOTEBOOK_STEPS[step];
  if (!spec) throw new KitError(`recordStep: unknown step "${step}"; use one of ${Object.keys(NOTEBOOK_STEPS).join(", ")}`);
  let before: Partial<BuildRecord> & { notebook_steps?: Record<string, StepRecord> } = {};
  if (fs.existsSync(file)) {
    try {
      before = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
      throw new KitError(`${file} is not valid JSON; delete it and run the notebooks again from 01`);
    }
  }
  const steps = { ...before.notebook_steps, [step]: part };
  const stages = { ...before.stages };
  stages[step] = { inputs: digestOf(part.parameters, spec.reads.map((s) => stages[s]?.files)), files: digestFiles(dataset, spec.files) };
  // Drop what read this step's files, and what read those.
  for (let stale = [step]; stale.length; ) {
    stale = Object.keys(NOTEBOOK_STEPS).filter((s) => s in stages && NOTEBOOK_STEPS[s].reads.some((r) => stale.includes(r)));
    for (const s of stale) {
      delete stages[s];
      delete steps[s];
    }
  }
  const ordered = Object.keys(NOTEBOOK_STEPS).filter((s) => s in stages);
  const missing = Object.keys(NOTEBOOK_STEPS).find((s) => !(s in stages));
  const parts = ordered.map((s) => steps[s]);
  const merged = <K extends "parameters" | "counts" | "failures">(key: K) => Object.assign({}, ...parts.map((p) => p[key] ?? {}));
  const measured = parts.find((p) => p.measured_difficulty)?.measured_difficulty;
  // The chunks name the build: the same chunks, the same id, so a notebook run again writes the same build.json.
  const id = `notebooks-${(stages.chunks?.files["chunks.jsonl"] ?? digestOf(null)).slice(0, 12)}`;
  const record: BuildRecord & { notebook_steps: Record<string, StepRecord> } = {
    kit_version: KIT_VERSION,
    corpus: parts.find((p) => p.corpus)?.corpus ?? "",
    build: { id, inputs: digestOf(ordered.map((s) => stages[s].inputs)), status: missing ? "running" : "finished" },
    command: `notebooks/${NOTEBOOK_STEPS[missing ?? "chunks"].notebook}.ipynb and the notebooks after it`,
    stages: Object.fromEntries(ordered.map((s) => [s, stages[s]])),
    parameters: merged("parameters"),
    generator: parts.find((p) => p.generator)?.generator ?? { spec: "", model: "", backend: "" },
    judge: [...parts].reverse().find((p) => p.judge)?.judge ?? "rules",
    counts: merged("counts"),
    failures: merged("failures"),
    llm_requests: {
      answered_from_cache: parts.reduce((n, p) => n + (p.llm_requests?.answered_from_cache ?? 0), 0),
      sent: parts.reduce((n, p) => n + (p.llm_requests?.sent ?? 0), 0),
    },
    environments: Object.assign({}, ...parts.map((p) => p.environments ?? {})),
    ...(measured && { measured_difficulty: measured }),
    seconds: {},
    notebook_steps: Object.fromEntries(ordered.map((s) => [s, steps[s]])),
  };
  // The step that completes the dataset gives it the verdict kit build gives its own (the notebooks measure no baselines).
  if (!missing) record.verdict = verdictOf(record);
  writeFileAtomic(file, JSON.stringify(record, null, 2) + "\n");
  return record;
}
