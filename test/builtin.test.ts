import { test } from "uvu";
import * as assert from "uvu/assert";
import { chunkDocuments } from "../lib/chunking";
import { loadCorpus } from "../lib/corpus";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { builtinParaphrase, createBuiltinGenerator, sourceRevision, synonymOptions, synonyms, type BuiltinQuestion } from "../lib/generators/builtin";
import { requestKey } from "../lib/cache";
import { wrongSenses } from "../lib/quality/senses";
import type { Task } from "../lib/generators";

const chunks = chunkDocuments(loadCorpus("datasets/corpora/apollo13_mission_report.md"));
const generator = createBuiltinGenerator();

function questionTask(index: number, count = 3, attempt = 0): Task {
  const window = chunks.slice(Math.max(0, index - 1), index + 2).map(({ chunk_id, text }) => ({ chunk_id, text }));
  return { kind: "questions", window, target: chunks[index].chunk_id, count, attempt };
}

async function ask(task: Task): Promise<BuiltinQuestion[]> {
  const raw = await generator.generate({ prompt: "ignored by the builtin backend", task });
  const parsed = JSON.parse(raw) as { questions: BuiltinQuestion[] };
  assert.equal(Object.keys(parsed), ["questions"]);
  return parsed.questions;
}

function paraphrase(text: string, style: string, variant = 0, attempt = 0): string {
  return builtinParaphrase({ kind: "paraphrase", text, style, variant, attempt });
}

const indexOf = (start: string) => {
  const i = chunks.findIndex((c) => c.text.startsWith(start));
  if (i < 0) throw new Error(`no Apollo chunk starts with ${start}`);
  return i;
};
// "# 7.1.4 Oxygen": a table, then a paragraph with 3.77 pounds, 0.6 pound, 0.3 pound.
const OXYGEN = chunks.findIndex((c) => c.text.includes("the total oxygen supply consisted of 3.77 pounds"));
// Prose only: battery 2, a parenthetical "(fig. 14-17)", a clause ", resulting in ...".
const BATTERY = indexOf("Evidence indicates that battery 2");

const numbers = (s: string) => (s.match(/\d+(?:[.,]\d+)*/g) ?? []).sort();
const tableLines = (s: string) => s.split("\n").filter((l) => l.includes("|"));
const headings = (s: string) => s.split("\n").filter((l) => /^#{1,6}\s/.test(l));
const META = /\b(?:passage|this text|the text|excerpt)\b/i;

function checkQuestion(q: BuiltinQuestion, targetText: string, source: string) {
  assert.equal(Object.keys(q).sort(), ["answer", "difficulty", "question", "source"]);
  assert.is(q.source, source);
  assert.ok(["easy", "medium", "hard"].includes(q.difficulty), q.difficulty);
  assert.ok(q.answer.trim().length > 0 && q.answer === q.answer.trim(), `answer ${JSON.stringify(q.answer)}`);
  assert.ok(targetText.includes(q.answer), `answer not in the chunk: ${q.answer}`);
  assert.ok(q.question.endsWith("?"), q.question);
  assert.ok(q.question.includes("___"), `no blank: ${q.question}`);
  assert.not.match(q.question, META);
  const quoted = /: "(.*)"\?$/.exec(q.question)?.[1];
  assert.ok(quoted !== undefined, `no quoted statement: ${q.question}`);
  assert.ok(quoted!.length <= 210, `quote too long (${quoted!.length}): ${q.question}`);
}

test("generator: builtin spec, no-op close, rejects only an already aborted signal", async () => {
  assert.is(generator.spec, "builtin");
  assert.is(generator.backend, "builtin");
  assert.is(generator.model, "builtin");
  await generator.close();
  const task = questionTask(OXYGEN);
  const live = new AbortController();
  assert.type(await generator.generate({ prompt: "", task }, live.signal), "string");
  const aborted = new AbortController();
  aborted.abort(new Error("stop"));
  try {
    await generator.generate({ prompt: "", task }, aborted.signal);
    assert.unreachable("should reject");
  } catch (err) {
    assert.is((err as Error).message, "stop");
  }
});

test("generator: its revision is its code's: answers cached by other code are not reused (lib/cache.ts keys)", async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "kit-revision-"));
  fs.mkdirSync(path.join(root, "lib", "generators"), { recursive: true });
  fs.writeFileSync(path.join(root, "lib", "generators", "a.ts"), "export const a = 1;\n");
  fs.writeFileSync(path.join(root, "package-lock.json"), "{}\n");
  const before = sourceRevision(root);
  assert.is(sourceRevision(root), before, "the same code, the same revision");
  fs.writeFileSync(path.join(root, "lib", "generators", "a.ts"), "export const a = 2;\n");
  assert.is.not(sourceRevision(root), before, "a changed file under lib/");
  fs.writeFileSync(path.join(root, "lib", "generators", "a.ts"), "export const a = 1;\n");
  fs.writeFileSync(path.join(root, "package-lock.json"), '{"compromise": "14.15"}\n');
  assert.is.not(sourceRevision(root), before, "another package version");
  fs.rmSync(root, { recursive: true });

  assert.match(generator.revision!, /^[0-9a-f]{16}$/);
  const request = { prompt: "p", task: questionTask(OXYGEN) };
  assert.is.not(requestKey(generator, request), requestKey({ ...generator, revision: "0".repeat(16) }, request));
});

