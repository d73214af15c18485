import * as fs from "node:fs";
import * as path from "node:path";
import { version as KIT_VERSION } from "../../package.json";
import { openCache, withCache } from "../cache";
import { type Chunk, checkChunkOptions, chunkDocuments, DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE } from "../chunking";
import { describeSkipped, loadCorpus, type SkippedLink } from "../corpus";
import { createEmbedder, DEFAULT_EMBEDDER, type Embedder, memoizeEmbedder } from "../embedders";
import { type Coverage, envDir, MODES, writeEnvironment } from "../environment";
import { evaluateRetrieval, type RetrievalEvaluation } from "../evaluate";
import { bucketOf, goldRanksIn } from "../export/difficulty";
import { acquireLock, removeStaleTemps, writeFileAtomic, writeJsonlAtomic } from "../files";
import { createGenerator, DEFAULT_GENERATOR, DEFAULT_TIMEOUT_MS, type Generator } from "../generators";
import { withMultiHop } from "../multihop";
import { type CheckedParaphrase, generateParaphrases, isKept, type Paraphrase, type ParaphraseFailure, resolveStyles, type Style } from "../paraphrase";
import { progressReporter } from "../progress";
import { type Check, checkParaphrases, DEFAULT_THRESHOLDS, paraphraseOriginal, VERDICTS } from "../quality";
import type { Judge } from "../quality/claims";
import { createJudge, DEFAULT_JUDGE } from "../quality/judge";
import { saveChunkIndex, writeChunks } from "../langchain";
import { generateQuestions, reasonLabel, seedFormat } from "../questions";
import { qualityReport } from "../report";
import { assertFactory, buildIndex, DEFAULT_FACTORY } from "../vector-index";
import type { BuildRecord, CoverageRound } from "./record";

export interface BuildOptions {
  corpus: string;
  out: string;
  chunkSize?: number;
  chunkOverlap?: number;
  embedder?: string;
  factory?: string;
  /** Generator spec: auto | builtin | ollama:<model> | openai:<model>@<url>. */
  llm?: string;
  ollamaHost?: string;
  /** Ollama model `auto` looks for. */
  model?: string;
  /** Judge spec for the paraphrase checks: auto | rules | ollama:<model> | openai:<model>@<url> | transformers:<model>. */
  judge?: string;
  concurrency?: number;
  /** Most time one LLM request may take before it is cancelled and retried; default 300 s, at most an hour. */
  requestTimeoutMs?: number;
  questionsPerChunk?: number;
  /** Two-hop questions asked per chunk, over it and a partner chunk sharing a rare term (lib/multihop.ts). Default 0. */
  multiHop?: number;
  retries?: number;
  styles?: string[];
  stylesFile?: string;
  paraphrasesPerStyle?: number;
  byParagraph?: boolean;
  seed?: number;
  /**
   * Further paraphrase rounds for chunks left with no kept paraphrase, before the paraphrased environment
   * falls back to their original text: each asks every such chunk for one more whole-chunk paraphrase (a new
   * variant, so new seeds) in the style kept most often so far. Default 2.
   */
  coverageRounds?: number;
  /**
   * Questions (and kept paraphrases) the build's retrieval evaluation searches per query set, evenly spread over
   * them: the report's baselines. Default 1,000; `kit eval-retrieval` searches them all.
   */
  evaluationSample?: number;
  /** Where notices go (default stderr); progress bars go to stderr. */
  log?: (line: string) => void;
  /** Stops the LLM stages, and any stage not yet started. */
  signal?: AbortSignal;
}

export const DEFAULT_COVERAGE_ROUNDS = 2;
export const DEFAULT_EVALUATION_SAMPLE = 1_000;

/** The style whose paraphrases (failed requests counted) were kept most often; the first of `styles` on a tie. */
export function mostKept(styles: readonly Style[], checked: readonly CheckedParaphrase[], failures: readonly ParaphraseFailure[]): Style {
  const share = (style: Style) => {
    const rows = checked.filter((p) => p.style === style.name);
    const asked = rows.length + failures.filter((f) => f.style === style.name).length;
    return asked ? rows.filter(isKept).length / asked : 0;
  };
  const shares = styles.map(share);
  return styles[shares.indexOf(Math.max(...shares))];
}

/** Embeds chunks and writes their FAISS index folder (saveChunkIndex). */
export async function embedAndIndex(embedder: Embedder, chunks: readonly Chunk[], options: { out: string; chunksFile: string; factory?: string }) {
  const vectors = await embedder.embed(chunks.map((c) => c.text), "passage");
  const index = buildIndex(vectors, chunks.map((c) => c.chunk_id), { factory: options.factory ?? DEFAULT_FACTORY, embedder });
  saveChunkIndex(index, options.out, chunks, options.chunksFile);
  return index.manifest;
}

