import { setMaxListeners } from "node:events";
import type { ChatRequest, Ollama } from "ollama";
import type OpenAI from "openai";
import { createBuiltinGenerator } from "./builtin";
import { KitError } from "../errors";
import { backoff, DEFAULT_MAX_ANSWER_BYTES, duration, guardFetch, MalformedAnswer, retryPolicy } from "../host-faults";

export type { GenerateOptions, GenerateRequest, Generator, Task } from "./types";
import type { GenerateRequest, Generator } from "./types";

// ---------------------------------------------------------------------------------------------------------------
// Backends by spec

export const DEFAULT_GENERATOR = "auto";
/** The model `auto` looks for on Ollama. */
export const DEFAULT_OLLAMA_MODEL = "qwen2.5:7b-instruct";
export const DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434";
/**
 * Requests in flight per host. Ollama serves OLLAMA_NUM_PARALLEL requests at once (it picks 4 or 1 by free
 * memory) and queues the rest, and its API does not say which: 4 keeps a parallel server busy and costs a
 * serial one only queueing on its side.
 */
export const DEFAULT_CONCURRENCY = 4;
/** Default and most time one HTTP request may take (--request-timeout): a 7B model on a CPU with a queue ahead needs minutes. */
export const DEFAULT_TIMEOUT_MS = 300_000;
export const MAX_TIMEOUT_MS = 3_600_000;
export const DEFAULT_RETRIES = 4;
const RETRY_DELAY_MS = 500;
/** How long `auto` waits for Ollama to answer before choosing builtin. */
const AUTO_PROBE_MS = 2_000;
/** An explicit spec is an error when its server does not answer, so it gets longer than `auto`. */
const SPEC_PROBE_MS = 10_000;
const SPEC_FORMS = "auto, builtin, ollama:<model> or openai:<model>@<base-url>";
/**
 * The token limit an answer cut at the server's own limit is asked again with, when the request set none: Ollama's
 * default num_predict is unbounded (-1) in current versions, but a model's Modelfile or an OpenAI-compatible server
 * may set a small one. 4096 is several times the longest answer a stage asks for; a request with a limit gets
 * twice its limit. Past the model's context window no limit helps, and the answer fails as truncated.
 */
export const TRUNCATION_RETRY_TOKENS = 4096;
/** Longest setTimeout delay (2^31-1 ms); our own per-attempt timer is the one that fires. */
const NO_CLIENT_TIMEOUT_MS = 2 ** 31 - 1;

export interface GeneratorOptions {
  /** Ollama server(s), comma-separated, served as one pool; default env OLLAMA_HOST, else http://127.0.0.1:11434. */
  ollamaHost?: string;
  /** The Ollama model `auto` looks for; default DEFAULT_OLLAMA_MODEL. */
  model?: string;
  /** Requests in flight per host; default DEFAULT_CONCURRENCY. */
  concurrency?: number;
  /** Most time one HTTP request may take before it is cancelled and retried; default 300 s, at most 1 hour. */
  timeoutMs?: number;
  /**
   * Retries of a request after a connection error, 5xx, 429, timeout or malformed answer; default 4. Waits a host's
   * Retry-After asks for (at most 60 s each) are not counted, only held to a total of 5 minutes (lib/host-faults.ts).
   */
  retries?: number;
  /** Delay before the first retry; each next one doubles (up to 30 s), with jitter. Default 500 ms. */
  retryDelayMs?: number;
  /** Most bytes one answer may have (--max-answer-bytes); a longer one is cut off and fails. Default 1 MiB. */
  maxAnswerBytes?: number;
  /** Receives one line saying which backend serves, and why (the CLI prints it first). */
  onNotice?: (line: string) => void;
}

/**
 * Makes a generator from a spec:
 * - `auto` (default): Ollama when it answers at the host(s) and has `options.model`, otherwise builtin;
 * - `builtin`: lib/generators/builtin/, offline and deterministic;
 * - `ollama:<model>`: Ollama's /api/chat on every host of `options.ollamaHost` / OLLAMA_HOST (comma-separated);
 * - `openai:<model>@<base-url>[,<base-url>...]`: an OpenAI-compatible server (vLLM, llama.cpp's server, ...);
 *   a base URL without a path gets "/v1". The API key comes from OPENAI_API_KEY, else "none".
 * Both HTTP backends share one pool: each request goes to the least busy host with a free slot, with a
 * per-request timeout, retries with backoff, and cancellation through generate()'s signal.
 * Setup errors (unknown spec, server not answering, model not pulled) are KitErrors, thrown before any work.
 */
