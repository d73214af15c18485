import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Chunk } from "../lib/chunking";
import { checkParaphrase } from "../lib/quality";
import type { RetrievalEvaluation } from "../lib/evaluate";
import type { Question } from "../lib/questions";
import { questionCounts, qualityReport, type ReportInput, questionKind } from "../lib/report";
import { verdictOf } from "../lib/verdict";

// The report reads eval.json by its fields; this stops compiling (tsc -p .) if lib/evaluate.ts's type drifts away.
const evaluationFits: RetrievalEvaluation extends NonNullable<ReportInput["evaluation"]> ? true : false = true;
void evaluationFits;

const CHROMIUM = "/usr/bin/chromium";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-report-"));
const HOSTILE = `Oxygen tank 2 failed at 55:54:53. <script>document.title = "pwned"; document.body.insertAdjacentHTML("beforeend", "<p id=pwned>ran</p>")</script> <img src=x onerror="document.title='pwned'">`;

async function report(): Promise<string> {
  const chunks: Chunk[] = [{ chunk_id: "chunk_1", text: HOSTILE, source: "a.md", start: 0, end: HOSTILE.length }];
  const texts = ["At 55:54:53 oxygen tank 2 failed. <script>alert(1)</script>", "Please provide the text you want rewritten.", "Tank 2 failed at 61:10:00 because of a short. <b>bold</b>"];
  const paraphrases = texts.map((text, i) => ({ paraphrase_id: `chunk_1_s_${i + 1}`, chunk_id: "chunk_1", paragraph_index: null, style: ["reworded", "reordered", "condensed"][i], text, model: "test" }));
  const checks = texts.map((t) => checkParaphrase(HOSTILE, t));
  const questions: Question[] = [{ id: "chunk_1_q1", chunk_id: "chunk_1", question: "When did <i>it</i> fail?", answer: "55:54:53", difficulty: "easy", window: ["chunk_1"], model: "test", prompt_version: "v", status: "rejected", reason: "<script>x</script>" }];
  const environments = { paraphrased: { rows: 1, chunks: 1, covered: 1, by_paraphrase: 1, by_original_only: 0 } };
  const verdict = verdictOf({ counts: { chunks: 1, questions_accepted: 0 }, environments, judge: "rules" });
  return qualityReport({ title: "Quality <report>", generator: "test", chunks, questions, paraphrases, checks, originals: texts.map(() => HOSTILE), environments, verdict });
}

