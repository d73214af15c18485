// An Ollama-compatible HTTP server for tests (127.0.0.1, a free port), answered in the shapes the `ollama` npm
// client parses. It serves /api/tags, /api/show and /api/embed (deterministic hashed bag-of-words vectors),
// /api/chat and /api/generate, and the OpenAI-compatible /v1/models and /v1/chat/completions (vLLM, llama.cpp);
// the model's answer text comes from `reply` (default `echoReply`). More endpoints plug in through `routes`, and
// scripted misbehaviour through `script`: any request can be delayed, answered with an error status or
// unparseable JSON (with headers such as Retry-After), left hanging, dropped (before or mid-answer) or answered
// without end; a model can be removed mid-run (removeModel,
// as `ollama rm`), and close() kills the server mid-run. A standalone process: ollama-server-cli.ts.
//
//   const server = await startOllamaServer({ models: ["nomic-embed-text"], latencyMs: 20 });
//   ... new Ollama({ host: server.url }) ...
//   assert.is(server.requests["/api/embed"], 3);
//   await server.close();
import { once } from "node:events";
import * as http from "node:http";
import { type AddressInfo, createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** One request as the server saw it; `n` counts requests to the same path, from 1. */
export interface OllamaRequest {
  method: string;
  path: string;
  body: any;
  n: number;
  headers: http.IncomingHttpHeaders;
}

/** How to answer a request. */
export type Reply =
  | { json: unknown; status?: number; headers?: Record<string, string> }
  /** A raw body, e.g. malformed JSON. */
  | { text: string; status?: number; contentType?: string; headers?: Record<string, string> }
  /** A 200 whose body never ends: `chunk` written again and again until the client goes away. */
  | { endless: string }
  /** Never answer (the client must time out or give up); close() still ends it. */
  | { hang: true }
  /** Destroy the connection without an answer, or (`partial`) after a 200 header and the start of a body. */
  | { drop: true; partial?: string };

/** A chat or completion request, whatever its endpoint (/api/chat, /api/generate, /v1/chat/completions). */
export interface ChatAsk {
  model: string;
  system?: string;
  /** The last user message, or /api/generate's prompt. */
  prompt: string;
  /** The JSON schema asked for: Ollama's `format`, OpenAI's `response_format.json_schema.schema`. */
  format?: unknown;
  request: OllamaRequest;
}

/** Model answers that pipelines must cope with, for `reply`. */
export const cannedReplies = {
  refusal: "I'm sorry, but I can't help with that request.",
  /** Chatty text before the JSON, as small models often write despite `format`. */
  preamble: (json: string) => `Sure! Here is the JSON you asked for:\n\n\`\`\`json\n${json}\n\`\`\``,
  /** An answer cut off mid-object (num_predict reached). */
  truncated: '{"questions": [{"question": "What does the',
};

export type Route = (request: OllamaRequest) => Reply | Promise<Reply>;

/** A model's answer text, or one cut at the token limit (sent with done_reason / finish_reason "length"). */
export type ModelAnswer = string | { text: string; cut: true };

export interface OllamaServerOptions {
  /** Installed models, as `ollama list` names them ("name" means "name:latest"). Default ["nomic-embed-text"]. */
  models?: string[];
  /** Length of /api/embed vectors. Default 64. */
  dimension?: number;
  /** Delay before each answer, fixed or per request. */
  latencyMs?: number | ((request: OllamaRequest) => number);
  /** At most this many requests are handled at once; the rest wait their turn, as with OLLAMA_NUM_PARALLEL. */
  maxParallel?: number;
  /** Called for every request before its route; a reply returned here replaces the route's (e.g. a 500 on n == 2). */
  script?: (request: OllamaRequest) => Reply | undefined;
  /** Extra or replacing endpoints, keyed by path ("/api/chat"). */
  routes?: Record<string, Route>;
  /** The model's answer text for each chat/completion request (installed models only). Default `echoReply`. */
  reply?: (ask: ChatAsk) => ModelAnswer;
  /** Port on 127.0.0.1; default a free one. */
  port?: number;
}

export interface OllamaServer {
  /** Base URL for `new Ollama({ host })` or OLLAMA_HOST. */
  url: string;
  /** Requests received, by path. */
  requests: Record<string, number>;
  /** Every request, in arrival order. */
  received: OllamaRequest[];
  /** Most requests handled at the same time so far. */
  peakInFlight: number;
  /** Requests whose client went away (abort, timeout) before their answer: queued, delayed or hanging. */
  disconnected: number;
  /** Uninstalls a model, as `ollama rm` mid-run: it leaves /api/tags and every request for it gets a 404. */
  removeModel(name: string): void;
  close(): Promise<void>;
}

const MODIFIED_AT = "2025-01-01T00:00:00Z";
/** GET answers { requests, peakInFlight, disconnected }, for a server in another process. */
export const STATS_PATH = "/_test/stats";

/** Ollama's full model name: a bare name means the "latest" tag. */
export function fullModelName(name: string): string {
  return name.includes(":") ? name : `${name}:latest`;
}

/**
 * A unit vector from the text's words, each hashed (FNV-1a) to a signed coordinate: texts sharing words point
 * the same way, so similarity ranks behave sensibly, and the same text always gets the same vector.
 */
export function hashedEmbedding(text: string, dimension: number): number[] {
  const v = new Array<number>(dimension).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    let h = 0x811c9dc5;
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x01000193) >>> 0;
    v[h % dimension] += h & 0x80000000 ? -1 : 1;
  }
  const norm = Math.hypot(...v);
  return norm > 0 ? v.map((x) => x / norm) : v;
}

