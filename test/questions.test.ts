import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openCache, withCache } from "../lib/cache";
import type { Chunk } from "../lib/chunking";
import { KitError } from "../lib/errors";
import { createGenerator, type GenerateRequest, GeneratorError } from "../lib/generators";
import { startOllamaServer } from "./helpers/ollama-server";
import { scriptedGenerator } from "./helpers/scripted-generator";
import { generateQuestions, isGrounded, markDuplicates, parseQuestions, type Question, reasonLabel, seedFormat, validateQuestion } from "../lib/questions";

const chunks: Chunk[] = [
  { chunk_id: "chunk_1", text: "The launch was on April 11, 1970 at 13:13 CST.", source: "a.md", start: 0, end: 46 },
  { chunk_id: "chunk_2", text: "The entry batteries held 99 ampere-hours when the command module was powered down.", source: "a.md", start: 48, end: 130 },
  { chunk_id: "chunk_3", text: "Oxygen tank 2 failed at 55:54:53 elapsed time.", source: "a.md", start: 132, end: 178 },
];

const json = (items: object[]) => JSON.stringify({ questions: items });

test("parses JSON, fenced JSON with prose around it, and Question/Answer text", () => {
  const item = { question: "When?", answer: "1970", difficulty: "Easy", source: "[chunk_1]" };
  assert.equal(parseQuestions(json([item])), [{ question: "When?", answer: "1970", difficulty: "easy", source: "chunk_1" }]);
  assert.equal(parseQuestions("Sure! Here you go:\n```json\n" + json([item]) + "\n```\nHope it helps."), [{ question: "When?", answer: "1970", difficulty: "easy", source: "chunk_1" }]);
  const text = "Question: When was the launch?\nAnswer: April 11, 1970\nDifficulty: easy\n\nQuestion: What failed?\nAnswer: **Oxygen tank 2**\nDifficulty: Medium";
  assert.equal(parseQuestions(text), [
    { question: "When was the launch?", answer: "April 11, 1970", difficulty: "easy", source: "" },
    { question: "What failed?", answer: "Oxygen tank 2", difficulty: "medium", source: "" },
  ]);
  assert.throws(() => parseQuestions("I cannot help with that."), /unparseable output/);
  assert.throws(() => parseQuestions('{"items": []}'), /JSON without a questions list/);
});

test("validation gives the reason", () => {
  const ok = { question: "What failed?", answer: "Oxygen tank 2", difficulty: "easy", source: "" };
  assert.is(validateQuestion(ok), null);
  assert.is(validateQuestion({ ...ok, question: "" }), "empty question");
  assert.is(validateQuestion({ ...ok, answer: " ".trim() }), "empty answer");
  assert.is(validateQuestion({ ...ok, question: "Name the tank" }), "not a question (no question mark)");
  assert.is(validateQuestion({ ...ok, question: "What does the passage say failed?" }), "question refers to the passage instead of standing alone");
  assert.is(validateQuestion({ ...ok, question: "What failed, according to this section?" }), "question refers to the passage instead of standing alone");
  assert.is(validateQuestion({ ...ok, question: 'Which value fills the blank in this statement from the section "Oxygen": "___ failed"?' }), null);
  assert.is(validateQuestion({ ...ok, question: 'What is the publication status of the document titled "Entry Postflight Analysis"?' }), null);
  assert.is(validateQuestion({ ...ok, question: 'When was the document "Entry Postflight Analysis" published?' }), null);
  assert.is(validateQuestion({ ...ok, question: "When was the document published?" }), "question refers to the passage instead of standing alone");
  assert.is(validateQuestion({ ...ok, answer: "Tank 2, because the heater switches welded" }), "answer narrates reasoning");
  assert.match(validateQuestion({ ...ok, answer: "word ".repeat(30) }) ?? "", /answer longer than/);
  assert.is(validateQuestion({ ...ok, difficulty: "trivial" }), 'difficulty "trivial" is not easy, medium or hard');
});

test("grounding ignores case, punctuation, thousands separators and OCR slips but not numbers", () => {
  assert.ok(isGrounded("99 Ampere-Hours", "held 99 ampere-hours when"));
  assert.ok(isGrounded("1000 psi", "rose to 1,000 psi."));
  assert.not.ok(isGrounded("98 ampere-hours", "held 99 ampere-hours when"));
  assert.not.ok(isGrounded("the moon", "held 99 ampere-hours when"));
  assert.ok(isGrounded("14 pounds", "transfer approximately l4 poumds of water"));
  // A bare number needs the question's key terms beside it; a yes/no answer needs the question's claim.
  assert.not.ok(isGrounded("30", "consumption of 900 watts at 30 amperes.", "What temperature was the system cold soaked at?"));
  assert.ok(isGrounded("No", "performance of the mission was not affected.", "Was mission performance affected?"));
  assert.not.ok(isGrounded("No", "no entry data are available.", "Was mission performance affected?"));
});

