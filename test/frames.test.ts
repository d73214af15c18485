import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Chunk } from "../lib/chunking";
import { digestFile } from "../lib/files";
import {
  barSvg,
  barsOf,
  chartPng,
  chunksFrame,
  countBy,
  diffHtml,
  histogramSvg,
  markAnswerHtml,
  type ParaphraseRow,
  paraphrasesFrame,
  percent,
  type QuestionRow,
  questionsFrame,
  rawHtml,
  recordStep,
  sampleWarning,
  svgTitle,
  tableHtml,
} from "../lib/frames";
import type { CheckedParaphrase, Paraphrase } from "../lib/paraphrase";
import { checkParaphrase } from "../lib/quality";
import type { Question } from "../lib/questions";
import { verdictOf } from "../lib/verdict";
import { throwsKit } from "./helpers/throws-kit";

// The frames take any row with the fields they show; these lines stop compiling (tsc -p .) if the stages' rows drift from them.
const paraphraseRowsFit: CheckedParaphrase extends ParaphraseRow ? true : false = true;
const questionRowsFit: Question extends QuestionRow ? true : false = true;
void [paraphraseRowsFit, questionRowsFit];

const chunks: Chunk[] = [
  { chunk_id: "chunk_1", text: "The oxygen tank failed.\n\nThe crew powered down.", source: "corpora/apollo.md", start: 0, end: 47 },
  { chunk_id: "chunk_2", text: "Entry batteries held 99 ampere-hours.", source: "corpora/apollo.md", start: 49, end: 86 },
];

/** The <path> elements of the chart's data marks (rect marks render as paths), not of its axes or legend. */
function dataMarks(svg: string): number {
  const group = /<g class="mark-rect role-mark[^"]*"[^>]*>([\s\S]*?)<\/g>/.exec(svg);
  assert.ok(group, "the SVG has a group of rect marks");
  return (group[1].match(/<path\b/g) ?? []).length;
}

/** A DataFrame's rows, as plain arrays. */
const rowsOf = (df: { values: unknown }) => df.values as unknown[][];

/** The text of every title attribute, with entities decoded. */
const titles = (html: string) => [...html.matchAll(/title="([^"]*)"/g)].map((m) => m[1].replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))));

