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

// Terms are separated by runs of spaces and punctuation.
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
 * BM25+ (Lv & Zhai, 2011) with the parameters minisearch uses, which is what the kit measured its
 * retrieval figures with: k1 1.2, b 0.7, delta 0.5. A text's length is its number of distinct terms.
 */
export const BM25 = { k1: 1.2, b: 0.7, delta: 0.5 };

/**
 * BM25 over texts on words and adjacent word pairs. On 1000-character chunks of the Apollo report it
 * finds the chunk a question is about far more often than USE-lite vectors do, so it is the kit's
 * default retriever.
 *
 * Each posting's score is fixed once the corpus is known, so it is computed at build time: a query only adds up
 * the postings of its terms and keeps the best k, with no per-query allocation beyond the hits.
 * A text's score is multiplied by how many distinct query terms it matches, as minisearch does, which
 * favours texts that match more of the query over texts that repeat one rare term.
 */
export function buildLexicalIndex(docs: readonly { id: string; text: string }[]): LexicalIndex {
  const ids = docs.map((d) => d.id);
  // Pass 1: each text's (term, count) pairs, in text order, with terms numbered as first met. Flat typed arrays, no
  // object per term: most terms are word pairs found in one text, millions of them in a large corpus.
  const termIds = new Map<string, number>();
  let frequency = new Int32Array(1 << 16); // texts holding each term
  let pairs = new Int32Array(1 << 16); // term, count, term, count, ...
  let used = 0;
  const ends = new Int32Array(docs.length); // where each text's pairs end
  const lengths = new Float64Array(docs.length);
  docs.forEach((doc, i) => {
    const counts = new Map<string, number>();
    for (const term of terms(doc.text)) counts.set(term, (counts.get(term) ?? 0) + 1);
    lengths[i] = counts.size;
    if (used + 2 * counts.size > pairs.length) pairs = grown(pairs, used + 2 * counts.size);
    for (const [term, tf] of counts) {
      let id = termIds.get(term);
      if (id === undefined) {
        termIds.set(term, (id = termIds.size));
        if (id >= frequency.length) frequency = grown(frequency, id + 1);
      }
      frequency[id]++;
      pairs[used++] = id;
      pairs[used++] = tf;
    }
    ends[i] = used;
  });
  // Pass 2: each term's postings side by side (compressed sparse rows), with their scores.
  const termCount = termIds.size;
  const starts = new Int32Array(termCount + 1);
  for (let t = 0; t < termCount; t++) starts[t + 1] = starts[t] + frequency[t];
  const postingDocs = new Int32Array(starts[termCount]);
  const postingScores = new Float64Array(starts[termCount]);
  const avgLength = lengths.reduce((a, b) => a + b, 0) / Math.max(1, docs.length) || 1;
  const { k1, b, delta } = BM25;
  const next = starts.slice(0, termCount);
  for (let d = 0, at = 0; d < docs.length; d++) {
    const norm = k1 * (1 - b + (b * lengths[d]) / avgLength);
    for (; at < ends[d]; at += 2) {
      const [t, tf] = [pairs[at], pairs[at + 1]];
      const idf = Math.log(1 + (docs.length - frequency[t] + 0.5) / (frequency[t] + 0.5));
      postingDocs[next[t]] = d;
      postingScores[next[t]++] = idf * (delta + (tf * (k1 + 1)) / (tf + norm));
    }
  }

  // Reused by every query (search is synchronous): scores and matched-term counts per text, and which texts were touched.
  const score = new Float64Array(docs.length);
  const matched = new Uint16Array(docs.length);
  const touched = new Int32Array(docs.length);

  return {
    search(query, k) {
      const weights = new Map<string, number>();
      for (const term of terms(query)) weights.set(term, (weights.get(term) ?? 0) + 1);
      let count = 0;
      for (const [term, weight] of weights) {
        const t = termIds.get(term);
        if (t === undefined) continue;
        for (let j = starts[t]; j < starts[t + 1]; j++) {
          const d = postingDocs[j];
          if (matched[d] === 0) touched[count++] = d;
          matched[d]++;
          score[d] += weight * postingScores[j];
        }
      }
      const best = topK(touched.subarray(0, count), (d) => score[d] * matched[d], k);
      for (let j = 0; j < count; j++) {
        score[touched[j]] = 0;
        matched[touched[j]] = 0;
      }
      return best.map(({ doc, value }) => ({ id: ids[doc], score: value }));
    },
  };
}

/** A copy of `array` with room for at least `size` items (doubling, so appends stay linear). */
function grown(array: Int32Array, size: number): Int32Array {
  const bigger = new Int32Array(Math.max(size, 2 * array.length));
  bigger.set(array);
  return bigger;
}

/** The k best of `items` by `value`, best first; ties keep the earlier item first. */
function topK(items: Int32Array, value: (item: number) => number, k: number): { doc: number; value: number }[] {
  // Asked for most of them (as multi-hop partner search is), sorting them all is cheaper.
  if (k * 8 >= items.length) return Array.from(items, (doc) => ({ doc, value: value(doc) })).sort((a, b) => b.value - a.value).slice(0, k);
  const best: { doc: number; value: number }[] = [];
  for (const doc of items) {
    const v = value(doc);
    if (best.length === k && v <= best[k - 1].value) continue;
    let at = best.length;
    while (at > 0 && best[at - 1].value < v) at--;
    best.splice(at, 0, { doc, value: v });
    if (best.length > k) best.pop();
  }
  return best;
}
