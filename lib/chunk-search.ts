import type { Chunk } from "./chunking";
import type { Embedder } from "./embedders";
import { type EnvRow, originalRow } from "./environment";
import { KitError } from "./errors";
import { createSearcher, DEFAULT_RETRIEVER, type Retriever, type Searcher } from "./search";
import { buildIndex } from "./vector-index";

export interface ChunkSearchOptions {
  /** bm25 (the default), dense or hybrid (reciprocal rank fusion of the two). */
  retriever?: Retriever;
  /** For dense and hybrid: embeds the rows, then the queries. The caller keeps it open, and closes it. */
  embedder?: Embedder;
}

/**
 * Searches chunks (or environment rows) in memory, with no folder and no index on disk: the quickest way to try
 * a retriever on chunks from chunkDocuments or chunks.jsonl. bm25 needs nothing else; dense and hybrid first embed
 * every row with `embedder` into a FAISS index in memory. Each hit is a different chunk, best first.
 *
 *     const searcher = await createChunkSearcher(chunks);
 *     const [hits] = await searcher.search(["What caused the oxygen tank failure?"], 3);
 *     const dense = await createChunkSearcher(chunks, { retriever: "dense", embedder: await createEmbedder("use-lite") });
 *
 * Over rows already in a folder (env/<mode>, an index folder), use openSearch or openEnvironment (lib/search.ts).
 */
export async function createChunkSearcher(items: readonly (Chunk | EnvRow)[], options: ChunkSearchOptions = {}): Promise<Searcher> {
  const rows = items.map((r) => ("row_id" in r ? r : originalRow(r)));
  const retriever = options.retriever ?? DEFAULT_RETRIEVER;
  if (!rows.length) throw new KitError("createChunkSearcher: no chunks to search");
  if (retriever === "bm25") return createSearcher(rows, { retriever });
  const { embedder } = options;
  if (!embedder) throw new KitError(`the ${retriever} retriever embeds the chunks: pass { embedder: await createEmbedder("use-lite") } (lib/embedders), or use retriever "bm25"`);
  const vectors = await embedder.embed(rows.map((r) => r.text), "passage");
  const index = buildIndex(vectors, rows.map((r) => r.row_id), { embedder: embedder.spec });
  // The embedder is the caller's: closing the searcher leaves it open.
  return { ...createSearcher(rows, { retriever, index, embedder }), close: async () => {} };
}
