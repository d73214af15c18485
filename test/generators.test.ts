// lib/generators.ts through the real `ollama` and `openai` clients, against test/helpers/ollama-server.ts.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Ollama } from "ollama";
import { KitError } from "../lib/errors";
import {
  createGenerator,
  DEFAULT_GENERATOR,
  DEFAULT_OLLAMA_MODEL,
  DEFAULT_TIMEOUT_MS,
  type GenerateRequest,
  type Generator,
  GeneratorError,
  type GeneratorOptions,
  isLost,
  MAX_TIMEOUT_MS,
  requestTimeoutMs,
  TRUNCATED,
  TRUNCATION_RETRY_TOKENS,
} from "../lib/generators";
import { openCache, withCache } from "../lib/cache";
import { RETRY_AFTER_CAP_MS, RETRY_BUDGET_MS, retryAfterMs, retryPolicy } from "../lib/host-faults";
import { cannedReplies, echoReply, startOllamaServer, STATS_PATH, type OllamaServer, type OllamaServerOptions, closedPort } from "./helpers/ollama-server";

const MODEL = "qwen2.5:7b-instruct";
const SCHEMA = {
  type: "object",
  properties: { questions: { type: "array", minItems: 2, items: { type: "object", properties: { question: { type: "string" }, difficulty: { enum: ["easy", "hard"] } } } } },
  required: ["questions"],
};
/** Fast retries, so failure paths take milliseconds. */
const FAST: GeneratorOptions = { retryDelayMs: 1 };

function ask(prompt: string, extra: Partial<GenerateRequest> = {}): GenerateRequest {
  return { prompt, task: { kind: "paraphrase", text: prompt, style: "plain", variant: 0, attempt: 0 }, ...extra };
}

/** The GeneratorError `run` rejects with. */
async function generatorError(run: () => Promise<unknown>): Promise<GeneratorError> {
  try {
    await run();
  } catch (e) {
    if (e instanceof GeneratorError) return e;
    throw e;
  }
  throw new Error("expected a GeneratorError");
}

async function kitError(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (e) {
    if (e instanceof KitError) return e.message;
    throw e;
  }
  throw new Error("expected a KitError");
}