export async function createGenerator(spec: string = DEFAULT_GENERATOR, options: GeneratorOptions = {}): Promise<Generator> {
  const settings = poolSettings(options);
  const notice = options.onNotice ?? (() => {});
  if (spec === "builtin") {
    notice("generator: builtin");
    return createBuiltinGenerator();
  }
  const listed = splitList(options.ollamaHost || process.env.OLLAMA_HOST || "");
  const hosts = listed.length > 0 ? listed : [DEFAULT_OLLAMA_HOST];
  if (spec === "auto") return chooseAuto(options.model ?? DEFAULT_OLLAMA_MODEL, hosts, settings, notice);
  const ollama = /^ollama:(.+)$/.exec(spec);
  if (ollama) {
    const model = ollama[1];
    for (const probe of await Promise.all(hosts.map((host) => probeOllama(host, model, SPEC_PROBE_MS)))) {
      if (probe.answered === false) {
        throw new KitError(`Ollama is not reachable at ${probe.host}: start it with \`ollama serve\`, or set OLLAMA_HOST / --ollama-host`);
      }
      if (probe.answered !== true) throw new KitError(`Ollama at ${probe.host} failed to list its models: ${probe.answered}`);
      if (!probe.hasModel) throw new KitError(`Ollama at ${probe.host} has no model "${model}": run \`ollama pull ${model}\``);
    }
    notice(`generator: ${spec} at ${hosts.join(", ")} (${settings.concurrency} requests at a time per host)`);
    return poolGenerator(spec, "ollama", model, hosts, await ollamaTransport(model), settings);
  }
  if (spec.startsWith("openai:")) return createOpenAI(spec, settings, notice);
  throw new KitError(`unknown generator spec "${spec}" (--llm): use ${SPEC_FORMS}`);
}

interface PoolSettings {
  concurrency: number;
  timeoutMs: number;
  retries: number;
  retryDelayMs: number;
  maxAnswerBytes: number;
}

