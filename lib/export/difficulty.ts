import { type Mode, MODES } from "../environment";
import { DEFAULT_RETRIEVER, openEnvironment, type Searcher } from "../search";

/** Ranks past this are not looked for: the gold chunk counts as not found (null). */
export const GOLD_RANK_DEPTH = 20;

const RANK_BATCH = 1_000;

export type Bucket = "easy" | "medium" | "hard";

/**
 * Measured difficulty from the gold chunk's rank in the paraphrased environment (the one kit serve
 * serves by default): first is easy, second to fifth medium, lower or not in the top 20 hard.
 */
export function bucketOf(rank: number | null): Bucket {
  if (rank === 1) return "easy";
  return rank !== null && rank <= 5 ? "medium" : "hard";
}

type GoldQuestion = { question: string; chunk_id: string; supporting_chunk_ids?: string[] };

/**
 * The rank (1-based) of each question's gold chunks under the default retriever, in each environment mode of a
 * dataset folder: for a multi-hop question, the rank at which the last of its supporting chunks appears, as
 * allChunksReward counts them. Null when a gold chunk is not in the top GOLD_RANK_DEPTH. The same search as kit search.
 */
export async function goldRanks(dataset: string, questions: readonly GoldQuestion[]): Promise<Record<Mode, (number | null)[]>> {
  const ranks = {} as Record<Mode, (number | null)[]>;
  for (const mode of MODES) ranks[mode] = await goldRanksIn(dataset, mode, questions);
  return ranks;
}

/** goldRanks in one environment mode. */
export async function goldRanksIn(dataset: string, mode: Mode, questions: readonly GoldQuestion[]): Promise<(number | null)[]> {
  const searcher = await openEnvironment(dataset, mode, { retriever: DEFAULT_RETRIEVER });
  try {
    return await goldRanksWith(searcher, questions);
  } finally {
    await searcher.close();
  }
}

/**
 * goldRanks with a searcher of your own (not closed here): e.g. BM25 over the chunks alone
 * (createSearcher(chunks.map(originalRow))), where no environment has been written yet.
 */
export async function goldRanksWith(searcher: Pick<Searcher, "search">, questions: readonly GoldQuestion[]): Promise<(number | null)[]> {
  const ranks: (number | null)[] = [];
  // A batch at a time: a whole corpus's questions (40,000 on the KEP corpus) times 20 hits is 800,000 hits at once.
  for (let at = 0; at < questions.length; at += RANK_BATCH) {
    const batch = questions.slice(at, at + RANK_BATCH);
    const hits = await searcher.search(batch.map((q) => q.question), GOLD_RANK_DEPTH);
    for (const [i, q] of batch.entries()) {
      const found = (q.supporting_chunk_ids ?? [q.chunk_id]).map((gold) => hits[i].findIndex((h) => h.chunk_id === gold));
      ranks.push(found.some((r) => r < 0) ? null : Math.max(...found) + 1);
    }
  }
  return ranks;
}
