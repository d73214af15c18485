import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Chunk } from "../lib/chunking";
import type { GenerateRequest } from "../lib/generators";
import { scriptedGenerator } from "./helpers/scripted-generator";
import { generateQuestions, isGrounded, markDuplicates, parseQuestions, type Question, seedFormat, validateQuestion } from "../lib/questions";

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
  assert.is(validateQuestion({ ...ok, answer: "Tank 2, because the heater switches welded" }), "answer narrates reasoning");
  assert.match(validateQuestion({ ...ok, answer: "word ".repeat(30) }) ?? "", /answer longer than/);
  assert.is(validateQuestion({ ...ok, difficulty: "trivial" }), 'difficulty "trivial" is not easy, medium or hard');
});

test("grounding ignores case, punctuation and thousands separators but not numbers", () => {
  assert.ok(isGrounded("99 Ampere-Hours", "held 99 ampere-hours when"));
  assert.ok(isGrounded("1000 psi", "rose to 1,000 psi."));
  assert.not.ok(isGrounded("98 ampere-hours", "held 99 ampere-hours when"));
  assert.not.ok(isGrounded("the moon", "held 99 ampere-hours when"));
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

test.run();