test("generator: threads left idle end, and the next request starts them again", async () => {
  const threads = () => (process.report.getReport() as unknown as { workers: unknown[] }).workers.length;
  await generator.close(); // the shared generator's threads, so that only these come and go
  const pooled = createBuiltinGenerator({ threads: 2, idleMs: 500 });
  const before = threads();
  const task = questionTask(BATTERY);
  const first = await pooled.generate({ prompt: "", task });
  assert.is(threads(), before + 2, "two worker threads answer");
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.is(threads(), before, "ended once idle");
  assert.is(await pooled.generate({ prompt: "", task }), first, "restarted, same answer");
  await pooled.close();
  assert.is(threads(), before);
});

test("questions: JSON of grounded, well-formed cloze questions about the target", async () => {
  const questions = await ask(questionTask(OXYGEN));
  assert.is(questions.length, 3);
  for (const q of questions) checkQuestion(q, chunks[OXYGEN].text, chunks[OXYGEN].chunk_id);
  assert.is(new Set(questions.map((q) => q.answer)).size, 3, "distinct answers");
  assert.ok(questions.some((q) => q.answer === "3.77 pounds"), JSON.stringify(questions));
  // The section heading above the sentence frames the question.
  assert.ok(questions.some((q) => q.question.includes('from the section "Oxy gen"')), JSON.stringify(questions));
});

test("questions: deterministic, count respected, attempt picks differently", async () => {
  const task = questionTask(BATTERY, 2);
  const first = await generator.generate({ prompt: "", task });
  assert.is(await generator.generate({ prompt: "other prompt", system: "other system", task }, undefined), first);
  for (const count of [1, 2, 4]) assert.is((await ask(questionTask(BATTERY, count))).length, count, `count ${count}`);
  const retry = await ask(questionTask(BATTERY, 2, 1));
  assert.is(retry.length, 2);
  assert.not.equal(retry.map((q) => q.answer), (JSON.parse(first) as { questions: BuiltinQuestion[] }).questions.map((q) => q.answer));
  for (const q of retry) checkQuestion(q, chunks[BATTERY].text, chunks[BATTERY].chunk_id);
});

test("questions: none for a bare heading; table cells when there is no sentence", async () => {
  assert.equal(await ask(questionTask(indexOf("TABLE 4-II.- TRAJECTORY PARAMETERS"))), []);
  const table = indexOf("Mission | Spacecraft | Description");
  const questions = await ask(questionTask(table));
  assert.ok(questions.length > 0);
  for (const q of questions) {
    checkQuestion(q, chunks[table].text, chunks[table].chunk_id);
    assert.ok(q.question.includes(" (columns: Mission | Spacecraft | Description | Laumch date | Launch site): "), q.question);
  }
});

test("questions: difficulty from the number of same-type candidates in the chunk", async () => {
  const one = "The spacecraft was launched on April 11, 1970, from the launch complex in the morning after a long countdown.";
  const many =
    "The first firing lasted 34 seconds. The second firing lasted 263 seconds and used 860 pounds of propellant. " +
    "The third firing lasted 14 seconds. The fourth firing lasted 22 seconds at 40 percent throttle.";
  const run = async (text: string) =>
    ask({ kind: "questions", window: [{ chunk_id: "c1", text }], target: "c1", count: 5, attempt: 0 });
  const dated = (await run(one)).find((q) => q.answer === "April 11, 1970");
  assert.ok(dated, "the date is asked about");
  assert.is(dated!.difficulty, "easy");
  assert.ok(dated!.question.startsWith("Which date fills the blank"), dated!.question);
  const numeric = await run(many);
  assert.is(numeric.length, 5);
  for (const q of numeric) assert.is(q.difficulty, "hard", `${q.answer}: 6 quantities in the chunk`);
});

