import * as fs from "node:fs";
import * as path from "node:path";
import { version as KIT_VERSION } from "../package.json";
import { openCache, withCache } from "./cache";
import { type Chunk, chunkDocuments, DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE } from "./chunking";
import { loadCorpus } from "./corpus";
import { createEmbedder, DEFAULT_EMBEDDER, type Embedder } from "./embedders";
import type { CheckedParaphrase } from "./export";
import { toJsonl, writeFileAtomic } from "./files";
import { createGenerator, DEFAULT_GENERATOR } from "./generators";
import { generateParaphrases, resolveStyles } from "./paraphrase";
import { progressReporter } from "./progress";
import { checkParaphrases, paraphraseOriginal, VERDICTS } from "./quality";
import { generateQuestions, seedFormat } from "./questions";
import { qualityReport } from "./report";
import { buildIndex, DEFAULT_FACTORY, saveIndex } from "./vector-index";

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
  concurrency?: number;
  questionsPerChunk?: number;
  retries?: number;
  styles?: string[];
  stylesFile?: string;
  paraphrasesPerStyle?: number;
  byParagraph?: boolean;
  seed?: number;
  /** Index every paraphrase, not only those the checks judge faithful. */
  indexAllParaphrases?: boolean;
  /** Where notices go (default stderr); progress bars go to stderr. */
  log?: (line: string) => void;
  /** Stops the LLM stages, and any stage not yet started. */
  signal?: AbortSignal;
}

/** What build.json records, and `kit build` summarises. */
export interface BuildRecord {
  kit_version: string;
  corpus: string;
  parameters: Record<string, unknown>;
  generator: { spec: string; model: string; backend: string };
  counts: Record<string, number>;
  failures: Record<string, number>;
  llm_requests: { answered_from_cache: number; sent: number };
  seconds: Record<string, number>;
}

/** Embeds texts and writes a FAISS index folder whose rows map to `ids`. */
export async function embedAndIndex(
  embedder: Embedder,
  texts: string[],
  ids: string[],
  options: { out: string; chunksFile: string; factory?: string },
) {
  const vectors = await embedder.embed(texts, "passage");
  const index = buildIndex(vectors, ids, { factory: options.factory ?? DEFAULT_FACTORY, embedder: embedder.spec });
  saveIndex(index, options.out, { chunks: path.relative(options.out, options.chunksFile) });
  return index.manifest;
}

/**
 * An embedder that embeds each distinct text once per process and shows a progress bar per call:
 * the build embeds chunks for the index, originals and paraphrases for the checks, and the kept
 * paraphrases for their index, and should pay for each text only once.
 */
async function memoEmbedder(spec: string, ollamaHost: string | undefined) {
  let bar: ReturnType<typeof progressReporter> | undefined;
  const inner = await createEmbedder(spec, { ollamaHost, onProgress: (done, total) => bar?.onProgress(done, total) });
  const known = new Map<string, Float32Array>();
  let label = "embedding";
  const embedder: Embedder & { label(text: string): void } = {
    spec: inner.spec,
    dimension: inner.dimension,
    label: (text) => (label = text),
    async embed(texts, role = "passage") {
      const key = (t: string) => `${role}\u0000${t}`;
      const missing = [...new Set(texts.filter((t) => !known.has(key(t))))];
      if (missing.length) {
        bar = progressReporter(label);
        const vectors = await inner.embed(missing, role);
        bar.done();
        missing.forEach((t, i) => known.set(key(t), vectors[i]));
      }
      return texts.map((t) => known.get(key(t))!);
    },
    close: async () => inner.close?.(),
  };
  return embedder;
}

