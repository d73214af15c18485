import * as fs from "node:fs";
import * as path from "node:path";
import { version as KIT_VERSION } from "../../package.json";
import { openCache, type RequestCache, withCache } from "../cache";
import { type Chunk, checkChunkOptions, chunkDocuments, DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE } from "../chunking";
import { describeSkipped, loadCorpus, type SkippedLink } from "../corpus";
import { createEmbedder, DEFAULT_EMBEDDER, type Embedder, memoizeEmbedder } from "../embedders";
import { type EnvManifest, envDir, MODES, writeEnvironment } from "../environment";
import { evaluateRetrieval, type RetrievalEvaluation } from "../evaluate";
import { bucketOf, goldRanksIn } from "../export/difficulty";
import { acquireLock, removeStaleTemps, writeFileAtomic, writeJsonlAtomic } from "../files";
import { createGenerator, DEFAULT_GENERATOR, DEFAULT_TIMEOUT_MS, type Generator } from "../generators";
import { withMultiHop } from "../multihop";
import { type CheckedParaphrase, generateParaphrases, isKept, type Paraphrase, type ParaphraseFailure, resolveStyles, type Style } from "../paraphrase";
import { progressReporter } from "../progress";
import { type Check, checkParaphrases, corpusSubject, DEFAULT_THRESHOLDS, type PairInput, paraphraseOriginal, VERDICTS } from "../quality";
import type { Judge } from "../quality/claims";
import { createJudge, DEFAULT_JUDGE } from "../quality/judge";
import { saveChunkIndex, writeChunks } from "../langchain";
import { generateQuestions, reasonLabel, seedFormat } from "../questions";
import { questionCounts, qualityReport } from "../report";
import { easiestBaseline, verdictOf } from "../verdict";
import { assertFactory, buildIndex, DEFAULT_FACTORY } from "../vector-index";
import { type BuildStamp, digestFiles, digestOf, newBuildId, reusable } from "./identity";
import type { BuildRecord, BuildState, CoverageRound } from "./record";

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
  /** Most time one LLM or embedding request may take before it is cancelled and retried; default 300 s, at most an hour. */
  requestTimeoutMs?: number;
  /** Most bytes one LLM answer may have; a longer one is cut off and its request fails. Default 1 MiB. */
  maxAnswerBytes?: number;
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

/**
 * How far below its chunk's best copy score so far a builtin paraphrase of a later round may come: a round's variant
 * reads much like the earlier ones, and over four rounds on Apollo (the dev corpus; rules-only simulation) none came
 * more than 0.062 below, and every chunk a round covered had a best copy score under 0.78.
 */
export const BUILTIN_COPY_MARGIN = 0.07;

/**
 * Chunks whose best whole-chunk copy score so far is BUILTIN_COPY_MARGIN or more above the copy limit: another
 * round would give them one more copy, so the coverage rounds do not ask them (measured with the builtin generator;
 * with an LLM it is a judgement, not a measurement).
 */
export function cannotGain(checked: readonly CheckedParaphrase[], checks: readonly Check[]): Set<string> {
  const best = new Map<string, number>();
  checked.forEach((p, i) => {
    if (p.paragraph_index === null) best.set(p.chunk_id, Math.min(best.get(p.chunk_id) ?? Infinity, checks[i].scores.copy));
  });
  return new Set([...best].filter(([, copy]) => copy >= DEFAULT_THRESHOLDS.copy + BUILTIN_COPY_MARGIN).map(([id]) => id));
}

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
export async function embedAndIndex(embedder: Embedder, chunks: readonly Chunk[], options: { out: string; chunksFile: string; factory?: string; stamp?: BuildStamp }) {
  const vectors = await embedder.embed(chunks.map((c) => c.text), "passage");
  const index = buildIndex(vectors, chunks.map((c) => c.chunk_id), { factory: options.factory ?? DEFAULT_FACTORY, embedder });
  saveChunkIndex(index, options.out, chunks, options.chunksFile, options.stamp);
  return index.manifest;
}

/**
 * The checks of `pairs`, each read from `cache` when the same pair was checked with the same settings (`settings`,
 * a hash of the thresholds, embedder, judge and corpus subject) and checked by `check` otherwise, in one batch.
 */
async function cachedChecks(pairs: readonly PairInput[], check: (pairs: PairInput[]) => Promise<Check[]>, cache: RequestCache, settings: string): Promise<Check[]> {
  const keys = pairs.map((pair) => digestOf(settings, pair.original, pair.paraphrase));
  const results = keys.map((key) => cache.get(key));
  const missing = pairs.flatMap((pair, i) => (results[i] === undefined ? [i] : []));
  const fresh = missing.length ? await check(missing.map((i) => pairs[i])) : [];
  missing.forEach((at, i) => {
    results[at] = JSON.stringify(fresh[i]);
    cache.put(keys[at], results[at]!);
  });
  return results.map((json) => JSON.parse(json!) as Check);
}

