import * as fs from "node:fs";
import * as path from "node:path";
import { KitError } from "./errors";
import { type CheckedParaphrase, datasetFile, KEPT_VERDICTS, verdictOf } from "./export";
import { readJsonl, writeFileAtomic } from "./files";
import type { Question } from "./questions";
import { retrievalReward } from "./reward";
import { openSearch, type Retriever } from "./search";

export interface EvaluateOptions {
  /** Dataset folder written by kit build. */
  dataset: string;
  /** Cut-offs for recall@k; MRR counts hits within the largest. Default [1, 5, 10]. */
  ks?: number[];
  /** Ollama URL for an ollama: embedder (else OLLAMA_HOST). */
  ollamaHost?: string;
  /** Called after each batch of queries with the running total over every retriever and query set. */
  onProgress?: (done: number, total: number) => void;
}

export interface RetrieverScores {
  /** Share of queries whose chunk is in the top k, keyed by k. */
  recall: Record<string, number>;
  /** Mean reciprocal rank of the chunk within the top max(ks) (0 when it is not there). */
  mrr: number;
  seconds: number;
}

export interface QuerySetScores {
  queries: number;
  retrievers: Record<Retriever, RetrieverScores>;
}

/** What eval.json holds. */
export interface RetrievalEvaluation {
  dataset: string;
  embedder: string;
  ks: number[];
  /** Accepted questions, each looking for the chunk it was written from. */
  questions: QuerySetScores;
  /** Kept paraphrases, each looking for its original chunk. */
  paraphrases: QuerySetScores;
}

export const DEFAULT_KS = [1, 5, 10];
const EVALUATED: Retriever[] = ["dense", "bm25", "hybrid"];
const BATCH = 256;

/** Parses a --k value such as "1,5,10". */
export function parseKs(text: string): number[] {
  const ks = text.split(",").map((s) => Number(s.trim()));
  if (!text.trim() || !ks.every((k) => Number.isInteger(k) && k >= 1)) throw new KitError(`--k must be comma-separated integers >= 1 (e.g. 1,5,10), got "${text}"`);
  return ks;
}

/** Recall@k for each k and MRR within the top max(ks), with the reward's own matching: the metric a trainer's reward sees. */
export function scoreRankings(targets: readonly string[], rankings: readonly (readonly string[])[], ks: readonly number[]): Omit<RetrieverScores, "seconds"> {
  if (targets.length !== rankings.length) throw new KitError(`got ${rankings.length} rankings for ${targets.length} queries; they must pair up`);
  if (!targets.length) throw new KitError("no queries to score");
  const mean = (score: (target: string, ranking: readonly string[]) => number) => targets.reduce((sum, t, i) => sum + score(t, rankings[i]), 0) / targets.length;
  const recall = Object.fromEntries(ks.map((k) => [String(k), mean((t, r) => retrievalReward(t, r, { k }))]));
  return { recall, mrr: mean((t, r) => retrievalReward(t, r, { k: Math.max(...ks), discount: "reciprocal" })) };
}

/**
 * Recall@k and MRR of the dataset's chunk index for its accepted questions and its kept paraphrases,
 * by dense (the index's own embedder), BM25 and hybrid retrieval, through the same searcher as kit search.
 * Writes eval.json into the dataset folder.
 */
export async function evaluateRetrieval(options: EvaluateOptions): Promise<RetrievalEvaluation> {
  const { dataset } = options;
  const ks = [...new Set(options.ks ?? DEFAULT_KS)].sort((a, b) => a - b);
  if (!ks.length || !ks.every((k) => Number.isInteger(k) && k >= 1)) throw new KitError(`k values must be integers >= 1, got ${JSON.stringify(options.ks)}`);
  const indexDir = datasetFile(dataset, "faiss_index");
  const questionsFile = datasetFile(dataset, "questions.jsonl");
  const paraphrasesFile = datasetFile(dataset, "paraphrases.jsonl");
  const questions = readJsonl<Question>(questionsFile).filter((q) => q.status === "accepted");
  const paraphrases = readJsonl<CheckedParaphrase>(paraphrasesFile).filter((p) => KEPT_VERDICTS.includes(verdictOf(p)));
  if (!questions.length) throw new KitError(`${questionsFile} has no accepted questions to evaluate with`);
  if (!paraphrases.length) throw new KitError(`${paraphrasesFile} has no paraphrase judged ${KEPT_VERDICTS.join(" or ")} to evaluate with`);
  const sets = {
    questions: { texts: questions.map((q) => q.question), targets: questions.map((q) => q.chunk_id) },
    paraphrases: { texts: paraphrases.map((p) => p.text), targets: paraphrases.map((p) => p.chunk_id) },
  };

  const scores = { questions: {}, paraphrases: {} } as Record<keyof typeof sets, Record<Retriever, RetrieverScores>>;
  const total = EVALUATED.length * (questions.length + paraphrases.length);
  let done = 0;
  for (const retriever of EVALUATED) {
    const searcher = await openSearch(indexDir, { retriever, ollamaHost: options.ollamaHost });
    try {
      for (const [name, set] of Object.entries(sets) as [keyof typeof sets, (typeof sets)["questions"]][]) {
        const started = Date.now();
        const rankings: string[][] = [];
        for (let at = 0; at < set.texts.length; at += BATCH) {
          const hits = await searcher.search(set.texts.slice(at, at + BATCH), ks[ks.length - 1]);
          rankings.push(...hits.map((row) => row.map((h) => h.chunk_id)));
          done += hits.length;
          options.onProgress?.(done, total);
        }
        scores[name][retriever] = { ...scoreRankings(set.targets, rankings, ks), seconds: (Date.now() - started) / 1000 };
      }
    } finally {
      await searcher.close();
    }
  }
  const result: RetrievalEvaluation = {
    dataset,
    // openSearch has checked the manifest by now.
    embedder: JSON.parse(fs.readFileSync(path.join(indexDir, "manifest.json"), "utf8")).embedder,
    ks,
    questions: { queries: questions.length, retrievers: scores.questions },
    paraphrases: { queries: paraphrases.length, retrievers: scores.paraphrases },
  };
  writeFileAtomic(path.join(dataset, "eval.json"), JSON.stringify(result, null, 2) + "\n");
  return result;
}

/** The evaluation as a table for stdout. */
export function formatEvaluation(e: RetrievalEvaluation): string {
  const maxK = e.ks[e.ks.length - 1];
  const head = ["queries".padEnd(20), "retriever".padEnd(9), ...e.ks.map((k) => `R@${k}`.padStart(6)), `MRR@${maxK}`.padStart(7)].join(" ");
  const lines = [`retrieval on ${e.dataset} (dense: ${e.embedder}; eval.json written there)`, head];
  for (const [name, set] of [["questions", e.questions], ["paraphrases", e.paraphrases]] as const) {
    EVALUATED.forEach((retriever, i) => {
      const s = set.retrievers[retriever];
      const label = i === 0 ? `${name} (${set.queries})` : "";
      lines.push([label.padEnd(20), retriever.padEnd(9), ...e.ks.map((k) => s.recall[k].toFixed(3).padStart(6)), s.mrr.toFixed(3).padStart(7)].join(" "));
    });
  }
  return lines.join("\n");
}