test("questions: the whole Apollo report", async () => {
  let answered = 0;
  let total = 0;
  for (let i = 0; i < chunks.length; i++) {
    const questions = await ask(questionTask(i));
    assert.ok(questions.length <= 3);
    if (questions.length) answered++;
    total += questions.length;
    for (const q of questions) checkQuestion(q, chunks[i].text, chunks[i].chunk_id);
    assert.is(new Set(questions.map((q) => q.answer.toLowerCase())).size, questions.length, `${chunks[i].chunk_id}: repeated answer`);
  }
  assert.ok(answered >= chunks.length * 0.9, `${answered} of ${chunks.length} chunks got a question`);
  assert.ok(total >= chunks.length * 2.4, `${total} questions for ${chunks.length} chunks`);
});

test("synonyms: WordNet's first sense, flagged when it does not dominate", () => {
  assert.ok(synonyms("difficult", "a").words.includes("hard"));
  // "drinkable" is in the first sense of "potable" but tagged too rarely in SemCor to be an ordinary word for it.
  assert.equal(synonyms("potable", "a").words, []);
  assert.ok(synonyms("status", "n").confident);
  // "tank" is an army tank 7 times in SemCor and a storage tank 3 times.
  assert.not.ok(synonyms("tank", "n").confident);
  assert.equal(synonyms("zzzz", "n"), { words: [], confident: false });
});

test("synonyms: only ordinary words of the first sense, never inside a term (issue 25)", () => {
  assert.not.ok(synonyms("spacecraft", "n").words.includes("ballistic capsule"));
  assert.not.ok(synonyms("permit", "v").words.includes("countenance"));
  const swapped = (sentence: string, word: string) => synonymOptions(sentence).find((o) => o.start === sentence.indexOf(word))?.texts ?? [];
  for (const word of ["propellant", "gaging"]) assert.equal(swapped("The propellant gaging system failed.", word), [], word);
  for (const word of ["thermal", "control", "modes"]) assert.equal(swapped("All passive thermal control modes were established normally.", word), [], word);
});

type SenseRow = { split: string; original: string; replacement: string; context: string; offset: number; label: string };
const senseRows = fs.readFileSync("test/fixtures/builtin-senses.jsonl", "utf8").trim().split("\n").map((l) => JSON.parse(l) as SenseRow);

/** Figures of one split of test/fixtures/builtin-senses.jsonl: swaps the generator still makes, and the sense check's flags. */
function sensesFigures(split: string) {
  const rows = senseRows.filter((r) => r.split === split);
  // A row is still made when every word it replaced (articles aside) may take a text the replacement holds.
  const made = rows.filter((r) => {
    const options = synonymOptions(r.context);
    let at = r.offset;
    return r.original.split(" ").every((word) => {
      const start = r.context.indexOf(word, at);
      at = start + word.length;
      return /^an?$/i.test(word) || !!options.find((o) => o.start === start)?.texts.some((t) => r.replacement.toLowerCase().includes(t.toLowerCase()));
    });
  });
  const garbled = (list: SenseRow[]) => list.filter((r) => r.label === "garbled").length / Math.max(1, list.length);
  const flagged = rows.filter((r) => wrongSenses(r.context, r.context.slice(0, r.offset) + r.replacement + r.context.slice(r.offset + r.original.length)).length > 0);
  const hits = flagged.filter((r) => r.label === "garbled").length;
  return {
    garbledBefore: garbled(rows),
    garbledAfter: garbled(made),
    okKept: made.filter((r) => r.label === "ok").length,
    precision: hits / flagged.length,
    recall: hits / rows.filter((r) => r.label === "garbled").length,
  };
}

test("synonyms and the sense check on the labelled builtin swaps: held-out figures (issue 25)", () => {
  const heldout = sensesFigures("heldout");
  console.log(`builtin-senses dev: ${JSON.stringify(sensesFigures("dev"))}\nbuiltin-senses held-out: ${JSON.stringify(heldout)}`);
  // Measured when the rules were fixed (README.md): garbled 64.0% -> 32.1% of the swaps still made, 19 good swaps kept; sense check precision 78.6%, recall 45.8%.
  // The figures README.md reports, to the digit: a change to the rules that moves one must update the README too.
  const pct = (x: number) => (100 * x).toFixed(1);
  assert.equal(pct(heldout.garbledBefore), "64.0", "held-out garbled share before");
  assert.equal(pct(heldout.garbledAfter), "32.1", "held-out garbled share of the swaps still made");
  assert.equal(heldout.okKept, 19, "held-out good swaps still made");
  assert.equal(pct(heldout.precision), "78.6", "held-out sense check precision");
  assert.equal(pct(heldout.recall), "45.8", "held-out sense check recall");
});