/** The promise's rejection; a promise still pending after 10 s fails the test instead of hanging the suite. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<"stuck">((resolve) => (timer = setTimeout(resolve, 10_000, "stuck")));
  const outcome = await Promise.race([promise.then(() => "resolved" as const, (e: Error) => ({ error: e })), stuck]);
  clearTimeout(timer);
  if (outcome === "stuck") throw new Error("still pending after 10 s");
  if (outcome === "resolved") throw new Error("expected a rejection");
  return outcome.error;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(condition(), what);
}

/** Runs `body` with servers and a generator over them; closes everything after. */
async function withOllama(
  serverOptions: OllamaServerOptions | OllamaServerOptions[],
  options: GeneratorOptions,
  body: (generator: Generator, servers: OllamaServer[]) => Promise<void>,
): Promise<void> {
  const servers = await Promise.all([serverOptions].flat().map((o) => startOllamaServer({ models: [MODEL], ...o })));
  let generator: Generator | undefined;
  try {
    generator = await createGenerator(`ollama:${MODEL}`, { ollamaHost: servers.map((s) => s.url).join(","), ...options });
    await body(generator, servers);
  } finally {
    await generator?.close();
    await Promise.all(servers.map((s) => s.close()));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Ollama: requests and answers

test("ollama: one /api/chat call with system + user messages, the JSON schema as format, the options, no streaming", async () => {
  await withOllama({}, {}, async (generator, [server]) => {
    assert.equal([generator.spec, generator.backend, generator.model], [`ollama:${MODEL}`, "ollama", MODEL]);
    const options = { temperature: 0.3, num_predict: 512, seed: 7 };
    const answer = await generator.generate(ask("Write questions about rollouts.", { system: "You write exam questions.", format: SCHEMA, options }));
    assert.equal(server.received.at(-1)!.body, {
      model: MODEL,
      messages: [
        { role: "system", content: "You write exam questions." },
        { role: "user", content: "Write questions about rollouts." },
      ],
      format: SCHEMA,
      options,
      stream: false,
    });
    assert.equal(JSON.parse(answer), {
      questions: [
        { question: "Write questions about rollouts. 1", difficulty: "easy" },
        { question: "Write questions about rollouts. 2", difficulty: "easy" },
      ],
    });
    await generator.generate(ask("no system, no format"));
    assert.equal(server.received.at(-1)!.body, { model: MODEL, messages: [{ role: "user", content: "no system, no format" }], stream: false });
    assert.equal(server.requests, { "/api/tags": 1, "/api/chat": 2 }, "one model check at creation, then one call each");
  });
});

test("ollama: the model's text comes back verbatim, refusals, preambles and cut-off JSON included", async () => {
  const replies: Record<string, string> = {
    refuse: cannedReplies.refusal,
    chatty: cannedReplies.preamble('{"questions": []}'),
    cut: cannedReplies.truncated,
  };
  await withOllama({ reply: ({ prompt }) => replies[prompt] ?? `echo ${prompt}` }, {}, async (generator) => {
    for (const [prompt, text] of Object.entries(replies)) assert.is(await generator.generate(ask(prompt)), text);
    assert.is(await generator.generate(ask("hello")), "echo hello");
  });
});

test("ollama: an answer cut at the token limit (done_reason length) is asked again with twice the limit, then fails as truncated; a cache keeps nothing of it", async () => {
  // "short" is cut only under 200 tokens, "long" always; the default is unbounded, so a cut there gets TRUNCATION_RETRY_TOKENS.
  const reply: OllamaServerOptions["reply"] = ({ prompt, request }) => {
    const limit = request.body.options?.num_predict;
    if (prompt === "long" || (prompt === "short" && (limit ?? 100) < 200)) return { text: "These modifications aimed to", cut: true };
    return `${prompt}: done.`;
  };
  await withOllama({ reply }, FAST, async (generator, [server]) => {
    assert.is(await generator.generate(ask("short", { options: { num_predict: 100, seed: 1 } })), "short: done.");
    assert.equal(server.received.filter((r) => r.path === "/api/chat").map((r) => r.body.options), [{ num_predict: 100, seed: 1 }, { num_predict: 200, seed: 1 }]);
    assert.is(await generator.generate(ask("short")), "short: done.");
    assert.equal(server.received.at(-1)!.body.options, { num_predict: TRUNCATION_RETRY_TOKENS });

    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "kit-truncated-")), "llm.jsonl");
    const cached = withCache(generator, openCache(file));
    const error = await generatorError(() => cached.generate(ask("long", { options: { num_predict: 300 } })));
    assert.equal([error.kind, error.reason, error.lost], ["truncated", TRUNCATED, false]);
    assert.is(error.message, `Ollama cut "${MODEL}"'s answer at the token limit, also when asked again with num_predict 600: the answer fails as truncated`);
    assert.equal(server.received.slice(-2).map((r) => r.body.options.num_predict), [300, 600]);
    assert.equal(cached.failed, { [TRUNCATED]: 1 });
    assert.is(fs.readFileSync(file, "utf8"), "", "nothing cached, so a re-run asks again");
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Ollama: failures, retries, timeouts

test("ollama: a 500, a dropped connection and one dropped mid-answer are retried until an answer comes", async () => {
  const script: OllamaServerOptions["script"] = ({ path: p, n }) => {
    if (p !== "/api/chat") return undefined;
    if (n === 1) return { status: 500, json: { error: "llama runner process has terminated" } };
    if (n === 2) return { drop: true };
    if (n === 3) return { drop: true, partial: '{"model": "qwen2.5:7b-instruct", "message": {"role": "assis' };
    return undefined;
  };
  await withOllama({ script }, FAST, async (generator, [server]) => {
    assert.is(await generator.generate(ask("persistent")), "persistent");
    assert.is(server.requests["/api/chat"], 4);
  });
});

test("ollama: gives up after 1 + retries attempts with a one-line KitError naming host, model and the last failure", async () => {
  const script: OllamaServerOptions["script"] = ({ path: p }) =>
    p === "/api/chat" ? { status: 503, json: { error: "server busy, please try again.  maximum pending requests exceeded" } } : undefined;
  await withOllama({ script }, { ...FAST, retries: 2 }, async (generator, [server]) => {
    assert.is(
      await kitError(() => generator.generate(ask("x"))),
      `Ollama at ${server.url} failed 3 times with "${MODEL}"; the last: HTTP 503: server busy, please try again.  maximum pending requests exceeded; see the server's log, or lower --concurrency`,
    );
    assert.is(server.requests["/api/chat"], 3);
  });
  await withOllama({ script: ({ path: p }) => (p === "/api/chat" ? { drop: true } : undefined) }, { ...FAST, retries: 1 }, async (generator, [server]) => {
    const e = await generatorError(() => generator.generate(ask("x")));
    assert.is(e.message, `Ollama at ${server.url} failed 2 times with "${MODEL}"; the last: connection dropped; see the server's log: did it crash or run out of memory?`);
    assert.equal([e.kind, e.reason, e.lost], ["dropped", "connection dropped", false], "a server that answers, then drops, is not lost");
  });
});

test("ollama: a hung request is cancelled at the timeout and retried", async () => {
  const script: OllamaServerOptions["script"] = ({ path: p, n }) => (p === "/api/chat" && n === 1 ? { hang: true } : undefined);
  await withOllama({ script }, { ...FAST, timeoutMs: 200 }, async (generator, [server]) => {
    assert.is(await generator.generate(ask("slow start")), "slow start");
    assert.is(server.requests["/api/chat"], 2);
    await until(() => server.disconnected === 1, "the hung request's connection was closed by the client");
  });
  await withOllama({ script: ({ path: p }) => (p === "/api/chat" ? { hang: true } : undefined) }, { ...FAST, timeoutMs: 50, retries: 1 }, async (generator, [server]) => {
    const e = await generatorError(() => generator.generate(ask("x")));
    assert.is(e.message, `Ollama at ${server.url} failed 2 times with "${MODEL}"; the last: no answer within 50 ms; raise --request-timeout (now 50 ms) or lower --concurrency`);
    assert.equal([e.kind, e.reason, e.lost], ["timeout", "no answer within 50 ms", false]);
  });
});

test("ollama: 4xx answers are not retried; a 404 says the model disappeared", async () => {
  const script: OllamaServerOptions["script"] = ({ path: p, body }) => {
    if (p !== "/api/chat") return undefined;
    const prompt = body.messages.at(-1).content;
    if (prompt === "removed") return { status: 404, json: { error: `model "${MODEL}" not found, try pulling it first` } };
    if (prompt === "bad schema") return { status: 400, json: { error: "invalid JSON schema in format" } };
    return undefined;
  };
  await withOllama({ script }, FAST, async (generator, [server]) => {
    const removed = await generatorError(() => generator.generate(ask("removed")));
    assert.is(removed.message, `model "${MODEL}" disappeared from Ollama at ${server.url} (HTTP 404): run \`ollama pull ${MODEL}\`, then run the same command again to resume`);
    assert.equal([removed.kind, removed.reason, removed.lost, isLost(removed)], ["model-missing", "model not found (HTTP 404)", true, true]);
    const bad = await generatorError(() => generator.generate(ask("bad schema")));
    assert.is(bad.message, `Ollama at ${server.url} rejected the request for "${MODEL}": HTTP 400: invalid JSON schema in format`);
    assert.equal([bad.kind, bad.reason, bad.lost], ["refused", "HTTP 400", false]);
    assert.is(server.requests["/api/chat"], 2, "one request each");
  });
});

// Issue 26: faults of a host that answers, but not as it should.

test("ollama: malformed answers (not JSON, or a 200 with no message) are retried like other transient faults; every try malformed fails saying so", async () => {
  const script: OllamaServerOptions["script"] = ({ path: p, body, n }) => {
    if (p !== "/api/chat") return undefined;
    if (body.messages.at(-1).content === "always garbled") return { text: '{"model": "qwen2.5:7b-instruct", "mess' };
    if (n === 1) return { text: '{"model": "qwen2.5:7b-instruct", "mess' };
    if (n === 2) return { json: { model: MODEL, done: true } };
    return undefined;
  };
  await withOllama({ script }, { ...FAST, retries: 2 }, async (generator, [server]) => {
    assert.is(await generator.generate(ask("third time")), "third time");
    assert.is(server.requests["/api/chat"], 3);
    const garbled = await generatorError(() => generator.generate(ask("always garbled")));
    assert.match(
      garbled.message,
      new RegExp(`^Ollama at ${server.url} failed 3 times with "${MODEL}"; the last: a body that is not JSON: .*; check that ${server.url} is an Ollama server \\(--ollama-host, OLLAMA_HOST\\) and that no proxy in between alters answers$`),
    );
    assert.equal([garbled.kind, garbled.reason, garbled.lost], ["malformed", "malformed answer", false]);
    assert.is(server.requests["/api/chat"], 6);
  });
});

test("ollama: a 429 or 503 with Retry-After (seconds or an HTTP date) is asked again after that wait, which does not use up the retries", async () => {
  const times: number[] = [];
  const script: OllamaServerOptions["script"] = ({ path: p, n }) => {
    if (p !== "/api/chat") return undefined;
    times.push(Date.now());
    if (n === 1) return { status: 429, json: { error: "rate limited" }, headers: { "Retry-After": "1" } };
    // An HTTP date has whole seconds: two ahead is a wait of more than one.
    if (n === 2) return { status: 503, json: { error: "busy" }, headers: { "Retry-After": new Date(Date.now() + 2000).toUTCString() } };
    if (n <= 5) return { status: 429, json: { error: "rate limited" }, headers: { "Retry-After": "0" } };
    if (n === 7) return { status: 429, json: { error: "rate limited" } };
    return undefined;
  };
  await withOllama({ script }, { ...FAST, retries: 0 }, async (generator, [server]) => {
    assert.is(await generator.generate(ask("patient")), "patient", "five waits asked for, with no retries to spend");
    assert.ok(times[1] - times[0] >= 990, `waited ${times[1] - times[0]} ms for Retry-After: 1`);
    assert.ok(times[2] - times[1] >= 990, `waited ${times[2] - times[1]} ms for a date 2 s ahead`);
    const e = await generatorError(() => generator.generate(ask("impatient")));
    assert.equal([e.kind, e.reason], ["server", "HTTP 429"], "a 429 without Retry-After is a fault like any other");
    assert.is(server.requests["/api/chat"], 7);
  });
});

test("Retry-After waits are at most 60 s each and 5 minutes in all; unreadable values are ignored", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");
  assert.equal([retryAfterMs("10", now), retryAfterMs(" 2.5 ", now), retryAfterMs("3600", now), retryAfterMs("0", now)], [10_000, 2_500, RETRY_AFTER_CAP_MS, 0]);
  assert.equal([retryAfterMs("Wed, 01 Jan 2025 00:00:30 GMT", now), retryAfterMs("Tue, 31 Dec 2024 23:00:00 GMT", now)], [30_000, 0]);
  for (const bad of [undefined, null, "", "soon"]) assert.is(retryAfterMs(bad, now), undefined, String(bad));
  assert.equal([RETRY_AFTER_CAP_MS, RETRY_BUDGET_MS], [60_000, 300_000]);
  const retry = retryPolicy(0, 1);
  const waits = Array.from({ length: 6 }, () => retry.next(RETRY_AFTER_CAP_MS));
  assert.equal(waits, [60_000, 60_000, 60_000, 60_000, 60_000, undefined], "the sixth would pass the budget");
  assert.is(retryPolicy(0, 1).next(), undefined, "no retries: a fault without Retry-After ends the request");
});

test("ollama: an answer past --max-answer-bytes is cut off there and fails as too large, not retried; one under it comes whole", async () => {
  const script: OllamaServerOptions["script"] = ({ path: p, body }) => {
    if (p !== "/api/chat") return undefined;
    const prompt = body.messages.at(-1).content;
    if (prompt === "endless") return { endless: '{"model": "qwen2.5:7b-instruct", "message": {"role": "assistant", "content": "' + "la ".repeat(5000) };
    if (prompt === "large") return { json: { model: MODEL, message: { role: "assistant", content: "x".repeat(70_000) }, done: true } };
    return undefined;
  };
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "kit-too-large-")), "llm.jsonl");
  await withOllama({ script }, { ...FAST, maxAnswerBytes: 65_536 }, async (generator, [server]) => {
    const cached = withCache(generator, openCache(file));
    const started = Date.now();
    const e = await generatorError(() => cached.generate(ask("endless")));
    assert.ok(Date.now() - started < 5_000, "cut at the cap, not at the request timeout");
    assert.is(e.message, `Ollama at ${server.url} sent an answer larger than 65536 bytes for "${MODEL}", cut off there: the model may write without end (raise --max-answer-bytes if such answers are expected)`);
    assert.equal([e.kind, e.reason, e.lost], ["too-large", "answer larger than 65536 bytes", false]);
    assert.equal((await generatorError(() => cached.generate(ask("large")))).kind, "too-large", "a whole answer over the cap too (its Content-Length says so)");
    assert.equal(cached.failed, { "answer larger than 65536 bytes": 2 });
    assert.is(server.requests["/api/chat"], 2, "neither was retried");
    await until(() => server.disconnected === 1, "the endless answer's connection was closed by the client");
    assert.is(await generator.generate(ask("small")), "small");
  });
});

