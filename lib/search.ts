import * as fs from "node:fs";
import * as path from "node:path";
import type { Chunk } from "./chunking";
import { createEmbedder, type Embedder } from "./embedders";
import { KitError } from "./errors";
import { readJsonl } from "./files";
import { buildLexicalIndex, type Hit } from "./lexical";
import { assertEmbedder, loadIndex, searchIndex } from "./vector-index";

/**
 * bm25: lexical, the default because it measures best with the offline embedder;
 * dense: the FAISS index with its embedder (the one to pick with a strong embedding model);
 * hybrid: reciprocal rank fusion of the two.
 */
export const RETRIEVERS = ["bm25", "dense", "hybrid"] as const;
export type Retriever = (typeof RETRIEVERS)[number];
export const DEFAULT_RETRIEVER: Retriever = "bm25";

export interface SearchResult extends Hit {
  text: string;
}

export interface Searcher {
  retriever: Retriever;
  chunks: Map<string, Chunk>;
  search(queries: readonly string[], k: number): Promise<SearchResult[][]>;
  close(): Promise<void>;
}

export interface SearchOptions {
  retriever?: Retriever;
  /** Embedder for dense queries; defaults to the index's own, and must equal it. */
  embedder?: string;
  ollamaHost?: string;
}

// The constant of reciprocal rank fusion from Cormack et al. (2009); it damps the top ranks.
const RRF_K = 60;
// Each retriever contributes this many candidates per wanted hit to the fusion.
const FUSION_DEPTH = 4;

/** Opens the index folder written by `kit index` (and the chunks it names) for searching. */
export async function openSearch(indexDir: string, options: SearchOptions = {}): Promise<Searcher> {
  const retriever = options.retriever ?? DEFAULT_RETRIEVER;
  if (!RETRIEVERS.includes(retriever)) throw new KitError(`unknown retriever "${retriever}": use ${RETRIEVERS.join(", ")}`);
  const index = loadIndex(indexDir);
  const chunks = loadIndexedChunks(indexDir, index.manifest.chunks);
  const lexical = retriever === "dense" ? undefined : buildLexicalIndex([...chunks.values()]);
  let embedder: Embedder | undefined;
  if (retriever !== "bm25") {
    const spec = options.embedder ?? index.manifest.embedder;
    assertEmbedder(index.manifest, spec, indexDir);
    embedder = await createEmbedder(spec, { ollamaHost: options.ollamaHost });
  }

  const dense = async (queries: readonly string[], k: number) => searchIndex(index, await embedder!.embed([...queries], "query"), k);
  const bm25 = (queries: readonly string[], k: number) => queries.map((q) => lexical!.search(q, k));

  return {
    retriever,
    chunks,
    async search(queries, k) {
      let hits: Hit[][];
      if (retriever === "bm25") hits = bm25(queries, k);
      else if (retriever === "dense") hits = await dense(queries, k);
      else {
        const depth = k * FUSION_DEPTH;
        const [d, l] = [await dense(queries, depth), bm25(queries, depth)];
        hits = queries.map((_, i) => fuseRanks([d[i], l[i]], k));
      }
      return hits.map((row) => row.map((h) => ({ ...h, text: chunks.get(h.chunk_id)?.text ?? "" })));
    },
    close: async () => embedder?.close?.(),
  };
}

/** Reciprocal rank fusion: each list adds 1 / (RRF_K + rank) to the chunks it ranks. */
export function fuseRanks(lists: readonly Hit[][], k: number): Hit[] {
  const scores = new Map<string, number>();
  for (const list of lists) {
    list.forEach((hit, rank) => scores.set(hit.chunk_id, (scores.get(hit.chunk_id) ?? 0) + 1 / (RRF_K + rank + 1)));
  }
  return [...scores]
    .map(([chunk_id, score]) => ({ chunk_id, score }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

function loadIndexedChunks(indexDir: string, chunksPath: string | undefined): Map<string, Chunk> {
  if (!chunksPath) throw new KitError(`index ${indexDir} does not name its chunks file; rebuild it with kit index --chunks FILE`);
  const file = path.resolve(indexDir, chunksPath);
  if (!fs.existsSync(file)) throw new KitError(`index ${indexDir} refers to ${file}, which is missing; run kit chunk again or rebuild the index`);
  return new Map(readJsonl<Chunk>(file).map((c) => [c.chunk_id, c]));
}