test("sliding window, first and last chunks asked, answer's real chunk recorded", async () => {
  const gen = scriptedGenerator((req) => {
    const t = req.task as Extract<GenerateRequest["task"], { kind: "questions" }>;
    // The model claims the asked-about chunk, but for chunk_2 the answer sits in chunk_3.
    const answer = t.target === "chunk_2" ? "55:54:53" : t.target === "chunk_1" ? "April 11, 1970" : "Oxygen tank 2";
    return json([{ question: `Question about ${t.target}?`, answer, difficulty: "easy", source: t.target }]);
  });
  const rows = await generateQuestions(chunks, gen, { perChunk: 1 });
  assert.equal(gen.requests.map((r) => (r.task as { window: { chunk_id: string }[] }).window.map((c) => c.chunk_id)), [
    ["chunk_1", "chunk_2"],
    ["chunk_1", "chunk_2", "chunk_3"],
    ["chunk_2", "chunk_3"],
  ]);
  assert.match(gen.requests[1].prompt, /\[chunk_1\] \(previous\)[\s\S]*\[chunk_2\] \(main\)[\s\S]*\[chunk_3\] \(next\)/);
  assert.equal(rows.map((r) => [r.id, r.chunk_id, r.status]), [["chunk_1_q1", "chunk_1", "accepted"], ["chunk_2_q1", "chunk_3", "accepted"], ["chunk_3_q1", "chunk_3", "accepted"]]);
  assert.equal(rows[1].window, ["chunk_1", "chunk_2", "chunk_3"]);
  assert.equal(Object.keys(seedFormat(rows)[0]), ["chunk_id", "question", "answer", "difficulty"]);
});

test("failed prompts are retried with a new seed, then recorded with their reason", async () => {
  const gen = scriptedGenerator((req, n) => (n === 1 ? "As an AI model I cannot do that." : json([{ question: "When was the launch?", answer: "April 11, 1970", difficulty: "easy", source: "chunk_1" }])));
  const rows = await generateQuestions(chunks.slice(0, 1), gen, { perChunk: 1, retries: 2 });
  assert.is(gen.requests.length, 2);
  assert.is.not(gen.requests[0].options?.seed, gen.requests[1].options?.seed);
  assert.equal(rows.map((r) => r.status), ["accepted"]);

  const never = scriptedGenerator(() => "no");
  const failed = await generateQuestions(chunks.slice(0, 1), never, { perChunk: 2, retries: 1 });
  assert.is(never.requests.length, 2);
  assert.equal(failed.map((r) => [r.status, r.reason]), [["failed", "0 of 2 questions after 2 tries: unparseable output: neither JSON nor Question/Answer lines"]]);
});

test("rejects are kept with reasons: ungrounded, invalid, duplicates", async () => {
  const gen = scriptedGenerator(() =>
    json([
      { question: "How much charge was left in the entry batteries?", answer: "99 ampere-hours", difficulty: "easy", source: "chunk_2" },
      { question: "How much charge was left in the entry batteries?", answer: "99 ampere-hours", difficulty: "easy", source: "chunk_2" },
      { question: "Who was the commander?", answer: "James Lovell", difficulty: "easy", source: "chunk_2" },
    ]),
  );
  const rows = await generateQuestions(chunks.slice(1, 2), gen, { perChunk: 2, retries: 0 });
  assert.equal(rows.map((r) => [r.status, r.reason]), [
    ["accepted", null],
    ["rejected", "repeats a question for this chunk"],
    ["rejected", "answer not found in the passages (ungrounded)"],
    ["failed", "1 of 2 questions after 1 tries: too few valid questions"],
  ]);
});

test("near-duplicates across chunks are rejected, the first kept", () => {
  const row = (id: string, question: string): Question => ({ id, chunk_id: "c", question, answer: "a", difficulty: "easy", window: [], model: "m", prompt_version: "v", status: "accepted", reason: null });
  const rows = markDuplicates([row("a", "What pressure did oxygen tank 2 reach?"), row("b", "What pressure did the oxygen tank 2 reach?"), row("c", "When did the launch happen?")], 0.8);
  assert.equal(rows.map((r) => [r.id, r.status, r.reason]), [["a", "accepted", null], ["b", "rejected", "near-duplicate of a"], ["c", "accepted", null]]);
});