function poolSettings(options: GeneratorOptions): PoolSettings {
  const check = (value: number | undefined, fallback: number, name: string, min: number, integer: boolean, max = Infinity) => {
    if (value === undefined) return fallback;
    if (!(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
      const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
      throw new KitError(`generator option ${name} must be ${integer ? "an integer" : "a number"} ${range} (got ${value})`);
    }
    return value;
  };
  return {
    concurrency: check(options.concurrency, DEFAULT_CONCURRENCY, "concurrency", 1, true),
    timeoutMs: check(options.timeoutMs, DEFAULT_TIMEOUT_MS, "timeoutMs", 1, false, MAX_TIMEOUT_MS),
    retries: check(options.retries, DEFAULT_RETRIES, "retries", 0, true),
    retryDelayMs: check(options.retryDelayMs, RETRY_DELAY_MS, "retryDelayMs", 0, false),
    maxAnswerBytes: check(options.maxAnswerBytes, DEFAULT_MAX_ANSWER_BYTES, "maxAnswerBytes", 1, true),
  };
}

/**
 * `--request-timeout SECONDS` (or another option's seconds) as GeneratorOptions.timeoutMs: a number from 1 to
 * MAX_TIMEOUT_MS / 1000, else a one-line KitError naming the option.
 */
export function requestTimeoutMs(seconds: string | number, option = "--request-timeout"): number {
  const n = typeof seconds === "number" ? seconds : seconds.trim() === "" ? NaN : Number(seconds);
  if (!(n >= 1 && n * 1000 <= MAX_TIMEOUT_MS)) {
    throw new KitError(`${option} must be a number of seconds from 1 to ${MAX_TIMEOUT_MS / 1000} (got "${seconds}"): the longest one LLM or embedding request may take before it is cancelled and retried`);
  }
  return Math.round(n * 1000);
}

function splitList(text: string): string[] {
  return [...new Set(text.split(",").map((s) => s.trim()).filter(Boolean))];
}

async function chooseAuto(model: string, hosts: string[], settings: PoolSettings, notice: (line: string) => void): Promise<Generator> {
  const probes = await Promise.all(hosts.map((host) => probeOllama(host, model, AUTO_PROBE_MS)));
  const serving = probes.filter((p) => p.answered === true && p.hasModel).map((p) => p.host);
  const spec = `ollama:${model}`;
  if (serving.length > 0) {
    const skipped = probes
      .filter((p) => !serving.includes(p.host))
      .map((p) => `${p.host}: ${p.answered === true ? `no model "${model}"` : p.answered === false ? "no answer" : p.answered}`);
    notice(`generator: ${spec} at ${serving.join(", ")}${skipped.length ? ` (skipped ${skipped.join("; ")})` : ""}`);
    return poolGenerator(spec, "ollama", model, serving, await ollamaTransport(model), settings);
  }
  const why = probes.every((p) => p.answered === false)
    ? `no Ollama answered at ${hosts.join(", ")}`
    : probes
        .map((p) =>
          p.answered === true
            ? `Ollama at ${p.host} has no model "${model}"; \`ollama pull ${model}\` to use it`
            : p.answered === false
              ? `no Ollama answered at ${p.host}`
              : `Ollama at ${p.host} failed to list its models: ${p.answered}`,
        )
        .join("; ");
  notice(`generator: builtin (${why})`);
  return createBuiltinGenerator();
}

/** Ollama's full model name: a bare name means the "latest" tag. */
function fullModelName(name: string): string {
  return name.includes(":") ? name : `${name}:latest`;
}

/** `answered`: true, false (no connection or no answer in time), or the error the server answered with. */
async function probeOllama(host: string, model: string, ms: number): Promise<{ host: string; answered: true | false | string; hasModel: boolean }> {
  const { Ollama } = await import("ollama");
  const signal = AbortSignal.timeout(ms);
  const client = new Ollama({ host, fetch: (input, init) => fetch(input, { ...init, signal }) });
  try {
    const { models } = await client.list();
    const wanted = fullModelName(model);
    const hasModel = models.some((m) => fullModelName(m.name) === wanted || fullModelName(m.model) === wanted);
    return { host, answered: true, hasModel };
  } catch (e) {
    const failure = classify(e);
    return { host, answered: signal.aborted || (failure.status === undefined && failure.retry) ? false : failure.detail, hasModel: false };
  }
}

async function createOpenAI(spec: string, settings: PoolSettings, notice: (line: string) => void): Promise<Generator> {
  const malformed = () =>
    new KitError(`malformed generator spec "${spec}" (--llm): use openai:<model>@<base-url>, e.g. openai:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8000/v1`);
  const [, model, urls] = /^openai:(.+?)@(.+)$/.exec(spec) ?? [];
  if (!model) throw malformed();
  const bases = splitList(urls).map((u) => {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw malformed();
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw malformed();
    // vLLM serves /v1 only, so a bare server address means its /v1.
    return url.pathname === "/" ? `${url.origin}/v1` : u.replace(/\/+$/, "");
  });
  const hosts = [...new Set(bases)];
  if (hosts.length === 0) throw malformed();
  const { default: OpenAIClient } = await import("openai");
  const apiKey = process.env.OPENAI_API_KEY || "none";
  const clients = new Map(hosts.map((h) => [h, new OpenAIClient({ baseURL: h, apiKey, maxRetries: 0, timeout: NO_CLIENT_TIMEOUT_MS })]));
  for (const host of hosts) {
    const signal = AbortSignal.timeout(SPEC_PROBE_MS);
    try {
      await clients.get(host)!.models.list({ signal });
    } catch (e) {
      const failure = classify(e);
      if (failure.status === 401 || failure.status === 403) {
        throw new KitError(`${host} refused the API key (HTTP ${failure.status}): set OPENAI_API_KEY`);
      }
      if (signal.aborted || (failure.status === undefined && failure.retry)) {
        throw new KitError(`no OpenAI-compatible server answered at ${host}: start vLLM or llama.cpp's server there, or fix the URL in --llm`);
      }
      throw new KitError(`${host} failed to list its models (${failure.detail}): is it an OpenAI-compatible base URL (usually ending in /v1)?`);
    }
  }
  notice(`generator: openai:${model} at ${hosts.join(", ")} (${settings.concurrency} requests at a time per host)`);
  return poolGenerator(spec, "openai", model, hosts, openaiTransport(model, clients), settings);
}

// ---------------------------------------------------------------------------------------------------------------
// Transports: how one backend asks one host. Everything around a call (pool, timeout, retries, abort) is shared.

interface Transport {
  /** Who answers, for messages: "Ollama" or "the OpenAI-compatible server". */
  server: string;
  /**
   * The answer, and whether the server stopped it at the token limit (Ollama's done_reason, OpenAI's finish_reason
   * "length"), asked through `fetch` (which carries the call's signal and caps the answer) and with `signal`.
   */
  send(host: string, request: GenerateRequest, fetch: typeof globalThis.fetch, signal: AbortSignal): Promise<{ text: string; cut: boolean }>;
}

function messages(request: GenerateRequest): Array<{ role: "system" | "user"; content: string }> {
  return [...(request.system ? [{ role: "system" as const, content: request.system }] : []), { role: "user" as const, content: request.prompt }];
}

async function ollamaTransport(model: string): Promise<Transport> {
  const { Ollama: OllamaClient } = await import("ollama");
  return {
    server: "Ollama",
    async send(host, request, fetch) {
      // The client takes no signal for non-streamed calls, so each call gets a client whose fetch carries one.
      const client: Ollama = new OllamaClient({ host, fetch });
      const chat: ChatRequest & { stream: false } = { model, messages: messages(request), format: request.format, options: request.options, stream: false };
      const answer = await client.chat(chat);
      const content = answer?.message?.content;
      if (typeof content !== "string") throw new MalformedAnswer("an /api/chat answer without message content");
      return { text: content, cut: answer.done_reason === "length" };
    },
  };
}

function openaiTransport(model: string, clients: Map<string, OpenAI>): Transport {
  return {
    server: "the OpenAI-compatible server",
    async send(host, request, fetch, signal) {
      const options = request.options ?? {};
      const completion = await clients.get(host)!.withOptions({ fetch }).chat.completions.create(
        {
          model,
          messages: messages(request),
          ...(request.format && { response_format: { type: "json_schema" as const, json_schema: { name: "answer", schema: request.format } } }),
          temperature: options.temperature,
          max_tokens: options.num_predict,
          seed: options.seed,
        },
        { signal },
      );
      const choice = completion?.choices?.[0];
      const content = choice?.message?.content;
      if (typeof content !== "string") throw new MalformedAnswer("a /chat/completions answer without message content");
      return { text: content, cut: choice.finish_reason === "length" };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Failures

/**
 * What went wrong with a request, as GeneratorError.kind:
 * - `timeout`: no answer within the request timeout, on every try;
 * - `unreachable`: no connection could be made (refused, host or network unreachable), on the last try;
 * - `dropped`: the connection broke before the whole answer came;
 * - `server`: HTTP 5xx, 408 or 429 on every try;
 * - `malformed`: an answer that is not the API's JSON (not JSON at all, or without message content), on every try;
 * - `too-large`: an answer longer than --max-answer-bytes, cut off there (not retried: the model would run on again);
 * - `refused`: another 4xx, e.g. 400 for a bad schema;
 * - `model-missing`: HTTP 404, the model is not (or no longer) on the host;
 * - `auth`: HTTP 401 or 403, the API key is refused;
 * - `storage`: the answer came but the cache could not keep it (a full disk; lib/cache.ts);
 * - `truncated`: the answer stopped at the token limit, and again when asked with a larger one.
 */
export type FailureKind = "timeout" | "unreachable" | "dropped" | "server" | "malformed" | "too-large" | "refused" | "model-missing" | "auth" | "storage" | "truncated";

/**
 * A request that failed for good (after the retries worth making). `lost` means no later request can succeed
 * either: the model disappeared (404), the API key is refused, the server stopped answering, or the disk is full. A stage stops
 * at once on a lost one instead of recording a failure for every row.
 */
export class GeneratorError extends KitError {
  override name = "GeneratorError";
  constructor(
    message: string,
    readonly kind: FailureKind,
    /** A short reason to count failures by, e.g. "no answer within 300 s", "HTTP 500", "malformed JSON". */
    readonly reason: string,
    readonly lost: boolean,
  ) {
    super(message);
  }
}

/** Whether `e` says the model or its server is gone, so that asking on is pointless. */
export function isLost(e: unknown): e is GeneratorError {
  return e instanceof GeneratorError && e.lost;
}

interface Failure {
  /** Worth another try: no connection, a dropped one, a timeout, 5xx, 408, 429 or a malformed answer. */
  retry: boolean;
  kind: FailureKind;
  status?: number;
  detail: string;
}

/** Socket errors: whether a connection was never made (`unreachable`) or broke (`dropped`), and how to say it. */
const CONNECTION_CODES: Record<string, [FailureKind, string]> = {
  ECONNREFUSED: ["unreachable", "connection refused"],
  ECONNRESET: ["dropped", "connection reset"],
  UND_ERR_SOCKET: ["dropped", "connection dropped"],
  ENOTFOUND: ["unreachable", "host not found"],
  EAI_AGAIN: ["unreachable", "host not found (DNS)"],
  EHOSTUNREACH: ["unreachable", "host unreachable"],
  ENETUNREACH: ["unreachable", "network unreachable"],
  UND_ERR_CONNECT_TIMEOUT: ["unreachable", "connect timeout"],
};

/** Whether a failed HTTP call is worth repeating: a lost connection, a timeout, 5xx, 408, 429 or a malformed answer. */
export function isTransient(e: unknown): boolean {
  return classify(e).retry;
}

function classify(e: unknown): Failure {
  if (e instanceof KitError) return { retry: false, kind: "refused", detail: e.message };
  const err = e as { status_code?: unknown; status?: unknown; error?: { message?: unknown }; message?: unknown; name?: unknown };
  // ollama's ResponseError has status_code, openai's APIError status (and the body's message in error.message).
  const status = typeof err.status_code === "number" ? err.status_code : typeof err.status === "number" ? err.status : undefined;
  if (status !== undefined) {
    const message = typeof err.error?.message === "string" ? err.error.message : oneLine(e).replace(/^\d{3} /, "");
    const retry = status >= 500 || status === 408 || status === 429;
    const kind = retry ? "server" : status === 404 ? "model-missing" : status === 401 || status === 403 ? "auth" : "refused";
    return { retry, kind, status, detail: `HTTP ${status}: ${oneLine(message)}` };
  }
  // Both clients parse a 200's body with JSON.parse: a SyntaxError is a body that is not JSON. A proxy or a server
  // under strain garbles one answer and not the next, so it is asked again.
  if (e instanceof SyntaxError) return { retry: true, kind: "malformed", detail: `a body that is not JSON: ${oneLine(e)}` };
  if (e instanceof MalformedAnswer) return { retry: true, kind: "malformed", detail: e.message };
  if (err.name === "TimeoutError") return { retry: true, kind: "timeout", detail: "no answer in time" };
  // undici's "fetch failed" / "terminated" TypeErrors, possibly wrapped (openai's APIConnectionError), carry the socket error.
  for (let c: any = e; c; c = c.cause) {
    if (c instanceof TypeError && (c.message === "fetch failed" || c.message === "terminated")) {
      const code = (c.cause as { code?: unknown } | undefined)?.code;
      const [kind, what] = (typeof code === "string" && CONNECTION_CODES[code]) || ["dropped" as const, oneLine(c.cause ?? c)];
      return c.message === "terminated" ? { retry: true, kind: "dropped", detail: `${what} mid-answer` } : { retry: true, kind, detail: what };
    }
  }
  return { retry: false, kind: "refused", detail: oneLine(e) };
}

function oneLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split("\n")[0];
}

/** The error generate() rejects with when its signal (or close()) stops it: an AbortError, as fetch's. */
function abortError(reason: unknown): unknown {
  return (reason as { name?: unknown })?.name === "AbortError" ? reason : new DOMException("This operation was aborted", "AbortError");
}

/** A signal that aborts when `signal` does or after `ms`; dispose() detaches it. */
function withTimeout(signal: AbortSignal, ms: number): { signal: AbortSignal; timedOut: () => boolean; dispose: () => void } {
  const controller = new AbortController();
  let timedOut = false;
  const listener = () => controller.abort(signal.reason);
  if (signal.aborted) listener();
  else signal.addEventListener("abort", listener, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException(`no answer within ${ms} ms`, "TimeoutError"));
  }, ms);
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose() {
      clearTimeout(timer);
      signal.removeEventListener("abort", listener);
    },
  };
}