test("paraphrase: deterministic, differs from the input, changes with variant and attempt", async () => {
  const text = chunks[BATTERY].text;
  for (const style of ["reworded", "reordered", "condensed", "casual"]) {
    const out = paraphrase(text, style);
    assert.is(paraphrase(text, style), out, `${style}: deterministic`);
    assert.is.not(out, text, `${style}: differs`);
    const variants = [out, paraphrase(text, style, 1), paraphrase(text, style, 2)];
    assert.is(new Set([text, ...variants]).size, 4, `${style}: each variant differs`);
    const attempts = [out, paraphrase(text, style, 0, 1), paraphrase(text, style, 0, 2)];
    assert.is(new Set([text, ...attempts]).size, 4, `${style}: each attempt differs`);
    assert.is(await generator.generate({ prompt: "", task: { kind: "paraphrase", text, style, variant: 0, attempt: 0 } }), out);
    assert.equal(numbers(out), numbers(text), `${style}: numbers`);
  }
});

test("paraphrase: styles", () => {
  const text = chunks[BATTERY].text;
  const firstSentence = "Evidence indicates that battery 2 may have experienced an electrical fault of some type.";
  const reworded = paraphrase(text, "reworded");
  assert.ok(reworded.startsWith("Evidence"), "reworded keeps the order");
  assert.ok(Math.abs(reworded.length - text.length) < text.length * 0.15, "reworded keeps the length");
  const reordered = paraphrase(text, "reordered");
  assert.not.ok(reordered.startsWith(firstSentence.slice(0, 30)), "reordered moves sentences");
  assert.ok(reordered.includes("battery 2"));
  const condensed = paraphrase(text, "condensed");
  assert.ok(condensed.length < text.length * 0.9, `condensed: ${condensed.length} of ${text.length}`);
  assert.ok(condensed.length > text.length * 0.55, `condensed: ${condensed.length} of ${text.length}`);
  // Any other style name is "reworded": sentences stay in order, nothing is dropped.
  const casual = paraphrase(text, "casual");
  assert.ok(casual.startsWith("Evidence"), casual);
  assert.ok(Math.abs(casual.length - text.length) < text.length * 0.15);
});

test("paraphrase: nothing to change in a table is returned as it is", () => {
  const table = "Event | Time\nLift-off | 13:13:00\nDocking | 03:19:09";
  assert.is(paraphrase(table, "reworded"), table);
});

test("paraphrase: the whole Apollo report keeps numbers, tables and headings", () => {
  const styles = ["reworded", "reordered", "condensed"];
  const ratios: number[] = [];
  let changed = 0;
  chunks.forEach((chunk, i) => {
    const style = styles[i % 3];
    const out = paraphrase(chunk.text, style, i % 2);
    if (out !== chunk.text) changed++;
    assert.equal(numbers(out), numbers(chunk.text), `${chunk.chunk_id} ${style}: numbers`);
    assert.equal(tableLines(out), tableLines(chunk.text), `${chunk.chunk_id} ${style}: table lines`);
    assert.equal(headings(out), headings(chunk.text), `${chunk.chunk_id} ${style}: headings`);
    if (style === "condensed" && tableLines(chunk.text).length === 0) ratios.push(out.length / chunk.text.length);
  });
  // Chunks that are all table or heading have nothing to change; and since synonyms come only from a word's usual
  // sense, outside terms and names (issue 25), fewer words have a safe synonym, which the meaning-keeping rewrites
  // do not wholly make up: 294 of 352 changed (300 with the earlier, looser synonyms).
  assert.ok(changed >= chunks.length * 0.83, `${changed} of ${chunks.length} changed`);
  ratios.sort((a, b) => a - b);
  const median = ratios[ratios.length >> 1];
  assert.ok(median >= 0.6 && median <= 0.88, `condensed prose median length ratio ${median}`);
  assert.ok(ratios.filter((r) => r < 1).length >= ratios.length * 0.8, "condensed prose is mostly shorter");
});

test.run();
