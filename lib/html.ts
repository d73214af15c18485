import { diffSequences } from "./edit-distance";
import { KitError } from "./errors";

/**
 * Escaped HTML for the notebooks and the report: tables of rows or DataFrames, word differences, percentages.
 * Every piece of corpus or model text goes through escapeHtml, so a chunk holding markup shows as text and never
 * runs. No heavy imports: lib/report.ts and lib/frames.ts both build on this file.
 */

const RAW = Symbol("raw html");
/** Markup a table cell shows as is (from diffHtml, or a caller that escaped it); any other cell is escaped. */
export interface RawHtml {
  [RAW]: true;
  html: string;
}
export const rawHtml = (html: string): RawHtml => ({ [RAW]: true, html });
export const isRawHtml = (v: unknown): v is RawHtml => typeof v === "object" && v !== null && RAW in v;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A share (0-1) as a percentage for people: 0.023 -> "2.3%", 1 -> "100%", 0.0004 -> "0.04%". */
export function percent(share: number, digits = 1): string {
  if (!Number.isFinite(share)) return "";
  const value = share * 100;
  // Small non-zero shares keep two significant digits rather than rounding to 0%.
  const shown = value !== 0 && Math.abs(value) < 10 ** -digits ? Number(value.toPrecision(2)) : Number(value.toFixed(digits));
  return `${shown}%`;
}

/** Below this many rows a share is too coarse to compare: one row moves it by more than 3 points. */
export const MIN_SAMPLE = 30;

/**
 * A warning for a share (a recall, a rate) measured on `n` rows, when n is under MIN_SAMPLE: "only 5 queries: each
 * one moves a share by 20%, too few to compare". Empty for enough rows.
 */
export function sampleWarning(n: number, what = "rows"): string {
  if (n >= MIN_SAMPLE) return "";
  return n ? `only ${n} ${what}: each one moves a share by ${percent(1 / n, 0)}, too few to compare` : `no ${what}`;
}

export interface TableOptions {
  /** Rows shown; the rest are counted under the table. Default 20. */
  maxRows?: number;
  /** Longer cells are cut to this many characters, the full text on hover. Default 160. */
  maxChars?: number;
  /** Columns shown, in this order. Default: all. */
  columns?: string[];
  /** Columns holding shares (0-1), shown as percentages. */
  percentColumns?: string[];
  caption?: string;
}

/** What tableHtml reads of a danfojs DataFrame (or Series): kept structural, so this file needs no danfo types. */
export interface FrameLike {
  columns: string[] | readonly string[];
  values: unknown;
  index: readonly unknown[];
  shape: readonly number[];
}

/** Plain rows: records or any interface's objects (their own enumerable fields are the columns). */
export type Rows = readonly object[];

export function isFrameLike(data: unknown): data is FrameLike {
  return typeof data === "object" && data !== null && !Array.isArray(data) && "columns" in data && "values" in data && "index" in data && "shape" in data;
}

function cellText(value: unknown): string {
  if (value === null || value === undefined || (typeof value === "number" && Number.isNaN(value))) return "";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
  if (typeof value === "bigint") return String(value);
  // Arrays, and Arrow's list vectors (what a parquet list column reads back as).
  if (typeof value === "object" && Symbol.iterator in value) return Array.from(value as Iterable<unknown>, cellText).join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function cellHtml(value: unknown, maxChars: number, asPercent: boolean): string {
  if (isRawHtml(value)) return value.html;
  const text = asPercent && typeof value === "number" ? percent(value) : cellText(value);
  if (text.length <= maxChars) return escapeHtml(text);
  return `<span title="${escapeHtml(text)}">${escapeHtml(text.slice(0, maxChars - 1).trimEnd())}…</span>`;
}

const CELL = 'style="text-align:left;vertical-align:top;white-space:pre-wrap;max-width:36em"';
const NUMBER_CELL = 'style="text-align:right;vertical-align:top;white-space:nowrap"';

/**
 * A DataFrame (or Series) or plain rows as an HTML table: every cell escaped (except rawHtml ones), long cells cut
 * with the full text in a title attribute (shown on hover), at most maxRows rows, numbers right-aligned. A
 * DataFrame's index is the first column.
 */
export function tableHtml(data: FrameLike | Rows, options: TableOptions = {}): string {
  const maxRows = options.maxRows ?? 20;
  const maxChars = options.maxChars ?? 160;
  const percents = new Set(options.percentColumns ?? []);
  let columns: string[];
  let rows: unknown[][];
  if (isFrameLike(data)) {
    const all = [...data.columns];
    // A Series has one column of values (a flat array).
    const values = (data.values as unknown[]).map((row) => (Array.isArray(row) ? row : [row]));
    columns = options.columns ?? all;
    const at = columns.map((c) => all.indexOf(c));
    const missing = columns.filter((_, i) => at[i] < 0);
    if (missing.length) throw new KitError(`tableHtml: no column ${missing.join(", ")}; the DataFrame has ${all.join(", ")}`);
    const index = data.index.slice(0, maxRows);
    rows = values.slice(0, maxRows).map((row, r) => [index[r], ...at.map((i) => row[i])]);
    columns = ["", ...columns];
  } else {
    columns = options.columns ?? [...new Set(data.flatMap((r) => Object.keys(r)))];
    rows = data.slice(0, maxRows).map((r) => columns.map((c) => (r as Record<string, unknown>)[c]));
  }
  const total = isFrameLike(data) ? data.shape[0] : data.length;
  const head = columns.map((c) => `<th ${CELL}>${escapeHtml(c)}</th>`).join("");
  const body = rows
    .map((row) => `<tr>${row.map((v, i) => `<td ${typeof v === "number" ? NUMBER_CELL : CELL}>${cellHtml(v, maxChars, percents.has(columns[i]))}</td>`).join("")}</tr>`)
    .join("\n");
  const caption = options.caption ? `<caption style="caption-side:top;text-align:left;font-weight:bold">${escapeHtml(options.caption)}</caption>` : "";
  const note = total > rows.length ? `<p style="font-size:smaller">${rows.length} of ${total} rows shown</p>` : "";
  return `<table style="font-size:12px;border-collapse:collapse">${caption}\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>${note}`;
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
    let i = 0;
    let j = 0;
    for (const op of diffSequences(ka, kb)) {
      if (op !== "add") i++;
      ops.push({ op, token: op === "del" ? a[i - 1] : b[j++] });
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

/**
 * `text` with the first occurrence of `answer` (case-insensitive, whitespace-tolerant) marked, cut to about
 * `context` characters either side of it; escaped. Without an occurrence, the start of the text, unmarked.
 */
export function markAnswerHtml(text: string, answer: string, context = 240): RawHtml {
  const pattern = answer
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join("\\s+");
  // A whole-word match first ("2 hours" not inside "152 hours"), else anywhere.
  const found = pattern ? (new RegExp(`(?<![\\p{L}\\p{N}])${pattern}(?![\\p{L}\\p{N}])`, "iu").exec(text) ?? new RegExp(pattern, "iu").exec(text)) : null;
  if (!found) return rawHtml(escapeHtml(text.length > 2 * context ? `${text.slice(0, 2 * context).trimEnd()}…` : text));
  const from = Math.max(0, found.index - context);
  const to = Math.min(text.length, found.index + found[0].length + context);
  const before = (from > 0 ? "…" : "") + text.slice(from, found.index);
  const after = text.slice(found.index + found[0].length, to) + (to < text.length ? "…" : "");
  return rawHtml(`${escapeHtml(before)}<mark>${escapeHtml(found[0])}</mark>${escapeHtml(after)}`);
}
