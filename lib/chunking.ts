import type { Document } from "./corpus";
import { KitError } from "./errors";

/** A piece of a source document: the unit that is embedded, asked about and paraphrased. */
export interface Chunk {
  chunk_id: string;
  text: string;
  source: string;
  /** Character offsets (UTF-16, end exclusive) of `text` in the loaded document. */
  start: number;
  end: number;
}

export interface Span {
  text: string;
  start: number;
  end: number;
}

export interface ChunkOptions {
  /** Longest chunk, in characters. Default 1000, as AutoDidact. */
  chunkSize?: number;
  /** Characters repeated between neighbouring chunks. Default 0, as AutoDidact. */
  chunkOverlap?: number;
  /** Tried in order: a piece still too long is split again on the next one. */
  separators?: string[];
}

export const DEFAULT_CHUNK_SIZE = 1000;
export const DEFAULT_CHUNK_OVERLAP = 0;
export const DEFAULT_SEPARATORS = ["\n\n", "\n", " ", ""];
/**
 * The largest chunk size accepted. A chunk is embedded whole and put whole into every question and
 * paraphrase prompt: 100,000 characters is some 25,000 tokens, past the context local models run with
 * and a hundred times what an embedder reads (256-512 tokens). A larger size is a typo (1e9), not a choice.
 */
export const MAX_CHUNK_SIZE = 100_000;

/** Throws a one-line KitError naming --chunk-size or --chunk-overlap if either is out of range. */
export function checkChunkOptions(options: ChunkOptions = {}): void {
  const size = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const overlap = options.chunkOverlap ?? DEFAULT_CHUNK_OVERLAP;
  if (!Number.isInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) {
    throw new KitError(`--chunk-size must be an integer from 1 to ${MAX_CHUNK_SIZE} (characters), got ${size}`);
  }
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= size) {
    throw new KitError(`--chunk-overlap must be an integer from 0 to ${size - 1}, less than --chunk-size (${size}), got ${overlap}; lower --chunk-overlap or raise --chunk-size`);
  }
}

/**
 * Recursive character splitting that yields the same chunk texts as langchain's
 * RecursiveCharacterTextSplitter (keepSeparator: true, lengths in characters), but works on
 * offsets into the text instead of copies, so every chunk knows where it came from.
 */
export function chunkText(text: string, options: ChunkOptions = {}): Span[] {
  const size = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const overlap = options.chunkOverlap ?? DEFAULT_CHUNK_OVERLAP;
  const separators = options.separators ?? DEFAULT_SEPARATORS;
  checkChunkOptions(options);
  const spans: Span[] = [];
  const emit = (start: number, end: number) => spans.push({ text: text.slice(start, end), start, end });

  // Joins consecutive pieces (given by their start offsets; piece i ends where i+1 starts) into
  // chunks of at most `size`, keeping up to `overlap` characters of the previous chunk, as
  // langchain's mergeSplits does with an empty separator. Chunks are trimmed, empty ones dropped.
  const merge = (cuts: number[], last: number) => {
    let first = 0; // index of the first piece of the chunk being built
    let total = 0;
    for (let i = 0; i < cuts.length; i++) {
      const len = (i + 1 < cuts.length ? cuts[i + 1] : last) - cuts[i];
      if (total + len > size && i > first) {
        emitTrimmed(cuts[first], cuts[i]);
        while (total > overlap || (total + len > size && total > 0)) {
          total -= cuts[first + 1] - cuts[first];
          first++;
        }
      }
      total += len;
    }
    if (first < cuts.length) emitTrimmed(cuts[first], last);
  };
  const emitTrimmed = (start: number, end: number) => {
    while (start < end && isSpace(text.charCodeAt(start))) start++;
    while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
    if (end > start) emit(start, end);
  };

  const split = (start: number, end: number, seps: readonly string[]) => {
    // Every search looks in the segment alone: searching `text` from `start` would run on past `end`
    // to the next occurrence, or to the end of the text, once per segment (quadratic on long lines
    // with no spaces). V8 makes a slice a view of `text`, not a copy.
    const segment = text.slice(start, end);
    // As langchain: the first separator found in the segment, or "" if it comes first (no further
    // splitting); if none is found, the last one.
    let sep = seps[seps.length - 1] ?? "";
    let rest: readonly string[] | undefined;
    for (let i = 0; i < seps.length; i++) {
      if (seps[i] === "" || segment.includes(seps[i])) {
        sep = seps[i];
        rest = sep === "" ? undefined : seps.slice(i + 1);
        break;
      }
    }
    // Pieces start at every occurrence of the separator (overlapping ones too, as a lookahead
    // regex split does), except at the very start.
    const pieceStarts = [start];
    if (sep === "") {
      for (let p = start + 1; p < end; p++) pieceStarts.push(p);
    } else {
      for (let at = segment.indexOf(sep, 1); at !== -1; at = segment.indexOf(sep, at + 1)) pieceStarts.push(start + at);
    }
    let good: number[] = [];
    for (let i = 0; i < pieceStarts.length; i++) {
      const ps = pieceStarts[i];
      const pe = i + 1 < pieceStarts.length ? pieceStarts[i + 1] : end;
      if (pe - ps < size) {
        good.push(ps);
        continue;
      }
      if (good.length) merge(good, ps);
      good = [];
      if (rest) split(ps, pe, rest);
      else emit(ps, pe);
    }
    if (good.length) merge(good, end);
  };

  if (text.length) split(0, text.length, separators);
  return spans;
}

// The characters String.prototype.trim removes.
const SPACE = /\s/;
function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13) || (code > 127 && SPACE.test(String.fromCharCode(code)));
}

/** Chunks every document; ids run `chunk_1`, `chunk_2`, ... across documents in order. */
export function chunkDocuments(documents: readonly Document[], options: ChunkOptions = {}): Chunk[] {
  const chunks: Chunk[] = [];
  for (const doc of documents) {
    for (const span of chunkText(doc.text, options)) {
      chunks.push({ chunk_id: `chunk_${chunks.length + 1}`, text: span.text, source: doc.source, start: span.start, end: span.end });
    }
  }
  return chunks;
}

/** The paragraphs of a chunk (split on blank lines, trimmed), for per-paragraph paraphrasing. */
export function splitParagraphs(text: string): string[] {
  return text
    .split(/\n[ \t]*\n/)
    .map((p) => p.trim())
    .filter((p) => p !== "");
}