test("ollama: a model removed mid-run is lost at once: one GeneratorError saying so, the 404 not retried", async () => {
  await withOllama({}, FAST, async (generator, [server]) => {
    assert.is(await generator.generate(ask("before")), "before");
    server.removeModel(MODEL);
    const e = await generatorError(() => generator.generate(ask("after")));
    assert.is(e.message, `model "${MODEL}" disappeared from Ollama at ${server.url} (HTTP 404): run \`ollama pull ${MODEL}\`, then run the same command again to resume`);
    assert.ok(isLost(e));
    assert.is(server.requests["/api/chat"], 2, "the 404 was not retried");
  });
});

test("ollama: a server that dies mid-run is lost once the retries cannot reach it, in flight or not", async () => {
  const server = await startOllamaServer({ models: [MODEL], latencyMs: (r) => (r.path === "/api/chat" && r.n === 2 ? 10_000 : 0) });
  const generator = await createGenerator(`ollama:${MODEL}`, { ollamaHost: server.url, ...FAST, retries: 2 });
  try {
    assert.is(await generator.generate(ask("alive")), "alive");
    const inFlight = rejection(generator.generate(ask("in flight")));
    await until(() => server.requests["/api/chat"] === 2, "second request in flight");
    await server.close();
    const expected = `Ollama at ${server.url} stopped answering (connection refused, 3 tries): start it again (\`ollama serve\`), then run the same command again to resume`;
    for (const e of [await inFlight, await rejection(generator.generate(ask("after")))]) {
      assert.instance(e, GeneratorError);
      assert.is(e.message, expected);
      assert.equal([(e as GeneratorError).kind, (e as GeneratorError).reason, isLost(e)], ["unreachable", "connection refused", true]);
    }
  } finally {
    await generator.close();
    await server.close();
  }
});

