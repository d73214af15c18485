import * as path from "node:path";
import { type Mode, MODES } from "./environment";
import { KitError } from "./errors";
import { datasetFile } from "./export/dataset";
import { readJsonl, writeFileAtomic } from "./files";
import { type CheckedParaphrase, isKept, KEPT_VERDICTS } from "./paraphrase";
import type { Question } from "./questions";
import { allChunksReward, type RetrievalRewardOptions } from "./reward";
import { createEmbedder, type Embedder, memoizeEmbedder } from "./embedders";
import { readFinishedBuild } from "./pipeline/finished";
import { openEnvironment, type Retriever, RETRIEVERS } from "./search";
import { readIndexRows } from "./vector-index";
import { defaultProgress } from "./notebook";

export interface EvaluateOptions {
  /** Dataset folder written by kit build. */
  dataset: string;
  /** Cut-offs for recall@k; MRR counts hits within the largest. Default [1, 5, 10]. */
  ks?: number[];
  /** Ollama URL for an ollama: embedder (else OLLAMA_HOST). */
  ollamaHost?: string;
  /** Retrievers to score. Default all three. */
  retrievers?: Retriever[];
  /** Called after each batch of queries with the running total over every retriever and query set. */
  onProgress?: (done: number, total: number) => void;
  /**
   * At most this many queries per query set, evenly spread over it (the build's own evaluation samples, so a
   * 20,000-chunk corpus is not searched 40,000 times per retriever and mode). Default: every query.
   */
  sample?: number;
  /** An open embedder to embed dense queries with (it must be the index's); not closed here. */
  embedder?: Embedder;
  /** Set by kit build, which evaluates its own dataset before it is finished; anyone else reads a finished build only. */
  ownBuild?: boolean;
}

export interface RetrieverScores {
  /** Share of queries whose chunk is in the top k, keyed by k. */
  recall: Record<string, number>;
  /** Mean reciprocal rank of the chunk within the top max(ks) (0 when it is not there). */
  mrr: number;
  seconds: number;
}

export interface QuerySetScores {
  /** Queries searched: all of the set, or a sample of them. */
  queries: number;
  /** The set's size when `queries` is a sample of it. */
  of?: number;
  retrievers: Record<Retriever, RetrieverScores>;
}

/** What eval.json holds. */
export interface RetrievalEvaluation {
  dataset: string;
  embedder: string;
  ks: number[];
  retrievers: Retriever[];
  /** Accepted single-chunk questions, each looking for the chunk it was written from, in each environment mode. */
  questions: Record<Mode, QuerySetScores>;
  /** Accepted multi-hop questions, each looking for all its supporting chunks (recall@k: every one in the top k), when the dataset has any. */
  multi_hop?: Record<Mode, QuerySetScores>;
  /** Kept paraphrases, each looking for its original chunk among the originals. */
  paraphrases: QuerySetScores;
  /** Per mode, the retriever with the highest MRR on the questions. */
  best: Record<Mode, Retriever>;
}

export const DEFAULT_KS = [1, 5, 10];
const EVALUATED: Retriever[] = ["dense", "bm25", "hybrid"];

/** Parses a --retrievers value such as "bm25,dense". */
export function parseRetrievers(text: string): Retriever[] {
  const list = [...new Set(text.split(",").map((s) => s.trim()))];
  const bad = list.find((r) => !(RETRIEVERS as readonly string[]).includes(r));
  if (bad !== undefined || !list.length) throw new KitError(`--retrievers takes a comma-separated list of ${RETRIEVERS.join(", ")}, got "${text}"`);
  return list as Retriever[];
}
const BATCH = 256;

/** Parses a --k value such as "1,5,10". */
export function parseKs(text: string): number[] {
  const ks = text.split(",").map((s) => Number(s.trim()));
  if (!text.trim() || !ks.every((k) => Number.isInteger(k) && k >= 1)) throw new KitError(`--k must be comma-separated integers >= 1 (e.g. 1,5,10), got "${text}"`);
  return ks;
}

/**
 * Recall@k for each k and MRR within the top max(ks), with the reward's own matching: the metric a trainer's reward
 * sees. A target is a chunk id, or the list of chunks a multi-hop question needs: then a hit is all of them within
 * the top k, and MRR is n over the rank at which the last of its n chunks appears (allChunksReward).
 */
