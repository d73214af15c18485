import * as fs from "node:fs";
import { type Chunk, splitParagraphs } from "./chunking";
import { KitError } from "./errors";
import { type GenerateRequest, type Generator, type StageRequests, stageRequests } from "./generators";
import { defaultProgress } from "./notebook";

/** One row of paraphrases.jsonl. */
export interface Paraphrase {
  paraphrase_id: string;
  chunk_id: string;
  /** Which paragraph of the chunk was paraphrased; null when the whole chunk was. */
  paragraph_index: number | null;
  style: string;
  text: string;
  model: string;
}

/** A paraphrases.jsonl row; verdict and reasons come from the faithfulness check, when it ran. */
export type CheckedParaphrase = Paraphrase & { verdict?: string; reasons?: string[] };

/** Paraphrases with any other verdict were judged unfaithful: they enter no environment and no export. */
export const KEPT_VERDICTS = ["faithful", "unchecked"];
export const verdictOf = (p: CheckedParaphrase) => p.verdict ?? "unchecked";
export const isKept = (p: CheckedParaphrase) => KEPT_VERDICTS.includes(verdictOf(p));

export interface ParaphraseFailure {
  chunk_id: string;
  paragraph_index: number | null;
  style: string;
  reason: string;
}

/**
 * A named way of rewriting. `prompt` must hold {text} (the original) and may hold {words}
 * (the original's word count) to bound the length.
 */
export interface Style {
  name: string;
  prompt: string;
}

const RULES =
  "Keep every fact, number, date, name, unit and identifier exactly as given. Add nothing that is not in the original: no new facts, causes, examples or opinions. " +
  "Reply with the rewritten text only: no title, no preamble such as 'Here is', no notes. Keep markdown headings and table lines (cells separated by |) as they are.";

export const DEFAULT_STYLES: Style[] = [
  {
    name: "reworded",
    prompt: `Rewrite the text below in different words and sentence structure, same order of ideas, about as long as the original ({words} words, give or take a fifth). ${RULES}\n\nText:\n{text}`,
  },
  {
    name: "reordered",
    prompt: `Rewrite the text below presenting its statements in a different order, merging or splitting sentences where it reads better, about as long as the original ({words} words, give or take a fifth). ${RULES}\n\nText:\n{text}`,
  },
  {
    name: "condensed",
    prompt: `Rewrite the text below more concisely, in one half to four fifths of its length ({words} words now), dropping repetition and filler but no fact that someone might search for. ${RULES}\n\nText:\n{text}`,
  },
];