test("request timeout: --request-timeout takes 1 to 3600 seconds (default 300); out of range is a one-line error naming the option", async () => {
  assert.equal([DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS], [300_000, 3_600_000]);
  assert.equal([requestTimeoutMs("90"), requestTimeoutMs(" 2.5 "), requestTimeoutMs(3600), requestTimeoutMs("1")], [90_000, 2_500, 3_600_000, 1_000]);
  for (const bad of ["0", "-3", "abc", "", "3601", "Infinity"]) {
    assert.is(
      await kitError(async () => requestTimeoutMs(bad)),
      `--request-timeout must be a number of seconds from 1 to 3600 (got "${bad}"): the longest one LLM or embedding request may take before it is cancelled and retried`,
    );
  }
  assert.match(await kitError(async () => requestTimeoutMs("0", "--judge-timeout")), /^--judge-timeout must be/);
  assert.is(await kitError(() => createGenerator("builtin", { timeoutMs: MAX_TIMEOUT_MS + 1 })), "generator option timeoutMs must be a number from 1 to 3600000 (got 3600001)");
  assert.is(await kitError(() => createGenerator("builtin", { timeoutMs: 0 })), "generator option timeoutMs must be a number from 1 to 3600000 (got 0)");
});

// ---------------------------------------------------------------------------------------------------------------
// Ollama: abort and close

test("ollama: aborting cancels in-flight requests and queued ones, which are never sent; the pool works on after", async () => {
  let hang = true;
  const script: OllamaServerOptions["script"] = ({ path: p }) => (p === "/api/chat" && hang ? { hang: true } : undefined);
  await withOllama({ script }, { ...FAST, concurrency: 2 }, async (generator, [server]) => {
    const controller = new AbortController();
    const pending = [1, 2, 3, 4, 5].map((i) => rejection(generator.generate(ask(`q${i}`), controller.signal)));
    await until(() => server.requests["/api/chat"] === 2, "two requests in flight");
    controller.abort();
    for (const e of await Promise.all(pending)) assert.is(e.name, "AbortError");
    assert.is(server.requests["/api/chat"], 2, "the three queued requests were never sent");
    await until(() => server.disconnected === 2, "both in-flight connections were closed");
    hang = false;
    assert.equal(await Promise.all([generator.generate(ask("a")), generator.generate(ask("b"))]), ["a", "b"], "slots were freed");
  });
});

