import * as fs from "node:fs";
import * as path from "node:path";
import type { Chunk } from "./chunking";
import { createEmbedder, type Embedder } from "./embedders";
import { type EnvRow, envDir, type Mode, originalRow } from "./environment";
import { KitError } from "./errors";
import { readJsonl } from "./files";
import { buildLexicalIndex, type Hit } from "./lexical";
import { assertChecksum, assertEmbedder, loadIndex, readIndexRows, searchIndex, type VectorIndex } from "./vector-index";

/**
 * bm25: lexical, the default because it measures best with the offline embedder in every mode;
 * dense: the FAISS index with its embedder (the one to pick with a strong embedding model);
 * hybrid: reciprocal rank fusion of the two.
 */
export const RETRIEVERS = ["bm25", "dense", "hybrid"] as const;
export type Retriever = (typeof RETRIEVERS)[number];
export const DEFAULT_RETRIEVER: Retriever = "bm25";

/** A hit: the row the agent reads (text) and the chunk a reward checks (chunk_id). */
export interface SearchResult extends EnvRow {
  score: number;
}

export interface Searcher {
  retriever: Retriever;
  /** Spec of the embedder the FAISS index was built with (null without an index). */
  embedder: string | null;
  /** The searchable rows by row_id. */
  rows: ReadonlyMap<string, EnvRow>;
  /** Top-k hits per query, best first, each from a different chunk; none for a blank query. */
  search(queries: readonly string[], k: number): Promise<SearchResult[][]>;
  close(): Promise<void>;
}

export interface SearchOptions {
  retriever?: Retriever;
  /** Embedder for dense queries; defaults to the index's own, and must equal it. */
  embedder?: string;
  ollamaHost?: string;
  /** false: dense queries skip the embedding cache (lib/embedding-cache.ts). Default true. */
  cache?: boolean;
  /** Most time one request to an Ollama embedder may take (--request-timeout); default 300 s. */
  requestTimeoutMs?: number;
}

// The constant of reciprocal rank fusion from Cormack et al. (2009); it damps the top ranks.
const RRF_K = 60;
// Each retriever contributes this many candidates per wanted hit to the fusion.
const FUSION_DEPTH = 4;

export function assertRetriever(retriever: string): Retriever {
  if (!(RETRIEVERS as readonly string[]).includes(retriever)) throw new KitError(`unknown retriever "${retriever}": use ${RETRIEVERS.join(", ")}`);
  return retriever as Retriever;
}

/**
 * Searches rows in memory: BM25 needs only the rows; dense and hybrid need the FAISS index over the
 * rows (ids = row ids) and the embedder that built it. No folder is needed.
 */
export function createSearcher(rows: readonly EnvRow[], options: { retriever?: Retriever; index?: VectorIndex; embedder?: Embedder } = {}): Searcher {
  const retriever = assertRetriever(options.retriever ?? DEFAULT_RETRIEVER);
  const { index, embedder } = options;
  if (retriever !== "bm25") {
    if (!(index && embedder)) throw new KitError(`the ${retriever} retriever needs a FAISS index and its embedder; use --retriever bm25 or build the index`);
    assertEmbedder(index.manifest, embedder.spec, "in memory");
  }
  const byId = new Map(rows.map((r) => [r.row_id, r]));
  const lexical = retriever === "dense" ? undefined : buildLexicalIndex(rows.map((r) => ({ id: r.row_id, text: r.text })));
  // Hits are distinct chunks, so each retriever is asked deep enough to find k of them.
  const perChunk = mostRowsPerChunk(rows);

  const dense = async (queries: readonly string[], depth: number): Promise<Hit[][]> => searchIndex(index!, await embedder!.embed([...queries], "query"), depth);
  const bm25 = (queries: readonly string[], depth: number): Hit[][] => queries.map((q) => lexical!.search(q, depth));
  const ranked = async (queries: readonly string[], k: number): Promise<Hit[][]> => {
    if (retriever === "bm25") return bm25(queries, k * perChunk);
    if (retriever === "dense") return dense(queries, k * perChunk);
    const depth = k * FUSION_DEPTH * perChunk;
    const [d, l] = [await dense(queries, depth), bm25(queries, depth)];
    return queries.map((_, i) => fuseRanks([d[i], l[i]], depth));
  };

  return {
    retriever,
    embedder: index?.manifest.embedder ?? null,
    rows: byId,
    async search(queries, k) {
      if (!Number.isInteger(k) || k < 1) throw new KitError(`k (results per query) must be a positive integer, got ${k}`);
      // A blank query (an empty <search></search>) finds nothing, as in Search-R1's server, and costs no embedding.
      const asked = queries.flatMap((q, i) => (q.trim() ? [i] : []));
      const found = asked.length ? await ranked(asked.map((i) => queries[i]), k) : [];
      const results: SearchResult[][] = queries.map(() => []);
      asked.forEach((at, i) => (results[at] = distinctChunks(found[i], byId, k)));
      return results;
    },
    close: async () => embedder?.close?.(),
  };
}

/**
 * Opens a folder for searching: an environment folder (env/<mode>/, rows.jsonl beside the index) or an
 * index folder written by `kit index` (its rows are the chunks of the chunks.jsonl it names).
 * `options.shared` may be an open embedder to use (it is not closed with the searcher).
 */