/** The build's embedder: each distinct text embedded once (lib/embedders.ts), a progress bar per call under the current label. */
async function buildEmbedder(spec: string, ollamaHost: string | undefined) {
  let bar: ReturnType<typeof progressReporter> | undefined;
  let label = "embedding";
  const inner = await createEmbedder(spec, { ollamaHost, onProgress: (done, total) => bar?.onProgress(done, total) });
  const memo = memoizeEmbedder(inner, async (run) => {
    bar = progressReporter(label);
    const vectors = await run();
    bar.done();
    return vectors;
  });
  return Object.assign(memo, { label: (text: string) => (label = text) });
}

/** The main job: chunk -> index -> questions -> paraphrases -> checks -> environments -> report, into one folder. */
export async function buildDataset(options: BuildOptions): Promise<BuildRecord> {
  const out = options.out;
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const seconds: Record<string, number> = {};
  const stage = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    options.signal?.throwIfAborted();
    const started = Date.now();
    const result = await run();
    // Coverage rounds run the paraphrase and check stages again: their time adds up under the same names.
    seconds[name] = (seconds[name] ?? 0) + (Date.now() - started) / 1000;
    return result;
  };
  // Checked before any work: a bad style, factory or corpus fails in a second, not after the index is built.
  const styles = resolveStyles(options.styles, options.stylesFile);
  assertFactory(options.factory ?? DEFAULT_FACTORY);
  checkChunkOptions({ chunkSize: options.chunkSize, chunkOverlap: options.chunkOverlap });
  const skippedLinks: SkippedLink[] = [];
  const documents = loadCorpus(options.corpus, { onSkip: (link) => skippedLinks.push(link) });
  if (skippedLinks.length) log(`corpus: ${describeSkipped(skippedLinks)}: ${skippedLinks.map((s) => `${s.source} (${s.reason})`).join(", ")}`);
  const release = acquireLock(out, "--out", log);
  removeStaleTemps(out);
  const cache = openCache(path.join(out, "cache", "llm.jsonl"));
  let generator: Generator | undefined;
  let judge: Judge | undefined;
  let embedder: Awaited<ReturnType<typeof buildEmbedder>> | undefined;
  try {
    generator = await createGenerator(options.llm ?? DEFAULT_GENERATOR, { ollamaHost: options.ollamaHost, model: options.model, concurrency: options.concurrency, timeoutMs: options.requestTimeoutMs, onNotice: log });
    // Judge answers share the dataset's cache, so a re-run resumes them as it resumes generation.
    judge = await createJudge(options.judge ?? DEFAULT_JUDGE, { ollamaHost: options.ollamaHost, generator, wrap: (g) => withCache(g, cache), onNotice: log });
    embedder = await buildEmbedder(options.embedder ?? DEFAULT_EMBEDDER, options.ollamaHost);
    return await runStages(generator, judge, embedder);
  } finally {
    await judge?.close();
    await generator?.close();
    await embedder?.close?.();
    cache.close();
    // An empty cache (a build that failed before any answer) is not worth leaving behind.
    if (!cache.size) fs.rmSync(path.dirname(cache.file), { recursive: true, force: true });
    release();
  }

  // The stages, in order; a function so the setup above can close everything whatever happens here.
  async function runStages(generator: Generator, judge: Judge | undefined, embedder: Awaited<ReturnType<typeof buildEmbedder>>): Promise<BuildRecord> {
    const llm = withCache(generator, cache);
    const file = (name: string) => path.join(out, name);
    const chunks: Chunk[] = await stage("chunk", async () => {
      const c = chunkDocuments(documents, { chunkSize: options.chunkSize, chunkOverlap: options.chunkOverlap });
      writeChunks(file("chunks.jsonl"), c);
      return c;
    });
    const chunksFile = file("chunks.jsonl");
    await stage("index", () => {
      embedder.label("embedding chunks");
      return embedAndIndex(embedder, chunks, { out: file("faiss_index"), chunksFile, factory: options.factory });
    });

    const questions = await stage("questions", async () => {
      const bar = progressReporter("questions");
      const singles = await generateQuestions(chunks, llm, {
        perChunk: options.questionsPerChunk,
        retries: options.retries,
        seed: options.seed,
        signal: options.signal,
        onProgress: bar.onProgress,
      });
      bar.done();
      const hops = options.multiHop ? progressReporter("multi-hop questions") : undefined;
      const rows = await withMultiHop(chunks, singles, llm, { perChunk: options.multiHop ?? 0, retries: options.retries, seed: options.seed, signal: options.signal, onProgress: hops?.onProgress });
      hops?.done();
      writeJsonlAtomic(file("questions.jsonl"), rows);
      writeFileAtomic(file("questions.json"), JSON.stringify(seedFormat(rows), null, 2) + "\n");
      return rows;
    });

    const paraphraseOptions = { styles, perStyle: options.paraphrasesPerStyle, byParagraph: options.byParagraph, retries: options.retries, seed: options.seed, signal: options.signal };
    const paraphrases: Paraphrase[] = [];
    const failures: ParaphraseFailure[] = [];
    const perStyle = options.paraphrasesPerStyle ?? 1;
    const paraphraseRound = async (targets: readonly Chunk[], round: number, style?: Style) => {
      const bar = progressReporter(round ? `paraphrases, round ${round + 1}` : "paraphrases");
      // Later rounds ask for one whole-chunk paraphrase in one style: only whole chunks stand in for a chunk in
      // the paraphrased environment. Round r's variant comes after round 0's `perStyle` ones (0 .. perStyle - 1)
      // and the earlier rounds': generateParaphrases numbers a round's variants from round * perStyle.
      const later = style ? { styles: [style], perStyle: 1, byParagraph: false, round: perStyle + round - 1 } : {};
      const result = await generateParaphrases(targets, llm, { ...paraphraseOptions, ...later, onProgress: bar.onProgress });
      bar.done();
      paraphrases.push(...result.paraphrases);
      failures.push(...result.failures);
      return result.paraphrases;
    };
    await stage("paraphrases", () => paraphraseRound(chunks, 0));

    const byId = new Map(chunks.map((c) => [c.chunk_id, c]));
    const checks: Check[] = [];
    const originals: string[] = [];
    const checked: CheckedParaphrase[] = [];
    const checkRows = async (rows: readonly Paraphrase[]) => {
      const texts = rows.map((p) => paraphraseOriginal(p, byId));
      embedder.label("embedding for the checks");
      const results = await checkParaphrases(rows.map((p, i) => ({ original: texts[i], paraphrase: p.text })), { embedder, judge, signal: options.signal });
      checks.push(...results);
      originals.push(...texts);
      // The judged text has any preamble ("Here is a rewrite:") stripped; that is the text kept.
      checked.push(...rows.map((p, i) => ({ ...p, text: results[i].text, verdict: results[i].verdict, reasons: results[i].reasons })));
    };
    await stage("checks", () => checkRows(paraphrases));

    // Chunks with no kept whole-chunk paraphrase get further rounds, so the paraphrased environment shows
    // as few original texts as the generator allows. A round asks each such chunk for one paraphrase in the
    // style with the largest share kept so far (not every style again: with the builtin generator a round of
    // every style cost more than the checks of round 0, and most of what it gained came from one style).
    // A chunk for which the round before gave no paraphrase at all (every try empty or unchanged, as for a
    // code block) is not asked again.
    const rounds = options.coverageRounds ?? DEFAULT_COVERAGE_ROUNDS;
    const coverageRounds: CoverageRound[] = [];
    const keptChunks = () => new Set(checked.filter((p) => isKept(p) && p.paragraph_index === null).map((p) => p.chunk_id));
    let answered = new Set(paraphrases.map((p) => p.chunk_id));
    for (let round = 1; round <= rounds; round++) {
      const covered = keptChunks();
      const uncovered = chunks.filter((c) => !covered.has(c.chunk_id) && answered.has(c.chunk_id));
      if (!uncovered.length) break;
      const style = mostKept(styles, checked, failures);
      const before = { paraphrases: seconds.paraphrases, checks: seconds.checks };
      const more = await stage("paraphrases", () => paraphraseRound(uncovered, round, style));
      await stage("checks", () => checkRows(more));
      answered = new Set(more.map((p) => p.chunk_id));
      coverageRounds.push({
        round,
        style: style.name,
        asked: uncovered.length,
        newly_covered: keptChunks().size - covered.size,
        seconds: { paraphrases: seconds.paraphrases - before.paraphrases, checks: seconds.checks - before.checks },
      });
    }
    writeJsonlAtomic(file("paraphrases.jsonl"), checked);
    // Generation and judging are over: a judge's model and the generator's connections go before the environments
    // and the evaluation, which hold the most.
    await judge?.close();
    await generator.close();

    const environments: BuildRecord["environments"] = {};
    await stage("environments", async () => {
      for (const mode of MODES) {
        embedder.label(`embedding the ${mode} environment`);
        const m = await writeEnvironment(envDir(out, mode), mode, chunks, checked, { embedder, factory: options.factory });
        environments[mode] = { rows: m.rows, ...m.coverage };
      }
      // The single paraphrase index of kit 0.1, replaced by env/paraphrased and env/merged.
      fs.rmSync(file("faiss_index_paraphrased"), { recursive: true, force: true });
    });

    // The baselines a trained agent should beat, and each question's measured difficulty, for the report.
    // (None without an accepted single-chunk question: the report then says what is missing.)
    const accepted = questions.filter((q) => q.status === "accepted");
    const evaluation: RetrievalEvaluation | undefined = !accepted.some((q) => q.kind !== "multi-hop")
      ? undefined
      : await stage("evaluation", async () => {
          embedder.label("embedding the evaluation's queries");
          const bar = progressReporter("evaluation");
          const result = await evaluateRetrieval({ dataset: out, sample: options.evaluationSample ?? DEFAULT_EVALUATION_SAMPLE, embedder, onProgress: bar.onProgress });
          bar.done();
          return result;
        });
    const measuredDifficulty: Record<string, number> = { easy: 0, medium: 0, hard: 0 };
    for (const rank of await stage("evaluation", () => goldRanksIn(out, "paraphrased", accepted))) measuredDifficulty[bucketOf(rank)]++;

    const failuresByReason: Record<string, number> = {};
    const count = (reason: string) => (failuresByReason[reason] = (failuresByReason[reason] ?? 0) + 1);
    for (const q of questions) if (q.status !== "accepted") count(reasonLabel(q));
    for (const f of failures) count(`paraphrase failed: ${f.reason}`);
    const record: BuildRecord = {
      kit_version: KIT_VERSION,
      corpus: options.corpus,
      parameters: {
        chunk_size: options.chunkSize ?? DEFAULT_CHUNK_SIZE,
        chunk_overlap: options.chunkOverlap ?? DEFAULT_CHUNK_OVERLAP,
        embedder: options.embedder ?? DEFAULT_EMBEDDER,
        factory: options.factory ?? DEFAULT_FACTORY,
        llm: options.llm ?? DEFAULT_GENERATOR,
        judge: options.judge ?? DEFAULT_JUDGE,
        request_timeout_s: (options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000,
        questions_per_chunk: options.questionsPerChunk ?? 2,
        multi_hop: options.multiHop ?? 0,
        styles: styles.map((s) => s.name),
        paraphrases_per_style: options.paraphrasesPerStyle ?? 1,
        by_paragraph: options.byParagraph ?? false,
        coverage_rounds: rounds,
        evaluation_sample: options.evaluationSample ?? DEFAULT_EVALUATION_SAMPLE,
        thresholds: DEFAULT_THRESHOLDS,
        seed: options.seed ?? 42,
      },
      generator: { spec: generator.spec, model: generator.model, backend: generator.backend },
      judge: judge?.spec ?? "rules",
      counts: {
        chunks: chunks.length,
        symlinks_skipped: skippedLinks.length,
        questions_accepted: questions.filter((q) => q.status === "accepted").length,
        questions_multi_hop: questions.filter((q) => q.status === "accepted" && q.kind === "multi-hop").length,
        questions_rejected: questions.filter((q) => q.status === "rejected").length,
        question_prompts_failed: questions.filter((q) => q.status === "failed").length,
        paraphrases: paraphrases.length,
        paraphrases_failed: failures.length,
        ...Object.fromEntries(VERDICTS.map((v) => [`paraphrases_${v}`, checks.filter((c) => c.verdict === v).length])),
        paraphrases_kept: checked.filter(isKept).length,
        chunks_paraphrased: environments.paraphrased.by_paraphrase,
      },
      failures: failuresByReason,
      llm_requests: {
        answered_from_cache: llm.hits,
        sent: llm.misses,
        failed: Object.values(llm.failed).reduce((a, b) => a + b, 0),
        failed_by_reason: { ...llm.failed },
        rejected: llm.rejected,
      },
      environments,
      ...(evaluation && { evaluation: { sample: evaluation.questions.original.queries, best: evaluation.best } }),
      measured_difficulty: measuredDifficulty,
      seconds,
      coverage_rounds: coverageRounds,
    };
    await stage("report", async () => {
      const html = await qualityReport({
        title: `Quality report: ${path.basename(out)}`,
        generator: generator.spec,
        judge: record.judge,
        embedder: embedder.spec,
        parameters: record.parameters,
        dataset: out,
        evaluation,
        measuredDifficulty,
        chunks,
        questions,
        paraphrases: checked,
        checks,
        originals,
        environments,
      });
      writeFileAtomic(file("report.html"), html);
    });
    writeFileAtomic(file("build.json"), JSON.stringify(record, null, 2) + "\n");
    return record;
  }
}