test("ollama: aborting during a retry wait, or before the call, rejects at once with an AbortError", async () => {
  await withOllama({ script: ({ path: p }) => (p === "/api/chat" ? { status: 500, json: { error: "boom" } } : undefined) }, { retryDelayMs: 60_000 }, async (generator, [server]) => {
    const controller = new AbortController();
    const pending = rejection(generator.generate(ask("x"), controller.signal));
    await until(() => server.requests["/api/chat"] === 1, "first attempt made");
    controller.abort();
    assert.is((await pending).name, "AbortError");
    assert.is((await rejection(generator.generate(ask("y"), AbortSignal.abort()))).name, "AbortError");
    assert.is(server.requests["/api/chat"], 1);
  });
});

test("ollama: close() cancels what is in flight", async () => {
  await withOllama({ script: ({ path: p }) => (p === "/api/chat" ? { hang: true } : undefined) }, {}, async (generator, [server]) => {
    const pending = rejection(generator.generate(ask("x")));
    await until(() => server.requests["/api/chat"] === 1, "request in flight");
    await generator.close();
    assert.is((await pending).name, "AbortError");
    await until(() => server.disconnected === 1, "connection closed");
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The pool

test("pool: at most `concurrency` requests per host (default 4); the server queues beyond its own parallelism", async () => {
  const jobs = (g: Generator) => Promise.all(Array.from({ length: 12 }, (_, i) => g.generate(ask(`p${i}`))));
  await withOllama({ latencyMs: 30 }, { concurrency: 3 }, async (generator, [server]) => {
    assert.equal(await jobs(generator), Array.from({ length: 12 }, (_, i) => `p${i}`));
    assert.is(server.peakInFlight, 3);
  });
  await withOllama({ latencyMs: 30 }, {}, async (generator, [server]) => {
    await jobs(generator);
    assert.is(server.peakInFlight, 4);
  });
  await withOllama({ latencyMs: 20, maxParallel: 2 }, { concurrency: 6 }, async (generator, [server]) => {
    assert.is((await jobs(generator)).length, 12);
    assert.is(server.peakInFlight, 2, "the test server serves at most maxParallel at once");
  });
});

test("pool: three hosts from a comma-separated OLLAMA_HOST share the load, each within its bound", async () => {
  // Long enough that, on a loaded machine, all four requests a host gets at once are still in flight when the last arrives.
  const servers = await Promise.all([1, 2, 3].map(() => startOllamaServer({ models: [MODEL], latencyMs: 80 })));
  const saved = process.env.OLLAMA_HOST;
  process.env.OLLAMA_HOST = servers.map((s) => s.url).join(", ");
  const notices: string[] = [];
  try {
    const generator = await createGenerator(`ollama:${MODEL}`, { concurrency: 4, onNotice: (l) => notices.push(l) });
    assert.equal(notices, [`generator: ollama:${MODEL} at ${servers.map((s) => s.url).join(", ")} (4 requests at a time per host)`]);
    await Promise.all(Array.from({ length: 6 }, (_, i) => generator.generate(ask(`p${i}`))));
    for (const s of servers) assert.equal([s.requests["/api/chat"], s.peakInFlight], [2, 2], "below capacity, the least busy host gets each request");
    await Promise.all(Array.from({ length: 60 }, (_, i) => generator.generate(ask(`p${i}`))));
    for (const s of servers) {
      assert.ok(s.requests["/api/chat"] >= 2 + 15, `each host served its share (${s.requests["/api/chat"] - 2} of 60)`);
      assert.is(s.peakInFlight, 4);
    }
    await generator.close();
  } finally {
    if (saved === undefined) delete process.env.OLLAMA_HOST;
    else process.env.OLLAMA_HOST = saved;
    await Promise.all(servers.map((s) => s.close()));
  }
});

test("pool: a slow host gets less work than a fast one; a failing host is set aside and its work retried elsewhere", async () => {
  await withOllama([{ latencyMs: 5 }, { latencyMs: 100 }], { concurrency: 1 }, async (generator, [fast, slow]) => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => generator.generate(ask(`p${i}`))));
    assert.ok(fast.requests["/api/chat"] > 3 * slow.requests["/api/chat"], `fast ${fast.requests["/api/chat"]}, slow ${slow.requests["/api/chat"]}`);
  });
  const broken: OllamaServerOptions = { script: ({ path: p }) => (p === "/api/chat" ? { status: 500, json: { error: "CUDA error" } } : undefined) };
  await withOllama([broken, { latencyMs: 10 }], { concurrency: 2, retryDelayMs: 20 }, async (generator, [bad, good]) => {
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => generator.generate(ask(`p${i}`))));
    assert.is(answers.length, 40);
    assert.is(good.requests["/api/chat"], 40);
    // Without setting it aside it gets ~25 (every request's first try when it is the least busy); with, ~6.
    assert.ok(bad.requests["/api/chat"] < 12, `the failing host got ${bad.requests["/api/chat"]} attempts`);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// auto and setup errors

test("auto: Ollama when it answers and has the model, else builtin, saying which and why", async () => {
  assert.is(DEFAULT_GENERATOR, "auto");
  assert.is(DEFAULT_OLLAMA_MODEL, MODEL);
  const notices: string[] = [];
  const onNotice = (line: string) => notices.push(line);
  const server = await startOllamaServer({ models: [MODEL, "nomic-embed-text"] });
  const other = await startOllamaServer({ models: ["llama3.2:1b"] });
  const dead = `http://127.0.0.1:${await closedPort()}`;
  try {
    const g = await createGenerator(undefined, { ollamaHost: server.url, onNotice });
    assert.equal([g.spec, g.backend, g.model], [`ollama:${MODEL}`, "ollama", MODEL]);
    assert.is(await g.generate(ask("via ollama")), "via ollama");
    assert.is(server.requests["/api/chat"], 1);

    const pooled = await createGenerator("auto", { ollamaHost: `${dead},${server.url},${other.url}`, onNotice });
    assert.is(pooled.backend, "ollama");

    const builtin = await createGenerator("auto", { ollamaHost: dead, onNotice });
    assert.equal([builtin.spec, builtin.backend, builtin.model], ["builtin", "builtin", "builtin"]);
    const task = { kind: "paraphrase" as const, text: "Pods run containers.", style: "plain", variant: 0, attempt: 0 };
    assert.type(await builtin.generate({ prompt: "p", task }), "string");

    const lacking = await createGenerator("auto", { ollamaHost: other.url, onNotice });
    assert.is(lacking.backend, "builtin");
    const named = await createGenerator("auto", { ollamaHost: other.url, model: "llama3.2:1b", onNotice });
    assert.equal([named.spec, named.model], ["ollama:llama3.2:1b", "llama3.2:1b"]);

    assert.equal(notices, [
      `generator: ollama:${MODEL} at ${server.url}`,
      `generator: ollama:${MODEL} at ${server.url} (skipped ${dead}: no answer; ${other.url}: no model "${MODEL}")`,
      `generator: builtin (no Ollama answered at ${dead})`,
      `generator: builtin (Ollama at ${other.url} has no model "${MODEL}"; \`ollama pull ${MODEL}\` to use it)`,
      `generator: ollama:llama3.2:1b at ${other.url}`,
    ]);
    for (const generator of [g, pooled, builtin, lacking, named]) await generator.close();
  } finally {
    await server.close();
    await other.close();
  }
});

test("setup errors are one-line KitErrors, raised before any generation", async () => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  assert.is(await kitError(() => createGenerator("gpt4")), 'unknown generator spec "gpt4" (--llm): use auto, builtin, ollama:<model> or openai:<model>@<base-url>');
  assert.is(await kitError(() => createGenerator("ollama:")), 'unknown generator spec "ollama:" (--llm): use auto, builtin, ollama:<model> or openai:<model>@<base-url>');
  assert.is(
    await kitError(() => createGenerator(`ollama:${MODEL}`, { ollamaHost: dead })),
    `Ollama is not reachable at ${dead}: start it with \`ollama serve\`, or set OLLAMA_HOST / --ollama-host`,
  );
  const server = await startOllamaServer({ models: ["llama3.2:1b"] });
  try {
    assert.is(await kitError(() => createGenerator(`ollama:${MODEL}`, { ollamaHost: server.url })), `Ollama at ${server.url} has no model "${MODEL}": run \`ollama pull ${MODEL}\``);
    assert.is(
      await kitError(() => createGenerator("ollama:llama3.2:1b", { ollamaHost: `${server.url},${dead}` })),
      `Ollama is not reachable at ${dead}: start it with \`ollama serve\`, or set OLLAMA_HOST / --ollama-host`,
      "every listed host is checked",
    );
    assert.is(server.requests["/api/chat"], undefined);
  } finally {
    await server.close();
  }
  for (const spec of ["openai:", "openai:qwen", "openai:qwen@", "openai:@http://127.0.0.1:8000/v1", "openai:qwen@localhost:8000", "openai:qwen@ftp://h/v1"]) {
    assert.is(
      await kitError(() => createGenerator(spec)),
      `malformed generator spec "${spec}" (--llm): use openai:<model>@<base-url>, e.g. openai:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8000/v1`,
    );
  }
  assert.is(
    await kitError(() => createGenerator(`openai:qwen@${dead}/v1`)),
    `no OpenAI-compatible server answered at ${dead}/v1: start vLLM or llama.cpp's server there, or fix the URL in --llm`,
  );
  const broken = await startOllamaServer({
    models: [MODEL],
    script: ({ path: p, headers }) =>
      p === "/api/tags"
        ? { status: 500, json: { error: "disk I/O error" } }
        : p === "/v1/models" && headers.authorization !== "Bearer sk-right"
          ? { status: 401, json: { error: { message: "invalid api key" } } }
          : undefined,
  });
  const saved = process.env.OPENAI_API_KEY;
  try {
    assert.is(await kitError(() => createGenerator(`ollama:${MODEL}`, { ollamaHost: broken.url })), `Ollama at ${broken.url} failed to list its models: HTTP 500: disk I/O error`);
    const notices: string[] = [];
    await createGenerator("auto", { ollamaHost: broken.url, onNotice: (l) => notices.push(l) });
    assert.equal(notices, [`generator: builtin (Ollama at ${broken.url} failed to list its models: HTTP 500: disk I/O error)`]);
    process.env.OPENAI_API_KEY = "sk-wrong";
    assert.is(await kitError(() => createGenerator(`openai:m@${broken.url}/v1`)), `${broken.url}/v1 refused the API key (HTTP 401): set OPENAI_API_KEY`);
    process.env.OPENAI_API_KEY = "sk-right";
    assert.is((await createGenerator(`openai:m@${broken.url}/v1`)).backend, "openai");
    assert.is(
      await kitError(() => createGenerator(`openai:m@${broken.url}/api`)),
      `${broken.url}/api failed to list its models (HTTP 404: 404 page not found): is it an OpenAI-compatible base URL (usually ending in /v1)?`,
    );
  } finally {
    if (saved === undefined) delete process.env.OPENAI_API_KEY;
    else process.env.OPENAI_API_KEY = saved;
    await broken.close();
  }
  assert.is(await kitError(() => createGenerator("builtin", { concurrency: 0 })), "generator option concurrency must be an integer >= 1 (got 0)");
  assert.is(await kitError(() => createGenerator("builtin", { retries: 1.5 })), "generator option retries must be an integer >= 0 (got 1.5)");
});

// ---------------------------------------------------------------------------------------------------------------
// OpenAI-compatible servers (vLLM, llama.cpp), through the openai client

test("openai: an answer cut at max_tokens (finish_reason length) is asked again with twice the limit, then fails as truncated", async () => {
  const model = "Qwen/Qwen2.5-7B-Instruct";
  const server = await startOllamaServer({
    models: [model],
    reply: ({ prompt, request }) => (prompt === "long" || request.body.max_tokens < 100 ? { text: "The crew reported a", cut: true } : `${prompt}: done.`),
  });
  try {
    const g = await createGenerator(`openai:${model}@${server.url}`, FAST);
    assert.is(await g.generate(ask("short", { options: { num_predict: 50 } })), "short: done.");
    assert.equal(server.received.filter((r) => r.path === "/v1/chat/completions").map((r) => r.body.max_tokens), [50, 100]);
    const error = await generatorError(() => g.generate(ask("long")));
    assert.equal([error.kind, error.reason], ["truncated", TRUNCATED]);
    assert.match(error.message, /^The OpenAI-compatible server cut ".+"'s answer at the token limit, also when asked again with num_predict 4096/);
    assert.equal(server.received.slice(-2).map((r) => r.body.max_tokens), [undefined, TRUNCATION_RETRY_TOKENS]);
  } finally {
    await server.close();
  }
});

test("openai: chat.completions with response_format json_schema, temperature, max_tokens, seed and the API key", async () => {
  const server = await startOllamaServer({ models: ["Qwen/Qwen2.5-7B-Instruct"] });
  const saved = process.env.OPENAI_API_KEY;
  try {
    delete process.env.OPENAI_API_KEY;
    const spec = `openai:Qwen/Qwen2.5-7B-Instruct@${server.url}`;
    const notices: string[] = [];
    const g = await createGenerator(spec, { onNotice: (l) => notices.push(l) });
    assert.equal([g.spec, g.backend, g.model], [spec, "openai", "Qwen/Qwen2.5-7B-Instruct"]);
    assert.equal(notices, [`generator: openai:Qwen/Qwen2.5-7B-Instruct at ${server.url}/v1 (4 requests at a time per host)`], "a bare server URL means its /v1");
    const answer = await g.generate(ask("About pods.", { system: "Be brief.", format: SCHEMA, options: { temperature: 0.2, num_predict: 300, seed: 3 } }));
    assert.equal(JSON.parse(answer).questions[1], { question: "About pods. 2", difficulty: "easy" });
    const sent = server.received.at(-1)!;
    assert.is(sent.path, "/v1/chat/completions");
    assert.equal(sent.body, {
      model: "Qwen/Qwen2.5-7B-Instruct",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "About pods." },
      ],
      response_format: { type: "json_schema", json_schema: { name: "answer", schema: SCHEMA } },
      temperature: 0.2,
      max_tokens: 300,
      seed: 3,
    });
    assert.is(sent.headers.authorization, "Bearer none");
    assert.is(await g.generate(ask("plain")), "plain");
    assert.equal(server.received.at(-1)!.body, { model: "Qwen/Qwen2.5-7B-Instruct", messages: [{ role: "user", content: "plain" }] });

    process.env.OPENAI_API_KEY = "sk-test";
    const keyed = await createGenerator(`openai:Qwen/Qwen2.5-7B-Instruct@${server.url}/v1/`);
    await keyed.generate(ask("k"));
    assert.is(server.received.at(-1)!.headers.authorization, "Bearer sk-test");
    assert.equal(server.requests, { "/v1/models": 2, "/v1/chat/completions": 3 });
  } finally {
    if (saved === undefined) delete process.env.OPENAI_API_KEY;
    else process.env.OPENAI_API_KEY = saved;
    await server.close();
  }
});

test("openai: the same retries, timeouts and aborts; the client's own retries are off; 404 is not retried", async () => {
  let mode = "flaky";
  const server = await startOllamaServer({
    models: ["m"],
    script: ({ path: p, n }) => {
      if (p !== "/v1/chat/completions") return undefined;
      if (mode === "flaky") return n === 1 ? { status: 500, json: { error: { message: "engine died" } } } : n === 2 ? { drop: true } : n === 3 ? { hang: true } : undefined;
      if (mode === "down") return { status: 502, json: { error: { message: "bad gateway" } } };
      if (mode === "hang") return { hang: true };
      if (mode === "garbled") return { text: '{"id": "chatcmpl-1", "choi' };
      if (mode === "html") return { text: "<html><body>Bad Gateway</body></html>", contentType: "text/html" };
      if (mode === "revoked") return { status: 401, json: { error: { message: "invalid api key" } } };
      return undefined;
    },
  });
  try {
    const g = await createGenerator(`openai:m@${server.url}/v1`, { ...FAST, timeoutMs: 200, retries: 3 });
    assert.is(await g.generate(ask("eventually")), "eventually");
    assert.is(server.requests["/v1/chat/completions"], 4);

    mode = "down";
    const once = await createGenerator(`openai:m@${server.url}/v1`, { ...FAST, retries: 0 });
    assert.is(await kitError(() => once.generate(ask("x"))), `The OpenAI-compatible server at ${server.url}/v1 failed once with "m"; the last: HTTP 502: bad gateway; see the server's log, or lower --concurrency`);
    assert.is(server.requests["/v1/chat/completions"], 5, "exactly one request: the client did not retry on its own");

    mode = "ok";
    const missing = await createGenerator(`openai:other@${server.url}/v1`, FAST);
    const gone = await generatorError(() => missing.generate(ask("x")));
    assert.is(
      gone.message,
      `${server.url}/v1 does not serve model "other" (HTTP 404: model "other" not found, try pulling it first): fix the model name in --llm or serve it there, then run the same command again to resume`,
    );
    assert.ok(gone.lost);
    assert.is(server.requests["/v1/chat/completions"], 6);

    mode = "garbled";
    const garbled = await generatorError(() => once.generate(ask("x")));
    assert.match(garbled.message, new RegExp(`^The OpenAI-compatible server at ${server.url}/v1 failed once with "m"; the last: a body that is not JSON: .*; check that ${server.url}/v1 is an OpenAI-compatible base URL \\(--llm\\)`));
    assert.equal([garbled.kind, garbled.lost], ["malformed", false]);
    mode = "html";
    assert.match((await generatorError(() => once.generate(ask("x")))).message, "failed once with \"m\"; the last: a /chat/completions answer without message content;");
    assert.is(server.requests["/v1/chat/completions"], 8);

    mode = "revoked";
    const revoked = await generatorError(() => g.generate(ask("x")));
    assert.is(revoked.message, `${server.url}/v1 refused the API key (HTTP 401: invalid api key): set OPENAI_API_KEY, then run the same command again to resume`);
    assert.equal([revoked.kind, revoked.lost], ["auth", true]);

    mode = "hang";
    const controller = new AbortController();
    const pending = rejection(g.generate(ask("x"), controller.signal));
    await until(() => server.requests["/v1/chat/completions"] === 10, "in flight");
    controller.abort();
    assert.is((await pending).name, "AbortError");
    await until(() => server.disconnected === 2, "the hung requests' connections were closed (timeout, then abort)");
  } finally {
    await server.close();
  }
});

test("openai: Retry-After is waited for, a garbled answer retried, an endless one cut off at --max-answer-bytes", async () => {
  const times: number[] = [];
  const server = await startOllamaServer({
    models: ["m"],
    script: ({ path: p, n, body }) => {
      if (p !== "/v1/chat/completions") return undefined;
      times.push(Date.now());
      if (body.messages.at(-1).content === "endless") return { endless: '{"id": "chatcmpl-1", "choices": [{"message": {"content": "' + "la ".repeat(5000) };
      if (n === 1) return { status: 429, json: { error: { message: "rate limited" } }, headers: { "retry-after": "1" } };
      if (n === 2) return { text: '{"id": "chatcmpl-1", "choi' };
      return undefined;
    },
  });
  try {
    const g = await createGenerator(`openai:m@${server.url}/v1`, { ...FAST, retries: 1, maxAnswerBytes: 65_536 });
    assert.is(await g.generate(ask("eventually")), "eventually");
    assert.ok(times[1] - times[0] >= 990, `waited ${times[1] - times[0]} ms for Retry-After: 1`);
    const e = await generatorError(() => g.generate(ask("endless")));
    assert.equal([e.kind, e.reason], ["too-large", "answer larger than 65536 bytes"]);
    assert.is(server.requests["/v1/chat/completions"], 4);
    await g.close();
  } finally {
    await server.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// The test server itself

test("test server: /api/generate and streamed /api/chat parse with the client; echoReply fills a schema", async () => {
  const server = await startOllamaServer({ models: [MODEL] });
  try {
    const client = new Ollama({ host: server.url });
    const generated = await client.generate({ model: MODEL, prompt: "hi there", system: "s", stream: false });
    assert.is(generated.response, "hi there");
    const parts: string[] = [];
    for await (const part of await client.chat({ model: MODEL, messages: [{ role: "user", content: "streamed" }], stream: true })) parts.push(part.message.content);
    assert.equal(parts, ["streamed"]);
    const request = server.received[0];
    assert.is(echoReply({ model: MODEL, prompt: "a b", format: { type: "object", properties: { n: { type: "integer", minimum: 1 }, ok: { type: "boolean" } } }, request }), '{"n":1,"ok":true}');
  } finally {
    await server.close();
  }
});

test("test server CLI: prints its URL, serves, stops on SIGTERM", async () => {
  const cli = path.join(__dirname, "helpers", "ollama-server-cli.ts");
  const child = spawn(path.join(__dirname, "..", "node_modules", ".bin", "tsx"), [cli, "--models", MODEL, "--latency", "1", "--parallel", "2"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (d) => {
        out += d;
        if (out.includes("\n")) resolve(out.split("\n")[0]);
      });
      child.on("exit", (code) => reject(new Error(`server exited with ${code}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const g = await createGenerator(`ollama:${MODEL}`, { ollamaHost: url });
    assert.is(await g.generate(ask("from a child process")), "from a child process");
    const stats = await (await fetch(`${url}${STATS_PATH}`)).json();
    assert.equal(stats, { requests: { "/api/tags": 1, "/api/chat": 1 }, peakInFlight: 1, disconnected: 0 });
  } finally {
    const exited = new Promise((resolve) => child.on("exit", resolve));
    child.kill("SIGTERM");
    assert.is(await exited, 0);
  }
});

test.run();