export interface ParaphraseOptions {
  /** Default: the three DEFAULT_STYLES. */
  styles?: Style[];
  /** Paraphrases per style and chunk (or paragraph). Default 1. */
  perStyle?: number;
  /** Paraphrase each paragraph of a chunk on its own instead of the whole chunk. */
  byParagraph?: boolean;
  /** Further tries for an empty or unchanged answer. Default 2. */
  retries?: number;
  seed?: number;
  /** A further round for chunks with no kept paraphrase: variants (and seeds) continue after the earlier rounds'. Default 0. */
  round?: number;
  temperature?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * The styles named in `names`, from the defaults and the styles in `file` (a JSON array of
 * {name, prompt}; a name there replaces a default of the same name). Checked before any work.
 */
export function resolveStyles(names: readonly string[] | undefined, file?: string): Style[] {
  const known = new Map(DEFAULT_STYLES.map((s) => [s.name, s]));
  if (file) {
    let extra: unknown;
    try {
      extra = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (err) {
      throw new KitError(`styles file ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : "not valid JSON"}; give a JSON array of {"name", "prompt"}`);
    }
    if (!Array.isArray(extra)) throw new KitError(`styles file ${file}: expected a JSON array of {"name", "prompt"}`);
    for (const [i, s] of extra.entries()) {
      if (typeof s?.name !== "string" || !/^[\w-]+$/.test(s.name) || typeof s.prompt !== "string") {
        throw new KitError(`styles file ${file}: entry ${i + 1} needs a "name" (letters, digits, - or _) and a "prompt" string`);
      }
      known.set(s.name, { name: s.name, prompt: s.prompt });
    }
  }
  const styles = (names?.length ? names : DEFAULT_STYLES.map((s) => s.name)).map((name) => {
    const style = known.get(name);
    if (!style) throw new KitError(`unknown paraphrase style "${name}": known styles are ${[...known.keys()].join(", ")}; add others with --styles-file`);
    return style;
  });
  for (const s of styles) {
    if (!s.prompt.includes("{text}")) throw new KitError(`paraphrase style "${s.name}": its prompt has no {text} placeholder for the original`);
  }
  return styles;
}

export function paraphraseRequest(text: string, style: Style, variant: number, attempt: number, options: ParaphraseOptions = {}): GenerateRequest {
  const words = String(text.split(/\s+/).filter(Boolean).length);
  return {
    prompt: style.prompt.replaceAll("{words}", words).replaceAll("{text}", text),
    options: { temperature: options.temperature ?? 0.8, seed: (options.seed ?? 42) + 1000 * variant + attempt },
    task: { kind: "paraphrase", text, style: style.name, variant, attempt },
  };
}

/**
 * Paraphrases every chunk (or paragraph) in every style, `perStyle` times. A job left without a paraphrase after
 * all tries is a failure, and its answers are reported rejected to the generator (Generator.reject): they stay
 * cached, so a re-run gives the same failure, and a new seed asks again. Throws one KitError, instead of returning failures, when the model or server is lost (the
 * other requests are cancelled) or when every request failed.
 */
export async function generateParaphrases(
  chunks: readonly Chunk[],
  generator: Generator,
  options: ParaphraseOptions = {},
): Promise<{ paraphrases: Paraphrase[]; failures: ParaphraseFailure[] }> {
  const styles = options.styles ?? DEFAULT_STYLES;
  const perStyle = options.perStyle ?? 1;
  const retries = options.retries ?? 2;
  const first = (options.round ?? 0) * perStyle;
  const jobs = chunks.flatMap((chunk) => {
    const parts: [number | null, string][] = options.byParagraph ? splitParagraphs(chunk.text).map((p, i) => [i, p]) : [[null, chunk.text]];
    return parts.flatMap(([paragraph_index, text]) =>
      styles.flatMap((style) => Array.from({ length: perStyle }, (_, v) => ({ chunk, paragraph_index, text, style, variant: first + v }))),
    );
  });
  const requests = stageRequests(options.round ? `paraphrases (round ${options.round + 1})` : "paraphrases", generator, options.signal);
  let done = 0;
  const onProgress = options.onProgress ?? defaultProgress("paraphrases asked");
  const results = await requests.finish(
    Promise.all(
      jobs.map(async (job) => {
        const result = await paraphraseOne(job.text, job.style, job.variant, retries, generator, requests, options);
        onProgress?.(++done, jobs.length);
        return { job, result };
      }),
    ),
  );
  const paraphrases: Paraphrase[] = [];
  const failures: ParaphraseFailure[] = [];
  for (const { job, result } of results) {
    const { chunk, paragraph_index, style, variant } = job;
    if ("reason" in result) {
      failures.push({ chunk_id: chunk.chunk_id, paragraph_index, style: style.name, reason: result.reason });
      continue;
    }
    const part = paragraph_index === null ? "" : `_p${paragraph_index + 1}`;
    paraphrases.push({
      paraphrase_id: `${chunk.chunk_id}${part}_${style.name}_${variant + 1}`,
      chunk_id: chunk.chunk_id,
      paragraph_index,
      style: style.name,
      text: result.text,
      model: generator.model,
    });
  }
  return { paraphrases, failures };
}

async function paraphraseOne(
  text: string,
  style: Style,
  variant: number,
  retries: number,
  generator: Generator,
  requests: StageRequests,
  options: ParaphraseOptions,
): Promise<{ text: string } | { reason: string }> {
  let reason = "";
  const rejected: GenerateRequest[] = [];
  for (let attempt = 0; attempt <= retries; attempt++) {
    const request = paraphraseRequest(text, style, variant, attempt, options);
    let answer: string;
    try {
      answer = (await requests.ask(request)).trim();
    } catch (err) {
      if (requests.signal.aborted) throw err;
      reason = (err as Error).message;
      continue;
    }
    if (!answer) reason = "empty answer";
    else if (answer === text.trim()) reason = "answer repeats the original unchanged";
    else return { text: answer };
    rejected.push(request);
  }
  const failure = `${reason} (after ${retries + 1} tries)`;
  for (const request of rejected) generator.reject?.(request, failure);
  return { reason: failure };
}
