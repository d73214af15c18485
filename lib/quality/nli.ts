import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { PreTrainedModel, PreTrainedTokenizer } from "@xenova/transformers";
import { KitError } from "../errors";
import type { ClaimVerdict, Judge } from "./claims";

/**
 * A judge that runs an NLI or fact-check cross-encoder through transformers.js (ONNX, offline once the model is
 * local): each (premise = original, hypothesis = claim) pair goes through the model's sequence-classification head,
 * the logits through a softmax, and the probability of the label that means "supported" is the claim's probability.
 *
 * Which label means supported, from config.json's id2label:
 * - the one label matching /entail/i that is not negated (MNLI / ANLI / DocNLI models: "entailment", not
 *   "not_entailment" or "non-entailment");
 * - else, the one label matching /consistent|support|factual/i that is not negated (fact checkers: "consistent" vs
 *   "inconsistent" / "hallucinated", "supported" vs "unsupported", "factual" vs "non_factual");
 * - else, for a two-label model whose labels are only generic names (LABEL_0 / LABEL_1, or numbers), index 1: the
 *   convention of binary fact checkers (HHEM, MiniCheck, AlignScore-style heads) is 0 = unsupported, 1 = supported.
 * Anything else (a sentiment or a reranker head, three generic labels) is a KitError naming the labels, rather than a
 * guess.
 */

/**
 * supported = probability >= threshold. 0.5 is the argmax boundary of a two-way decision (supported against
 * everything else): the claim is supported when the model puts more mass on it than on all other labels together.
 * Models are not calibrated alike (an MNLI model puts mass on "neutral" that a fact checker would not), so
 * recalibrate it per model against labelled pairs, as the paraphrase calibration set does for the rules.
 */
export const DEFAULT_NLI_THRESHOLD = 0.5;
/** Pairs per model call. */
export const DEFAULT_NLI_BATCH_SIZE = 8;
/** The input length when neither the tokenizer nor the config states one (BERT / DeBERTa / RoBERTa's). */
const FALLBACK_MAX_LENGTH = 512;

export interface NliOptions {
  /** Entailment probability at or above which a claim is supported (default DEFAULT_NLI_THRESHOLD). */
  threshold?: number;
  /** Pairs per model call (default DEFAULT_NLI_BATCH_SIZE). */
  batchSize?: number;
}

/** How a model's labels map to "supported": the label's index and name, for notices and errors. */
export interface SupportLabel {
  index: number;
  label: string;
}

const NEGATED = /(?:^|[^a-z])(?:not|non|un|in|no)[-_ ]?(?:entail|consistent|support|factual)|contradict|hallucinat|refute/i;

/** The label that counts as supported (see the module comment), or undefined when none can be identified. */
export function supportLabel(id2label: Record<string | number, string> | undefined): SupportLabel | undefined {
  const labels = Object.entries(id2label ?? {})
    .map(([index, label]) => ({ index: Number(index), label: String(label) }))
    .sort((a, b) => a.index - b.index);
  if (labels.length < 2 || labels.some((l, i) => l.index !== i)) return undefined;
  for (const pattern of [/entail/i, /consistent|support|factual/i]) {
    const matches = labels.filter((l) => pattern.test(l.label) && !NEGATED.test(l.label));
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) return undefined;
  }
  if (labels.length === 2 && labels.every((l) => /^(?:LABEL_)?\d+$/i.test(l.label))) return labels[1];
  return undefined;
}

/** Softmax of one row of logits, in float64. */
export function softmax(logits: ArrayLike<number>): number[] {
  const values = Array.from(logits);
  const max = Math.max(...values);
  const exps = values.map((x) => Math.exp(x - max));
  const sum = exps.reduce((s, x) => s + x, 0);
  return exps.map((x) => x / sum);
}

export interface EncodedPair {
  input_ids: number[];
  token_type_ids?: number[];
}

