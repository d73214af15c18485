import type { Chunk } from "./chunking";
import type { Coverage } from "./environment";
import type { CheckedParaphrase } from "./paraphrase";
import { barSvg, countBy, diffHtml, escapeHtml, histogramSvg, tableHtml } from "./frames";
import { type Check, VERDICTS } from "./quality";
import type { Question } from "./questions";

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
}

/** Rows shown side by side with their original: the least faithful first. */
const WORST_ROWS = 25;

/**
 * The build's quality report as one self-contained HTML page: counts by verdict and style, histograms
 * of length ratio and similarity, and the worst rows beside their originals with the differences marked.
 * Every piece of corpus or model text goes through escapeHtml (tableHtml and diffHtml escape too), so a
 * chunk holding markup shows as text and never runs.
 */
export async function qualityReport(input: ReportInput): Promise<string> {
  const { paraphrases, checks, questions } = input;
  const verdicts = countBy(checks.map((c) => c.verdict));
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
  const questionStatus = countBy(questions.map((q) => q.status));
  const questionReasons = countBy(questions.filter((q) => q.reason).map((q) => q.reason!.replace(/chunk_\d+_q\d+/, "an earlier question")));

  const section = (title: string, ...body: string[]) => `<section><h2>${escapeHtml(title)}</h2>${body.join("\n")}</section>`;
  const figure = (svg: string) => `<figure>${svg}</figure>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(input.title)}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:80em;padding:0 1em}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.3em .5em}figure{margin:1em 0}del{color:#b00000}ins{background:#c8f0c8;text-decoration:none}</style>
</head><body>
<h1>${escapeHtml(input.title)}</h1>
<p>${input.chunks.length} chunks, ${questions.length} question rows, ${paraphrases.length} paraphrases, made by ${escapeHtml(input.generator)}.</p>
${section(
  "Search environments",
  "<p>Every mode holds every chunk. In the paraphrased mode a chunk with no kept paraphrase is searched through its original text.</p>",
  tableHtml(Object.entries(input.environments).map(([mode, e]) => ({ mode, rows: e.rows, chunks: e.chunks, "chunks with a kept paraphrase": e.by_paraphrase, "chunks through their original only": e.by_original_only }))),
)}
${section(
  "Paraphrases by verdict",
  tableHtml([verdicts]),
  figure(await barSvg(byStyle, { title: "Verdicts by style", yTitle: "paraphrases" })),
)}
${section(
  "Length and meaning",
  figure(await histogramSvg(seriesByVerdict((c) => c.scores.length_ratio), { title: "Length of paraphrase / original", xTitle: "length ratio" })),
  Object.keys(similarity).length
    ? figure(await histogramSvg(similarity, { title: "Embedding similarity to the original", xTitle: "cosine similarity" }))
    : "<p>No similarity scores: the check ran without an embedder.</p>",
)}
${section(
  `The ${worst.length} least faithful paraphrases`,
  "<p>Beside each original: words the paraphrase dropped are struck through, words it added are marked.</p>",
  tableHtml(worst, { maxRows: WORST_ROWS, maxChars: 4000 }),
)}
${section("Questions", tableHtml([questionStatus]), tableHtml(Object.entries(questionReasons).map(([reason, rows]) => ({ reason, rows })), { caption: "Not kept, by reason" }))}
</body></html>
`;
}

// Refusals first, then invented facts, then copies; within a verdict, the more reasons the worse.
function severity(check: Check): number {
  const rank = { refusal: 3, hallucinated: 2, copy: 1, faithful: 0 }[check.verdict];
  return rank * 100 + check.reasons.length;
}
