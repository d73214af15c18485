import { barSvg, chartImgHtml, histogramSvg } from "./charts";
import type { Chunk } from "./chunking";
import type { Coverage } from "./environment";
import { terms } from "./lexical";
import { diffHtml, escapeHtml, markAnswerHtml, rawHtml, sampleWarning, tableHtml } from "./html";
import type { CheckedParaphrase } from "./paraphrase";
import { rulesLimits } from "./quality/claims";
import { type Check, VERDICTS } from "./quality/types";
import type { Question } from "./questions";
import { liftText, TIER_MEANING, type Verdict } from "./verdict";

/** Retrieval scores as eval.json holds them (lib/evaluate.ts RetrievalEvaluation; only what the report reads). */
export interface ReportEvaluation {
  embedder: string;
  ks: number[];
  questions: Record<string, ReportQuerySet>;
  paraphrases: ReportQuerySet;
  best?: Record<string, string>;
}
interface ReportQuerySet {
  queries: number;
  of?: number;
  retrievers: Record<string, { recall: Record<string, number>; mrr: number }>;
}

export interface ReportInput {
  title: string;
  generator: string;
  chunks: readonly Chunk[];
  questions: readonly Question[];
  paraphrases: readonly CheckedParaphrase[];
  /** One per paraphrase, in the same order. */
  checks: readonly Check[];
  /** The originals the paraphrases rewrote (chunk or paragraph), in the same order. */
  originals: readonly string[];
  /** Each environment mode's rows and chunk coverage. */
  environments: Record<string, Coverage & { rows: number }>;
  /** build.json's parameters (chunking, generator, styles, thresholds, ...), shown in the verdict section. */
  parameters?: Record<string, unknown>;
  /** What judged the paraphrases (build.json's judge): the rules, or the rules and a model. */
  judge?: string;
  /** The embedder of the indexes and environments. */
  embedder?: string;
  /** The retrieval baselines (eval.json), when the evaluation has run. */
  evaluation?: ReportEvaluation;
  /**
   * Accepted questions by measured difficulty (lib/export/difficulty.ts bucketOf over goldRanks in the paraphrased
   * environment: easy = the chunk ranks first, medium = 2-5, hard = lower or not found).
   */
  measuredDifficulty?: Record<string, number>;
  /** The dataset folder, for the commands the report suggests. */
  dataset?: string;
  /** "Can I train on this?": build.json's verdict (lib/verdict.ts), shown at the top. */
  verdict: Verdict;
}

/** Rows shown side by side with their original: the least faithful first. */
const WORST_ROWS = 25;
/** Accepted questions shown beside their chunk. */
const SAMPLE_QUESTIONS = 15;
/** Accepted multi-hop questions shown beside their two chunks. */
const SAMPLE_MULTI_HOP = 5;

/**
 * The form of a question: "multi-hop" for a row made so (its `kind`), else from its wording, a cloze (fill the
 * blank) or by its question word. Takes the question's text or its row.
 */