export function scoreRankings(targets: readonly (string | readonly string[])[], rankings: readonly (readonly string[])[], ks: readonly number[]): Omit<RetrieverScores, "seconds"> {
  if (targets.length !== rankings.length) throw new KitError(`got ${rankings.length} rankings for ${targets.length} queries; they must pair up`);
  if (!targets.length) throw new KitError("no queries to score");
  const list = (t: string | readonly string[]) => (typeof t === "string" ? [t] : t);
  const mean = (options: RetrievalRewardOptions) => targets.reduce((sum, t, i) => sum + allChunksReward(list(t), rankings[i], options), 0) / targets.length;
  const recall = Object.fromEntries(ks.map((k) => [String(k), mean({ k })]));
  return { recall, mrr: mean({ k: Math.max(...ks), discount: "reciprocal" }) };
}

/**
 * Recall@k and MRR of every environment mode of a dataset for its accepted questions, and of the original
 * mode for its kept paraphrases, by dense (the build's embedder), BM25 and hybrid retrieval, through the
 * same searcher as kit search and kit serve. Writes eval.json into the dataset folder.
 */
export async function evaluateRetrieval(options: EvaluateOptions): Promise<RetrievalEvaluation> {
  const { dataset } = options;
  if (!options.ownBuild) readFinishedBuild(dataset);
  const ks = [...new Set(options.ks ?? DEFAULT_KS)].sort((a, b) => a - b);
  if (!ks.length || !ks.every((k) => Number.isInteger(k) && k >= 1)) throw new KitError(`k values must be integers >= 1, got ${JSON.stringify(options.ks)}`);
  if (options.sample !== undefined && !(Number.isInteger(options.sample) && options.sample >= 1)) throw new KitError(`the evaluation sample must be a positive integer, got ${options.sample}`);
  const questionsFile = datasetFile(dataset, "questions.jsonl");
  const paraphrasesFile = datasetFile(dataset, "paraphrases.jsonl");
  const accepted = readJsonl<Question>(questionsFile, (q) => q.status === "accepted");
  const questions = accepted.filter((q) => q.kind !== "multi-hop");
  const multiHop = accepted.filter((q) => q.kind === "multi-hop");
  const paraphrases = readJsonl<CheckedParaphrase>(paraphrasesFile, isKept);
  if (!questions.length) throw new KitError(`${questionsFile} has no accepted single-chunk questions to evaluate with`);
  type QuerySet = { texts: string[]; targets: (string | string[])[]; of: number };
  const querySet = <T>(rows: readonly T[], text: (row: T) => string, target: (row: T) => string | string[]): QuerySet => {
    const picked = spread(rows, options.sample ?? rows.length);
    return { texts: picked.map(text), targets: picked.map(target), of: rows.length };
  };
  const questionSet = querySet(questions, (q) => q.question, (q) => q.chunk_id);
  const multiHopSet = querySet(multiHop, (q) => q.question, (q) => q.supporting_chunk_ids ?? [q.chunk_id]);
  const paraphraseSet = querySet(paraphrases, (p) => p.text, (p) => p.chunk_id);
  // A paraphrase would find itself in the paraphrased and merged modes, so it is asked only of the originals.
  const runs: { mode: Mode; set: "questions" | "multi-hop" | "paraphrases"; queries: QuerySet }[] = [
    ...MODES.map((mode) => ({ mode, set: "questions" as const, queries: questionSet })),
    ...(multiHop.length ? MODES.map((mode) => ({ mode, set: "multi-hop" as const, queries: multiHopSet })) : []),
    ...(paraphrases.length ? [{ mode: "original" as const, set: "paraphrases" as const, queries: paraphraseSet }] : []),
  ];

  const retrievers = options.retrievers ?? EVALUATED;
  const scores: Record<string, Record<string, RetrieverScores>> = {};
  const total = retrievers.length * runs.reduce((n, r) => n + r.queries.texts.length, 0);
  let done = 0;
  const onProgress = options.onProgress ?? defaultProgress("queries searched");
  const spec = readIndexRows(datasetFile(dataset, "env/original")).manifest.embedder;
  // One embedder for every mode and retriever, so each question is embedded once.
  const own = retrievers.some((r) => r !== "bm25") && !options.embedder ? await createEmbedder(spec, { ollamaHost: options.ollamaHost }) : undefined;
  const shared = own ? memoizeEmbedder(own) : options.embedder;
  try {
    for (const retriever of retrievers) {
      for (const mode of MODES) {
        // Its embedder is the shared one (or none), so the searcher has nothing of its own to close.
        const searcher = await openEnvironment(dataset, mode, { retriever, shared });
        for (const run of runs.filter((r) => r.mode === mode)) {
          const started = Date.now();
          const rankings: string[][] = [];
          for (let at = 0; at < run.queries.texts.length; at += BATCH) {
            const hits = await searcher.search(run.queries.texts.slice(at, at + BATCH), ks[ks.length - 1]);
            rankings.push(...hits.map((row) => row.map((h) => h.chunk_id)));
            done += hits.length;
            onProgress?.(done, total);
          }
          const key = `${run.set}/${mode}`;
          scores[key] = { ...scores[key], [retriever]: { ...scoreRankings(run.queries.targets, rankings, ks), seconds: (Date.now() - started) / 1000 } };
        }
      }
    }
  } finally {
    if (own) await shared?.close?.();
  }
  const setScores = (key: string, set: QuerySet): QuerySetScores => ({
    queries: set.texts.length,
    ...(set.texts.length < set.of && { of: set.of }),
    retrievers: scores[key] as Record<Retriever, RetrieverScores>,
  });
  const questionScores = Object.fromEntries(MODES.map((mode) => [mode, setScores(`questions/${mode}`, questionSet)])) as Record<Mode, QuerySetScores>;
  const result: RetrievalEvaluation = {
    dataset,
    embedder: spec,
    ks,
    retrievers,
    questions: questionScores,
    ...(multiHop.length ? { multi_hop: Object.fromEntries(MODES.map((mode) => [mode, setScores(`multi-hop/${mode}`, multiHopSet)])) as Record<Mode, QuerySetScores> } : {}),
    paraphrases: paraphrases.length ? setScores("paraphrases/original", paraphraseSet) : { queries: 0, retrievers: {} as Record<Retriever, RetrieverScores> },
    best: Object.fromEntries(MODES.map((mode) => [mode, bestRetriever(questionScores[mode])])) as Record<Mode, Retriever>,
  };
  writeFileAtomic(path.join(dataset, "eval.json"), JSON.stringify(result, null, 2) + "\n");
  return result;
}

