/** The fact-checking model an `auto` judge looks for on Ollama. */
export const MINICHECK_MODEL = "bespoke-minicheck";

/**
 * What the rules alone cannot see, and the --judge that checks it: one sentence for the report, the card and the
 * build summary of a build judged by the rules alone. `code` formats the setting for each.
 */
export function rulesLimits(code: (setting: string) => string): string {
  return `The rules alone do not see meaning changes in the order of events, causes, time spans, negation or modality: ${code(`--judge ollama:${MINICHECK_MODEL}`)} (or any ${code("ollama:<model>")}) checks them.`;
}

/** Claims shorter than this many words ("Overview.", "See below:") state nothing checkable. */
const MIN_CLAIM_WORDS = 3;

/**
 * Judges check a paraphrase claim by claim: each sentence (or list item) of the paraphrase is asked
 * against the original, and the paraphrase is faithful when every claim is supported. Claim-level
 * fact checkers carry over to another model's writing better than rules fitted to one hand
 * (LLM-AggreFact: Bespoke-MiniCheck-7B 77.4% balanced accuracy, MiniCheck-Flan-T5-L 75.0%, HHEM-2.1-open 71.8%).
 *
 * Specs: `rules` (no judge), `auto`, `ollama:<model>` (MiniCheck's own prompt for `bespoke-minicheck`, a
 * short JSON instruction for any other model), `openai:<model>@<url>`, `transformers:<model or folder>`
 * (an NLI or fact-check cross-encoder, lib/quality/nli.ts).
 */
export interface ClaimVerdict {
  claim: string;
  /** null: the judge gave no readable answer after its retries, so the claim is not counted. */
  supported: boolean | null;
  /** The judge's probability that the original supports the claim, where it gives one. */
  probability?: number;
}

export interface Judge {
  spec: string;
  /** One verdict per claim, in order. */
  judge(original: string, claims: readonly string[], signal?: AbortSignal): Promise<ClaimVerdict[]>;
  close(): Promise<void>;
}

/**
 * The claims of a paraphrase: its sentences and list items, without markdown headings, table rules or
 * fragments too short to state a fact.
 */
export function splitClaims(paraphrase: string): string[] {
  return paraphrase
    .split("\n")
    .filter((line) => !/^\s*(#{1,6}\s|\|?\s*:?-{3,})/.test(line))
    .map((line) => line.replace(/^\s*(?:[-*+•]|\d+[.)])\s+/, ""))
    .flatMap((line) => line.split(/(?<=[.!?])\s+(?=[A-Z0-9"'(`])/))
    .map((s) => s.trim())
    .filter((s) => s.split(/\s+/).filter((w) => /\w/.test(w)).length >= MIN_CLAIM_WORDS);
}
