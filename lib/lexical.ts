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

// minisearch's own tokenizer: terms are separated by runs of spaces and punctuation.
const SPACE_OR_PUNCTUATION = /[\n\r\p{Z}\p{P}]+/u;

/**
 * The terms of a text: its content words (lower case, stop words dropped) and each pair of adjacent
 * content words ("oxygen tank"). A pair is far rarer than either of its words, so a query that shares a
 * phrase with a chunk ranks it above chunks that only use the same words apart. Pairs contain a space,
 * which no word does, so they never collide with a word. (Stemming, S-stemming or Porter, lowered MRR on
 * both Apollo and a KEP slice, so words stay as written.)
 */
export function terms(text: string): string[] {
  const words = text
    .toLowerCase()
    .split(SPACE_OR_PUNCTUATION)
    .filter((t) => t && !STOP_WORDS.has(t));
  return words.concat(words.slice(1).map((w, i) => `${words[i]} ${w}`));
}

/**
 * BM25 over texts (minisearch's BM25+) on words and adjacent word pairs. On 1000-character chunks of the
 * Apollo report it finds the chunk a question is about far more often than USE-lite vectors do, so it is
 * the kit's default retriever.
 */
export function buildLexicalIndex(docs: readonly { id: string; text: string }[]): LexicalIndex {
  const index = new MiniSearch<{ id: string; text: string }>({
    idField: "id",
    fields: ["text"],
    // Queries go through the same tokenizer, so a query's pairs meet the indexed pairs.
    tokenize: terms,
    processTerm: (term) => term,
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