/** The build's embedder: each distinct text embedded once (lib/embedders.ts), a progress bar per call under the current label. */
async function buildEmbedder(spec: string, ollamaHost: string | undefined, timeoutMs: number | undefined) {
  let bar: ReturnType<typeof progressReporter> | undefined;
  let label = "embedding";
  const inner = await createEmbedder(spec, { ollamaHost, timeoutMs, onProgress: (done, total) => bar?.onProgress(done, total) });
  const memo = memoizeEmbedder(inner, async (run) => {
    bar = progressReporter(label);
    const vectors = await run();
    bar.done();
    return vectors;
  });
  return Object.assign(memo, { label: (text: string) => (label = text) });
}

/** The kit command that runs this build: what an unfinished or stale dataset's errors tell the user to run. */
export function buildCommand(options: BuildOptions): string {
  const flags: [string, unknown][] = [
    ["corpus", options.corpus],
    ["out", options.out],
    ["llm", options.llm],
    ["model", options.model],
    ["judge", options.judge],
    ["ollama-host", options.ollamaHost],
    ["concurrency", options.concurrency],
    ["request-timeout", options.requestTimeoutMs && options.requestTimeoutMs / 1000],
    ["max-answer-bytes", options.maxAnswerBytes],
    ["questions-per-chunk", options.questionsPerChunk],
    ["multi-hop", options.multiHop],
    ["retries", options.retries],
    ["styles", options.styles?.join(",")],
    ["styles-file", options.stylesFile],
    ["paraphrases-per-style", options.paraphrasesPerStyle],
    ["coverage-rounds", options.coverageRounds],
    ["eval-sample", options.evaluationSample],
    ["embedder", options.embedder],
    ["factory", options.factory],
    ["chunk-size", options.chunkSize],
    ["chunk-overlap", options.chunkOverlap],
    ["seed", options.seed],
  ];
  const quote = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);
  const given = flags.filter(([, value]) => value !== undefined).map(([flag, value]) => `--${flag} ${quote(String(value))}`);
  return ["kit build", ...given, ...(options.byParagraph ? ["--by-paragraph"] : [])].join(" ");
}

/** build.json as a previous run left it, if it is one (a record, or the state of an unfinished build). */
function previousState(file: string): Partial<BuildRecord> | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

