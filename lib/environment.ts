import * as path from "node:path";
import type { BuildStamp } from "./pipeline/identity";
import type { Chunk } from "./chunking";
import type { Embedder } from "./embedders";
import { KitError } from "./errors";
import { type CheckedParaphrase, isKept } from "./paraphrase";
import { buildIndex, DEFAULT_FACTORY, type IndexManifest, saveIndex } from "./vector-index";

/**
 * The corpus a search agent explores during training. Every mode holds every chunk:
 * - original: the chunks as they are;
 * - paraphrased: each chunk through its kept paraphrases, or its own text (kind "original") when none was kept;
 * - merged: the chunks plus every kept paraphrase as a distractor (ReZero's index).
 * A reward checks a hit's chunk_id; the agent reads its text.
 */
export const MODES = ["original", "paraphrased", "merged"] as const;
export type Mode = (typeof MODES)[number];

/** One searchable row of an environment: rows.jsonl, and what a search returns. */
export interface EnvRow {
  /** The chunk id for an original text, the paraphrase id for a paraphrase. */
  row_id: string;
  chunk_id: string;
  kind: "original" | "paraphrase";
  paraphrase_id: string | null;
  style: string | null;
  text: string;
}

export interface Coverage {
  chunks: number;
  /** Chunks with at least one row: all of them, by construction. */
  covered: number;
  /** Chunks present through at least one kept paraphrase. */
  by_paraphrase: number;
  /** Chunks present only through their original text (in paraphrased mode: no paraphrase was kept). */
  by_original_only: number;
}

/** What an environment folder's manifest.json holds beside the index fields. */
export interface EnvManifest extends IndexManifest {
  mode: Mode;
  rows: number;
  original_rows: number;
  paraphrase_rows: number;
  coverage: Coverage;
}

const ROWS_FILE = "rows.jsonl";

export function assertMode(mode: string, where = "--mode"): Mode {
  if (!(MODES as readonly string[]).includes(mode)) throw new KitError(`${where} "${mode}" is not a mode: use ${MODES.join(", ")}`);
  return mode as Mode;
}

/** Where `kit build` writes a mode's folder in a dataset folder. */
export const envDir = (dataset: string, mode: Mode) => path.join(dataset, "env", mode);

/** A chunk as a row of an environment. */
export function originalRow(chunk: Pick<Chunk, "chunk_id" | "text">): EnvRow {
  return { row_id: chunk.chunk_id, chunk_id: chunk.chunk_id, kind: "original", paraphrase_id: null, style: null, text: chunk.text };
}

function paraphraseRow(p: CheckedParaphrase): EnvRow {
  return { row_id: p.paraphrase_id, chunk_id: p.chunk_id, kind: "paraphrase", paraphrase_id: p.paraphrase_id, style: p.style, text: p.text };
}

/**
 * The rows of one mode, in chunk order (a chunk's original first, then its paraphrases in file order).
 * Only whole-chunk paraphrases stand in for a chunk: a paraphrased paragraph is a part of one.
 */
export function environmentRows(mode: Mode, chunks: readonly Chunk[], paraphrases: readonly CheckedParaphrase[]): EnvRow[] {
  const kept = new Map<string, EnvRow[]>();
  for (const p of paraphrases) {
    if (!isKept(p) || (mode === "paraphrased" && p.paragraph_index !== null)) continue;
    const list = kept.get(p.chunk_id) ?? [];
    list.push(paraphraseRow(p));
    kept.set(p.chunk_id, list);
  }
  return chunks.flatMap((chunk) => {
    const rows = kept.get(chunk.chunk_id) ?? [];
    if (mode === "original") return [originalRow(chunk)];
    if (mode === "merged") return [originalRow(chunk), ...rows];
    return rows.length ? rows : [originalRow(chunk)];
  });
}

export function coverageOf(chunks: readonly Pick<Chunk, "chunk_id">[], rows: readonly EnvRow[]): Coverage {
  const covered = new Set(rows.map((r) => r.chunk_id));
  const paraphrased = new Set(rows.filter((r) => r.kind === "paraphrase").map((r) => r.chunk_id));
  const inCorpus = chunks.filter((c) => covered.has(c.chunk_id)).length;
  return { chunks: chunks.length, covered: inCorpus, by_paraphrase: paraphrased.size, by_original_only: inCorpus - paraphrased.size };
}

/** Embeds a mode's rows and writes its folder: rows.jsonl, index.faiss, ids.json (row ids) and manifest.json. */
export async function writeEnvironment(
  dir: string,
  mode: Mode,
  chunks: readonly Chunk[],
  paraphrases: readonly CheckedParaphrase[],
  options: { embedder: Embedder; factory?: string; stamp?: BuildStamp },
): Promise<EnvManifest> {
  const rows = environmentRows(mode, chunks, paraphrases);
  const vectors = await options.embedder.embed(rows.map((r) => r.text), "passage");
  const index = buildIndex(vectors, rows.map((r) => r.row_id), { factory: options.factory ?? DEFAULT_FACTORY, embedder: options.embedder });
  const paraphraseRows = rows.filter((r) => r.kind === "paraphrase").length;
  const manifest: EnvManifest = {
    ...index.manifest,
    mode,
    rows: rows.length,
    original_rows: rows.length - paraphraseRows,
    paraphrase_rows: paraphraseRows,
    coverage: coverageOf(chunks, rows),
  };
  saveIndex({ ...index, manifest }, dir, { chunks: ROWS_FILE, jsonl: { [ROWS_FILE]: rows }, stamp: options.stamp });
  return { ...manifest, chunks: ROWS_FILE };
}
