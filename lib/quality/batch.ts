import { type Chunk, splitParagraphs } from "../chunking";
import type { Embedder } from "../embedders";
import { KitError } from "../errors";
import { defaultProgress } from "../notebook";
import type { Paraphrase } from "../paraphrase";
import { checkParaphrase } from "./check";
import { type Judge, splitClaims } from "./claims";
import { quoteList, round } from "./text";
import { type Check, type CheckOptions, type PairInput, thresholdsOf } from "./types";

/**
 * Many pairs at once, as kit build and kit check-paraphrases check them: the rules, then the embedding drift
 * check and the claim-level judge on the rows the rules kept.
 */

export interface BatchCheckOptions extends CheckOptions {
  /** Adds the semantic-drift check: cosine of original and paraphrase below minSimilarity is hallucinated. */
  embedder?: Embedder;
  /** Adds a claim-level judge (lib/quality/judge.ts): any claim it finds unsupported makes the row hallucinated. */
  judge?: Judge;
  /** (done, total) over the rows: once through the checks, and with a judge once more through its answers. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Rows checked between two returns to the event loop, so progress shows and Ctrl-C is heard on long files. */
const ROWS_PER_TURN = 64;

/**
 * Checks many pairs: checkParaphrase for each, then (optionally) one embed() call for every distinct text
 * and one judge request per row still judged faithful or copy.
 */
export async function checkParaphrases(pairs: readonly PairInput[], options: BatchCheckOptions = {}): Promise<Check[]> {
  const t = thresholdsOf(options);
  const total = pairs.length * (options.judge ? 2 : 1);
  const onProgress = options.onProgress ?? defaultProgress("paraphrases checked");
  const checks: Check[] = [];
  for (const [i, pair] of pairs.entries()) {
    checks.push(checkParaphrase(pair.original, pair.paraphrase, options));
    if ((i + 1) % ROWS_PER_TURN === 0 || i + 1 === pairs.length) {
      onProgress?.(i + 1, total);
      await new Promise((resolve) => setImmediate(resolve));
      if (options.signal?.aborted) throw options.signal.reason;
    }
  }
  // Cheap checks first: only rows still faithful are embedded, and then judged (a copy or a refusal needs neither).
  const passing = () => pairs.flatMap((pair, i) => (checks[i].verdict === "faithful" ? [{ pair, check: checks[i] }] : []));
  if (options.embedder) {
    const rows = passing();
    const texts = [...new Set(rows.flatMap(({ pair, check }) => [pair.original, check.text]))];
    const vectors = texts.length ? await options.embedder.embed(texts, "passage") : [];
    const byText = new Map(texts.map((s, i) => [s, vectors[i]]));
    for (const { pair, check } of rows) {
      const similarity = round(dot(byText.get(pair.original)!, byText.get(check.text)!));
      check.scores.similarity = similarity;
      if (similarity < t.minSimilarity) demote(check, `meaning drifted: embedding similarity ${similarity} < ${t.minSimilarity}`);
    }
  }
  if (options.judge) {
    const judge = options.judge;
    const rows = passing();
    let done = total - rows.length;
    onProgress?.(done, total);
    await Promise.all(
      rows.map(async ({ pair, check }) => {
        const verdicts = await judge.judge(pair.original, splitClaims(check.text), options.signal);
        const unsupported = verdicts.filter((v) => v.supported === false).map((v) => v.claim);
        const unreadable = verdicts.filter((v) => v.supported === null).length;
        check.scores.judge_claims = verdicts.length;
        check.scores.judge_unsupported = unsupported.length;
        if (unreadable) check.reasons.push(`judge: ${unreadable} of ${verdicts.length} claims got no readable answer, not counted`);
        if (unsupported.length) demote(check, `judge: unsupported claims: ${quoteList(unsupported)}`);
        onProgress?.(++done, total);
      }),
    );
  }
  return checks;
}

/** The text a paraphrases.jsonl row rewrote: its chunk, or the chunk's paragraph (lib/paraphrase.ts splits them alike). */
export function paraphraseOriginal(row: Pick<Paraphrase, "paraphrase_id" | "chunk_id" | "paragraph_index">, chunks: ReadonlyMap<string, Chunk>): string {
  const chunk = chunks.get(row.chunk_id);
  if (!chunk) throw new KitError(`paraphrase ${row.paraphrase_id}: chunk ${row.chunk_id} is not in the chunks; check the two files come from the same build`);
  if (row.paragraph_index === null) return chunk.text;
  const paragraph = splitParagraphs(chunk.text)[row.paragraph_index];
  if (paragraph === undefined) throw new KitError(`paraphrase ${row.paraphrase_id}: chunk ${row.chunk_id} has no paragraph ${row.paragraph_index}`);
  return paragraph;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** An invented-content finding after the sync checks: hallucinated wins over copy and faithful, not over refusal. */
function demote(check: Check, reason: string): void {
  check.reasons.push(reason);
  if (check.verdict !== "refusal") check.verdict = "hallucinated";
}
