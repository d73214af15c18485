import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Ollama } from "ollama";
import { KitError } from "../lib/errors";
import { createEmbedder, memoizeEmbedder, poolingByName, rolePrefixes, USE_LITE_MAX_CHARS, type Embedder, type EmbedderOptions } from "../lib/embedders";
import { hashedEmbedding, startOllamaServer, closedPort } from "./helpers/ollama-server";

const TINY_BERT = "test/fixtures/tiny-bert";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-embedders-"));
const open: Embedder[] = [];

/** A backend as it is: these tests count its calls and script its answers, which the embedding cache would skip. */
async function embedder(spec: string, options: EmbedderOptions = {}): Promise<Embedder> {
  const e = await createEmbedder(spec, { cache: false, ...options });
  open.push(e);
  return e;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(condition(), what);
}

async function kitError(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (e) {
    assert.instance(e, KitError, String(e));
    assert.not.match((e as Error).message, /\n/);
    return (e as Error).message;
  }
  throw new Error("expected a KitError");
}

const dot = (a: Float32Array, b: ArrayLike<number>) => a.reduce((s, x, i) => s + x * b[i], 0);
const norm = (v: Float32Array) => Math.sqrt(dot(v, v));

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5, what = "vector") {
  assert.is(actual.length, expected.length, `${what} length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  assert.ok(worst <= tolerance, `${what} differs by ${worst}`);
}

function assertUnit(vectors: Float32Array[], dimension: number) {
  for (const v of vectors) {
    assert.instance(v, Float32Array);
    assert.is(v.length, dimension);
    assert.ok(Math.abs(norm(v) - 1) < 1e-5, `norm ${norm(v)}`);
  }
}

test.after(async () => {
  await Promise.all(open.map((e) => e.close?.()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("an unknown spec or a bad setting is a one-line KitError that lists the valid forms", async () => {
  const message = await kitError(() => createEmbedder("sentence-bert"));
  assert.match(message, /Unknown embedder "sentence-bert"/);
  assert.match(message, /use-lite, transformers:<model id or local folder>, ollama:<model>/);
  assert.match(await kitError(() => createEmbedder("use-lite", { threads: 0 })), /threads must be a positive integer/);
  assert.match(await kitError(() => createEmbedder("ollama:x", { batchSize: 1.5 })), /batchSize must be a positive integer/);
});

// ---------------------------------------------------------------------------------------------------------------
// use-lite

const SENTENCES = [
  "The cat sat on the mat.",
  "A cat was sitting on the rug.",
  "Quarterly revenue grew by eight percent.",
  "How do I roll back a Kubernetes deployment?",
  "Undo a rollout of a deployment with kubectl rollout undo.",
  "The oxygen tank pressure dropped to zero.",
  "",
];
let reference: Float32Array[] = [];

test("memoizeEmbedder embeds each text once per role, and returns its vectors in the order asked", async () => {
  const asked: string[][] = [];
  const inner: Embedder = {
    spec: "fake",
    dimension: 1,
    embed: async (texts, role = "passage") => (asked.push(texts.map((t) => `${role}:${t}`)), texts.map((t) => Float32Array.of(t.length + (role === "query" ? 100 : 0)))),
  };
  const memo = memoizeEmbedder(inner);
  assert.equal([...(await memo.embed(["a", "bb", "a"]))].map((v) => v[0]), [1, 2, 1]);
  assert.equal([...(await memo.embed(["bb", "ccc"]))].map((v) => v[0]), [2, 3]);
  assert.equal([...(await memo.embed(["a"], "query"))].map((v) => v[0]), [101]);
  assert.equal(asked, [["passage:a", "passage:bb"], ["passage:ccc"], ["query:a"]]);
});

test("use-lite (one thread) gives 512-d unit vectors; similar sentences are closer than unrelated ones", async () => {
  const e = await embedder("use-lite", { threads: 1, batchSize: 1 });
  assert.is(e.spec, "use-lite");
  assert.is(e.dimension, 512);
  reference = await e.embed(SENTENCES);
  assertUnit(reference, 512);
  const [cat, rug, revenue, rollback, undo, oxygen] = reference;
  assert.ok(dot(cat, rug) > dot(cat, revenue) + 0.2, `${dot(cat, rug)} vs ${dot(cat, revenue)}`);
  assert.ok(dot(rollback, undo) > dot(rollback, oxygen) + 0.2, `${dot(rollback, undo)} vs ${dot(rollback, oxygen)}`);
  assert.equal(await e.embed([]), []);
  // An empty text alone in a batch would crash the model; it gets the vector of a single space instead.
  assertClose((await e.embed([""]))[0], (await e.embed([" "]))[0]);
  // Its time grows with the square of a text's length (80,000 characters took 177 s): a long query is cut
  // to USE_LITE_MAX_CHARS, so it embeds (and costs) as its first 4,000 characters do.
  const long = "The oxygen tank pressure dropped during the flight. ".repeat(1600);
  const [cut] = await e.embed([long], "query");
  assertClose(cut, (await e.embed([long.slice(0, USE_LITE_MAX_CHARS)], "query"))[0]);
});

test("use-lite keeps input order across worker threads and batches, and reports progress per batch", async () => {
  const progress: Array<[number, number]> = [];
  const e = await embedder("use-lite", { threads: 2, batchSize: 2, onProgress: (done, total) => progress.push([done, total]) });
  const vectors = await e.embed(SENTENCES);
  assertUnit(vectors, 512);
  vectors.forEach((v, i) => assertClose(v, reference[i], 1e-5, `sentence ${i}`));
  assert.is(progress.length, 4);
  assert.equal(progress[3], [7, 7]);
  assert.ok(progress.every(([done], i) => i === 0 || done > progress[i - 1][0]));
  // Two calls at once share the workers and still each get their own texts back.
  const [a, b] = await Promise.all([e.embed(SENTENCES.slice(0, 3)), e.embed(SENTENCES.slice(3))]);
  [...a, ...b].forEach((v, i) => assertClose(v, reference[i], 1e-5, `concurrent sentence ${i}`));
  await e.close!();
  assert.is(await kitError(() => e.embed(["closed"])), "use-lite embedder used after close()");
});

// ---------------------------------------------------------------------------------------------------------------
// transformers.js, on a tiny random BERT generated by scripts/make-tiny-bert.py

/** (Re)generates the git-ignored tiny model when it is missing or older than its generator. */
function tinyBert(): string {
  const model = path.join(TINY_BERT, "onnx", "model.onnx");
  const script = "scripts/make-tiny-bert.py";
  if (!fs.existsSync(model) || fs.statSync(model).mtimeMs < fs.statSync(script).mtimeMs) {
    const r = spawnSync("/usr/bin/python3", [script, TINY_BERT], { encoding: "utf8" });
    assert.is(r.status, 0, r.stderr);
  }
  return TINY_BERT;
}

/** A copy of the tiny model under another folder name, optionally with a sentence-transformers pooling config. */
function tinyBertCopy(name: string, pooling?: Record<string, boolean>): string {
  const dir = path.join(tmp, name);
  fs.cpSync(tinyBert(), dir, { recursive: true });
  if (pooling) {
    fs.mkdirSync(path.join(dir, "1_Pooling"));
    fs.writeFileSync(path.join(dir, "1_Pooling", "config.json"), JSON.stringify({ word_embedding_dimension: 32, ...pooling }));
  }
  return dir;
}

/** Per-token hidden states of one text (no padding), straight from the transformers.js pipeline. */
async function tokenStates(folder: string, text: string): Promise<Float32Array[]> {
  const { pipeline, env } = await import("@xenova/transformers");
  const extractor = await pipeline("feature-extraction", path.relative(env.localModelPath, path.resolve(folder)), {
    quantized: false,
    local_files_only: true,
  });
  const output = await extractor(text, { pooling: "none" });
  const [, tokens, width] = output.dims as number[];
  const data = output.data as Float32Array;
  return Array.from({ length: tokens }, (_, t) => data.slice(t * width, (t + 1) * width));
}

function unit(v: Float32Array): Float32Array {
  const n = norm(v);
  return v.map((x) => x / n);
}

function mean(rows: Float32Array[]): Float32Array {
  return rows[0].map((_, j) => rows.reduce((s, r) => s + r[j], 0) / rows.length);
}

test("transformers: a local folder loads offline; mean pooling equals the mean of its token states, batched or not", async () => {
  const e = await embedder(`transformers:${tinyBert()}`, { batchSize: 4 });
  assert.is(e.spec, `transformers:${TINY_BERT}`);
  assert.is(e.dimension, 32);
  const texts = ["the cat sat on the mat", "dog", "Kubernetes pods, nodes and the API server!", "red car"];
  const vectors = await e.embed(texts);
  assertUnit(vectors, 32);
  for (const [i, text] of texts.entries()) {
    // Alone, a text has no padding; in the batch it has, so equality also checks the attention mask is applied.
    assertClose(vectors[i], unit(mean(await tokenStates(TINY_BERT, text))), 1e-5, text);
  }
  assert.not.equal(Array.from(vectors[0]), Array.from(vectors[1]));
});

test("kit chunk and kit index with an e5 folder: chunks.pkl, LangChain's index.pkl, and the manifest names the prefixes a reader must add", () => {
  const corpus = path.join(tmp, "e5-corpus.md");
  fs.writeFileSync(corpus, fs.readFileSync("datasets/corpora/apollo13_mission_report.md", "utf8").slice(0, 5_000));
  const kit = (...args: string[]) => {
    const run = spawnSync(process.execPath, ["bin/kit.js", ...args], { encoding: "utf8", env: { ...process.env, CI: "true" } });
    assert.is(run.status, 0, run.stderr);
  };
  const dir = path.join(tmp, "e5-index");
  kit("chunk", "--corpus", corpus, "--out", dir);
  assert.ok(fs.existsSync(path.join(dir, "chunks.pkl")), "chunks.pkl beside chunks.jsonl");
  for (const [name, prefixes] of [["e5-base-v2", { query: "query: ", passage: "passage: " }], ["tiny-plain", undefined]] as const) {
    const out = path.join(dir, name);
    kit("index", "--chunks", path.join(dir, "chunks.jsonl"), "--out", out, "--embedder", `transformers:${tinyBertCopy(name)}`);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8"));
    assert.equal(manifest.prefixes, prefixes, name);
    assert.is(manifest.dimension, 32);
    assert.ok(fs.existsSync(path.join(out, "index.pkl")), `${name}: index.pkl beside index.faiss`);
  }
});

test("transformers: CLS pooling from 1_Pooling/config.json, or for bge-* names without one", async () => {
  const configured = tinyBertCopy("tiny-st-cls", { pooling_mode_cls_token: true, pooling_mode_mean_tokens: false });
  const named = tinyBertCopy("bge-tiny-en");
  const text = "the sun and the moon";
  const cls = unit((await tokenStates(configured, text))[0]);
  for (const folder of [configured, named]) {
    const [v] = await (await embedder(`transformers:${folder}`)).embed([text]);
    assertClose(v, cls, 1e-5, folder);
  }
  const meanFolder = tinyBertCopy("tiny-st-mean", { pooling_mode_cls_token: false, pooling_mode_mean_tokens: true });
  const [m] = await (await embedder(`transformers:${meanFolder}`)).embed([text]);
  assertClose(m, unit(mean(await tokenStates(meanFolder, text))));
});

test("transformers: e5 folders get query: / passage: prefixes (passage by default)", async () => {
  const plain = await embedder(`transformers:${tinyBert()}`);
  const e5 = await embedder(`transformers:${tinyBertCopy("multilingual-e5-tiny")}`);
  const [query] = await e5.embed(["red car"], "query");
  const [passage] = await e5.embed(["red car"]);
  assertClose(query, (await plain.embed(["query: red car"]))[0]);
  assertClose(passage, (await plain.embed(["passage: red car"]))[0]);
  assertClose((await plain.embed(["red car"], "query"))[0], (await plain.embed(["red car"], "passage"))[0]);
});

test("transformers: a missing folder, one without onnx weights, or unsupported pooling is a KitError naming it", async () => {
  const missing = path.join(tmp, "missing");
  assert.match(await kitError(() => createEmbedder(`transformers:${missing}`)), /model folder .*missing does not exist/);
  const empty = path.join(tmp, "no-weights");
  fs.mkdirSync(empty);
  assert.match(await kitError(() => createEmbedder(`transformers:${empty}`)), /no-weights has no onnx\/model\.onnx/);
  const max = tinyBertCopy("tiny-max", { pooling_mode_max_tokens: true });
  assert.match(await kitError(() => createEmbedder(`transformers:${max}`)), /1_Pooling\/config\.json: pooling pooling_mode_max_tokens is not supported/);
});

test("pooling and prefix rules for well-known model names", () => {
  for (const name of ["Xenova/bge-small-en-v1.5", "BAAI/bge-base-en", "Xenova/bge-m3", "mixedbread-ai/mxbai-embed-large-v1", "Snowflake/snowflake-arctic-embed-s", "Alibaba-NLP/gte-base-en-v1.5"]) {
    assert.is(poolingByName(name), "cls", name);
  }
  for (const name of ["Xenova/multilingual-e5-small", "intfloat/e5-base-v2", "nomic-ai/nomic-embed-text-v1.5", "Xenova/all-MiniLM-L6-v2", "thenlper/gte-small"]) {
    assert.is(poolingByName(name), "mean", name);
  }
  assert.equal(rolePrefixes("Xenova/multilingual-e5-small"), { query: "query: ", passage: "passage: " });
  assert.equal(rolePrefixes("intfloat/e5-base-v2"), { query: "query: ", passage: "passage: " });
  assert.equal(rolePrefixes("nomic-embed-text"), { query: "search_query: ", passage: "search_document: " });
  assert.is(rolePrefixes("intfloat/multilingual-e5-large-instruct"), undefined);
  assert.is(rolePrefixes("Xenova/all-MiniLM-L6-v2"), undefined);
  assert.is(rolePrefixes("Xenova/bge-small-en-v1.5"), undefined);
});

// ---------------------------------------------------------------------------------------------------------------
// Ollama, against test/helpers/ollama-server.ts

test("ollama: embeds in batches through the ollama client, with nomic's search_query / search_document prefixes", async () => {
  const server = await startOllamaServer({ models: ["nomic-embed-text"], dimension: 48 });
  try {
    const e = await embedder("ollama:nomic-embed-text", { ollamaHost: server.url, batchSize: 2 });
    assert.is(e.dimension, 48);
    assert.is(server.requests["/api/embed"], 1, "one probe call at creation");
    const texts = ["roll back a deployment", "kubectl rollout undo a deployment", "oxygen tank", "pods", "nodes"];
    const queries = await e.embed(texts, "query");
    assertUnit(queries, 48);
    queries.forEach((v, i) => assertClose(v, hashedEmbedding(`search_query: ${texts[i]}`, 48), 1e-6, texts[i]));
    assert.ok(dot(queries[0], queries[1]) > dot(queries[0], queries[2]));
    assert.is(server.requests["/api/embed"], 4, "probe + 3 batches of 2");
    assert.equal(server.received.at(-1)!.body, { model: "nomic-embed-text", input: ["search_query: nodes"] });
    const [passage] = await e.embed(["pods"]);
    assertClose(passage, hashedEmbedding("search_document: pods", 48), 1e-6);
  } finally {
    await server.close();
  }
});

test("ollama: vectors come back L2-normalised even when the server's are not; wrong counts or sizes are errors", async () => {
  const server = await startOllamaServer({
    routes: {
      "/api/embed": ({ body, n }) => ({
        json: { model: body.model, embeddings: n === 3 ? [[1, 0, 0]] : body.input.map(() => (n === 4 ? [1, 0] : [3, 0, -4])) },
      }),
    },
  });
  try {
    const e = await embedder("ollama:nomic-embed-text", { ollamaHost: server.url });
    assert.is(e.dimension, 3);
    assertClose((await e.embed(["a", "b"]))[1], [0.6, 0, -0.8], 1e-7);
    assert.match(await kitError(() => e.embed(["a", "b"])), /returned 1 vectors for 2 texts/);
    assert.match(await kitError(() => e.embed(["a"])), /returned a 2-d vector from "nomic-embed-text", which gave 3-d ones/);
  } finally {
    await server.close();
  }
});

test("ollama: the host comes from OLLAMA_HOST when no option is given", async () => {
  const server = await startOllamaServer({ models: ["all-minilm:latest"] });
  const saved = process.env.OLLAMA_HOST;
  process.env.OLLAMA_HOST = server.url;
  try {
    const e = await embedder("ollama:all-minilm");
    assertClose((await e.embed(["hello world"]))[0], hashedEmbedding("hello world", 64), 1e-6);
    assert.is(server.requests["/api/embed"], 2);
  } finally {
    if (saved === undefined) delete process.env.OLLAMA_HOST;
    else process.env.OLLAMA_HOST = saved;
    await server.close();
  }
});

test("ollama: an unreachable host and a missing model are one-line KitErrors saying what to do", async () => {
  const host = `http://127.0.0.1:${await closedPort()}`;
  assert.is(
    await kitError(() => createEmbedder("ollama:nomic-embed-text", { ollamaHost: host })),
    `Ollama is not reachable at ${host}: start it with \`ollama serve\`, or set OLLAMA_HOST`,
  );
  const server = await startOllamaServer({ models: ["nomic-embed-text"] });
  try {
    assert.is(
      await kitError(() => createEmbedder("ollama:mxbai-embed-large", { ollamaHost: server.url })),
      `Ollama at ${server.url} has no model "mxbai-embed-large": run \`ollama pull mxbai-embed-large\``,
    );
  } finally {
    await server.close();
  }
});

