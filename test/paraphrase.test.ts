import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openCache, withCache } from "../lib/cache";
import type { Chunk } from "../lib/chunking";
import { KitError } from "../lib/errors";
import { createGenerator, type GenerateRequest, type Generator, type GeneratorOptions, GeneratorError } from "../lib/generators";
import { type OllamaServer, type OllamaServerOptions, startOllamaServer } from "./helpers/ollama-server";
import { scriptedGenerator } from "./helpers/scripted-generator";
import { type CheckedParaphrase, DEFAULT_STYLES, generateParaphrases, resolveStyles } from "../lib/paraphrase";
import { BUILTIN_COPY_MARGIN, cannotGain } from "../lib/pipeline";
import { DEFAULT_THRESHOLDS, type Check } from "../lib/quality";

const chunks: Chunk[] = [
  { chunk_id: "chunk_1", text: "First paragraph here.\n\nSecond one, with 99 ampere-hours.", source: "a.md", start: 0, end: 56 },
  { chunk_id: "chunk_2", text: "Only one paragraph.", source: "a.md", start: 58, end: 77 },
];

/** A model answering each paraphrase request with transform(original text, request, n). */
const echo = (transform: (text: string, req: GenerateRequest, n: number) => string) =>
  scriptedGenerator((req, n) => transform((req.task as Extract<GenerateRequest["task"], { kind: "paraphrase" }>).text, req, n));

test("every chunk in every style, N per style, with ids and the model", async () => {
  const gen = echo((text, req) => `${(req.task as { style: string }).style}: ${text}`);
  const { paraphrases, failures } = await generateParaphrases(chunks, gen, { perStyle: 2 });
  assert.is(failures.length, 0);
  assert.is(paraphrases.length, 2 * DEFAULT_STYLES.length * 2);
  assert.equal(paraphrases[0], { paraphrase_id: "chunk_1_reworded_1", chunk_id: "chunk_1", paragraph_index: null, style: "reworded", text: "reworded: " + chunks[0].text, model: "test-model" });
  assert.is(paraphrases[1].paraphrase_id, "chunk_1_reworded_2");
  assert.is.not(gen.requests[0].options?.seed, gen.requests[1].options?.seed);
  assert.match(gen.requests[0].prompt, /Keep every fact, number/);
  assert.ok(gen.requests[0].prompt.endsWith(chunks[0].text));
  assert.match(gen.requests[0].prompt, /\(8 words, give or take a fifth\)/);
});

test("per paragraph: one job per paragraph, indexed", async () => {
  const gen = echo((text) => text.toUpperCase());
  const { paraphrases } = await generateParaphrases(chunks, gen, { byParagraph: true, styles: resolveStyles(["condensed"]) });
  assert.equal(paraphrases.map((p) => [p.paraphrase_id, p.paragraph_index, p.text]), [
    ["chunk_1_p1_condensed_1", 0, "FIRST PARAGRAPH HERE."],
    ["chunk_1_p2_condensed_1", 1, "SECOND ONE, WITH 99 AMPERE-HOURS."],
    ["chunk_2_p1_condensed_1", 0, "ONLY ONE PARAGRAPH."],
  ]);
});

test("empty or unchanged answers are retried, then recorded as failures", async () => {
  const flaky = echo((text, _req, n) => (n === 1 ? "" : `Reworded ${text}`));
  const ok = await generateParaphrases(chunks.slice(1), flaky, { styles: resolveStyles(["reworded"]) });
  assert.equal([ok.paraphrases.length, flaky.requests.length], [1, 2]);
  const lazy = echo((text) => text);
  const bad = await generateParaphrases(chunks.slice(1), lazy, { styles: resolveStyles(["reworded"]), retries: 1 });
  assert.equal(bad.failures, [{ chunk_id: "chunk_2", paragraph_index: null, style: "reworded", reason: "answer repeats the original unchanged (after 2 tries)" }]);
});

