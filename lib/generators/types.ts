/** Sampling options, named as Ollama names them; the OpenAI backend maps them to its own names. */
export interface GenerateOptions {
  temperature?: number;
  /** Most tokens to generate. */
  num_predict?: number;
  seed?: number;
}

/**
 * What a pipeline stage wants, beside its prompt. LLM backends never read it; the builtin backend
 * answers from it alone, in the same output format the prompt asks an LLM for, so parsing,
 * validation and caching take one path whatever the backend.
 */
export type Task =
  | {
      kind: "questions";
      /** The sliding window: the chunk asked about and its neighbours, in corpus order. */
      window: { chunk_id: string; text: string }[];
      /** The chunk id the questions are for (one of the window's). */
      target: string;
      count: number;
      /** 0 on the first try; a retry after a rejected answer asks again with a higher number. */
      attempt: number;
    }
  | { kind: "paraphrase"; text: string; style: string; variant: number; attempt: number }
  /** An LLM judge's check of a paraphrase (lib/quality.ts); the builtin generator cannot answer it. */
  | { kind: "judge"; original: string; paraphrase: string }
  /** Two-hop questions over a chunk and a partner chunk that shares rare terms with it (lib/multihop.ts). */
  | { kind: "multi-hop"; chunks: { chunk_id: string; text: string }[]; shared: string[]; count: number; attempt: number };

export interface GenerateRequest {
  system?: string;
  prompt: string;
  /** A JSON schema the answer must follow (Ollama `format`, OpenAI `response_format`). */
  format?: Record<string, unknown>;
  options?: GenerateOptions;
  task: Task;
}

export interface Generator {
  /** The spec string it was made from, e.g. "ollama:qwen2.5:7b" or "builtin". */
  spec: string;
  backend: "ollama" | "openai" | "builtin";
  /** The model name recorded in every row this generator makes ("builtin" for the builtin one). */
  model: string;
  /**
   * What else its answers depend on, where the model name does not say: the builtin's code. Part of the cache key
   * (lib/cache.ts), so a kit upgraded since a build answers that build's tasks afresh, not from the old answers.
   */
  revision?: string;
  /** The model's answer text. Rejects on transport failure after retries, or when `signal` aborts. */
  generate(request: GenerateRequest, signal?: AbortSignal): Promise<string>;
  /**
   * The caller rejects the answer it got for `request` (unparseable, or refused by validation after all tries):
   * a caching generator (lib/cache.ts) records it and keeps the answer, so a re-run rejects it again and only a
   * new seed asks again. Optional; others need not have it.
   */
  reject?(request: GenerateRequest, reason: string): void;
  close(): Promise<void>;
}

export type QuestionsTask = Extract<Task, { kind: "questions" }>;
export type ParaphraseTask = Extract<Task, { kind: "paraphrase" }>;

export type Difficulty = "easy" | "medium" | "hard";

/** A question as the builtin generator writes it (the JSON an LLM is asked for). */
export interface BuiltinQuestion {
  question: string;
  answer: string;
  difficulty: Difficulty;
  source: string;
}