test("ollama: a server error, a dropped connection, a garbled answer, one without vectors and a 429 with Retry-After are retried", async () => {
  const times: number[] = [];
  const server = await startOllamaServer({
    script: ({ path: p, n }) => {
      if (p !== "/api/embed") return undefined;
      times.push(Date.now());
      if (n === 2) return { status: 500, json: { error: "llama runner process has terminated" } };
      if (n === 3) return { drop: true };
      if (n === 4) return { text: '{"embeddings": [[0.1, ' };
      if (n === 5) return { json: { model: "nomic-embed-text" } };
      if (n === 6) return { status: 429, json: { error: "rate limited" }, headers: { "Retry-After": "1" } };
      return undefined;
    },
  });
  try {
    const e = await embedder("ollama:nomic-embed-text", { ollamaHost: server.url });
    assert.is((await e.embed(["a"])).length, 1);
    assert.is(server.requests["/api/embed"], 7, "the probe, five faults, then the answer");
    assert.ok(times[6] - times[5] >= 990, `waited ${times[6] - times[5]} ms for Retry-After: 1`);
  } finally {
    await server.close();
  }
});

test("ollama: a hanging /api/embed is cancelled at the request timeout and retried; creating the embedder fails at once", async () => {
  let hang = false;
  const server = await startOllamaServer({ script: ({ path: p, n }) => (p === "/api/embed" && (hang || n === 2) ? { hang: true } : undefined) });
  try {
    const e = await embedder("ollama:nomic-embed-text", { ollamaHost: server.url, timeoutMs: 300 });
    assert.is((await e.embed(["a"])).length, 1, "one hung request, cancelled at 300 ms, then answered");
    assert.is(server.requests["/api/embed"], 3);
    hang = true;
    const started = Date.now();
    assert.is(
      await kitError(() => createEmbedder("ollama:nomic-embed-text", { ollamaHost: server.url, timeoutMs: 300, cache: false })),
      `Ollama at ${server.url} did not answer an embedding request with "nomic-embed-text" within 300 ms: raise --request-timeout, or see the server's log`,
    );
    assert.ok(Date.now() - started < 2_000, "the probe is not retried");
    await until(() => server.disconnected === 2, "both hung requests' connections were closed by the client");
  } finally {
    await server.close();
  }
});

