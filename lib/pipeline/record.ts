import type { Coverage, Mode } from "../environment";
import type { Retriever } from "../search";
import type { Verdict } from "../verdict";
import type { BuildStamp, StageRecord } from "./identity";

/**
 * What build.json holds while a build runs: which build it is, the command that finishes it, and the stages done
 * so far. Readers of a dataset (export, serve, search, eval-retrieval) refuse it until `status` is "finished".
 */
export interface BuildState {
  kit_version: string;
  corpus: string;
  build: BuildStamp & { status: "running" | "finished" };
  /** What runs (or resumes) this build: a kit command, or the notebooks to run. */
  command: string;
  /** Per stage: the hash of its inputs and the sha256 of each file it wrote; a re-run reuses a stage whose inputs and files are unchanged. */
  stages: Record<string, StageRecord>;
}

/** What build.json records once the build has finished, and `kit build` summarises. */
export interface BuildRecord extends BuildState {
  parameters: Record<string, unknown>;
  generator: { spec: string; model: string; backend: string };
  /** What judged the paraphrases: the rules, or the rules and an LLM or NLI judge. */
  judge: string;
  counts: Record<string, number>;
  failures: Record<string, number>;
  /** failed: requests that got no answer, by reason; rejected: answers the stages rejected (kept in the cache: a new seed asks again). */
  llm_requests: { answered_from_cache: number; sent: number; failed?: number; failed_by_reason?: Record<string, number>; rejected?: number };
  /** Per environment mode: which chunks its rows hold (all of them), and how many through a paraphrase. */
  environments: Record<string, Coverage & { rows: number }>;
  /**
   * The build's retrieval evaluation (eval.json has it all): questions searched per set, the best retriever per
   * mode, and the easiest baseline (the highest recall@5 of any retriever and mode) the verdict reads.
   */
  evaluation?: { sample: number; best: Record<Mode, Retriever>; easiest?: { mode: Mode; retriever: Retriever; recall_at_5: number } };
  /** Accepted questions by the rank of their chunk in the paraphrased environment (lib/export/difficulty.ts bucketOf). */
  measured_difficulty?: Record<string, number>;
  seconds: Record<string, number>;
  /** What each coverage round asked and gained; its seconds are also in `seconds` (paraphrases, checks). */
  coverage_rounds?: CoverageRound[];
  /** "Can I train on this?" (lib/verdict.ts verdictOf of this record): its tier, and the floors failed and passed. */
  verdict?: Verdict;
}

export interface CoverageRound {
  round: number;
  style: string;
  /** Chunks asked: those with no kept paraphrase that got some paraphrase in the round before. */
  asked: number;
  /** Chunks left uncovered but not asked: with the builtin generator, those whose best copy score so far is far above the copy limit. */
  skipped?: number;
  /** Of those, chunks that got a kept paraphrase in this round. */
  newly_covered: number;
  seconds: { paraphrases: number; checks: number };
}