export function questionKind(question: string | { question: string; kind?: string }): string {
  if (typeof question !== "string" && question.kind === "multi-hop") return "multi-hop (two chunks)";
  const q = (typeof question === "string" ? question : question.question).toLowerCase();
  if (/_{2,}|\bfills? (in )?the (blank|gap)|\[blank\]/.test(q)) return "cloze (fills a blank)";
  const kinds: [RegExp, string][] = [
    [/\bhow (many|much)\b/, "how many / how much"],
    [/\b(when|what (time|year|date|day))\b/, "when"],
    [/\b(who|whom|whose)\b/, "who"],
    [/\bwhere\b/, "where"],
    [/\bwhy\b/, "why"],
    [/\bhow\b/, "how"],
    [/\b(what|which)\b/, "what / which"],
  ];
  let best: { at: number; kind: string } | undefined;
  for (const [pattern, kind] of kinds) {
    const at = pattern.exec(q)?.index;
    if (at !== undefined && (!best || at < best.at)) best = { at, kind };
  }
  if (best) return best.kind;
  return /^\s*(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b/.test(q) ? "yes / no" : "other";
}

/**
 * The verdict's figures that only the question rows tell (lib/verdict.ts reads them from build.json's counts):
 * chunks with no accepted question, and accepted questions that are cloze.
 */
export function questionCounts(chunks: readonly Chunk[], questions: readonly Question[]): { chunks_without_question: number; questions_cloze: number } {
  const accepted = questions.filter((q) => q.status === "accepted");
  const asked = new Set(accepted.map((q) => q.chunk_id));
  return {
    chunks_without_question: chunks.filter((c) => !asked.has(c.chunk_id)).length,
    questions_cloze: accepted.filter((q) => questionKind(q) === "cloze (fills a blank)").length,
  };
}

/**
 * The build's report as one self-contained HTML page. It opens with the verdict, "can I train on this?": build.json's
 * tier, each floor failed (lib/verdict.ts FLOORS) with what would lift it and each floor passed, the question kinds
 * and difficulty; then the parameters and a sample of accepted questions beside their chunks. The details follow: environments, verdicts, score charts, the worst
 * paraphrases (folded) and the questions not kept. Charts are PNG images in data: URLs. Every piece of corpus or
 * model text goes through escapeHtml (tableHtml, diffHtml and markAnswerHtml escape too), so a chunk holding
 * markup shows as text and never runs.
 */
export async function qualityReport(input: ReportInput): Promise<string> {
  const { paraphrases, checks, questions, chunks } = input;
  const accepted = questions.filter((q) => q.status === "accepted");
  const n = (value: number) => value.toLocaleString("en-US");
  const verdict = input.verdict;
  const lead = `<p class="lead ${verdict.tier === "ready" ? "ok-text" : "warn-text"}">${escapeHtml(verdict.tier.charAt(0).toUpperCase() + verdict.tier.slice(1))}: ${escapeHtml(TIER_MEANING[verdict.tier])}.</p>`;
  const findingsHtml = `<ul class="findings">${[
    ...verdict.reasons.map((f) => `<li class="warn">${escapeHtml(f.text)}. <b>To lift:</b> ${escapeHtml(liftText(f))}.</li>`),
    ...verdict.passed.map((f) => `<li class="ok">${escapeHtml(f.text)}.</li>`),
  ].join("\n")}</ul>`;
  const kinds = countOf(accepted.map((q) => questionKind(q)));
  const labelled = countOf(accepted.map((q) => q.difficulty || "unlabelled"), ["easy", "medium", "hard"]);
  const measured = input.measuredDifficulty;
  const evaluation = input.evaluation;
  const evalCommand = `<code>kit eval-retrieval --dataset ${escapeHtml(input.dataset ?? "DATASET")}</code>`;

  // Parameters.
  const parameters: Record<string, unknown> = { generator: input.generator, ...(input.judge ? { judge: input.judge } : {}), ...(input.embedder ? { embedder: input.embedder } : {}), ...(input.parameters ?? {}) };
  // The judge that ran, beside the one asked for when they differ (--judge auto with the builtin generator: the rules).
  const askedJudge = input.parameters?.judge;
  if (input.judge) parameters.judge = askedJudge === undefined || askedJudge === input.judge ? input.judge : `${input.judge} (asked: ${askedJudge})`;
  // A nested setting (the thresholds) reads "copy 0.75, minLengthRatio 0.3, ...", as in the dataset card.
  const setting = (value: unknown): unknown =>
    typeof value === "object" && value !== null && !Array.isArray(value) ? Object.entries(value).map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ") : value;
  const parameterRows = Object.entries(parameters).map(([name, value]) => ({ parameter: name, value: setting(value) }));
  const parametersHtml = tableHtml(parameterRows, { maxRows: 50, maxChars: 400 }) + (input.parameters ? "" : "<p>The build's other parameters are in <code>build.json</code> beside this report.</p>");

  // A sample of accepted questions, spread over the corpus; multi-hop ones apart, each beside both its chunks.
  const chunkText = new Map(chunks.map((c) => [c.chunk_id, c.text]));
  const spread = <T>(rows: readonly T[], count: number) => rows.filter((_, i) => i % Math.max(1, Math.ceil(rows.length / count)) === 0).slice(0, count);
  const multiHop = accepted.filter((q) => q.kind === "multi-hop");
  const sample = spread(accepted.filter((q) => q.kind !== "multi-hop"), SAMPLE_QUESTIONS);
  const hopSample = spread(multiHop, SAMPLE_MULTI_HOP);
  const hopHtml = hopSample.length
    ? tableHtml(
        hopSample.map((q) => {
          const [first, last] = [q.supporting_chunk_ids?.[0] ?? q.chunk_id, q.chunk_id];
          const link = sharedTerm(q.question, chunkText.get(first) ?? "", chunkText.get(last) ?? "");
          return {
            question: q.question,
            answer: q.answer,
            [`first chunk (the term linking the two marked)`]: rawHtml(`<b>${escapeHtml(first)}</b>: ${markAnswerHtml(chunkText.get(first) ?? "", link, 160).html}`),
            [`answer chunk (the answer marked)`]: rawHtml(`<b>${escapeHtml(last)}</b>: ${markAnswerHtml(chunkText.get(last) ?? "", q.answer, 160).html}`),
          };
        }),
        { maxRows: SAMPLE_MULTI_HOP, maxChars: 600 },
      )
    : "";
  const sampleHtml = sample.length
    ? tableHtml(
        sample.map((q) => ({
          question: q.question,
          answer: q.answer,
          difficulty: q.difficulty,
          kind: questionKind(q),
          [`chunk (the answer marked)`]: rawHtml(`<b>${escapeHtml(q.chunk_id)}</b>: ${markAnswerHtml(chunkText.get(q.chunk_id) ?? "", q.answer, 200).html}`),
        })),
        { maxRows: SAMPLE_QUESTIONS, maxChars: 600 },
      )
    : "<p>No accepted question to show.</p>";

  const kindsHtml = tableHtml(
    Object.entries(kinds).map(([kind, count]) => ({ kind, questions: count, share: accepted.length ? count / accepted.length : 0 })),
    { caption: "Accepted questions by kind", percentColumns: ["share"] },
  );
  const difficultyRows = ["easy", "medium", "hard", ...Object.keys(labelled).filter((d) => !["easy", "medium", "hard"].includes(d))].map((d) => ({
    difficulty: d,
    "self-labelled": labelled[d] ?? 0,
    ...(measured ? { measured: measured[d] ?? 0 } : {}),
  }));
  const difficultyHtml =
    tableHtml(difficultyRows, { caption: "Accepted questions by difficulty" }) +
    `<p style="font-size:smaller">Self-labelled: the generator's own label.${measured ? " Measured: the rank of the question's chunk when the question is searched in the paraphrased environment (first: easy, 2-5: medium, lower or not found: hard)." : ""}</p>`;

  // Baselines.
  let baselinesHtml = `<p>Not measured: run ${evalCommand}. It searches each environment with every accepted question (and the original chunks with every kept paraphrase) by dense, BM25 and hybrid retrieval, and writes recall@k and MRR to eval.json.</p>`;
  if (evaluation) {
    const sets = [...Object.entries(evaluation.questions).map(([mode, set]) => ({ name: `questions, ${mode}`, set })), { name: "paraphrases, original", set: evaluation.paraphrases }].filter((s) => s.set.queries);
    const rows = sets.flatMap(({ name, set }) =>
      Object.entries(set.retrievers).map(([retriever, s]) => ({
        queries: `${name} (${set.queries}${set.of ? ` of ${set.of}` : ""})`,
        retriever,
        ...Object.fromEntries(evaluation.ks.map((k) => [`recall@${k}`, s.recall[String(k)]])),
        mrr: s.mrr,
      })),
    );
    const notes = sets.map(({ name, set }) => sampleWarning(set.queries, "queries") && `${name}: ${sampleWarning(set.queries, "queries")}`).filter(Boolean);
    baselinesHtml =
      tableHtml(rows, { maxRows: 40, percentColumns: evaluation.ks.map((k) => `recall@${k}`), caption: `Retrieval baselines (dense: ${evaluation.embedder})` }) +
      (notes.length ? `<p class="warn-text">${notes.map(escapeHtml).join("<br>")}</p>` : "");
  }

  // Details: verdicts, scores, the worst rows.
  const verdicts = countOf(checks.map((c) => c.verdict));
  const styles = [...new Set(paraphrases.map((p) => p.style))];
  // Verdicts always in one order, so each keeps its colour from chart to chart.
  const present = VERDICTS.filter((v) => verdicts[v]);
  const byStyle = present.flatMap((verdict) =>
    styles.map((style) => ({ label: style, value: checks.filter((c, i) => c.verdict === verdict && paraphrases[i].style === style).length, group: verdict })),
  );
  const seriesByVerdict = (score: (c: Check) => number | undefined) => {
    const series: Record<string, number[]> = {};
    for (const verdict of present) {
      const values = checks.filter((c) => c.verdict === verdict).flatMap((c) => score(c) ?? []);
      if (values.length) series[verdict] = values;
    }
    return series;
  };
  const similarity = seriesByVerdict((c) => c.scores.similarity);
  const worst = checks
    .map((check, i) => ({ check, i }))
    .filter(({ check }) => check.verdict !== "faithful")
    .sort((a, b) => severity(b.check) - severity(a.check) || a.i - b.i)
    .slice(0, WORST_ROWS)
    .map(({ check, i }) => ({
      paraphrase: paraphrases[i].paraphrase_id,
      verdict: check.verdict,
      reasons: check.reasons.join("; "),
      original: input.originals[i],
      "paraphrase (changes marked)": diffHtml(input.originals[i], check.text),
    }));
  const questionStatus = countOf(questions.map((q) => q.status));
  const questionReasons = countOf(questions.filter((q) => q.reason).map((q) => q.reason!.replace(/chunk_\d+_q\d+/, "an earlier question")));
  const chart = async (svg: Promise<string>) => `<figure>${await chartImgHtml(await svg)}</figure>`;

  const section = (id: string, title: string, ...body: string[]) => `<section id="${id}"><h2>${escapeHtml(title)}</h2>\n${body.join("\n")}\n</section>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(input.title)}</title>
<style>caption{white-space:nowrap}body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:80em;padding:0 1em;color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.3em .5em}figure{margin:1em 0}img{max-width:100%;height:auto}del{color:#b00000}ins{background:#c8f0c8;text-decoration:none}mark{background:#ffe27a}
#verdict{border:2px solid #888;border-radius:6px;padding:0 1.2em 1em;background:#fafafa}.lead{font-size:1.2em;font-weight:bold}.warn-text{color:#8a4b00}.ok-text{color:#1d6b2a}
.findings{list-style:none;padding:0}.findings li{margin:.5em 0;padding:.4em .6em;border-left:5px solid}.findings li.ok{border-color:#2e9e44;background:#eef8f0}.findings li.ok::before{content:"OK \\2014  ";font-weight:bold;color:#1d6b2a}.findings li.warn{border-color:#e08a00;background:#fff4e0}.findings li.warn::before{content:"Warning \\2014  ";font-weight:bold;color:#8a4b00}
details{margin:1em 0}summary{cursor:pointer;font-weight:bold}nav a{margin-right:1em}</style>
</head><body>
<h1>${escapeHtml(input.title)}</h1>
<p>${n(chunks.length)} chunks, ${n(questions.length)} question rows, ${n(paraphrases.length)} paraphrases, made by ${escapeHtml(input.generator)}.</p>
<nav><a href="#verdict">Verdict</a><a href="#parameters">Parameters</a><a href="#sample">Sample questions</a>${multiHop.length ? `<a href="#multi-hop">Multi-hop</a>` : ""}<a href="#baselines">Baselines</a><a href="#environments">Environments</a><a href="#paraphrases">Paraphrases</a><a href="#questions">Questions not kept</a></nav>
<section id="verdict"><h2>Can I train on this?</h2>
${lead}
${findingsHtml}
${kindsHtml}
${difficultyHtml}
</section>
${section("parameters", "Parameters", parametersHtml)}
${section("sample", `${sample.length} accepted questions beside their chunk`, "<p>Spread over the corpus in document order; the answer is marked in its chunk.</p>", sampleHtml)}
${hopSample.length ? section("multi-hop", `${hopSample.length} of the ${n(multiHop.length)} multi-hop questions beside their two chunks`, "<p>The agent needs both chunks: the first names what links them, the second holds the answer.</p>", hopHtml) : ""}
${section("baselines", "Retrieval baselines", baselinesHtml)}
${section(
  "environments",
  "Search environments",
  "<p>Every mode holds every chunk. In the paraphrased mode a chunk with no kept paraphrase is searched through its original text.</p>",
  tableHtml(
    Object.entries(input.environments).map(([mode, e]) => ({
      mode,
      rows: e.rows,
      chunks: e.chunks,
      "chunks with a kept paraphrase": e.by_paraphrase,
      share: e.chunks ? e.by_paraphrase / e.chunks : 0,
      "chunks through their original only": e.by_original_only,
    })),
    { percentColumns: ["share"] },
  ),
)}
${section(
  "paraphrases",
  "Paraphrases by verdict",
  tableHtml([verdicts]),
  input.judge === "rules" ? `<p>${rulesLimits((s) => `<code>${escapeHtml(s)}</code>`)}</p>` : "",
  byStyle.length ? await chart(barSvg(byStyle, { title: "Verdicts by style", yTitle: "paraphrases" })) : "<p>No paraphrases.</p>",
  Object.keys(seriesByVerdict((c) => c.scores.length_ratio)).length ? await chart(histogramSvg(seriesByVerdict((c) => c.scores.length_ratio), { title: "Length of paraphrase / original", xTitle: "length ratio", yTitle: "paraphrases" })) : "",
  Object.keys(similarity).length
    ? // Only rows the cheap checks left faithful are embedded (lib/quality/batch.ts): the chart says so, as its count is not every paraphrase.
      `<p>Embedding similarity is measured only for the ${Object.values(similarity).flat().length} of ${checks.length} paraphrases that passed the rule checks (refusals and copies are never embedded).</p>` +
      (await chart(histogramSvg(similarity, { title: "Embedding similarity to the original", xTitle: "cosine similarity", yTitle: "paraphrases" })))
    : "<p>No similarity scores: the check ran without an embedder.</p>",
  worst.length
    ? `<details><summary>The ${worst.length} least faithful paraphrases, beside their originals (open)</summary>\n<p>Refusals first, then invented facts, then copies. Words the paraphrase dropped are struck through, words it added are marked.</p>\n${tableHtml(worst, { maxRows: WORST_ROWS, maxChars: 4000 })}\n</details>`
    : "<p>Every paraphrase was judged faithful.</p>",
)}
${section("questions", "Questions not kept", tableHtml([questionStatus], { caption: "Question rows by status" }), tableHtml(Object.entries(questionReasons).map(([reason, rows]) => ({ reason, rows })), { caption: "Not kept, by reason", maxRows: 40 }))}
</body></html>
`;
}

/** The longest term (a word or a pair of words) the question shares with both chunks: what links a multi-hop question's chunks. */
function sharedTerm(question: string, first: string, last: string): string {
  const [a, b] = [new Set(terms(first)), new Set(terms(last))];
  return terms(question).filter((t) => a.has(t) && b.has(t)).sort((x, y) => y.length - x.length)[0] ?? "";
}

/** How often each value occurs, most frequent first; `first` keys lead, in their order, even at 0. */
function countOf(values: readonly string[], first: readonly string[] = []): Record<string, number> {
  const counts = new Map<string, number>(first.map((k) => [k, 0]));
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  const rest = [...counts].filter(([k]) => !first.includes(k)).sort((a, b) => b[1] - a[1]);
  return Object.fromEntries([...first.map((k) => [k, counts.get(k)!] as const), ...rest]);
}

// Refusals first, then invented facts, then copies; within a verdict, the more reasons the worse.
function severity(check: Check): number {
  const rank = { refusal: 3, hallucinated: 2, copy: 1, faithful: 0 }[check.verdict];
  return rank * 100 + check.reasons.length;
}
