import MiniSearch from "minisearch";

/** A retrieved text by its id; scores are only comparable within one retriever and one query. */
export interface Hit {
  id: string;
  score: number;
}

export interface LexicalIndex {
  search(query: string, k: number): Hit[];
}

// Function words carry no evidence of which chunk a question is about; dropping them keeps BM25
// from ranking chunks by how often they say "the".
const STOP_WORDS = new Set(
  "a an and are as at be been but by can did do does for from had has have how i if in into is it its of on or so that the their them there these they this to was were what when where which who whom why will with would".split(" "),
);

/**
 * BM25 over texts (minisearch's BM25+). On 1000-character chunks of the Apollo report it
 * finds the chunk a question is about far more often than USE-lite vectors do, so it is the
 * kit's default retriever.
 */
export function buildLexicalIndex(docs: readonly { id: string; text: string }[]): LexicalIndex {
  const index = new MiniSearch<{ id: string; text: string }>({
    idField: "id",
    fields: ["text"],
    processTerm: (term) => {
      const t = term.toLowerCase();
      return STOP_WORDS.has(t) ? null : t;
    },
  });
  index.addAll(docs);
  return {
    search: (query, k) =>
      index
        .search(query, { combineWith: "OR" })
        .slice(0, k)
        .map((r) => ({ id: String(r.id), score: r.score })),
  };
}
