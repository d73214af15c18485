import { KitError } from "../errors";

/**
 * What a paraphrase check returns, and the limits its verdicts are decided by. No code here but the
 * threshold merge: every other file of lib/quality/ may import this one, and it imports none of them.
 */

export type Verdict = "faithful" | "hallucinated" | "refusal" | "copy";
export const VERDICTS: readonly Verdict[] = ["faithful", "hallucinated", "refusal", "copy"];

export interface Check {
  verdict: Verdict;
  /** Why, one line each; empty for a faithful row with nothing stripped. */
  reasons: string[];
  /** Every measured number, by name (see Scores). */
  scores: Scores;
  /** The paraphrase without preamble and postscript: the text that was judged. */
  text: string;
}

/**
 * copy: share of the paraphrase's word trigrams found in the original (0-1); length_ratio: characters of
 * `text` / characters of the original; new_*: counts of items not in the original; refusal: refusal or
 * meta-talk phrases found; similarity: embedding cosine (only with an embedder); judge_unsupported: claims
 * the judge found unsupported (only with a judge).
 */
export interface Scores {
  copy: number;
  length_ratio: number;
  new_numbers: number;
  new_names: number;
  new_terms: number;
  added_causes: number;
  /** Words swapped for a synonym of another sense, or one nobody uses for this sense (lib/quality/senses.ts). */
  wrong_senses: number;
  refusal: number;
  similarity?: number;
  judge_unsupported?: number;
  /** Claims the judge was asked about (only with a judge). */
  judge_claims?: number;
}

/**
 * Limits of the verdict rules. Values were chosen on the dev rows of test/fixtures/paraphrase-calibration.jsonl
 * and test/fixtures/paraphrase-generalisation.jsonl (bench/quality.ts prints what they give); each comment says
 * why the value sits where it does.
 */
export interface Thresholds {
  /**
   * `copy` at or above this is a copy. LLM rewrites keep 10-50% of the original's word trigrams; the builtin
   * generator's synonym swaps and the reordering of whole sentences keep 75% and more.
   */
  copy: number;
  /** Shorter than this share of the original: collapsed (truncated, or a summary that lost the facts). */
  minLengthRatio: number;
  /**
   * Longer than this multiple: padding. Rewrites in the kit's styles stay within +-20% of the original, but wordy
   * models ("It is important to note that ...") reach 1.55x without adding a fact (faithful dev rows: up to 1.54x),
   * and on the issue's Apollo set 9 faithful rows were rejected at 1.5 for length alone. Padding that invents (a
   * caption grown into a story) runs to 2x and more; added sentences in between are the term and cause checks' to
   * judge. At 1.8 no dev row lost its verdict for want of a blow-up.
   */
  maxLengthRatio: number;
  /**
   * Short originals (figure captions, headings) legitimately grow by a few words ("Figure 7.1-1: Energy of
   * the entry batteries."): a paraphrase within this many characters of the original is never a blow-up.
   */
  lengthSlack: number;
  /** Numbers, dates, times and quantities not in the original allowed: 0, since any one is an invented fact. */
  maxNewNumbers: number;
  /** Names and identifiers not in the original allowed: 0, for the same reason. */
  maxNewNames: number;
  /**
   * Technical terms not in the original allowed: words that are not English ("kubelet"; derivations of English words
   * such as "runnable" and clipped forms such as "config" are English), compounds of new words ("coolant pump") and
   * nouns swapped into the original's compounds ("oxidizer isolation valve" where it says "fuel isolation valve").
   * Short forms of the original's words are not new: "ISS" for "International Space Station", "km/h", "K8s".
   * 0: rewrites bring single new English words (synonyms), not new things.
   */
  maxNewTerms: number;
  /**
   * Causal connectives ("because", "led to", "which means") beyond the original's allowed when their sentence also
   * brings new content words. The original's count includes the causes it states without those words ("since",
   * "with a resultant loss", "in order to"), which a faithful rewrite may restate as "because".
   */
  maxAddedCauses: number;
  /**
   * Words swapped for a WordNet synonym of a sense the original word does not usually have, or for a word rarely
   * used in that sense ("permit" -> "countenance", "spacecraft" -> "ballistic capsule"): 0, since each reads as
   * another meaning. On the held-out rows of test/fixtures/builtin-senses.jsonl see README.md for how often the
   * flag is right.
   */
  maxWrongSenses: number;
  /**
   * Embedding cosine below this: the text is about something else. Set for USE-lite (the default embedder):
   * faithful dev rows of the calibration set scored 0.80 and up, so 0.75 leaves a margin; text about a
   * neighbouring passage of the same report scores ~0.70, but a rewrite with one fact changed still scores
   * 0.9+, so this check only finds drift, not swapped facts. Recalibrate with bench/quality.ts for another embedder.
   */
  minSimilarity: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  copy: 0.75,
  minLengthRatio: 0.3,
  maxLengthRatio: 1.8,
  lengthSlack: 40,
  maxNewNumbers: 0,
  maxNewNames: 0,
  maxNewTerms: 0,
  maxAddedCauses: 0,
  maxWrongSenses: 0,
  minSimilarity: 0.75,
};

export interface CheckOptions {
  thresholds?: Partial<Thresholds>;
  /**
   * The corpus's subject (its title, its first heading: lib/quality/subject.ts corpusSubject): names a rewrite may
   * add though the original does not say them ("Apollo 13" in a page of the Apollo 13 report).
   */
  subject?: readonly string[];
}

/** One (original, paraphrase) pair to check. */
export interface PairInput {
  original: string;
  paraphrase: string;
}

/** DEFAULT_THRESHOLDS with the caller's overrides; a value that is not a number is a KitError naming it. */
export function thresholdsOf(options: CheckOptions | undefined): Thresholds {
  const t = { ...DEFAULT_THRESHOLDS, ...options?.thresholds };
  for (const [name, value] of Object.entries(t)) {
    if (typeof value !== "number" || Number.isNaN(value)) throw new KitError(`quality threshold ${name} must be a number (got ${value})`);
  }
  return t;
}
