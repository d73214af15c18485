import { KitError } from "./errors";

/**
 * How a hit's rank scales the retrieval reward:
 * none: 1 for any hit within the top k; reciprocal: 1/rank; log2: 1/log2(rank + 1) (NDCG's gain for one relevant chunk).
 */
export const DISCOUNTS = ["none", "reciprocal", "log2"] as const;
export type Discount = (typeof DISCOUNTS)[number];

export interface RetrievalRewardOptions {
  /** Only the top k results count. Default 1 without a discount, all of them with one. */
  k?: number;
  /** Default "none". */
  discount?: Discount;
}

/**
 * The reward for one search: did the agent retrieve the chunk the question was written from?
 * `target` is that chunk's id (or its text), `retrieved` what the agent's search returned, best first,
 * as ids (or texts). Two entries match when they are equal after Unicode NFKC normalisation and
 * collapsing runs of whitespace, so ids match ids and a chunk's text matches the same text re-rendered.
 * Defaults: 1 if the first result is the target, else 0.
 */
export function retrievalReward(target: string, retrieved: readonly string[], options: RetrievalRewardOptions = {}): number {
  if (typeof target !== "string" || target.trim() === "") throw new KitError(`retrievalReward: target must be a non-empty chunk id or chunk text, got ${describe(target)}`);
  if (!Array.isArray(retrieved)) throw new KitError(`retrievalReward: retrieved must be an array of chunk ids or texts (best first), got ${describe(retrieved)}`);
  const discount = options.discount ?? "none";
  if (!DISCOUNTS.includes(discount)) throw new KitError(`retrievalReward: unknown discount ${describe(discount)}; use ${DISCOUNTS.join(", ")}`);
  const k = options.k ?? (discount === "none" ? 1 : Infinity);
  if (!(k === Infinity || (Number.isInteger(k) && k >= 1))) throw new KitError(`retrievalReward: k must be an integer >= 1, got ${describe(k)}`);
  const wanted = normaliseText(target);
  const top = Math.min(k, retrieved.length);
  for (let i = 0; i < top; i++) {
    const item = retrieved[i];
    if (typeof item !== "string") throw new KitError(`retrievalReward: retrieved[${i}] must be a string (a chunk id or text), got ${describe(item)}`);
    if (normaliseText(item) !== wanted) continue;
    const rank = i + 1;
    return discount === "none" ? 1 : discount === "reciprocal" ? 1 / rank : 1 / Math.log2(rank + 1);
  }
  return 0;
}

/**
 * The reward for retrieving every gold chunk of a question whose answer needs several (a multi-hop question's
 * `supporting_chunk_ids`): 0 unless all of `targets` are within the top k of `retrieved` (e.g. the results of the
 * agent's searches, in order), matched as retrievalReward matches. A discount scales by the rank r at which the
 * last of the n targets appears, so that finding them at ranks 1..n scores 1: n/r (reciprocal) or
 * log2(n + 1)/log2(r + 1) (log2). Default k: n without a discount, all results with one. With one target it is
 * retrievalReward.
 */
export function allChunksReward(targets: readonly string[], retrieved: readonly string[], options: RetrievalRewardOptions = {}): number {
  if (!Array.isArray(targets) || !targets.length) throw new KitError(`allChunksReward: targets must be a non-empty array of chunk ids or texts, got ${describe(targets)}`);
  targets.forEach((t, i) => {
    if (typeof t !== "string" || t.trim() === "") throw new KitError(`allChunksReward: targets[${i}] must be a non-empty chunk id or chunk text, got ${describe(t)}`);
  });
  if (!Array.isArray(retrieved)) throw new KitError(`allChunksReward: retrieved must be an array of chunk ids or texts (best first), got ${describe(retrieved)}`);
  const discount = options.discount ?? "none";
  if (!DISCOUNTS.includes(discount)) throw new KitError(`allChunksReward: unknown discount ${describe(discount)}; use ${DISCOUNTS.join(", ")}`);
  const wanted = new Set(targets.map(normaliseText));
  const n = wanted.size;
  const k = options.k ?? (discount === "none" ? n : Infinity);
  if (!(k === Infinity || (Number.isInteger(k) && k >= 1))) throw new KitError(`allChunksReward: k must be an integer >= 1, got ${describe(k)}`);
  const top = Math.min(k, retrieved.length);
  for (let i = 0; i < top; i++) {
    const item = retrieved[i];
    if (typeof item !== "string") throw new KitError(`allChunksReward: retrieved[${i}] must be a string (a chunk id or text), got ${describe(item)}`);
    if (!wanted.delete(normaliseText(item)) || wanted.size) continue;
    const rank = i + 1;
    return discount === "none" ? 1 : discount === "reciprocal" ? n / rank : Math.log2(n + 1) / Math.log2(rank + 1);
  }
  return 0;
}

/**
 * 1 if the predicted answer equals the gold one after normaliseAnswer, else 0.
 * The caller extracts the answer from the completion (e.g. the text inside <answer> tags) first.
 */
export function exactAnswerReward(predicted: string, gold: string): number {
  if (typeof predicted !== "string") throw new KitError(`exactAnswerReward: predicted must be a string (pass "" for no answer), got ${describe(predicted)}`);
  if (typeof gold !== "string" || gold.trim() === "") throw new KitError(`exactAnswerReward: gold must be a non-empty answer string, got ${describe(gold)}`);
  return normaliseAnswer(predicted) === normaliseAnswer(gold) ? 1 : 0;
}

/**
 * SQuAD's answer normalisation plus numbers: NFKC, lower case, thousands separators dropped
 * ("1,000" -> "1000"), punctuation removed except a decimal point between digits, the articles
 * a/an/the removed, whitespace collapsed. Symbols ($, °, +) and % are kept: they change the answer.
 */
export function normaliseAnswer(text: string): string {
  return text
    .normalize("NFKC")
    .toLowerCase()
    .replace(/(?<=\d),(?=\d{3}(?!\d))/g, "")
    .replace(/[^\P{P}%]/gu, (mark, at: number, s: string) => (mark === "." && isDigit(s[at - 1]) && isDigit(s[at + 1]) ? "." : ""))
    .replace(/\b(a|an|the)\b/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";

function normaliseText(text: string): string {
  return text.normalize("NFKC").replace(/\s+/g, " ").trim();
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (Array.isArray(value)) return "an array";
  return value === null ? "null" : typeof value === "object" ? "an object" : String(value);
}
