import * as fs from "node:fs";
import * as path from "node:path";
import { KitError } from "../errors";
import { writeJsonlAtomic } from "../files";
import { type BatchCheckOptions, checkParaphrases } from "./batch";
import { type PairInput, type Scores, type Verdict, VERDICTS } from "./types";

/** kit check-paraphrases: pairs read from a .csv or .jsonl file, checked, and written as JSONL. */

export interface PairRow extends PairInput {
  /** 1-based position among the file's records (the CSV header and blank JSONL lines not counted). */
  row: number;
}

export interface ReadPairsOptions {
  originalCol?: string;
  paraphraseCol?: string;
}

/** (original, paraphrase) pairs from a .csv (with a header row) or .jsonl file; bad input is a one-line KitError. */
export function readPairs(file: string, options: ReadPairsOptions = {}): PairRow[] {
  const originalCol = options.originalCol ?? "original";
  const paraphraseCol = options.paraphraseCol ?? "paraphrase";
  const ext = path.extname(file).toLowerCase();
  if (ext !== ".csv" && ext !== ".jsonl") throw new KitError(`${file}: unsupported file type "${ext || "(none)"}"; give a .csv or .jsonl file`);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new KitError(`${file}: cannot read it (missing or not a file)`);
  }
  if (!text.trim()) throw new KitError(`${file}: empty file; expected ${ext === ".csv" ? "a header row and" : ""} one row per pair`);
  const records = ext === ".csv" ? csvRecords(file, text) : jsonlRecords(file, text);
  if (!records.length) throw new KitError(`${file}: no rows after the header; expected one row per pair`);
  return records.map(({ record, where }, i) => {
    const get = (col: string, flag: string): string => {
      const value = record[col];
      if (value === undefined || value === null) {
        throw new KitError(`${file}: ${where} has no "${col}" column (columns: ${Object.keys(record).join(", ") || "none"}); choose one with ${flag}`);
      }
      if (typeof value !== "string") throw new KitError(`${file}: ${where}: "${col}" is not a string`);
      return value;
    };
    const original = get(originalCol, "--original-col");
    const paraphrase = get(paraphraseCol, "--paraphrase-col");
    if (!original.trim()) throw new KitError(`${file}: ${where}: "${originalCol}" is empty; every row needs its original text`);
    return { row: i + 1, original, paraphrase };
  });
}

function csvRecords(file: string, text: string): { record: Record<string, unknown>; where: string }[] {
  const { parse } = require("csv-parse/sync") as typeof import("csv-parse/sync");
  let rows: string[][];
  try {
    rows = parse(text, { bom: true, skip_empty_lines: true, relax_column_count: false }) as string[][];
  } catch (err) {
    const e = err as { message?: string; lines?: number };
    const reason = String(e.message ?? err).replace(/ at line \d+.*$/, "").split("\n")[0];
    throw new KitError(`${file}:${e.lines ?? "?"}: malformed CSV (${reason}); quote fields that hold commas, quotes or line breaks`);
  }
  const [header, ...body] = rows;
  const seen = new Set<string>();
  for (const name of header) {
    if (seen.has(name)) throw new KitError(`${file}: header row names column "${name}" twice`);
    seen.add(name);
  }
  return body.map((cells, i) => ({ record: Object.fromEntries(header.map((h, k) => [h, cells[k]])), where: `row ${i + 1}` }));
}

function jsonlRecords(file: string, text: string): { record: Record<string, unknown>; where: string }[] {
  const out: { record: Record<string, unknown>; where: string }[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new KitError(`${file}:${i + 1}: not valid JSON; each line must be one JSON object`);
    }
    if (!value || typeof value !== "object" || Array.isArray(value)) throw new KitError(`${file}:${i + 1}: not a JSON object`);
    out.push({ record: value as Record<string, unknown>, where: `row ${out.length + 1} (line ${i + 1})` });
  });
  return out;
}

/** One output line of kit check-paraphrases. */
export interface PairCheckRow {
  row: number;
  verdict: Verdict;
  reasons: string[];
  scores: Scores;
}

/**
 * Reads pairs from `inFile`, checks them, and writes `outFile` (JSONL, one line per input row, in input order,
 * written atomically). Returns how many rows got each verdict.
 */
export async function checkPairsFile(inFile: string, outFile: string, options: BatchCheckOptions & ReadPairsOptions = {}): Promise<Record<Verdict, number>> {
  const pairs = readPairs(inFile, options);
  const checks = await checkParaphrases(pairs, options);
  const rows: PairCheckRow[] = pairs.map((pair, i) => ({ row: pair.row, verdict: checks[i].verdict, reasons: checks[i].reasons, scores: checks[i].scores }));
  writeJsonlAtomic(outFile, rows);
  const counts = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>;
  for (const r of rows) counts[r.verdict]++;
  return counts;
}