/** What the build writes into its folder: a later run removes their stale temp files, and nothing else. */
const OUTPUTS = ["chunks.jsonl", "chunks.pkl", "faiss_index", "questions.jsonl", "questions.json", "paraphrases.jsonl", ...MODES.map((m) => `env/${m}`), "eval.json", "report.html", "build.json"];

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
  removeStaleTemps(out, OUTPUTS);
  const cache = openCache(path.join(out, "cache", "llm.jsonl"));
  // Check results by pair and settings: a re-run, or a build whose paraphrases are mostly the same, checks only new pairs.
  const checkCache = openCache(path.join(out, "cache", "checks.jsonl"));
  let generator: Generator | undefined;
  let judge: Judge | undefined;
  let embedder: Awaited<ReturnType<typeof buildEmbedder>> | undefined;
  try {
    const client = { concurrency: options.concurrency, timeoutMs: options.requestTimeoutMs, maxAnswerBytes: options.maxAnswerBytes };
    generator = await createGenerator(options.llm ?? DEFAULT_GENERATOR, { ...client, ollamaHost: options.ollamaHost, model: options.model, onNotice: log });
    // Judge answers share the dataset's cache, so a re-run resumes them as it resumes generation.
    judge = await createJudge(options.judge ?? DEFAULT_JUDGE, { ollamaHost: options.ollamaHost, client, generator, wrap: (g) => withCache(g, cache), onNotice: log });
    embedder = await buildEmbedder(options.embedder ?? DEFAULT_EMBEDDER, options.ollamaHost, options.requestTimeoutMs);
    return await runStages(generator, judge, embedder);
  } finally {
    await judge?.close();
    await generator?.close();
    await embedder?.close?.();
    cache.close();
    checkCache.close();
    // An empty cache (a build that failed before any answer) is not worth leaving behind.
    if (!cache.size && !checkCache.size) fs.rmSync(path.dirname(cache.file), { recursive: true, force: true });
    release();
  }

  // The stages, in order; a function so the setup above can close everything whatever happens here.
  async function runStages(generator: Generator, judge: Judge | undefined, embedder: Awaited<ReturnType<typeof buildEmbedder>>): Promise<BuildRecord> {
    const llm = withCache(generator, cache);
    const file = (name: string) => path.join(out, name);
    const parameters = {
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
      coverage_rounds: options.coverageRounds ?? DEFAULT_COVERAGE_ROUNDS,
      evaluation_sample: options.evaluationSample ?? DEFAULT_EVALUATION_SAMPLE,
      thresholds: DEFAULT_THRESHOLDS,
      seed: options.seed ?? 42,
    };

    // The build's identity. The same inputs as the build.json found here (a resumed or repeated build) keep its id,
    // so the files come out byte for byte the same; build.json says "running" until the last stage is done, and
    // readers of the dataset refuse it until then.
    const previous = previousState(file("build.json"));
    const inputs = digestOf(KIT_VERSION, documents, parameters, generator.spec, judge?.spec ?? "rules");
    const stamp: BuildStamp = { id: previous?.build?.inputs === inputs ? previous.build.id : newBuildId(), inputs };
    const state: BuildState = {
      kit_version: KIT_VERSION,
      corpus: options.corpus,
      build: { ...stamp, status: "running" },
      command: buildCommand(options),
      stages: {},
    };
    const saveState = () => writeFileAtomic(file("build.json"), JSON.stringify(state, null, 2) + "\n");
    saveState();
    /** Records a stage's inputs and files; returns the digest of its first file (what later stages' inputs hash). */
    const done = (name: string, stageInputs: string, files: readonly string[]) => {
      state.stages[name] = { inputs: stageInputs, files: digestFiles(out, files) };
      saveState();
      return Object.values(state.stages[name].files)[0];
    };
    /** A stage the previous run finished with these inputs, its files untouched since: kept as it is. */
    const reuse = (name: string, stageInputs: string): boolean => {
      const before = previous?.stages?.[name];
      if (!reusable(out, before, stageInputs)) return false;
      state.stages[name] = before;
      saveState();
      return true;
    };

    const chunks: Chunk[] = await stage("chunk", async () => {
      const c = chunkDocuments(documents, { chunkSize: options.chunkSize, chunkOverlap: options.chunkOverlap });
      writeChunks(file("chunks.jsonl"), c);
      return c;
    });
    const chunksFile = file("chunks.jsonl");
    const chunksDigest = done("chunk", digestOf(documents, parameters.chunk_size, parameters.chunk_overlap), ["chunks.jsonl", "chunks.pkl"]);
    await stage("index", async () => {
      const indexInputs = digestOf(chunksDigest, embedder.spec, parameters.factory);
      if (reuse("index", indexInputs)) return;
      embedder.label("embedding chunks");
      await embedAndIndex(embedder, chunks, { out: file("faiss_index"), chunksFile, factory: options.factory, stamp: { id: stamp.id, inputs: indexInputs } });
      done("index", indexInputs, ["faiss_index"]);
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
    const questionsDigest = done("questions", digestOf(chunksDigest, generator.spec, parameters.questions_per_chunk, parameters.multi_hop, parameters.seed), ["questions.jsonl", "questions.json"]);

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
      const results = await cachedChecks(
        rows.map((p, i) => ({ original: texts[i], paraphrase: p.text })),
        (pairs) => checkParaphrases(pairs, { embedder, judge, subject: corpusSubject(options.corpus, documents), signal: options.signal }),
        checkCache,
        digestOf(KIT_VERSION, DEFAULT_THRESHOLDS, embedder.spec, judge?.spec ?? "rules", corpusSubject(options.corpus, documents)),
      );
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
    // code block) is not asked again; nor one that cannot pass the copy rule (cannotGain).
    const rounds = parameters.coverage_rounds;
    const coverageRounds: CoverageRound[] = [];
    const keptChunks = () => new Set(checked.filter((p) => isKept(p) && p.paragraph_index === null).map((p) => p.chunk_id));
    let answered = new Set(paraphrases.map((p) => p.chunk_id));
    for (let round = 1; round <= rounds; round++) {
      const covered = keptChunks();
      const left = chunks.filter((c) => !covered.has(c.chunk_id) && answered.has(c.chunk_id));
      // Tuned on the builtin's rounds. For any generator, a chunk whose every paraphrase so far kept that much of
      // it is one it does not reword (tables, code, name lists), and the builtin and a model answering as it take one path.
      const hopeless = cannotGain(checked, checks);
      const uncovered = left.filter((c) => !hopeless.has(c.chunk_id));
      if (!uncovered.length) break;
      const style = mostKept(styles, checked, failures);
      const before = { paraphrases: seconds.paraphrases, checks: seconds.checks };
      const more = await stage("paraphrases", () => paraphraseRound(uncovered, round, style));
      await stage("checks", () => checkRows(more));
      // A skipped chunk stays a candidate: each round counts it as skipped again.
      answered = new Set([...more.map((p) => p.chunk_id), ...left.filter((c) => hopeless.has(c.chunk_id)).map((c) => c.chunk_id)]);
      coverageRounds.push({
        round,
        style: style.name,
        asked: uncovered.length,
        skipped: left.length - uncovered.length,
        newly_covered: keptChunks().size - covered.size,
        seconds: { paraphrases: seconds.paraphrases - before.paraphrases, checks: seconds.checks - before.checks },
      });
    }
    writeJsonlAtomic(file("paraphrases.jsonl"), checked);
    const paraphrasesDigest = done("paraphrases", digestOf(chunksDigest, generator.spec, judge?.spec ?? "rules", parameters), ["paraphrases.jsonl"]);
    // Generation and judging are over: a judge's model and the generator's connections go before the environments
    // and the evaluation, which hold the most.
    await judge?.close();
    await generator.close();

    const environments: BuildRecord["environments"] = {};
    await stage("environments", async () => {
      for (const mode of MODES) {
        const name = `env/${mode}`;
        const envInputs = digestOf(mode, chunksDigest, paraphrasesDigest, embedder.spec, parameters.factory);
        if (!reuse(name, envInputs)) {
          embedder.label(`embedding the ${mode} environment`);
          await writeEnvironment(envDir(out, mode), mode, chunks, checked, { embedder, factory: options.factory, stamp: { id: stamp.id, inputs: envInputs } });
          done(name, envInputs, [name]);
        }
        const m = JSON.parse(fs.readFileSync(path.join(envDir(out, mode), "manifest.json"), "utf8")) as EnvManifest;
        environments[mode] = { rows: m.rows, ...m.coverage };
      }
      // The single paraphrase index of kit 0.1, replaced by env/paraphrased and env/merged; only ever a kit index folder.
      if (fs.existsSync(file("faiss_index_paraphrased/manifest.json")) && fs.existsSync(file("faiss_index_paraphrased/index.faiss"))) {
        fs.rmSync(file("faiss_index_paraphrased"), { recursive: true, force: true });
      }
    });

    // The baselines a trained agent should beat, and each question's measured difficulty, for the report.
    // (None without an accepted single-chunk question: the report then says what is missing.) Both are kept from
    // the run before when the environments and the questions are the same.
    const accepted = questions.filter((q) => q.status === "accepted");
    const evaluationInputs = digestOf(
      MODES.map((mode) => state.stages[`env/${mode}`].inputs),
      questionsDigest,
      parameters.evaluation_sample,
      embedder.spec,
    );
    const reused = reuse("evaluation", evaluationInputs) && previous?.measured_difficulty;
    let evaluation: RetrievalEvaluation | undefined;
    const measuredDifficulty: Record<string, number> = reused ? { ...previous.measured_difficulty } : { easy: 0, medium: 0, hard: 0 };
    if (reused) {
      evaluation = fs.existsSync(file("eval.json")) ? (JSON.parse(fs.readFileSync(file("eval.json"), "utf8")) as RetrievalEvaluation) : undefined;
    } else {
      if (accepted.some((q) => q.kind !== "multi-hop")) {
        evaluation = await stage("evaluation", async () => {
          embedder.label("embedding the evaluation's queries");
          const bar = progressReporter("evaluation");
          const result = await evaluateRetrieval({ dataset: out, sample: parameters.evaluation_sample, embedder, onProgress: bar.onProgress, ownBuild: true });
          bar.done();
          return result;
        });
      } else fs.rmSync(file("eval.json"), { force: true });
      for (const rank of await stage("evaluation", () => goldRanksIn(out, "paraphrased", accepted))) measuredDifficulty[bucketOf(rank)]++;
      done("evaluation", evaluationInputs, evaluation ? ["eval.json"] : []);
    }

    const failuresByReason: Record<string, number> = {};
    const count = (reason: string) => (failuresByReason[reason] = (failuresByReason[reason] ?? 0) + 1);
    for (const q of questions) if (q.status !== "accepted") count(reasonLabel(q));
    for (const f of failures) count(`paraphrase failed: ${f.reason}`);
    const record: BuildRecord = {
      ...state,
      parameters,
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
        ...questionCounts(chunks, questions),
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
      ...(evaluation && { evaluation: { sample: evaluation.questions.original.queries, best: evaluation.best, easiest: easiestBaseline(evaluation.questions) } }),
      measured_difficulty: measuredDifficulty,
      seconds,
      coverage_rounds: coverageRounds,
    };
    const verdict = (record.verdict = verdictOf(record));
    await stage("report", async () => {
      const html = await qualityReport({
        title: `Quality report: ${path.basename(out)}`,
        generator: generator.spec,
        judge: record.judge,
        embedder: embedder.spec,
        parameters: record.parameters,
        dataset: out,
        verdict,
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
    done("report", evaluationInputs, ["report.html"]);
    const finished: BuildRecord = { ...record, build: { ...state.build, status: "finished" }, stages: state.stages };
    writeFileAtomic(file("build.json"), JSON.stringify(finished, null, 2) + "\n");
    return finished;
  }
}