/** At most `count` of `rows`, evenly spaced from the first: a fixed sample that spans the corpus's order. */
function spread<T>(rows: readonly T[], count: number): T[] {
  if (count >= rows.length) return [...rows];
  return Array.from({ length: count }, (_, i) => rows[Math.floor((i * rows.length) / count)]);
}

/** The retriever with the highest MRR (ties go to the one scored first). */
function bestRetriever(set: QuerySetScores): Retriever {
  const scored = Object.keys(set.retrievers) as Retriever[];
  return scored.reduce((best, r) => (set.retrievers[r].mrr > set.retrievers[best].mrr ? r : best));
}

/** The evaluation as a table for stdout. */
export function formatEvaluation(e: RetrievalEvaluation): string {
  const maxK = e.ks[e.ks.length - 1];
  const head = ["queries".padEnd(24), "mode".padEnd(12), "retriever".padEnd(9), ...e.ks.map((k) => `R@${k}`.padStart(6)), `MRR@${maxK}`.padStart(7)].join(" ");
  const lines = [`retrieval on ${e.dataset} (dense: ${e.embedder}; eval.json written there)`, head];
  const block = (name: string, mode: string, set: QuerySetScores) =>
    e.retrievers.forEach((retriever, i) => {
      const s = set.retrievers[retriever];
      const label = i === 0 ? `${name} (${set.queries}${set.of ? ` of ${set.of}` : ""})` : "";
      lines.push([label.padEnd(24), (i === 0 ? mode : "").padEnd(12), retriever.padEnd(9), ...e.ks.map((k) => s.recall[k].toFixed(3).padStart(6)), s.mrr.toFixed(3).padStart(7)].join(" "));
    });
  for (const mode of MODES) block("questions", mode, e.questions[mode]);
  if (e.multi_hop) for (const mode of MODES) block("multi-hop", mode, e.multi_hop[mode]);
  if (e.paraphrases.queries) block("paraphrases", "original", e.paraphrases);
  else lines.push(`paraphrases: none kept (judged ${KEPT_VERDICTS.join(" or ")}), so none searched for`);
  if (e.multi_hop) lines.push("multi-hop: a hit at k is every supporting chunk of the question in the top k; MRR is n / the rank of the last of its n chunks");
  lines.push(`best retriever by MRR: ${MODES.map((mode) => `${mode} ${e.best[mode]}`).join(", ")}`);
  return lines.join("\n");
}