/**
 * Encodes (premise, hypothesis) pairs with the model's special tokens, truncating to `maxLength` tokens from the
 * end of the premise (the original) only: the claim is what is judged, so it is kept whole, and the original keeps
 * its beginning. (transformers.js 2.17's own truncation cuts the end of the joined pair, which would drop the claim.)
 * Only a claim that alone does not fit is cut too, from its end.
 */
export function encodePairs(tokenizer: PreTrainedTokenizer, pairs: ReadonlyArray<readonly [string, string]>, maxLength: number): EncodedPair[] {
  const join = (a: string[], b: string[]): { tokens: string[]; token_type_ids?: number[] } =>
    tokenizer.post_processor ? tokenizer.post_processor(a, b, { add_special_tokens: true }) : { tokens: [...a, ...b] };
  const specials = join([], []).tokens.length;
  return pairs.map(([premise, hypothesis]) => {
    let a = tokenizer._encode_text(premise) ?? [];
    let b = tokenizer._encode_text(hypothesis) ?? [];
    const room = maxLength - specials;
    if (b.length > room) b = b.slice(0, Math.max(0, room));
    if (a.length + b.length > room) a = a.slice(0, Math.max(0, room - b.length));
    const joined = join(a, b);
    const input_ids = tokenizer.model.convert_tokens_to_ids(joined.tokens);
    return tokenizer.return_token_type_ids && joined.token_type_ids ? { input_ids, token_type_ids: joined.token_type_ids } : { input_ids };
  });
}

/** The longest input the model takes: the smaller of the tokenizer's model_max_length and the position table. */
function maxInputLength(tokenizer: PreTrainedTokenizer, config: Record<string, unknown>): number {
  const limits = [tokenizer.model_max_length, config.max_position_embeddings].filter(
    (n): n is number => typeof n === "number" && Number.isFinite(n) && n > 0 && n < 1e6,
  );
  return limits.length ? Math.min(...limits) : FALLBACK_MAX_LENGTH;
}

/**
 * The judge for `transformers:<model id or local folder>`. A local folder (a path, or a name that exists) is loaded
 * offline, with onnx/model_quantized.onnx when it has one, else onnx/model.onnx; a Hugging Face id is fetched once
 * into transformers.js's cache.
 */