test("tableHtml escapes markup and quotes in cells and headers", () => {
  const html = tableHtml([{ "<b>col</b>": `<script>alert("x")</script>`, note: `it's "quoted" & <i>` }]);
  assert.not.match(html, /<script>|<\/script>|<b>|<i>/);
  assert.match(html, /&#60;script&#62;alert\(&#34;x&#34;\)&#60;\/script&#62;/);
  assert.match(html, /it&#39;s &#34;quoted&#34; &#38; &#60;i&#62;/);
  assert.match(html, /<th[^>]*>&#60;b&#62;col&#60;\/b&#62;<\/th>/);
});

test("tableHtml cuts long cells and keeps the full text, escaped, in a title shown on hover", () => {
  const long = `"start" <script>x</script> ` + "word ".repeat(60) + "end";
  const html = tableHtml([{ text: long, short: "kept whole" }], { maxChars: 40 });
  const cut = /<span title="[^"]*">([^<]*)<\/span>/.exec(html);
  assert.ok(cut, "the long cell is wrapped in a span with a title");
  assert.ok(cut[1].endsWith("…"));
  assert.not.match(cut[1], /end…$/);
  assert.equal(titles(html), [long]);
  assert.match(html, /<td[^>]*>kept whole<\/td>/);
});

test("tableHtml shows at most maxRows rows and says how many there are", () => {
  const rows = Array.from({ length: 30 }, (_, i) => ({ n: i }));
  const html = tableHtml(rows, { maxRows: 10 });
  assert.is((html.match(/<tr>/g) ?? []).length, 11);
  assert.match(html, /10 of 30 rows shown/);
  assert.not.match(tableHtml(rows.slice(0, 5), { maxRows: 10 }), /rows shown/);
});

test("tableHtml lists arrays and other iterables (Arrow list vectors) and leaves missing values empty", () => {
  const html = tableHtml([{ list: ["chunk_1", "chunk_2"], set: new Set(["a", "b"]), none: null, nan: NaN, float: 0.123456 }]);
  assert.match(html, /<td[^>]*>chunk_1, chunk_2<\/td><td[^>]*>a, b<\/td><td[^>]*><\/td><td[^>]*><\/td><td[^>]*>0.123<\/td>/);
});

test("tableHtml renders a DataFrame with its index and picks columns", () => {
  const html = tableHtml(chunksFrame(chunks), { columns: ["chunk_id", "chars"] });
  assert.match(html, /<thead><tr><th[^>]*><\/th><th[^>]*>chunk_id<\/th><th[^>]*>chars<\/th><\/tr><\/thead>/);
  assert.match(html, /<tr><td[^>]*>1<\/td><td[^>]*>chunk_2<\/td><td[^>]*>37<\/td><\/tr>/);
  assert.throws(() => tableHtml(chunksFrame(chunks), { columns: ["nope"] }), /no column nope/);
});

test("only rawHtml cells pass through unescaped; a look-alike object is escaped", () => {
  const html = tableHtml([{ a: rawHtml("<b>bold</b>"), b: { html: "<b>not</b>" } }]);
  assert.match(html, /<td[^>]*><b>bold<\/b><\/td>/);
  assert.not.match(html, /<b>not<\/b>/);
});

test("diffHtml strikes dropped words, highlights added ones, and escapes both", () => {
  const { html } = diffHtml("The <quick> brown fox jumps.", "A <quick> red fox jumps.");
  assert.match(html, /<del[^>]*>The<\/del>/);
  assert.match(html, /<ins[^>]*>A<\/ins>/);
  assert.match(html, /<del[^>]*>brown<\/del>/);
  assert.match(html, /<ins[^>]*>red<\/ins>/);
  assert.match(html, /&#60;quick&#62; /);
  assert.not.match(html, /<quick>/);
  assert.not.match(html, /<(ins|del)[^>]*>(fox|jumps\.)</);
  assert.match(diffHtml("one two three four", "one five six four").html, /^one <ins[^>]*>five six<\/ins> <del[^>]*>two three<\/del> four$/);
});

test("chunksFrame, questionsFrame and paraphrasesFrame have the documented columns", () => {
  const c = chunksFrame(chunks);
  assert.equal(c.columns, ["chunk_id", "source", "start", "end", "chars", "paragraphs", "text"]);
  assert.equal(rowsOf(c)[0].slice(0, 6), ["chunk_1", "apollo.md", 0, 47, 47, 2]);
  assert.equal(chunksFrame([]).shape, [0, 7]);

  const seed = [{ chunk_id: "chunk_2", question: "How many ampere-hours?", answer: "99", difficulty: "easy" as const }];
  assert.equal(questionsFrame(seed).columns, ["chunk_id", "question", "answer", "difficulty"]);
  const rows = [{ ...seed[0], id: "chunk_2_q1", window: ["chunk_1", "chunk_2"], model: "builtin", prompt_version: "v", status: "rejected" as const, reason: "too long" }];
  const q = questionsFrame(rows);
  assert.equal(q.columns, ["id", "chunk_id", "question", "answer", "difficulty", "status", "reason", "model"]);
  assert.equal(rowsOf(q)[0].slice(5, 7), ["rejected", "too long"]);

  const paraphrase: Paraphrase = { paraphrase_id: "chunk_2_reworded_1", chunk_id: "chunk_2", paragraph_index: null, style: "reworded", text: "The entry batteries held 99 amp-hours.", model: "builtin" };
  assert.not.ok(paraphrasesFrame([paraphrase]).columns.includes("verdict"));
  const check = checkParaphrase(chunks[1].text, paraphrase.text);
  const p = paraphrasesFrame([paraphrase], [check]);
  assert.ok(p.columns.includes("verdict") && p.columns.includes("copy"));
  assert.is(rowsOf(p)[0][p.columns.indexOf("verdict")], check.verdict);
  const stored = paraphrasesFrame([{ ...paraphrase, verdict: "copy", reasons: ["a", "b"] }]);
  assert.equal(rowsOf(stored)[0].slice(5, 7), ["copy", "a; b"]);
  assert.throws(() => paraphrasesFrame([paraphrase], []), /0 checks for 1 paraphrases/);
});

test("histogramSvg draws one bar per non-empty bin, and per series when stacked", async () => {
  const svg = await histogramSvg([0, 1, 1, 2, 2, 2, 5], { step: 1, extent: [0, 6], title: "lengths", xTitle: "chars" });
  assert.ok(svg.startsWith("<svg"));
  assert.is(dataMarks(svg), 4);
  assert.match(svg, />lengths</);
  const stacked = await histogramSvg({ a: [0.5, 1.5], b: [1.5, 2.5, 3.5] }, { step: 1, extent: [0, 4] });
  assert.is(dataMarks(stacked), 5);
});

test("barSvg draws one bar per row, stacking rows that share a label", async () => {
  const svg = await barSvg(barsOf({ faithful: 7, copy: 2, refusal: 1 }), { horizontal: true, title: "verdicts" });
  assert.ok(svg.startsWith("<svg"));
  assert.is(dataMarks(svg), 3);
  const stacked = await barSvg([{ label: "reworded", value: 3, group: "faithful" }, { label: "reworded", value: 1, group: "copy" }, { label: "condensed", value: 4, group: "faithful" }]);
  assert.is(dataMarks(stacked), 3);
  // Stacked, the bars of one label share an x; side by side, each gets its own and stands on the axis.
  const pair = [{ label: "questions", value: 0.7, group: "dense" }, { label: "questions", value: 0.9, group: "bm25" }];
  const boxes = (svg: string) => [...svg.matchAll(/aria-roledescription="bar" d="M([\d.]+),([\d.]+)h([\d.]+)v([\d.]+)/g)].map((m) => m.slice(1).map(Number));
  const [s1, s2] = boxes(await barSvg(pair, { height: 200 }));
  assert.is(s1[0], s2[0]);
  const [b1, b2] = boxes(await barSvg(pair, { height: 200, sideBySide: true }));
  assert.is.not(b1[0], b2[0]);
  assert.equal([b1[1] + b1[3], b2[1] + b2[3]], [200, 200]);
});

test("axis labels of counts are whole numbers, never 1e+2; shares are percentages", async () => {
  const lengths = Array.from({ length: 50 }, (_, i) => 100 + i * 18);
  const labels = (svg: string) => [...svg.matchAll(/<g class="mark-text role-axis-label"[\s\S]*?<\/g>/g)].flatMap((g) => [...g[0].matchAll(/>([^<>]+)<\/text>/g)].map((m) => m[1]));
  const svg = await histogramSvg(lengths, { step: 50, extent: [0, 1000] });
  assert.not.match(svg, /\de\+\d/);
  assert.ok(labels(svg).includes("1000"), labels(svg).join(" "));
  const ratios = await histogramSvg([0.5, 0.55, 0.9, 1, 1.05], { step: 0.05 });
  assert.not.match(ratios, /\de[+-]\d/);
  assert.ok(labels(ratios).some((l) => /^0\.\d+$/.test(l)), labels(ratios).join(" "));
  const shares = await barSvg([{ label: "bm25", value: 0.93 }, { label: "dense", value: 0.4 }], { percent: true });
  assert.ok(labels(shares).includes("100%"), labels(shares).join(" "));
});

test("barsOf can leave out keys counted 0, such as an empty other", () => {
  assert.equal(barsOf({ easy: 3, hard: 1, other: 0 }, { omitZero: true }).map((b) => b.label), ["easy", "hard"]);
  assert.equal(barsOf({ easy: 3, other: 0 }).map((b) => b.label), ["easy", "other"]);
  assert.equal(barsOf({ a: 1 }, "g"), [{ label: "a", value: 1, group: "g" }]);
});

test("chartPng rasterises a chart at twice its size, with its title for alt text", async () => {
  const svg = await barSvg(barsOf({ faithful: 7, copy: 2 }), { title: `verdicts <"quoted">` });
  assert.is(svgTitle(svg), `verdicts <"quoted">`);
  const chart = await chartPng(svg);
  assert.equal([...chart.png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  // The IHDR chunk holds the pixel size: twice the SVG's.
  assert.equal([chart.png.readUInt32BE(16), chart.png.readUInt32BE(20)], [2 * chart.width, 2 * chart.height]);
  assert.ok((await chartPng(svg)).png.equals(chart.png), "the same chart makes the same bytes");
});

test("percent, sampleWarning and percentColumns write shares for people", () => {
  assert.equal([percent(0.023), percent(1), percent(0), percent(0.0004), percent(0.5, 0)], ["2.3%", "100%", "0%", "0.04%", "50%"]);
  assert.is(sampleWarning(5, "queries"), "only 5 queries: each one moves a share by 20%, too few to compare");
  assert.is(sampleWarning(200, "queries"), "");
  assert.match(tableHtml([{ retriever: "bm25", recall: 0.9876 }], { percentColumns: ["recall"] }), />98.8%</);
});

test("markAnswerHtml marks the answer as a whole word, escaped, with context around it", () => {
  assert.is(markAnswerHtml("at 152 hours and 2 hours later", "2 hours").html, "at 152 hours and <mark>2 hours</mark> later");
  assert.is(markAnswerHtml("a <b> c", "<b>").html, "a <mark>&#60;b&#62;</mark> c");
  const long = markAnswerHtml("x ".repeat(500) + "needle" + " y".repeat(500), "needle", 20).html;
  assert.match(long, /^…x [x ]+<mark>needle<\/mark>[ y]+…$/);
  assert.is(markAnswerHtml("no such text", "answer").html, "no such text");
});

test("countBy counts, most frequent first", () => {
  assert.equal(Object.entries(countBy(["b", "a", "b", "c", "b", "a"])), [["b", 3], ["a", 2], ["c", 1]]);
});

test("recordStep merges the steps into build.json, a step run again replacing only its own part and making the steps that read its files stale", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-frames-"));
  const write = (...files: string[]) => files.forEach((f) => (fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true }), fs.writeFileSync(path.join(dir, f), f)));
  try {
    write("chunks.jsonl", "chunks.pkl", "questions.jsonl", "questions.json", "faiss_index/index.faiss", "paraphrases.jsonl", "env/original/x", "env/paraphrased/x", "env/merged/x");
    recordStep(dir, "chunks", { corpus: "apollo.md", parameters: { chunk_size: 1000 }, counts: { chunks: 352 } });
    recordStep(dir, "questions", { parameters: { questions_per_chunk: 2 }, failures: { "question rejected: x": 3 } });
    const returned = recordStep(dir, "questions", { parameters: { questions_per_chunk: 3 }, failures: { "question rejected: y": 1 } });
    const build = JSON.parse(fs.readFileSync(path.join(dir, "build.json"), "utf8"));
    assert.equal(returned, build);
    assert.is(build.judge, "rules");
    assert.is(build.corpus, "apollo.md");
    assert.equal(build.parameters, { chunk_size: 1000, questions_per_chunk: 3 });
    assert.equal(build.counts, { chunks: 352 });
    assert.equal(build.failures, { "question rejected: y": 1 });
    assert.equal(build.seconds, {});
    assert.is(build.build.status, "running");
    assert.is(build.command, "notebooks/02-embeddings-and-index.ipynb and the notebooks after it");
    assert.equal(build.stages.chunks.files, { "chunks.jsonl": digestFile(path.join(dir, "chunks.jsonl")), "chunks.pkl": digestFile(path.join(dir, "chunks.pkl")) });

    recordStep(dir, "index", {});
    recordStep(dir, "paraphrases", {});
    const done = recordStep(dir, "quality", { judge: "rules+nli", measured_difficulty: { easy: 3, medium: 0, hard: 0 } });
    assert.is(done.judge, "rules+nli");
    // The step that completes the dataset gives it kit build's verdict; an unfinished one has none.
    assert.is(build.verdict, undefined);
    assert.equal(done.measured_difficulty, { easy: 3, medium: 0, hard: 0 });
    assert.equal(done.verdict, verdictOf(done));
    assert.is(done.verdict!.tier, "smoke test only");
    assert.is(done.build.status, "finished");
    assert.equal(Object.keys(done.stages), ["chunks", "index", "questions", "paraphrases", "quality"]);
    assert.ok(done.stages.quality.files["env/merged/x"]);
    // The same chunks keep the build's id, so the notebooks write the same build.json each run.
    assert.is(done.build.id, build.build.id);

    // The index again: what read it (paraphrases, and quality through them) is stale; questions stay.
    const again = recordStep(dir, "index", { parameters: { embedder: "use-lite" } });
    assert.equal(Object.keys(again.stages), ["chunks", "index", "questions"]);
    assert.equal(Object.keys(JSON.parse(fs.readFileSync(path.join(dir, "build.json"), "utf8")).notebook_steps), ["chunks", "index", "questions"]);
    assert.is(again.build.status, "running");
    assert.is(again.command, "notebooks/04-paraphrases.ipynb and the notebooks after it");
    throwsKit(() => recordStep(dir, "nonsense", {}), /^recordStep: unknown step "nonsense"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