/**
 * The default answer: with a JSON schema, the smallest instance of it whose strings are the prompt's first
 * words (array items numbered so they differ); without one, the prompt itself.
 */
export function echoReply(ask: ChatAsk): string {
  if (!ask.format || typeof ask.format !== "object") return ask.prompt;
  const words = ask.prompt.split(/\s+/).filter(Boolean).slice(0, 12).join(" ");
  const instance = (schema: any, suffix: string): unknown => {
    if (Array.isArray(schema.enum)) return schema.enum[0];
    if ("const" in schema) return schema.const;
    switch (Array.isArray(schema.type) ? schema.type[0] : schema.type) {
      case "object":
        return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, s]) => [k, instance(s, suffix)]));
      case "array":
        return Array.from({ length: Math.max(1, schema.minItems ?? 1) }, (_, i) => instance(schema.items ?? {}, `${suffix} ${i + 1}`));
      case "integer":
      case "number":
        return schema.minimum ?? 0;
      case "boolean":
        return true;
      case "null":
        return null;
      default:
        return `${words}${suffix}`;
    }
  };
  return JSON.stringify(instance(ask.format, ""));
}

/** The ChatAsk of a chat-like request, by endpoint. */
function chatAsk(request: OllamaRequest): ChatAsk {
  const { body } = request;
  if (request.path === "/api/generate") return { model: body.model, system: body.system, prompt: body.prompt ?? "", format: body.format, request };
  const messages: Array<{ role: string; content: string }> = body.messages ?? [];
  return {
    model: body.model,
    system: messages.find((m) => m.role === "system")?.content,
    prompt: messages.filter((m) => m.role === "user").at(-1)?.content ?? "",
    format: request.path === "/v1/chat/completions" ? body.response_format?.json_schema?.schema : body.format,
    request,
  };
}