export async function nliJudge(model: string, options: NliOptions = {}): Promise<Judge> {
  const spec = `transformers:${model}`;
  const threshold = options.threshold ?? DEFAULT_NLI_THRESHOLD;
  const batchSize = options.batchSize ?? DEFAULT_NLI_BATCH_SIZE;
  if (!(threshold >= 0 && threshold <= 1)) throw new KitError(`judge ${spec}: threshold must be between 0 and 1, got ${threshold}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new KitError(`judge ${spec}: batchSize must be a positive integer, got ${batchSize}`);

  const { AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, Tensor, env } = await import("@xenova/transformers");
  // The same local-folder handling as the transformers embedder (lib/embedders.ts): a path (./x, ../x, /x, ~/x) or an
  // existing folder is local, looked up under env.localModelPath = the filesystem root with local_files_only.
  const expanded = model.replace(/^~(?=\/)/, os.homedir());
  const local = /^[./]/.test(expanded) || fs.existsSync(expanded) ? path.resolve(expanded) : undefined;
  let quantized = true;
  if (local) {
    if (!fs.existsSync(local)) {
      throw new KitError(`judge ${spec}: model folder ${local} does not exist (give a folder with config.json, tokenizer.json and onnx/model.onnx, or a Hugging Face model id)`);
    }
    quantized = fs.existsSync(path.join(local, "onnx", "model_quantized.onnx"));
    if (!quantized && !fs.existsSync(path.join(local, "onnx", "model.onnx"))) {
      throw new KitError(`judge ${spec}: ${local} has no onnx/model.onnx or onnx/model_quantized.onnx (export the model with Optimum for transformers.js)`);
    }
    env.localModelPath = path.parse(local).root;
  }
  const id = local ? path.relative(env.localModelPath, local) : model;
  const load = { quantized, local_files_only: Boolean(local) };
  const loadError = (e: unknown) => {
    const hint = local ? "" : " (a hub id needs network access to Hugging Face once; or give a local model folder)";
    return new KitError(`judge ${spec} could not be loaded: ${oneLine(e)}${hint}`);
  };

  let config: Record<string, unknown>;
  try {
    config = (await AutoConfig.from_pretrained(id, load)) as unknown as Record<string, unknown>;
  } catch (e) {
    throw loadError(e);
  }
  const id2label = config.id2label as Record<string, string> | undefined;
  if (!id2label) {
    throw new KitError(`judge ${spec}: config.json has no id2label, so it is not a sequence classifier: use an NLI or fact-check cross-encoder`);
  }
  const support = supportLabel(id2label);
  const labels = Object.values(id2label);
  if (!support) {
    throw new KitError(`judge ${spec}: no label means "supported" among its labels ${JSON.stringify(labels)}: use an NLI model (an "entailment" label) or a fact checker ("consistent" / "supported")`);
  }

  let tokenizer: PreTrainedTokenizer;
  let classifier: PreTrainedModel;
  try {
    tokenizer = await AutoTokenizer.from_pretrained(id, load);
    classifier = await AutoModelForSequenceClassification.from_pretrained(id, { ...load, config });
  } catch (e) {
    throw loadError(e);
  }
  const outputs = (classifier.session?.outputNames ?? []) as string[];
  if (!outputs.includes("logits")) {
    await classifier.dispose();
    throw new KitError(`judge ${spec}: its ONNX model outputs ${outputs.join(", ") || "nothing"}, not logits: export it as a sequence classifier (Optimum task text-classification)`);
  }
  const maxLength = maxInputLength(tokenizer, config);
  const padId = tokenizer.pad_token_id ?? 0;

  /** Supported-label probabilities for one batch of pairs. */
  const runBatch = async (pairs: Array<[string, string]>): Promise<number[]> => {
    const encoded = encodePairs(tokenizer, pairs, maxLength);
    const width = Math.max(...encoded.map((e) => e.input_ids.length));
    const dims = [encoded.length, width];
    const tensor = (row: (e: EncodedPair) => number[], pad: number) =>
      new Tensor("int64", BigInt64Array.from(encoded.flatMap((e) => [...row(e), ...Array(width - row(e).length).fill(pad)]).map(BigInt)), dims);
    const inputs: Record<string, unknown> = {
      input_ids: tensor((e) => e.input_ids, padId),
      attention_mask: tensor((e) => e.input_ids.map(() => 1), 0),
    };
    if (encoded.every((e) => e.token_type_ids)) inputs.token_type_ids = tensor((e) => e.token_type_ids!, 0);
    const { logits } = (await classifier(inputs)) as { logits: { data: Float32Array; dims: number[] } };
    const [rows, count] = logits.dims;
    if (rows !== pairs.length || count !== labels.length) {
      throw new KitError(`judge ${spec}: the model gave logits of shape [${logits.dims}] for ${pairs.length} pairs and ${labels.length} labels`);
    }
    return Array.from({ length: rows }, (_, i) => softmax(logits.data.subarray(i * count, (i + 1) * count))[support.index]);
  };

  // One model call at a time: concurrent judge() calls queue rather than oversubscribe the cores.
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  const serial = <T>(run: () => Promise<T>): Promise<T> => {
    const next = queue.then(run, run);
    queue = next.catch(() => {});
    return next;
  };

  return {
    spec,
    async judge(original, claims, signal): Promise<ClaimVerdict[]> {
      const probabilities: number[] = [];
      for (let start = 0; start < claims.length; start += batchSize) {
        signal?.throwIfAborted();
        if (closed) throw new KitError(`judge ${spec} used after close()`);
        const batch = claims.slice(start, start + batchSize).map((claim): [string, string] => [original, claim]);
        probabilities.push(...(await serial(() => runBatch(batch))));
      }
      return claims.map((claim, i) => ({ claim, supported: probabilities[i] >= threshold, probability: probabilities[i] }));
    },
    async close() {
      if (closed) return;
      closed = true;
      await serial(() => classifier.dispose());
    },
  };
}

function oneLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split("\n")[0];
}