test("styles: defaults, a user's file, and one-line errors before any work", () => {
  assert.equal(resolveStyles(undefined).map((s) => s.name), ["reworded", "reordered", "condensed"]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-styles-"));
  const file = path.join(dir, "styles.json");
  fs.writeFileSync(file, JSON.stringify([{ name: "pirate", prompt: "Say it like a pirate, facts intact:\n{text}" }]));
  assert.equal(resolveStyles(["pirate", "condensed"], file).map((s) => s.name), ["pirate", "condensed"]);
  assert.throws(() => resolveStyles(["nope"]), /unknown paraphrase style "nope": known styles are reworded, reordered, condensed/);
  fs.writeFileSync(file, JSON.stringify([{ name: "lazy", prompt: "Rewrite it." }]));
  assert.throws(() => resolveStyles(["lazy"], file), /paraphrase style "lazy": its prompt has no \{text\} placeholder/);
  fs.writeFileSync(file, "[{");
  assert.throws(() => resolveStyles(undefined, file), /styles-\w+\/styles\.json: not valid JSON/);
  assert.throws(() => resolveStyles(undefined, path.join(dir, "missing.json")), /missing\.json: not found/);
  fs.rmSync(dir, { recursive: true, force: true });
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-paraphrase-"));
const MODEL = "qwen2.5:7b-instruct";
const reworded = (ask: { prompt: string }) => `In other words: ${ask.prompt.slice(ask.prompt.lastIndexOf("Text:\n") + 6)}`;

/** Runs `body` with a test server and an Ollama generator over it, with fast retries; closes both after. */
async function withServer(serverOptions: OllamaServerOptions, options: GeneratorOptions, body: (generator: Generator, server: OllamaServer) => Promise<void>) {
  const server = await startOllamaServer({ models: [MODEL], ...serverOptions });
  const generator = await createGenerator(`ollama:${MODEL}`, { ollamaHost: server.url, retryDelayMs: 1, ...options });
  try {
    await body(generator, server);
  } finally {
    await generator.close();
    await server.close();
  }
}

/** The error `run` rejects with. */
const failure = (run: Promise<unknown>): Promise<Error> =>
  run.then(
    () => {
      throw new Error("expected the stage to fail");
    },
    (e: Error) => e,
  );

/** Resolves once the server has received `n` chat requests. */
async function chatRequests(server: OllamaServer, n: number): Promise<void> {
  for (let waited = 0; (server.requests["/api/chat"] ?? 0) < n; waited += 2) {
    assert.ok(waited < 10_000, `only ${server.requests["/api/chat"]} of ${n} requests in 10 s`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

test("empty answers are not cached: a re-run against a healthy server asks again and gets its paraphrases", async () => {
  const file = path.join(tmp, "empty", "llm.jsonl");
  let healthy = false;
  await withServer({ reply: (ask) => (healthy ? reworded(ask) : "") }, {}, async (generator, server) => {
    const styles = resolveStyles(["reworded"]);
    const first = withCache(generator, openCache(file));
    const broken = await generateParaphrases(chunks, first, { styles, retries: 1 });
    assert.equal(broken.failures.map((f) => f.reason), ["empty answer (after 2 tries)", "empty answer (after 2 tries)"]);
    assert.equal([first.misses, server.requests["/api/chat"]], [4, 4]);

    healthy = true;
    const again = withCache(generator, openCache(file));
    const fixed = await generateParaphrases(chunks, again, { styles, retries: 1 });
    assert.equal([fixed.failures.length, fixed.paraphrases.length], [0, 2]);
    assert.equal([again.hits, again.misses, server.requests["/api/chat"]], [0, 2, 6], "both jobs asked again");
  });
});

test("answers rejected on every try are recorded as rejected and kept: a re-run sends nothing, a new seed asks again", async () => {
  const file = path.join(tmp, "unchanged", "llm.jsonl");
  // chunk_1 is returned unchanged every time; chunk_2 unchanged on its first try only.
  const lazy = echo((text, req) => (text.startsWith("Only") && (req.task as { attempt: number }).attempt > 0 ? `Reworded: ${text}` : text));
  const cache = openCache(file);
  const options = { styles: resolveStyles(["reworded"]), retries: 2 };
  const first = await generateParaphrases(chunks, withCache(lazy, cache), options);
  cache.close();
  const failure = "answer repeats the original unchanged (after 3 tries)";
  assert.equal(first.failures.map((f) => [f.chunk_id, f.reason]), [["chunk_1", failure]]);
  const tombstones = () => fs.readFileSync(file, "utf8").split("\n").filter((l) => l.includes('"rejected":')).map((l) => JSON.parse(l));
  assert.equal(tombstones().map((t) => [t.rejected, t.seed]), [42, 43, 44].map((seed) => [failure, seed]), "chunk_1's three tries, not chunk_2's rejected first try");

  const better = echo((text) => `Reworded: ${text}`);
  const again = withCache(better, openCache(file));
  assert.equal(await generateParaphrases(chunks, again, options), first, "the same failure, read back");
  assert.equal([better.requests.length, again.hits, again.rejected, tombstones().length], [0, 5, 3, 3]);

  const seeded = await generateParaphrases(chunks, withCache(better, openCache(file)), { ...options, seed: 7 });
  assert.equal([seeded.failures.length, seeded.paraphrases.length, better.requests.length], [0, 2, 2], "a new seed asks each job once");
});

test("a model removed mid-run (404 on every request) fails the stage with one error; no further request is sent", async () => {
  await withServer({ latencyMs: 5, reply: (ask) => reworded(ask) }, {}, async (generator, server) => {
    const many: Chunk[] = Array.from({ length: 30 }, (_, i) => ({ ...chunks[1], chunk_id: `chunk_${i + 1}`, text: `Paragraph number ${i + 1}.` }));
    const pending = failure(generateParaphrases(many, generator, {}));
    await chatRequests(server, 5);
    server.removeModel(MODEL);
    const e = await pending;
    assert.instance(e, GeneratorError);
    assert.match(e.message, new RegExp(`^paraphrases stopped after \\d+ answers: model "${MODEL}" disappeared from Ollama at ${server.url} \\(HTTP 404\\): run \`ollama pull ${MODEL}\`, then run the same command again to resume$`));
    const sent = server.requests["/api/chat"];
    assert.ok(sent < 20, `${sent} of 90 requests sent`);
  });
});

test("a server that dies mid-run fails the stage with one error, saying so", async () => {
  await withServer({ latencyMs: 20, reply: (ask) => reworded(ask) }, { retries: 2 }, async (generator, server) => {
    const many: Chunk[] = Array.from({ length: 30 }, (_, i) => ({ ...chunks[1], chunk_id: `chunk_${i + 1}`, text: `Paragraph number ${i + 1}.` }));
    const pending = failure(generateParaphrases(many, generator, { round: 1 }));
    await chatRequests(server, 5);
    await server.close();
    const e = await pending;
    assert.instance(e, GeneratorError);
    assert.match(
      e.message,
      new RegExp(`^paraphrases \\(round 2\\) stopped after \\d+ answers: Ollama at ${server.url} stopped answering \\(connection refused, 3 tries\\): start it again \\(\`ollama serve\`\\), then run the same command again to resume$`),
    );
  });
});

test("every request timed out: one error with the count, the reason and the option to change", async () => {
  await withServer({ script: ({ path: p }) => (p === "/api/chat" ? { hang: true } : undefined) }, { timeoutMs: 30, retries: 0 }, async (generator, server) => {
    const e = await failure(generateParaphrases(chunks, generator, { styles: resolveStyles(["reworded", "condensed"]), retries: 1 }));
    assert.instance(e, KitError);
    assert.is(
      e.message,
      `paraphrases: all 8 LLM requests failed (8 no answer within 30 ms); the last: Ollama at ${server.url} failed once with "${MODEL}"; the last: no answer within 30 ms; raise --request-timeout (now 30 ms) or lower --concurrency`,
    );
  });
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("coverage rounds: a chunk whose best whole-chunk copy score is far above the copy limit cannot gain", () => {
  const row = (chunk_id: string, paragraph_index: number | null) => ({ chunk_id, paragraph_index }) as CheckedParaphrase;
  const check = (copy: number) => ({ scores: { copy } }) as Check;
  const far = DEFAULT_THRESHOLDS.copy + BUILTIN_COPY_MARGIN;
  const rows = [row("a", null), row("a", null), row("b", null), row("c", null), row("c", 0)];
  // a: one copy score near the limit is enough to ask again; b: far above; c: only its paragraph paraphrase is near.
  const checks = [check(far + 0.1), check(far - 0.01), check(far), check(far + 0.02), check(0.1)];
  assert.equal([...cannotGain(rows, checks)].sort(), ["b", "c"]);
});

test.run();
