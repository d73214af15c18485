import * as path from "node:path";
import { buildDataset, DEFAULT_COVERAGE_ROUNDS, DEFAULT_EVALUATION_SAMPLE } from "../pipeline";
import type { BuildRecord } from "../pipeline/record";
import { KitError } from "../errors";
import { DEFAULT_GENERATOR, DEFAULT_OLLAMA_MODEL, TRUNCATED } from "../generators";
import { DEFAULT_MAX_ANSWER_BYTES } from "../host-faults";
import { DEFAULT_STYLES } from "../paraphrase";
import { formatSeconds } from "../progress";
import { VERDICTS } from "../quality";
import { DEFAULT_JUDGE, JUDGE_SPECS } from "../quality/judge";
import { rulesLimits } from "../quality/claims";
import { recordVerdict, tierWarning, verdictLines } from "../verdict";
import { type Command, optionalInteger, optionalTimeout, OPTIONS, required, str } from "./command";

export default {
  name: "build",
  summary: "the main job: chunks, index, questions, paraphrases, checks and search environments, in one dataset folder",
  usage: "kit build --corpus PATH --out DIR [--llm auto|builtin|ollama:M|openai:M@URL] [--questions-per-chunk N] [--multi-hop N] [--styles a,b,c] [--embedder SPEC]",
  required: ["corpus", "out"],
  options: {
    corpus: OPTIONS.corpus,
    out: { type: "string", help: "dataset folder (re-running resumes: answered LLM requests are cached in it)" },
    llm: { type: "string", help: "auto | builtin | ollama:<model> | openai:<model>@<base-url>", default: DEFAULT_GENERATOR },
    model: { type: "string", help: "the Ollama model --llm auto looks for", default: DEFAULT_OLLAMA_MODEL },
    judge: { type: "string", help: `claim-by-claim judge of paraphrases the rules pass: ${JUDGE_SPECS}`, default: DEFAULT_JUDGE },
    "ollama-host": OPTIONS.ollamaHost,
    concurrency: { type: "string", help: "requests in flight per LLM host" },
    "request-timeout": OPTIONS.requestTimeout,
    "max-answer-bytes": { type: "string", help: "most bytes one LLM answer may have; a longer one is cut off and fails", default: String(DEFAULT_MAX_ANSWER_BYTES) },
    "allow-failed-requests": { type: "boolean", help: "exit 0 even when LLM requests failed after every retry (rows are missing)" },
    "questions-per-chunk": { type: "string", help: "questions asked per chunk", default: "2" },
    "multi-hop": { type: "string", help: "two-hop questions asked per chunk, over it and a chunk sharing a rare term", default: "0" },
    retries: { type: "string", help: "further tries for an answer that fails to parse or validate", default: "2" },
    styles: { type: "string", help: `paraphrase styles, comma-separated`, default: DEFAULT_STYLES.map((s) => s.name).join(",") },
    "styles-file": { type: "string", help: 'JSON array of {"name", "prompt"} styles; prompts hold {text}, may hold {words}' },
    "paraphrases-per-style": { type: "string", help: "paraphrases per style and chunk", default: "1" },
    "by-paragraph": { type: "boolean", help: "paraphrase each paragraph of a chunk on its own" },
    "coverage-rounds": { type: "string", help: "further paraphrase rounds for chunks with no kept paraphrase", default: String(DEFAULT_COVERAGE_ROUNDS) },
    "eval-sample": { type: "string", help: "questions the build's retrieval evaluation searches per set and mode (kit eval-retrieval: all)", default: String(DEFAULT_EVALUATION_SAMPLE) },
    embedder: OPTIONS.embedder,
    factory: OPTIONS.factory,
    "chunk-size": OPTIONS.chunkSize,
    "chunk-overlap": OPTIONS.chunkOverlap,
    seed: { type: "string", help: "sampling seed", default: "42" },
  },
  async run(v) {
    const out = required(v, "out");
    // No signal handler: a handler waits behind synchronous work (tagging, chunking), while the default
    // action stops at once. Every file is written whole (temp file, then rename) and every LLM answer is
    // fsync'd into the cache as it arrives, so a re-run resumes; it also clears the lock and temp files.
    const record = await buildDataset({
      corpus: required(v, "corpus"),
      out,
      llm: str(v, "llm"),
      model: str(v, "model"),
      judge: str(v, "judge"),
      ollamaHost: str(v, "ollama-host"),
      concurrency: optionalInteger(v, "concurrency", 1),
      requestTimeoutMs: optionalTimeout(v),
      maxAnswerBytes: optionalInteger(v, "max-answer-bytes", 1),
      questionsPerChunk: optionalInteger(v, "questions-per-chunk", 1),
      multiHop: optionalInteger(v, "multi-hop", 0),
      retries: optionalInteger(v, "retries", 0),
      styles: str(v, "styles")?.split(",").map((s) => s.trim()).filter(Boolean),
      stylesFile: str(v, "styles-file"),
      paraphrasesPerStyle: optionalInteger(v, "paraphrases-per-style", 1),
      byParagraph: v["by-paragraph"] === true,
      coverageRounds: optionalInteger(v, "coverage-rounds", 0),
      evaluationSample: optionalInteger(v, "eval-sample", 1),
      embedder: str(v, "embedder"),
      factory: str(v, "factory"),
      chunkSize: optionalInteger(v, "chunk-size", 1),
      chunkOverlap: optionalInteger(v, "chunk-overlap", 0),
      seed: optionalInteger(v, "seed", 0),
      log: (line) => console.log(line),
    });
    console.log(buildSummary(record, out));
    // Requests that got no answer leave rows missing; answers cut at the token limit are the model's, as rejected ones are.
    const failed = (record.llm_requests.failed ?? 0) - (record.llm_requests.failed_by_reason?.[TRUNCATED] ?? 0);
    if (failed > 0 && v["allow-failed-requests"] !== true) {
      const why = Object.entries(record.llm_requests.failed_by_reason ?? {}).filter(([reason]) => reason !== TRUNCATED).map(([reason, n]) => `${n} ${reason}`).join(", ");
      throw new KitError(`build: ${failed} LLM requests failed (${why}), so their rows are missing: run the same command again to ask them again, or pass --allow-failed-requests to accept the holes`);
    }
  },
} satisfies Command;