test("corpus and model text is escaped, and the charts are PNG images in data: URLs", async () => {
  const html = await report();
  assert.not.match(html, /<script/i);
  assert.not.match(html, /<svg/i);
  assert.match(html, /&#60;script&#62;document\.title/);
  const images = [...html.matchAll(/<img\b[^>]*>/g)].map((m) => m[0]);
  assert.ok(images.length >= 2, "charts");
  for (const img of images) assert.match(img, /^<img src="data:image\/png;base64,[A-Za-z0-9+/=]+" width="\d+" height="\d+" alt="[^"<>]*">$/);
  assert.not.match(html, /<img src="(?!data:)/);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"/);
});

/** A build of three chunks: the third without an accepted question; two cloze questions and one open. */
function smallBuild(extra: Partial<ReportInput> = {}): ReportInput {
  const texts = ["The crew heard a loud bang at 55:54:53.", "Entry batteries held 99 ampere-hours.", "The service module was jettisoned."];
  const chunks: Chunk[] = texts.map((text, i) => ({ chunk_id: `chunk_${i}`, text, source: "a.md", start: 0, end: text.length }));
  const q = (i: number, chunk: number, question: string, answer: string, difficulty: Question["difficulty"], status: Question["status"] = "accepted"): Question => ({ id: `chunk_${chunk}_q${i}`, chunk_id: `chunk_${chunk}`, question, answer, difficulty, window: [], model: "t", prompt_version: "v", status, reason: status === "accepted" ? null : "too long" });
  const questions = [
    q(1, 0, 'Which time fills the blank in this statement: "The crew heard a loud bang at ___"?', "55:54:53", "easy"),
    q(2, 1, 'Which value fills the blank: "Entry batteries held ___ ampere-hours"?', "99", "medium"),
    q(3, 1, "How many ampere-hours did the entry batteries hold?", "99", "hard"),
    q(4, 2, "What was jettisoned?", "the service module", "easy", "rejected"),
  ];
  const paraphrases = [{ paraphrase_id: "chunk_0_reworded_1", chunk_id: "chunk_0", paragraph_index: null, style: "reworded", text: "At 55:54:53 the crew heard a loud bang.", model: "t" }];
  const checks = paraphrases.map((p) => checkParaphrase(texts[0], p.text));
  const environments = { paraphrased: { rows: 3, chunks: 3, covered: 3, by_paraphrase: 1, by_original_only: 2 } };
  const counts = { chunks: 3, questions_accepted: 3, paraphrases: 1, paraphrases_kept: 1, ...questionCounts(chunks, questions) };
  return {
    title: "small",
    generator: "builtin",
    chunks,
    questions,
    paraphrases: paraphrases.map((p, i) => ({ ...p, verdict: checks[i].verdict, reasons: checks[i].reasons })),
    checks,
    originals: [texts[0]],
    environments,
    parameters: { chunk_size: 500, questions_per_chunk: 2 },
    dataset: "datasets/small",
    verdict: verdictOf({ counts, environments, judge: "rules" }),
    ...extra,
  };
}

test("the report opens with build.json's verdict: its tier, each floor failed with its lift, each passed", async () => {
  const input = smallBuild();
  assert.equal(questionCounts(input.chunks, input.questions), { chunks_without_question: 1, questions_cloze: 2 });
  const html = await qualityReport(input);
  const body = html.slice(html.indexOf("<body>"));
  const sections = [...body.matchAll(/<section id="([^"]+)"/g)].map((m) => m[1]);
  assert.is(sections[0], "verdict");
  assert.ok(sections.indexOf("parameters") < sections.indexOf("paraphrases"));
  const verdict = body.slice(body.indexOf('<section id="verdict"'), body.indexOf("</section>"));
  assert.match(verdict, /Can I train on this\?/);
  assert.match(verdict, '<p class="lead warn-text">Smoke test only: the pipeline ran, but a search agent trained on this would learn little.</p>');
  assert.match(verdict, '<li class="warn">3 accepted questions, under 100: a handful of training steps, and every share here is rough. <b>To lift:</b> more questions (a longer corpus, or --questions-per-chunk 3) or an LLM generator (--llm ollama:&#60;model&#62;).</li>');
  assert.match(verdict, /1 of 3 chunks \(33\.3%\) have no accepted question/);
  assert.match(verdict, /1 of 3 chunks \(33\.3%\) are covered by a kept paraphrase/);
  assert.match(verdict, /66\.7% of the accepted questions are cloze/);
  assert.is((verdict.match(/<li class="warn">/g) ?? []).length, input.verdict.reasons.length, verdict);
  assert.is((verdict.match(/<li class="ok">/g) ?? []).length, input.verdict.passed.length, verdict);
  assert.match(verdict, /no retrieval baselines were measured/);
  assert.match(verdict, /<td[^>]*>how many \/ how much<\/td><td[^>]*>1<\/td><td[^>]*>33\.3%<\/td>/);
  // Parameters and a sample of accepted questions beside their chunk, the answer marked.
  assert.match(html, /<td[^>]*>chunk_size<\/td><td[^>]*>500<\/td>/);
  assert.match(html, /<b>chunk_1<\/b>: Entry batteries held <mark>99<\/mark> ampere-hours\./);
  assert.not.match(html, /What was jettisoned/, "a rejected question is not in the sample");
});

test("the baselines come from eval.json, with a warning on a small sample; the worst rows are folded", async () => {
  const scores = (recall5: number) => ({ recall: { "1": 0.5, "5": recall5, "10": 1 }, mrr: 0.61, seconds: 0 });
  const evaluation = {
    embedder: "use-lite",
    ks: [1, 5, 10],
    questions: { original: { queries: 3, retrievers: { bm25: scores(0.97), dense: scores(0.4) } } },
    paraphrases: { queries: 0, retrievers: {} },
  };
  const html = await qualityReport(smallBuild({ evaluation }));
  assert.match(html, /<td[^>]*>questions, original \(3\)<\/td><td[^>]*>bm25<\/td><td[^>]*>50%<\/td><td[^>]*>97%<\/td><td[^>]*>100%<\/td><td[^>]*>0\.61<\/td>/);
  assert.match(html, /only 3 queries: each one moves a share by 33%/);

  const measured = await qualityReport(smallBuild({ measuredDifficulty: { easy: 30, medium: 1, hard: 0 }, parameters: { thresholds: { copy: 0.75, minSimilarity: 0.75 } } }));
  assert.match(measured, /<td[^>]*>easy<\/td><td[^>]*>1<\/td><td[^>]*>30<\/td>/);
  assert.match(measured, /<td[^>]*>thresholds<\/td><td[^>]*>copy 0\.75, minSimilarity 0\.75<\/td>/);
  // The judge that ran, and the one asked for when they differ.
  const judged = await qualityReport(smallBuild({ judge: "rules", parameters: { judge: "auto" } }));
  assert.match(judged, /<td[^>]*>judge<\/td><td[^>]*>rules \(asked: auto\)<\/td>/);
  assert.match(await qualityReport(smallBuild({ judge: "rules", parameters: { judge: "rules" } })), /<td[^>]*>judge<\/td><td[^>]*>rules<\/td>/);
  // With the rules alone, what they cannot see and the judge that checks it; not with a judge.
  assert.match(judged, '<p>The rules alone do not see meaning changes in the order of events, causes, time spans, negation or modality: <code>--judge ollama:bespoke-minicheck</code> (or any <code>ollama:&#60;model&#62;</code>) checks them.</p>');
  assert.not.match(await qualityReport(smallBuild({ judge: "ollama:bespoke-minicheck" })), "The rules alone");

  const worst = await report();
  assert.match(worst, /<details><summary>The \d+ least faithful paraphrases/);
  const details = worst.slice(worst.indexOf("<details>"), worst.indexOf("</details>"));
  assert.match(details, /<del|<ins/);
});

test("questionKind tells cloze questions from open ones by their wording", () => {
  assert.is(questionKind('Which term fills the blank in this statement: "the ___ failed"?'), "cloze (fills a blank)");
  assert.is(questionKind("How many ampere-hours remained?"), "how many / how much");
  assert.is(questionKind("In 1970, when did the tank fail?"), "when");
  assert.is(questionKind("Who was the commander?"), "who");
  assert.is(questionKind("What caused the failure?"), "what / which");
  assert.is(questionKind("Was the tank damaged?"), "yes / no");
  assert.is(questionKind("Name the commander."), "other");
  assert.is(questionKind({ question: "What links the two tanks?", kind: "multi-hop" }), "multi-hop (two chunks)");
  assert.is(questionKind({ question: "What failed?", kind: "single" }), "what / which");
});

test("in headless Chromium no script from the corpus runs, and the page renders", async () => {
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`  skipped: ${CHROMIUM} is not installed (scripts/setup.sh installs Debian's chromium)`);
    return;
  }
  const file = path.join(tmp, "report.html");
  fs.writeFileSync(file, await report());
  const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--user-data-dir=${path.join(tmp, "profile")}`];
  const dom = spawnSync(CHROMIUM, [...flags, "--dump-dom", `file://${file}`], { encoding: "utf8", timeout: 60_000 });
  assert.is(dom.status, 0, dom.stderr);
  assert.match(dom.stdout, /<title>Quality &lt;report&gt;<\/title>/, "the title no script changed");
  assert.not.match(dom.stdout, /id="pwned"/);
  assert.match(dom.stdout, /&lt;script&gt;document\.title = "pwned"/, "the script shows as text");
  const png = path.join(tmp, "report.png");
  const shot = spawnSync(CHROMIUM, [...flags, `--screenshot=${png}`, "--window-size=1200,2000", `file://${file}`], { encoding: "utf8", timeout: 60_000 });
  assert.is(shot.status, 0, shot.stderr);
  assert.ok(fs.statSync(png).size > 10_000, "a screenshot with something on it");
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