/** The main job: chunk -> index -> questions -> paraphrases -> paraphrase index, into one folder. */
export async function buildDataset(options: BuildOptions): Promise<BuildRecord> {
  const out = options.out;
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const seconds: Record<string, number> = {};
  const stage = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    options.signal?.throwIfAborted();
    const started = Date.now();
    const result = await run();
    seconds[name] = (Date.now() - started) / 1000;
    return result;
  };
  // Checked before any work: a bad style or spec fails in a second, not after the index is built.
  const styles = resolveStyles(options.styles, options.stylesFile);
  const generator = await createGenerator(options.llm ?? DEFAULT_GENERATOR, {
    ollamaHost: options.ollamaHost,
    model: options.model,
    concurrency: options.concurrency,
    onNotice: log,
  });
  const embedder = await memoEmbedder(options.embedder ?? DEFAULT_EMBEDDER, options.ollamaHost);
  const cache = openCache(path.join(out, "cache", "llm.jsonl"));
  const llm = withCache(generator, cache);
  const file = (name: string) => path.join(out, name);
  try {
    const chunks: Chunk[] = await stage("chunk", async () => {
      const c = chunkDocuments(loadCorpus(options.corpus), { chunkSize: options.chunkSize, chunkOverlap: options.chunkOverlap });
      writeFileAtomic(file("chunks.jsonl"), toJsonl(c));
      return c;
    });
    const chunksFile = file("chunks.jsonl");
    await stage("index", () => {
      embedder.label("embedding chunks");
      return embedAndIndex(embedder, chunks.map((c) => c.text), chunks.map((c) => c.chunk_id), { out: file("faiss_index"), chunksFile, factory: options.factory });
    });

    const questions = await stage("questions", async () => {
      const bar = progressReporter("questions");
      const rows = await generateQuestions(chunks, llm, {
        perChunk: options.questionsPerChunk,
        retries: options.retries,
        seed: options.seed,
        signal: options.signal,
        onProgress: bar.onProgress,
      });
      bar.done();
      writeFileAtomic(file("questions.jsonl"), toJsonl(rows));
      writeFileAtomic(file("questions.json"), JSON.stringify(seedFormat(rows), null, 2) + "\n");
      return rows;
    });

    const { paraphrases, failures } = await stage("paraphrases", async () => {
      const bar = progressReporter("paraphrases");
      const result = await generateParaphrases(chunks, llm, {
        styles,
        perStyle: options.paraphrasesPerStyle,
        byParagraph: options.byParagraph,
        retries: options.retries,
        seed: options.seed,
        signal: options.signal,
        onProgress: bar.onProgress,
      });
      bar.done();
      return result;
    });

    const { checked, checks, originals } = await stage("checks", async () => {
      const byId = new Map(chunks.map((c) => [c.chunk_id, c]));
      const originals = paraphrases.map((p) => paraphraseOriginal(p, byId));
      embedder.label("embedding for the checks");
      const checks = await checkParaphrases(
        paraphrases.map((p, i) => ({ original: originals[i], paraphrase: p.text })),
        { embedder, signal: options.signal },
      );
      // The judged text has any preamble ("Here is a rewrite:") stripped; that is the text kept.
      const checked: CheckedParaphrase[] = paraphrases.map((p, i) => ({ ...p, text: checks[i].text, verdict: checks[i].verdict, reasons: checks[i].reasons }));
      writeFileAtomic(file("paraphrases.jsonl"), toJsonl(checked));
      return { checked, checks, originals };
    });

    const indexed = options.indexAllParaphrases ? checked : checked.filter((p) => p.verdict === "faithful");
    await stage("paraphrase_index", async () => {
      if (!indexed.length) {
        // An index left from an earlier run would no longer match paraphrases.jsonl.
        fs.rmSync(file("faiss_index_paraphrased"), { recursive: true, force: true });
        log("paraphrase index: no paraphrase was judged faithful, so none is written (--index-all-paraphrases indexes them all)");
        return;
      }
      embedder.label("embedding paraphrases");
      await embedAndIndex(embedder, indexed.map((p) => p.text), indexed.map((p) => p.chunk_id), { out: file("faiss_index_paraphrased"), chunksFile, factory: options.factory });
    });

    await stage("report", async () => {
      const html = await qualityReport({ title: `Quality report: ${path.basename(out)}`, generator: generator.spec, chunks, questions, paraphrases: checked, checks, originals });
      writeFileAtomic(file("report.html"), html);
    });

    const failuresByReason: Record<string, number> = {};
    const count = (reason: string) => (failuresByReason[reason] = (failuresByReason[reason] ?? 0) + 1);
    for (const q of questions) if (q.status !== "accepted") count(`question ${q.status}: ${q.reason?.replace(/chunk_\d+_q\d+/, "another question")}`);
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
        questions_per_chunk: options.questionsPerChunk ?? 2,
        styles: styles.map((s) => s.name),
        paraphrases_per_style: options.paraphrasesPerStyle ?? 1,
        by_paragraph: options.byParagraph ?? false,
        index_all_paraphrases: options.indexAllParaphrases ?? false,
        seed: options.seed ?? 42,
      },
      generator: { spec: generator.spec, model: generator.model, backend: generator.backend },
      counts: {
        chunks: chunks.length,
        questions_accepted: questions.filter((q) => q.status === "accepted").length,
        questions_rejected: questions.filter((q) => q.status === "rejected").length,
        question_prompts_failed: questions.filter((q) => q.status === "failed").length,
        paraphrases: paraphrases.length,
        paraphrases_failed: failures.length,
        ...Object.fromEntries(VERDICTS.map((v) => [`paraphrases_${v}`, checks.filter((c) => c.verdict === v).length])),
        paraphrases_indexed: indexed.length,
      },
      failures: failuresByReason,
      llm_requests: { answered_from_cache: llm.hits, sent: llm.misses },
      seconds,
    };
    writeFileAtomic(file("build.json"), JSON.stringify(record, null, 2) + "\n");
    return record;
  } finally {
    cache.close();
    await generator.close();
    await embedder.close?.();
  }
}