export async function openSearch(dir: string, options: SearchOptions & { shared?: Embedder } = {}): Promise<Searcher> {
  const retriever = assertRetriever(options.retriever ?? DEFAULT_RETRIEVER);
  // BM25 reads no vectors: a FAISS index's native memory goes only when V8 collects its small wrapper.
  const { index, rows } = loadSearchFolder(dir, retriever !== "bm25");
  if (!index) return createSearcher(rows, { retriever });
  const spec = options.shared?.spec ?? options.embedder ?? index.manifest.embedder;
  assertEmbedder(index.manifest, spec, dir);
  const embedder = options.shared ?? (await createEmbedder(spec, { ollamaHost: options.ollamaHost, cache: options.cache, timeoutMs: options.requestTimeoutMs }));
  const searcher = createSearcher(rows, { retriever, index, embedder });
  return options.shared ? { ...searcher, close: async () => {} } : searcher;
}

/** The FAISS index of a folder (unless `vectors` is false) and the rows its ids refer to, every id checked to have one. */
function loadSearchFolder(dir: string, vectors: boolean): { index?: VectorIndex; rows: EnvRow[] } {
  const index = vectors ? loadIndex(dir) : undefined;
  const { manifest, ids } = index ?? readIndexRows(dir);
  const rowsPath = manifest.chunks;
  if (!rowsPath) throw new KitError(`index ${dir} does not name its chunks file; rebuild it with kit index --chunks FILE`);
  const file = path.resolve(dir, rowsPath);
  if (!fs.existsSync(file)) throw new KitError(`index ${dir} refers to ${file}, which is missing; run kit chunk again or rebuild the index`);
  assertChecksum(dir, manifest, rowsPath);
  const rows = readJsonl<EnvRow | Chunk>(file).map((r) => ("row_id" in r ? r : originalRow(r)));
  const known = new Set(rows.map((r) => r.row_id));
  const stray = ids.find((id) => !known.has(id));
  if (stray !== undefined) throw new KitError(`index ${dir}: row ${stray} of ids.json is not in ${file}; the two come from different builds: rebuild the index`);
  return { index, rows };
}

/** Opens the environment `mode` of a dataset folder written by kit build. */
export function openEnvironment(dataset: string, mode: Mode, options: SearchOptions & { shared?: Embedder } = {}): Promise<Searcher> {
  const dir = envDir(dataset, mode);
  if (!fs.existsSync(dir)) throw new KitError(`${dataset} has no environment ${mode} (${dir}); run kit build --out ${dataset} again`);
  return openSearch(dir, options);
}

/** Reciprocal rank fusion: each list adds 1 / (RRF_K + rank) to the ids it ranks. */
export function fuseRanks(lists: readonly Hit[][], k: number): Hit[] {
  const scores = new Map<string, number>();
  for (const list of lists) {
    list.forEach((hit, rank) => scores.set(hit.id, (scores.get(hit.id) ?? 0) + 1 / (RRF_K + rank + 1)));
  }
  return [...scores]
    .map(([id, score]) => ({ id, score }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

/** The best row of each chunk, k chunks at most: a second rewording of a chunk already shown tells the agent nothing new. */
function distinctChunks(hits: readonly Hit[], rows: ReadonlyMap<string, EnvRow>, k: number): SearchResult[] {
  const seen = new Set<string>();
  const out: SearchResult[] = [];
  for (const hit of hits) {
    const row = rows.get(hit.id)!;
    if (seen.has(row.chunk_id)) continue;
    seen.add(row.chunk_id);
    out.push({ ...row, score: hit.score });
    if (out.length === k) break;
  }
  return out;
}

function mostRowsPerChunk(rows: readonly EnvRow[]): number {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.chunk_id, (counts.get(r.chunk_id) ?? 0) + 1);
  return Math.max(1, ...counts.values());
}

/**
 * The part of a hit's text that matched: the sentence holding most of the query's words (of 3+ letters), with its
 * neighbours while they fit in `width` characters; the whole text when it fits. For showing a hit, not for rewards.
 */
export function matchedPassage(text: string, query: string, width = 400): string {
  if (text.length <= width) return text;
  const words = new Set(query.toLowerCase().match(/\p{L}{3,}|\p{N}+/gu) ?? []);
  const sentences = text.split(/(?<=[.!?])\s+|\n+/).filter((t) => t.trim());
  const hits = sentences.map((t) => (t.toLowerCase().match(/\p{L}{3,}|\p{N}+/gu) ?? []).filter((w) => words.has(w)).length);
  let [from, to] = [hits.indexOf(Math.max(...hits)), 0];
  to = from + 1;
  const length = () => sentences.slice(from, to).join(" ").length;
  while (to < sentences.length && length() + sentences[to].length < width) to++;
  while (from > 0 && length() + sentences[from - 1].length < width) from--;
  const passage = sentences.slice(from, to).join(" ");
  const cut = passage.length > width ? `${passage.slice(0, width)}…` : passage;
  return `${from > 0 ? "…" : ""}${cut}${to < sentences.length && passage.length <= width ? "…" : ""}`;
}

