import * as fs from "node:fs";
import * as path from "node:path";
import type { DataFrame } from "danfojs-node";
import type { TopLevelSpec } from "vega-lite";
import { version as KIT_VERSION } from "../package.json";
import type { BuildRecord } from "./build";
import { type Chunk, splitParagraphs } from "./chunking";
import { KitError } from "./errors";
import type { CheckedParaphrase } from "./paraphrase";
import { writeFileAtomic } from "./files";
import type { Check } from "./quality";
import type { Question } from "./questions";

/**
 * Tables and charts of a dataset's rows, for the notebooks and the HTML report:
 * danfojs DataFrames of chunks, questions and paraphrases; escaped HTML tables; vega-lite charts rendered to SVG
 * in Node (no browser, no canvas).
 */

type Danfo = typeof import("danfojs-node");
let danfo: Danfo | undefined;
/** danfojs-node loads TensorFlow.js (a few seconds): only a caller that makes a DataFrame pays for it. */
function dfd(): Danfo {
  return (danfo ??= require("danfojs-node") as Danfo);
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
export function questionsFrame(rows: readonly (Pick<Question, "chunk_id" | "question" | "answer" | "difficulty"> & Partial<Question>)[]): DataFrame {
  const withStatus = rows.some((r) => r.status !== undefined);
  const columns = withStatus
    ? ["id", "chunk_id", "question", "answer", "difficulty", "status", "reason", "model"]
    : ["chunk_id", "question", "answer", "difficulty"];
  return frame(rows, columns);
}

/**
 * One row per paraphrase, with its verdict and reasons when it has them: from `checks` (lib/quality.ts, one per
 * row, in order; their scores become columns too) or else from the rows' own verdict fields (paraphrases.jsonl
 * after the check).
 */
export function paraphrasesFrame(rows: readonly CheckedParaphrase[], checks?: readonly Check[]): DataFrame {
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
// HTML tables

const RAW = Symbol("raw html");
/** Markup a table cell shows as is (from diffHtml, or a caller that escaped it); any other cell is escaped. */
export interface RawHtml {
  [RAW]: true;
  html: string;
}
export const rawHtml = (html: string): RawHtml => ({ [RAW]: true, html });
const isRaw = (v: unknown): v is RawHtml => typeof v === "object" && v !== null && RAW in v;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface TableOptions {
  /** Rows shown; the rest are counted under the table. Default 20. */
  maxRows?: number;
  /** Longer cells are cut to this many characters, the full text on hover. Default 160. */
  maxChars?: number;
  /** Columns shown, in this order. Default: all. */
  columns?: string[];
  caption?: string;
}

/** Plain rows: records or any interface's objects (their own enumerable fields are the columns). */
type Rows = readonly object[];

function isFrame(data: DataFrame | Rows): data is DataFrame {
  return !Array.isArray(data);
}

function cellText(value: unknown): string {
  if (value === null || value === undefined || (typeof value === "number" && Number.isNaN(value))) return "";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
  // Arrays, and Arrow's list vectors (what a parquet list column reads back as).
  if (typeof value === "object" && Symbol.iterator in value) return Array.from(value as Iterable<unknown>, cellText).join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function cellHtml(value: unknown, maxChars: number): string {
  if (isRaw(value)) return value.html;
  const text = cellText(value);
  if (text.length <= maxChars) return escapeHtml(text);
  return `<span title="${escapeHtml(text)}">${escapeHtml(text.slice(0, maxChars - 1).trimEnd())}…</span>`;
}

const CELL = 'style="text-align:left;vertical-align:top;white-space:pre-wrap;max-width:36em"';

/**
 * A DataFrame or plain rows as an HTML table: every cell escaped (except rawHtml ones), long cells cut with the
 * full text in a title attribute (shown on hover), at most maxRows rows. A DataFrame's index is the first column.
 */
export function tableHtml(data: DataFrame | Rows, options: TableOptions = {}): string {
  const maxRows = options.maxRows ?? 20;
  const maxChars = options.maxChars ?? 160;
  let columns: string[];
  let rows: unknown[][];
  if (isFrame(data)) {
    const all = data.columns as string[];
    columns = options.columns ?? all;
    const at = columns.map((c) => all.indexOf(c));
    const missing = columns.filter((_, i) => at[i] < 0);
    if (missing.length) throw new KitError(`tableHtml: no column ${missing.join(", ")}; the DataFrame has ${all.join(", ")}`);
    const values = (data.values as unknown[][]).slice(0, maxRows);
    const index = data.index.slice(0, maxRows);
    rows = values.map((row, r) => [index[r], ...at.map((i) => row[i])]);
    columns = ["", ...columns];
  } else {
    columns = options.columns ?? [...new Set(data.flatMap((r) => Object.keys(r)))];
    rows = data.slice(0, maxRows).map((r) => columns.map((c) => (r as Record<string, unknown>)[c]));
  }
  const total = isFrame(data) ? data.shape[0] : data.length;
  const head = columns.map((c) => `<th ${CELL}>${escapeHtml(c)}</th>`).join("");
  const body = rows.map((row) => `<tr>${row.map((v) => `<td ${CELL}>${cellHtml(v, maxChars)}</td>`).join("")}</tr>`).join("\n");
  const caption = options.caption ? `<caption style="caption-side:top;text-align:left;font-weight:bold">${escapeHtml(options.caption)}</caption>` : "";
  const note = total > rows.length ? `<p style="font-size:smaller">${rows.length} of ${total} rows shown</p>` : "";
  return `<table style="font-size:12px;border-collapse:collapse">${caption}\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>${note}`;
}

/** Shows a DataFrame or rows in a tslab notebook as tableHtml's table. */
export function showTable(data: DataFrame | Rows, options: TableOptions = {}): void {
  tslab().display.html(tableHtml(data, options));
}

// Required on use: outside a notebook (tests, the CLI, the report) nothing loads tslab.
const tslab = () => require("tslab") as typeof import("tslab");

/**
 * A progress line in a tslab notebook, overwritten in place: updated each tenth of the way and at the end, so
 * the saved output (the last state) does not depend on timing. `next(label)` starts a new line for the next
 * phase of the same callback (one embedder, used twice), in the cell running when it first reports.
 */
export function notebookProgress(label: string) {
  let display = tslab().newDisplay();
  let shown = -1;
  return {
    onProgress(done: number, total: number) {
      const tenth = total ? Math.floor((10 * done) / total) : 10;
      if (tenth === shown) return;
      shown = tenth;
      display.text(`${label}: ${done}/${total}`);
    },
    next(nextLabel: string) {
      label = nextLabel;
      display = tslab().newDisplay();
      shown = -1;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Word differences

const words = (text: string) => text.match(/\s+|[^\s]+/g) ?? [];
const wordKey = (token: string) => token.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, "");
// Beyond this many cells the LCS table would take a noticeable time and memory: the diff is then by word set.
const MAX_LCS_CELLS = 4_000_000;

/**
 * The paraphrase against its original, word by word, as markup for a table cell: words of the original that the
 * paraphrase dropped struck through in red, words it added highlighted in green, shared words plain.
 */
export function diffHtml(original: string, paraphrase: string): RawHtml {
  const a = words(original).filter((t) => /\S/.test(t));
  const b = words(paraphrase).filter((t) => /\S/.test(t));
  const ka = a.map(wordKey);
  const kb = b.map(wordKey);
  const ops: { op: "same" | "del" | "add"; token: string }[] = [];
  if (a.length * b.length > MAX_LCS_CELLS) {
    const inA = new Set(ka);
    for (let j = 0; j < b.length; j++) ops.push({ op: inA.has(kb[j]) ? "same" : "add", token: b[j] });
  } else {
    // lcs[i][j]: longest common subsequence of a[i..] and b[j..].
    const lcs = Array.from({ length: a.length + 1 }, () => new Uint16Array(b.length + 1));
    for (let i = a.length - 1; i >= 0; i--) {
      for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = ka[i] === kb[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      if (i < a.length && j < b.length && ka[i] === kb[j]) {
        ops.push({ op: "same", token: b[j] });
        i++;
        j++;
      } else if (j < b.length && (i === a.length || lcs[i][j + 1] >= lcs[i + 1][j])) ops.push({ op: "add", token: b[j++] });
      else ops.push({ op: "del", token: a[i++] });
    }
  }
  // Runs of one kind share one element, so a changed phrase reads as one mark.
  const runs: { op: string; tokens: string[] }[] = [];
  for (const { op, token } of ops) {
    if (runs.length && runs[runs.length - 1].op === op) runs[runs.length - 1].tokens.push(token);
    else runs.push({ op, tokens: [token] });
  }
  const html = runs.map(({ op, tokens }) => {
    const text = escapeHtml(tokens.join(" "));
    if (op === "add") return `<ins style="background:#c8f0c8;text-decoration:none">${text}</ins>`;
    return op === "del" ? `<del style="color:#b00000">${text}</del>` : text;
  });
  return rawHtml(html.join(" "));
}

// ---------------------------------------------------------------------------------------------------------------
// Charts: vega-lite specs compiled to vega and rendered to SVG strings by vega's headless View

export interface ChartOptions {
  title?: string;
  xTitle?: string;
  yTitle?: string;
  /** Plot area in pixels. Default 480 x 200. */
  width?: number;
  height?: number;
}

export interface HistogramOptions extends ChartOptions {
  /** Most bins (vega-lite picks a nice step under it). Default 30. */
  bins?: number;
  /** Bin width; overrides bins. */
  step?: number;
  /** Range binned; default the data's. */
  extent?: [number, number];
}

export interface Bar {
  label: string;
  value: number;
  /** Bars sharing a label are stacked, coloured by group. */
  group?: string;
}

export interface BarOptions extends ChartOptions {
  /** Labels down the side instead of along the bottom: better for long labels. */
  horizontal?: boolean;
  /** Bars sharing a label side by side instead of stacked: for values that do not add up (rates, scores). */
  sideBySide?: boolean;
}

/** Renders a vega-lite spec to an SVG string (no browser: vega's View with no renderer, text measured by estimate). */
export async function chartSvg(spec: TopLevelSpec): Promise<string> {
  const vega = require("vega") as typeof import("vega");
  const { compile } = require("vega-lite") as typeof import("vega-lite");
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const frameOf = (o: ChartOptions) => ({
  width: o.width ?? 480,
  height: o.height ?? 200,
  background: "white",
  ...(o.title ? { title: o.title } : {}),
});

/**
 * A histogram of `values`, or of several named series stacked in one chart (coloured, with a legend).
 * One bar per non-empty bin (and series).
 */
export function histogramSvg(values: readonly number[] | Readonly<Record<string, readonly number[]>>, options: HistogramOptions = {}): Promise<string> {
  const series = Array.isArray(values) ? { "": values as readonly number[] } : (values as Readonly<Record<string, readonly number[]>>);
  const grouped = !Array.isArray(values);
  const data = Object.entries(series).flatMap(([name, xs]) => xs.filter(Number.isFinite).map((x) => ({ x, series: name })));
  const bin = { maxbins: options.bins ?? 30, ...(options.step ? { step: options.step } : {}), ...(options.extent ? { extent: options.extent } : {}) };
  return chartSvg({
    ...frameOf(options),
    data: { values: data },
    mark: { type: "bar", binSpacing: 1 },
    encoding: {
      // "~g": no trailing zeros, so bins of whole numbers read 1, 2, 3 rather than 1.0, 2.0, 3.0.
      x: { field: "x", type: "quantitative", bin, title: options.xTitle ?? "value", axis: { format: "~g" } },
      y: { aggregate: "count", type: "quantitative", title: options.yTitle ?? "rows", axis: { tickMinStep: 1 } },
      ...(grouped ? { color: { field: "series", type: "nominal", title: null, sort: Object.keys(series) } } : {}),
    },
  } as TopLevelSpec);
}

/** A bar per label, in the order given; bars with a group are stacked by it, or set side by side (coloured, with a legend). */
export function barSvg(bars: readonly Bar[], options: BarOptions = {}): Promise<string> {
  const labels = [...new Set(bars.map((b) => b.label))];
  const groups = [...new Set(bars.flatMap((b) => (b.group === undefined ? [] : [b.group])))];
  // Without a canvas vega estimates text widths generously, so labels get room to spare before they are cut.
  const [labelTitle, valueTitle] = options.horizontal ? [options.yTitle, options.xTitle] : [options.xTitle, options.yTitle];
  const axis = options.horizontal ? { labelLimit: 560 } : { labelLimit: 160, labelAngle: 0 };
  const category = { field: "label", type: "nominal", sort: labels, title: labelTitle ?? null, axis };
  const amount = { field: "value", type: "quantitative", title: valueTitle ?? null };
  return chartSvg({
    ...frameOf(options),
    data: { values: bars.map((b) => ({ label: b.label, value: b.value, group: b.group ?? "" })) },
    mark: "bar",
    encoding: {
      ...(options.horizontal ? { y: category, x: amount } : { x: category, y: amount }),
      ...(groups.length ? { color: { field: "group", type: "nominal", title: null, sort: groups } } : {}),
      ...(groups.length && options.sideBySide ? { [options.horizontal ? "yOffset" : "xOffset"]: { field: "group", type: "nominal", sort: groups } } : {}),
    },
  } as TopLevelSpec);
}

/** Bars from a count record (countBy's output, a verdict tally): one bar per key, in the record's order. */
export const barsOf = (counts: Readonly<Record<string, number>>, group?: string): Bar[] =>
  Object.entries(counts).map(([label, value]) => ({ label, value, ...(group === undefined ? {} : { group }) }));

// ---------------------------------------------------------------------------------------------------------------
// Notebook state: the notebooks build a dataset folder one step at a time

type StepRecord = Partial<Pick<BuildRecord, "corpus" | "parameters" | "counts" | "failures" | "generator" | "llm_requests" | "environments">>;

/**
 * Records what a notebook step made in the dataset's build.json (what kit export reads for the dataset card),
 * keeping each step's part under `notebook_steps` so a step run again replaces its own part only.
 * Timings are left out: the notebooks' files stay the same from run to run.
 */
export function recordStep(dataset: string, step: string, part: StepRecord): void {
  const file = path.join(dataset, "build.json");
  let steps: Record<string, StepRecord> = {};
  if (fs.existsSync(file)) {
    try {
      steps = (JSON.parse(fs.readFileSync(file, "utf8")) as { notebook_steps?: Record<string, StepRecord> }).notebook_steps ?? {};
    } catch {
      throw new KitError(`${file} is not valid JSON; delete it and run the notebooks again from 01`);
    }
  }
  steps[step] = part;
  const parts = Object.values(steps);
  const merged = <K extends "parameters" | "counts" | "failures">(key: K) => Object.assign({}, ...parts.map((p) => p[key] ?? {}));
  const record: BuildRecord & { notebook_steps: Record<string, StepRecord> } = {
    kit_version: KIT_VERSION,
    corpus: parts.find((p) => p.corpus)?.corpus ?? "",
    parameters: merged("parameters"),
    generator: parts.find((p) => p.generator)?.generator ?? { spec: "", model: "", backend: "" },
    judge: "rules",
    counts: merged("counts"),
    failures: merged("failures"),
    llm_requests: {
      answered_from_cache: parts.reduce((n, p) => n + (p.llm_requests?.answered_from_cache ?? 0), 0),
      sent: parts.reduce((n, p) => n + (p.llm_requests?.sent ?? 0), 0),
    },
    environments: Object.assign({}, ...parts.map((p) => p.environments ?? {})),
    seconds: {},
    notebook_steps: steps,
  };
  writeFileAtomic(file, JSON.stringify(record, null, 2) + "\n");
}