function buildSummary(r: BuildRecord, out: string): string {
  const c = r.counts;
  const why = Object.entries(r.llm_requests.failed_by_reason ?? {}).sort((a, b) => b[1] - a[1]).map(([w, n]) => `${n} ${w}`).join(", ");
  const lines = [
    `build: ${out} with ${r.generator.spec === "builtin" ? "the builtin generator" : r.generator.spec}, judged by ${r.judge === "rules" ? "the rules alone" : `the rules and ${r.judge}`}`,
    `  chunks ${c.chunks}${c.symlinks_skipped ? ` (${c.symlinks_skipped} symlinks skipped)` : ""} | questions ${c.questions_accepted} accepted${c.questions_multi_hop ? ` (${c.questions_multi_hop} multi-hop)` : ""}, ${c.questions_rejected} rejected, ${c.question_prompts_failed} chunks got fewer than asked | paraphrases ${c.paraphrases} (${VERDICTS.map((v) => `${c[`paraphrases_${v}`]} ${v}`).join(", ")}), ${c.paraphrases_failed} failed`,
    `  environments (${path.join(out, "env")}): ${Object.entries(r.environments).map(([mode, e]) => `${mode} ${e.rows} rows`).join(", ")}; all cover ${c.chunks} chunks, ${r.environments.paraphrased.by_paraphrase} of them through a kept paraphrase`,
    r.generator.spec === "builtin"
      ? `  builtin generator (no LLM): ${r.llm_requests.sent} texts made, ${r.llm_requests.answered_from_cache} taken from the cache`
      : `  LLM requests: ${r.llm_requests.sent} sent, ${r.llm_requests.answered_from_cache} answered from the cache, ${r.llm_requests.failed ?? 0} failed${why ? ` (${why})` : ""}${r.llm_requests.rejected ? `, ${r.llm_requests.rejected} answers rejected (kept in the cache: only a new --seed asks again)` : ""}`,
    ...(r.evaluation ? [`  retrieval baselines (${r.evaluation.sample} questions a mode): eval.json; best retriever ${Object.entries(r.evaluation.best).map(([mode, best]) => `${mode} ${best}`).join(", ")}`] : []),
    `  report: ${path.join(out, "report.html")}`,
    `  time: ${Object.entries(r.seconds).map(([stage, s]) => `${stage} ${formatSeconds(s)}`).join(", ")}`,
  ];
  if (r.judge === "rules") lines.push(`  ${rulesLimits((s) => s)}`);
  const reasons = Object.entries(r.failures).sort((a, b) => b[1] - a[1]);
  if (reasons.length) lines.push("  not kept, by reason:", ...reasons.map(([reason, n]) => `    ${String(n).padStart(5)}  ${reason}`));
  const verdict = recordVerdict(r);
  lines.push(...verdictLines(verdict), ...tierWarning(verdict));
  return lines.join("\n");
}