test("ollama test server: tags and show parse with the real client; maxParallel queues; close() ends hung requests", async () => {
  const server = await startOllamaServer({
    models: ["nomic-embed-text", "qwen3:0.6b"],
    dimension: 16,
    latencyMs: 30,
    maxParallel: 1,
    script: ({ path: p }) => (p === "/api/generate" ? { hang: true } : undefined),
  });
  const client = new Ollama({ host: server.url });
  const { models } = await client.list();
  assert.equal(models.map((m) => m.name), ["nomic-embed-text:latest", "qwen3:0.6b"]);
  const shown = await client.show({ model: "nomic-embed-text" });
  assert.equal(shown.capabilities, ["embedding"]);
  assert.is((shown.model_info as unknown as Record<string, unknown>)["bert.embedding_length"], 16);
  await Promise.all([1, 2, 3].map((i) => client.embed({ model: "nomic-embed-text", input: `text ${i}` })));
  assert.is(server.peakInFlight, 1);
  assert.equal(server.requests, { "/api/tags": 1, "/api/show": 1, "/api/embed": 3 });
  const hung = client.generate({ model: "qwen3:0.6b", prompt: "hi", stream: false }).then(
    () => "answered",
    () => "failed",
  );
  while (!server.requests["/api/generate"]) await new Promise((r) => setTimeout(r, 5));
  await server.close();
  assert.is(await hung, "failed");
});

test.run();