export async function startOllamaServer(options: OllamaServerOptions = {}): Promise<OllamaServer> {
  const installed = (options.models ?? ["nomic-embed-text"]).map(fullModelName);
  const dimension = options.dimension ?? 64;
  const has = (model: unknown) => typeof model === "string" && installed.includes(fullModelName(model));
  const notFound = (model: unknown): Reply => ({ status: 404, json: { error: `model "${model}" not found, try pulling it first` } });
  const details = { parent_model: "", format: "gguf", family: "bert", families: ["bert"], parameter_size: "137M", quantization_level: "F16" };
  const reply = options.reply ?? echoReply;
  const words = (text: string) => text.split(/\s+/).filter(Boolean).length;
  const answerOf = (ask: ChatAsk) => {
    const answer = reply(ask);
    return typeof answer === "string" ? { content: answer, reason: "stop" } : { content: answer.text, reason: "length" };
  };

  const routes: Record<string, Route> = {
    "/api/tags": () => ({
      json: {
        models: installed.map((name) => ({
          name,
          model: name,
          modified_at: MODIFIED_AT,
          size: 274302450,
          digest: "0a109f422b47e3a30ba2b10eca18548e944e8a23073ee3f3e947efcf3c45e59f",
          details,
        })),
      },
    }),
    "/api/show": ({ body }) =>
      has(body.model)
        ? {
            json: {
              license: "",
              modelfile: `FROM ${body.model}`,
              parameters: "",
              template: "",
              details,
              model_info: { "general.architecture": "bert", "bert.embedding_length": dimension },
              capabilities: ["embedding"],
              modified_at: MODIFIED_AT,
            },
          }
        : notFound(body.model),
    "/api/embed": ({ body }) => {
      if (!has(body.model)) return notFound(body.model);
      const input: string[] = typeof body.input === "string" ? [body.input] : body.input;
      return {
        json: {
          model: body.model,
          embeddings: input.map((t) => hashedEmbedding(t, dimension)),
          total_duration: 1000000,
          load_duration: 100000,
          prompt_eval_count: input.reduce((n, t) => n + t.split(/\s+/).length, 0),
        },
      };
    },
    "/api/chat": (request) => ollamaAnswer(request, (content) => ({ message: { role: "assistant", content } })),
    "/api/generate": (request) => ollamaAnswer(request, (response) => ({ response, context: [1, 2, 3] })),
    "/v1/models": () => ({
      json: { object: "list", data: installed.map((id) => ({ id, object: "model", created: 1735689600, owned_by: "library" })) },
    }),
    "/v1/chat/completions": (request) => {
      const ask = chatAsk(request);
      if (!has(ask.model)) {
        const error = { message: `model "${ask.model}" not found, try pulling it first`, type: "api_error", param: null, code: null };
        return { status: 404, json: { error } };
      }
      const { content, reason } = answerOf(ask);
      return {
        json: {
          id: `chatcmpl-${request.n}`,
          object: "chat.completion",
          created: 1735689600,
          model: ask.model,
          system_fingerprint: "fp_ollama",
          choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: reason, logprobs: null }],
          usage: { prompt_tokens: words(ask.prompt), completion_tokens: words(content), total_tokens: words(ask.prompt) + words(content) },
        },
      };
    },
    ...options.routes,
  };

  /** /api/chat and /api/generate: one JSON object, or (stream, Ollama's default) one NDJSON line marked done. */
  function ollamaAnswer(request: OllamaRequest, shape: (content: string) => object): Reply {
    const ask = chatAsk(request);
    if (!has(ask.model)) return notFound(ask.model);
    const { content, reason } = answerOf(ask);
    const answer = {
      model: ask.model,
      created_at: MODIFIED_AT,
      ...shape(content),
      done: true,
      done_reason: reason,
      total_duration: 1000000,
      load_duration: 100000,
      prompt_eval_count: words(ask.prompt),
      prompt_eval_duration: 100000,
      eval_count: words(content),
      eval_duration: 800000,
    };
    return request.body.stream === false
      ? { json: answer }
      : { text: `${JSON.stringify(answer)}\n`, contentType: "application/x-ndjson" };
  }

  const closing = new AbortController();
  const requests: Record<string, number> = {};
  const received: OllamaRequest[] = [];
  let inFlight = 0;
  const queue: Array<() => void> = [];
  const state = { peakInFlight: 0, disconnected: 0 };

  const answer = async (request: OllamaRequest, res: http.ServerResponse) => {
    // A client that goes away (abort, timeout) ends its request's wait, delay or hang, as Ollama cancels it.
    const gone = new AbortController();
    res.on("close", () => gone.abort());
    const stop = AbortSignal.any([closing.signal, gone.signal]);
    let dropped = false;
    if (options.maxParallel && inFlight >= options.maxParallel) await new Promise<void>((r) => queue.push(r));
    inFlight++;
    state.peakInFlight = Math.max(state.peakInFlight, inFlight);
    try {
      if (stop.aborted) return;
      const latency = typeof options.latencyMs === "function" ? options.latencyMs(request) : options.latencyMs;
      if (latency) await sleep(latency, undefined, { signal: stop });
      const route = routes[request.path];
      let reply: Reply;
      try {
        reply = options.script?.(request) ?? (route ? await route(request) : { status: 404, text: "404 page not found", contentType: "text/plain" });
      } catch (e) {
        // A `reply`, route or script that throws gets a 500 saying why, rather than a request left hanging.
        reply = { status: 500, json: { error: `test server: ${e instanceof Error ? e.message : String(e)}` } };
      }
      if ("hang" in reply) return await new Promise((r) => stop.addEventListener("abort", r));
      if ("drop" in reply) {
        dropped = true;
        if (reply.partial === undefined) return void res.socket?.destroy();
        res.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
        return void res.write(reply.partial, () => res.socket?.destroy());
      }
      if ("endless" in reply) {
        const chunk = reply.endless;
        res.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
        // Written as fast as the client reads (a full buffer waits for "drain"), so the server holds little of it.
        while (!stop.aborted) if (!res.write(chunk)) await once(res, "drain", { signal: stop }).catch(() => undefined);
        return;
      }
      if ("json" in reply) {
        res.writeHead(reply.status ?? 200, { "Content-Type": "application/json; charset=utf-8", ...reply.headers });
        res.end(JSON.stringify(reply.json));
      } else {
        res.writeHead(reply.status ?? 200, { "Content-Type": reply.contentType ?? "application/json; charset=utf-8", ...reply.headers });
        res.end(reply.text);
      }
    } finally {
      if (gone.signal.aborted && !closing.signal.aborted && !dropped && !res.writableEnded) state.disconnected++;
      inFlight--;
      queue.shift()?.();
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://localhost").pathname;
      if (path === STATS_PATH) {
        // What a test in another process (ollama-server-cli.ts) reads; not itself counted.
        res.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
        return res.end(JSON.stringify({ requests, peakInFlight: state.peakInFlight, disconnected: state.disconnected }));
      }
      requests[path] = (requests[path] ?? 0) + 1;
      const raw = Buffer.concat(chunks).toString("utf8");
      let body: any = {};
      try {
        body = raw ? JSON.parse(raw) : {};
      } catch {
        res.writeHead(400, { "Content-Type": "application/json; charset=utf-8" });
        return res.end(JSON.stringify({ error: "invalid JSON in request body" }));
      }
      const request: OllamaRequest = { method: req.method ?? "GET", path, body, n: requests[path], headers: req.headers };
      received.push(request);
      answer(request, res).catch(() => {
        // Only a client leaving or close() aborting a delay gets here; the connection is gone anyway.
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    received,
    get peakInFlight() {
      return state.peakInFlight;
    },
    get disconnected() {
      return state.disconnected;
    },
    removeModel(name) {
      const at = installed.indexOf(fullModelName(name));
      if (at >= 0) installed.splice(at, 1);
    },
    async close() {
      closing.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** A port nothing listens on (bound, then released): a host that refuses connections. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
