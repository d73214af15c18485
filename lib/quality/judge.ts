import { KitError } from "../errors";
import { createGenerator, type GenerateRequest, type Generator, type GeneratorOptions } from "../generators";
// nli.ts loads transformers.js only when a transformers: judge is made, so importing it here costs nothing.
import { nliJudge } from "./nli";
import { type ClaimVerdict, type Judge, MINICHECK_MODEL } from "./claims";

export const DEFAULT_JUDGE = "auto";
export { MINICHECK_MODEL };
export const JUDGE_SPECS = "auto | rules | ollama:<model> | openai:<model>@<url> | transformers:<model or folder>";
/** Further asks when an answer is neither Yes/No nor the JSON asked for. */
const JUDGE_RETRIES = 2;

const CLAIM_FORMAT = { type: "object", properties: { supported: { type: "boolean" } }, required: ["supported"] };

/** The request for one claim: MiniCheck's "Document: … Claim: …" for bespoke-minicheck, else a JSON instruction. */
export function claimRequest(model: string, original: string, claim: string, attempt: number): GenerateRequest {
  const task = { kind: "judge" as const, original, paraphrase: claim };
  // A retry asks with another seed, so it is another request (and cache entry) than the unreadable one.
  const options = { temperature: 0, seed: 42 + attempt };
  if (isMiniCheck(model)) return { prompt: `Document: ${original}\nClaim: ${claim}`, options: { ...options, num_predict: 4 }, task };
  return {
    system:
      "You check whether a document supports a claim. The claim is supported only when the document states everything it says: every number, date, name, identifier, component, cause, purpose and evaluation. Rewording and leaving things out are fine; anything new or different is not supported.",
    prompt: `Document:\n${original}\n\nClaim:\n${claim}\n\nDoes the document support the claim? Reply with JSON only: {"supported": true} or {"supported": false}.`,
    format: CLAIM_FORMAT,
    options,
    task,
  };
}

/** true/false from a judge's answer (JSON {"supported": ...} or a leading Yes/No), or undefined when it is unreadable. */
export function parseClaimAnswer(answer: string): boolean | undefined {
  const json = /\{[\s\S]*\}/.exec(answer)?.[0];
  if (json) {
    try {
      const supported = (JSON.parse(json) as { supported?: unknown }).supported;
      if (typeof supported === "boolean") return supported;
    } catch {
      // not JSON after all: read it as words
    }
  }
  const word = /^\W*(yes|no|true|false)\b/i.exec(answer)?.[1].toLowerCase();
  return word === undefined ? undefined : word === "yes" || word === "true";
}

const isMiniCheck = (model: string) => model.split(":")[0].endsWith(MINICHECK_MODEL);

/** A judge that asks an LLM (through the kit's generator pool, and its cache when wrapped) one request per claim. */
export function llmJudge(generator: Generator, close = true): Judge {
  if (generator.backend === "builtin") throw new KitError("the builtin generator cannot judge paraphrases: use --judge rules, ollama:<model> or openai:<model>@<url>");
  const one = async (original: string, claim: string, signal?: AbortSignal): Promise<ClaimVerdict> => {
    for (let attempt = 0; attempt <= JUDGE_RETRIES; attempt++) {
      const supported = parseClaimAnswer(await generator.generate(claimRequest(generator.model, original, claim, attempt), signal));
      if (supported !== undefined) return { claim, supported };
    }
    return { claim, supported: null };
  };
  return {
    spec: generator.spec,
    judge: (original, claims, signal) => Promise.all(claims.map((claim) => one(original, claim, signal))),
    close: async () => {
      if (close) await generator.close();
    },
  };
}

export interface JudgeOptions {
  ollamaHost?: string;
  /** The host settings of the judge's own model clients: --concurrency, --request-timeout, --max-answer-bytes. */
  client?: Pick<GeneratorOptions, "concurrency" | "timeoutMs" | "maxAnswerBytes">;
  /** The build's generator: `auto` judges with its Ollama host's bespoke-minicheck, else with it. */
  generator?: Generator;
  /** Wraps each LLM generator the judge makes, e.g. with the dataset's answer cache. */
  wrap?: (generator: Generator) => Generator;
  onNotice?: (line: string) => void;
}

/**
 * The judge a spec names, or undefined for rules alone. `auto`: bespoke-minicheck when the generator's
 * Ollama host has it (or, with no generator, the Ollama host), else the generator's own model, and rules
 * alone with the builtin generator or with neither.
 */
export async function createJudge(spec: string = DEFAULT_JUDGE, options: JudgeOptions = {}): Promise<Judge | undefined> {
  const wrap = options.wrap ?? ((g: Generator) => g);
  const notice = options.onNotice ?? (() => {});
  if (spec === "rules") return undefined;
  if (spec === "auto") {
    const generator = options.generator;
    if (generator?.backend === "builtin") {
      notice("judge: rules only (the builtin generator cannot judge)");
      return undefined;
    }
    if (!generator || generator.backend === "ollama") {
      try {
        const minicheck = await createGenerator(`ollama:${MINICHECK_MODEL}`, { ...options.client, ollamaHost: options.ollamaHost });
        notice(`judge: ollama:${MINICHECK_MODEL}, claim by claim`);
        return llmJudge(wrap(minicheck));
      } catch (e) {
        if (!(e instanceof KitError)) throw e;
      }
    }
    if (!generator) {
      notice(`judge: rules only (no Ollama with ${MINICHECK_MODEL} answered; pass --judge ollama:<model> for an LLM judge)`);
      return undefined;
    }
    notice(`judge: ${generator.spec}, claim by claim (\`ollama pull ${MINICHECK_MODEL}\` for a fact-checking model)`);
    return llmJudge(wrap(generator), false);
  }
  if (spec.startsWith("ollama:") || spec.startsWith("openai:")) {
    const generator = await createGenerator(spec, { ...options.client, ollamaHost: options.ollamaHost });
    notice(`judge: ${spec}, claim by claim`);
    return llmJudge(wrap(generator));
  }
  const transformers = /^transformers:(.+)$/.exec(spec);
  if (transformers) {
    notice(`judge: ${spec} (entailment probability per claim)`);
    return nliJudge(transformers[1]);
  }
  throw new KitError(`unknown judge spec "${spec}" (--judge): use ${JUDGE_SPECS}`);
}