/**
 * Passes one signal's abort on to many controllers through a single listener, so a signal shared by thousands
 * of pending generate() calls (Ctrl-C, close()) does not collect thousands of listeners.
 */
function createFanout() {
  const groups = new Map<AbortSignal, { listener: () => void; members: Set<AbortController> }>();
  return {
    /** Aborts `member` when `signal` aborts, until the returned function is called. */
    join(signal: AbortSignal, member: AbortController): () => void {
      if (signal.aborted) {
        member.abort(signal.reason);
        return () => {};
      }
      let group = groups.get(signal);
      if (!group) {
        const members = new Set<AbortController>();
        const listener = () => {
          groups.delete(signal);
          for (const m of members) m.abort(signal.reason);
        };
        signal.addEventListener("abort", listener, { once: true });
        groups.set(signal, (group = { listener, members }));
      }
      const joined = group;
      joined.members.add(member);
      return () => {
        joined.members.delete(member);
        if (joined.members.size === 0 && groups.get(signal) === joined) {
          signal.removeEventListener("abort", joined.listener);
          groups.delete(signal);
        }
      };
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The host pool

interface Host {
  url: string;
  active: number;
  served: number;
  /** Failures in a row; while `coolUntil` is ahead, requests go to other hosts when any is healthy. */
  failures: number;
  coolUntil: number;
}

interface Pool {
  /** The least busy usable host with a free slot, waiting for one if need be; `tried` hosts come last. */
  acquire(tried: Set<Host>, signal: AbortSignal): Promise<Host>;
  /** `ok`: the host answered (true), failed in a way worth a retry (false), or the call was cancelled (undefined). */
  release(host: Host, ok: boolean | undefined): void;
  hosts: Host[];
  close(): void;
}

function createPool(urls: string[], perHost: number, retryDelayMs: number): Pool {
  const hosts: Host[] = urls.map((url) => ({ url, active: 0, served: 0, failures: 0, coolUntil: 0 }));
  const waiting: Array<{ tried: Set<Host>; grant: (host: Host) => void }> = [];
  let wake: NodeJS.Timeout | undefined;

  /** Healthy hosts (all, if none is), then those this request has not tried (all, if it tried each). */
  const pick = (tried: Set<Host>): Host | undefined => {
    const now = Date.now();
    let usable = hosts.filter((h) => h.coolUntil <= now);
    if (usable.length === 0) usable = hosts;
    const fresh = usable.filter((h) => !tried.has(h));
    if (fresh.length > 0) usable = fresh;
    let best: Host | undefined;
    for (const h of usable) {
      if (h.active >= perHost) continue;
      if (!best || h.active < best.active || (h.active === best.active && h.served < best.served)) best = h;
    }
    return best;
  };
  const take = (host: Host) => {
    host.active++;
    host.served++;
    return host;
  };
  /** Grants free slots to waiters in arrival order; one that waits for an untried host does not hold up the rest. */
  const dispatch = () => {
    clearTimeout(wake);
    wake = undefined;
    for (let i = 0; i < waiting.length && hosts.some((h) => h.active < perHost); ) {
      const host = pick(waiting[i].tried);
      if (host) waiting.splice(i, 1)[0].grant(take(host));
      else i++;
    }
    // A cooling host becomes usable again with no release to announce it.
    const cooling = hosts.filter((h) => h.coolUntil > Date.now()).map((h) => h.coolUntil);
    if (waiting.length > 0 && cooling.length > 0) wake = setTimeout(dispatch, Math.min(...cooling) - Date.now());
  };

  return {
    hosts,
    acquire(tried, signal) {
      if (signal.aborted) return Promise.reject(signal.reason);
      return new Promise((resolve, reject) => {
        const onAbort = () => {
          waiting.splice(waiting.indexOf(waiter), 1);
          reject(signal.reason);
        };
        const waiter = {
          tried,
          grant: (host: Host) => {
            signal.removeEventListener("abort", onAbort);
            resolve(host);
          },
        };
        signal.addEventListener("abort", onAbort, { once: true });
        waiting.push(waiter);
        dispatch();
      });
    },
    release(host, ok) {
      host.active--;
      if (ok === true) host.failures = 0;
      if (ok === false) host.coolUntil = Date.now() + backoff(++host.failures, retryDelayMs);
      dispatch();
    },
    close() {
      clearTimeout(wake);
    },
  };
}

function poolGenerator(
  spec: string,
  backend: "ollama" | "openai",
  model: string,
  hosts: string[],
  transport: Transport,
  settings: PoolSettings,
): Generator {
  const pool = createPool(hosts, settings.concurrency, settings.retryDelayMs);
  const closed = new AbortController();
  const fanout = createFanout();

  const attempts = async (request: GenerateRequest, stop: AbortSignal): Promise<{ text: string; cut: boolean }> => {
    const tried = new Set<Host>();
    const retry = retryPolicy(settings.retries, settings.retryDelayMs);
    for (let attempt = 1; ; attempt++) {
      const host = await pool.acquire(tried, stop);
      const call = withTimeout(stop, settings.timeoutMs);
      const guard = guardFetch(call.signal, settings.maxAnswerBytes);
      let failure: Failure;
      try {
        const answer = await transport.send(host.url, request, guard.fetch, call.signal);
        pool.release(host, true);
        return answer;
      } catch (e) {
        if (stop.aborted) {
          pool.release(host, undefined);
          throw e;
        }
        failure = call.timedOut()
          ? { retry: true, kind: "timeout", detail: `no answer within ${duration(settings.timeoutMs)}` }
          : guard.tooLarge
            ? { retry: false, kind: "too-large", detail: `answer larger than ${settings.maxAnswerBytes} bytes` }
            : classify(e);
        pool.release(host, !failure.retry);
      } finally {
        call.dispose();
      }
      if (!failure.retry) throw refused(transport, host.url, model, failure);
      const wait = retry.next(guard.retryAfterMs);
      if (wait === undefined) throw exhausted(transport, host.url, model, failure, attempt, settings);
      if (tried.size + 1 >= pool.hosts.length) tried.clear();
      tried.add(host);
      await sleep(wait, stop);
    }
  };

  return {
    spec,
    backend,
    model,
    async generate(request, signal) {
      const stop = new AbortController();
      const leave = [fanout.join(closed.signal, stop), ...(signal ? [fanout.join(signal, stop)] : [])];
      try {
        const first = await attempts(request, stop.signal);
        if (!first.cut) return first.text;
        // Cut at the token limit: once more with a larger one, then it fails (and a cache stores nothing).
        const limit = request.options?.num_predict;
        const larger = limit !== undefined && limit > 0 ? limit * 2 : TRUNCATION_RETRY_TOKENS;
        const again = await attempts({ ...request, options: { ...request.options, num_predict: larger } }, stop.signal);
        if (!again.cut) return again.text;
        throw new GeneratorError(
          `${capitalize(transport.server)} cut "${model}"'s answer at the token limit, also when asked again with num_predict ${larger}: the answer fails as truncated`,
          "truncated",
          TRUNCATED,
          false,
        );
      } catch (e) {
        throw stop.signal.aborted ? abortError(stop.signal.reason) : e;
      } finally {
        for (const f of leave) f();
      }
    },
    async close() {
      closed.abort(new DOMException("The generator was closed", "AbortError"));
      pool.close();
    },
  };
}

const RESUME = "then run the same command again to resume";
/** The reason a build counts truncated answers under. */
export const TRUNCATED = "truncated at the token limit";

/**
 * The one-line error for an answer no retry can change: the model gone (404), the key refused (401, 403), an
 * answer too large, another 4xx. Ollama had the model when the generator was made, so a 404 from it means the
 * model was removed mid-run.
 */
function refused(transport: Transport, host: string, model: string, failure: Failure): GeneratorError {
  const server = capitalize(transport.server);
  if (failure.kind === "model-missing") {
    const message =
      transport.server === "Ollama"
        ? `model "${model}" disappeared from Ollama at ${host} (HTTP 404): run \`ollama pull ${model}\`, ${RESUME}`
        : // The OpenAI-compatible probe does not check the model, so it may never have been there.
          `${host} does not serve model "${model}" (${failure.detail}): fix the model name in --llm or serve it there, ${RESUME}`;
    return new GeneratorError(message, "model-missing", "model not found (HTTP 404)", true);
  }
  if (failure.kind === "auth") {
    return new GeneratorError(`${host} refused the API key (${failure.detail}): set OPENAI_API_KEY, ${RESUME}`, "auth", `API key refused (HTTP ${failure.status})`, true);
  }
  if (failure.kind === "too-large") {
    return new GeneratorError(
      `${server} at ${host} sent an ${failure.detail} for "${model}", cut off there: the model may write without end (raise --max-answer-bytes if such answers are expected)`,
      "too-large",
      failure.detail,
      false,
    );
  }
  const reason = failure.status === undefined ? failure.detail : `HTTP ${failure.status}`;
  return new GeneratorError(`${server} at ${host} rejected the request for "${model}": ${failure.detail}`, "refused", reason, false);
}

/** The one-line error for a request whose every try failed in a way worth a retry. */
function exhausted(transport: Transport, host: string, model: string, failure: Failure, attempts: number, settings: PoolSettings): GeneratorError {
  const server = capitalize(transport.server);
  if (failure.kind === "unreachable") {
    const start = transport.server === "Ollama" ? "start it again (`ollama serve`)" : "start the server again";
    return new GeneratorError(`${server} at ${host} stopped answering (${failure.detail}, ${attempts} tries): ${start}, ${RESUME}`, "unreachable", failure.detail, true);
  }
  const hint =
    failure.kind === "timeout"
      ? `raise --request-timeout (now ${duration(settings.timeoutMs)}) or lower --concurrency`
      : failure.kind === "dropped"
        ? "see the server's log: did it crash or run out of memory?"
        : failure.kind === "malformed"
          ? `check that ${host} is ${transport.server === "Ollama" ? "an Ollama server (--ollama-host, OLLAMA_HOST)" : "an OpenAI-compatible base URL (--llm)"} and that no proxy in between alters answers`
          : "see the server's log, or lower --concurrency";
  const reason =
    failure.kind === "timeout" ? failure.detail : failure.status !== undefined ? `HTTP ${failure.status}` : failure.kind === "malformed" ? "malformed answer" : failure.detail;
  const times = attempts === 1 ? "once" : `${attempts} times`;
  return new GeneratorError(`${server} at ${host} failed ${times} with "${model}"; the last: ${failure.detail}; ${hint}`, failure.kind, reason, false);
}

function capitalize(text: string): string {
  return text[0].toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------------------------------------------------------
// A stage's requests

export interface StageRequests {
  /** The stage's signal: the caller's, and aborted when the model or server is lost. */
  signal: AbortSignal;
  /** The generator's answer to `request`, asked with `signal`; rejects as generate() does. */
  ask(request: GenerateRequest): Promise<string>;
  /** `work`'s result, or one KitError when the model or server was lost or every request failed. */
  finish<T>(work: Promise<T>): Promise<T>;
}

/**
 * One stage's LLM requests (questions, paraphrases), so that a stage does not turn a dead model into a failed
 * row per request. The first lost model or server (isLost) aborts every other request of the stage, and
 * finish() throws it, prefixed with the stage's name; a stage whose every request failed, for any reason,
 * throws from finish() how many failed and why. Both are one-line KitErrors (the lost one a GeneratorError).
 */
export function stageRequests(stage: string, generator: Generator, outer?: AbortSignal): StageRequests {
  const halt = new AbortController();
  const signal = outer ? AbortSignal.any([outer, halt.signal]) : halt.signal;
  // Every request of the stage shares it, and a generator may listen once per pending request (builtin does).
  setMaxListeners(0, signal);
  let answered = 0;
  const failed = new Map<string, number>();
  let last: unknown;
  let lost: GeneratorError | undefined;
  return {
    signal,
    async ask(request) {
      try {
        const answer = await generator.generate(request, signal);
        answered++;
        return answer;
      } catch (e) {
        if (signal.aborted) throw e;
        if (isLost(e)) {
          lost = e;
          halt.abort(e);
          throw e;
        }
        const reason = e instanceof GeneratorError ? e.reason : oneLine(e);
        failed.set(reason, (failed.get(reason) ?? 0) + 1);
        last = e;
        throw e;
      }
    },
    async finish(work) {
      let result;
      try {
        result = await work;
      } catch (e) {
        if (lost && !outer?.aborted) {
          throw new GeneratorError(`${stage} stopped after ${answered} answers: ${lost.message}`, lost.kind, lost.reason, true);
        }
        throw e;
      }
      const failures = [...failed.values()].reduce((a, b) => a + b, 0);
      if (answered === 0 && failures > 0) {
        const why = [...failed].sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${n} ${reason}`).join(", ");
        throw new KitError(`${stage}: all ${failures} LLM requests failed (${why}); the last: ${oneLine(last)}`);
      }
      return result;
    },
  };
}
