import * as fs from "node:fs";
import * as path from "node:path";
import { type Chunk, splitParagraphs } from "../chunking";
import { KitError } from "../errors";
import { writeFileAtomic, writeJsonlAtomic } from "../files";
import type { TrainerQuestion } from "./search-r1";

/** The two files LangChain's FAISS.save_local writes and FAISS.load_local reads: the index and its docstore. */
export const LANGCHAIN_INDEX_FILES = ["index.faiss", "index.pkl"];

/** Copies a chunk index's LangChain files (kit build writes index.pkl beside index.faiss) into `to`. */
export function copyLangChainIndex(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const file of LANGCHAIN_INDEX_FILES) {
    if (!fs.existsSync(path.join(from, file))) throw new KitError(`${from} has no ${file}; run kit build again (kit 0.2 wrote no LangChain docstore)`);
    fs.copyFileSync(path.join(from, file), path.join(to, file));
  }
}

/** A kept paraphrase with the text it rewords: the chunk's, or its paragraph's. */
export interface NoiseRow {
  chunk_id: string;
  original: string;
  paraphrase: string;
}

/**
 * ReZero's data/ folder (scripts/generate_data.py; read by src/search_module.py and its rewards): index.faiss and
 * index.pkl (LangChain FAISS over the chunks), questions.jsonl `{id, question, answer, supporting_paragraphs}` of
 * accepted questions only, chunks.csv `(chunk_id, content, metadata)` and paragraphs_noise.csv `(chunk_id,
 * original_paragraph, paraphrased_text)`. Chunk ids are the kit's, so every file of the export names a chunk alike.
 * Returns the files written, relative to `dir`.
 */
export function writeReZero(dir: string, input: { chunks: readonly Chunk[]; questions: readonly TrainerQuestion[]; noise: readonly NoiseRow[]; index: string }): string[] {
  copyLangChainIndex(input.index, dir);
  const text = new Map(input.chunks.map((c) => [c.chunk_id, c.text]));
  // ReZero's reward looks for the last supporting paragraph in the search results; a chunk's paragraphs, in search order.
  const paragraphs = (ids: readonly string[]) => ids.flatMap((id) => splitParagraphs(text.get(id)!));
  writeJsonlAtomic(
    path.join(dir, "questions.jsonl"),
    input.questions.map((q) => ({ id: q.id, question: q.question, answer: q.answer, supporting_paragraphs: paragraphs(q.supporting_chunk_ids), chunk_id: q.chunk_id, supporting_chunk_ids: q.supporting_chunk_ids })),
  );
  const metadata = (c: Chunk) => pythonDict({ chunk_id: c.chunk_id, source: c.source });
  writeFileAtomic(path.join(dir, "chunks.csv"), csv(["chunk_id", "content", "metadata"], input.chunks.map((c) => [c.chunk_id, c.text, metadata(c)])));
  writeFileAtomic(path.join(dir, "paragraphs_noise.csv"), csv(["chunk_id", "original_paragraph", "paraphrased_text"], input.noise.map((n) => [n.chunk_id, n.original, n.paraphrase])));
  return [...LANGCHAIN_INDEX_FILES, "questions.jsonl", "chunks.csv", "paragraphs_noise.csv"];
}

/** CSV as pandas' to_csv writes it: a field is quoted when it holds a comma, a quote or a line break. */
function csv(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const field = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  return [header, ...rows].map((r) => r.map(field).join(",") + "\n").join("");
}

/** A dict of strings as Python's repr writes it (what pandas writes for a Document's metadata). */
function pythonDict(values: Record<string, string>): string {
  return `{${Object.entries(values).map(([k, v]) => `${pythonStr(k)}: ${pythonStr(v)}`).join(", ")}}`;
}

function pythonStr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  const body = [...s]
    .map((ch) => {
      if (ch === "\\" || ch === quote) return `\\${ch}`;
      const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
      if (named[ch]) return named[ch];
      const code = ch.codePointAt(0)!;
      return code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, "0")}` : ch;
    })
    .join("");
  return quote + body + quote;
}