test("reasonLabel counts near-duplicates of any question as one reason", () => {
  assert.is(reasonLabel({ status: "rejected", reason: "near-duplicate of chunk_7_q2" }), "question rejected: near-duplicate of another question");
  assert.is(reasonLabel({ status: "rejected", reason: "near-duplicate of chunk_21_mh1" }), "question rejected: near-duplicate of another question");
  assert.is(reasonLabel({ status: "failed", reason: "the model returned no questions" }), "question failed: the model returned no questions");
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-questions-"));
const launch = { question: "When was the launch?", answer: "April 11, 1970", difficulty: "easy", source: "chunk_1" };
const launchTime = { question: "At what time was the launch?", answer: "13:13 CST", difficulty: "medium", source: "chunk_1" };

test("a chunk left short records the answers that gave it nothing as rejected: a re-run sends nothing, a new seed asks again", async () => {
  const file = path.join(tmp, "short", "llm.jsonl");
  // chunk_1: one good question, then garbage; chunk_2: garbage, then two good questions.
  const first = scriptedGenerator((req) => {
    const t = req.task as Extract<GenerateRequest["task"], { kind: "questions" }>;
    if (t.target === "chunk_1") return t.attempt === 0 ? json([launch]) : "I cannot help with that.";
    if (t.attempt === 0) return "I cannot help with that.";
    return json([
      { question: "How much charge did the entry batteries hold?", answer: "99 ampere-hours", difficulty: "easy", source: "chunk_2" },
      { question: "When were the entry batteries at 99 ampere-hours?", answer: "when the command module was powered down", difficulty: "hard", source: "chunk_2" },
    ]);
  });
  const cache = openCache(file);
  const rows = await generateQuestions(chunks.slice(0, 2), withCache(first, cache), { perChunk: 2, retries: 1 });
  cache.close();
  const failure = "1 of 2 questions after 2 tries: unparseable output: neither JSON nor Question/Answer lines";
  assert.equal(rows.filter((r) => r.status === "failed").map((r) => r.reason), [failure]);
  assert.is(first.requests.length, 4);
  const tombstones = () => fs.readFileSync(file, "utf8").split("\n").filter((l) => l.includes('"rejected":')).map((l) => JSON.parse(l));
  assert.equal(tombstones().map((t) => [t.rejected, t.seed]), [[failure, 43]], "chunk_1's second try; chunk_2's garbage first try gave way to a good retry");

  // The re-run reads every answer back, the rejected one included, and gives the same rows.
  const second = scriptedGenerator(() => json([launchTime]));
  const again = withCache(second, openCache(file));
  assert.equal(await generateQuestions(chunks.slice(0, 2), again, { perChunk: 2, retries: 1 }), rows);
  assert.equal([second.requests.length, again.hits, again.rejected, tombstones().length], [0, 4, 1, 1]);

  // A new seed makes new requests (seed + attempt), asked again.
  await generateQuestions(chunks.slice(0, 2), withCache(second, openCache(file)), { perChunk: 2, retries: 1, seed: 7 });
  assert.ok(second.requests.length > 0 && second.requests.every((r) => [7, 8].includes(r.options?.seed ?? 0)));
});

test("a model removed mid-run stops the stage at once: one error, not a failed row per chunk", async () => {
  const many: Chunk[] = Array.from({ length: 40 }, (_, i) => ({ ...chunks[0], chunk_id: `chunk_${i + 1}`, start: i * 100, end: i * 100 + 46 }));
  const server = await startOllamaServer({
    models: ["m"],
    latencyMs: 5,
    reply: ({ request }) => {
      if (request.n === 3) server.removeModel("m");
      return json([launch]);
    },
  });
  const generator = await createGenerator("ollama:m", { ollamaHost: server.url, retryDelayMs: 1 });
  try {
    const e = await generateQuestions(many, generator, { perChunk: 1 }).then(
      () => assert.unreachable("expected the stage to fail"),
      (err) => err,
    );
    assert.instance(e, GeneratorError);
    assert.match(e.message, new RegExp(`^questions stopped after \\d+ answers: model "m" disappeared from Ollama at ${server.url} \\(HTTP 404\\): run \`ollama pull m\`, then run the same command again to resume$`));
    assert.ok(server.requests["/api/chat"] <= 3 + 4, `${server.requests["/api/chat"]} requests: the rest were cancelled or never sent`);
  } finally {
    await generator.close();
    await server.close();
  }
});

test("a stage whose every request failed is one error saying how many and why; one answer is enough to go on", async () => {
  const timeout = new GeneratorError("Ollama at h failed 5 times with \"m\"; the last: no answer within 300 s; raise --request-timeout (now 300 s) or lower --concurrency", "timeout", "no answer within 300 s", false);
  const down = scriptedGenerator((req, n) => {
    throw n % 3 ? timeout : new GeneratorError("Ollama at h failed 5 times with \"m\"; the last: HTTP 500: boom; see the server's log", "server", "HTTP 500", false);
  });
  const e = await generateQuestions(chunks.slice(0, 2), down, { perChunk: 1, retries: 2 }).then(() => assert.unreachable(), (err) => err);
  assert.instance(e, KitError);
  assert.is(e.message, `questions: all 6 LLM requests failed (4 no answer within 300 s, 2 HTTP 500); the last: Ollama at h failed 5 times with "m"; the last: HTTP 500: boom; see the server's log`);

  const mostly = scriptedGenerator((req, n) => {
    if (n > 1) throw timeout;
    return json([launch]);
  });
  const rows = await generateQuestions(chunks.slice(0, 2), mostly, { perChunk: 1, retries: 0 });
  assert.equal(rows.map((r) => r.status), ["accepted", "failed"]);
  assert.match(rows[1].reason ?? "", /no answer within 300 s/);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
