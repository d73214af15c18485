import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { version as KIT_VERSION } from "../package.json";
import { type Chunk, chunkDocuments, DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE } from "./chunking";
import { describeSkipped, loadCorpus, type SkippedLink } from "./corpus";
import { buildDataset, DEFAULT_COVERAGE_ROUNDS, DEFAULT_EVALUATION_SAMPLE, embedAndIndex } from "./build";
import { writeChunks } from "./langchain";
import { readFinishedBuild } from "./build/finished";
import type { BuildRecord } from "./build/record";
import { assertMode, envDir, MODES } from "./environment";
import { createEmbedder, DEFAULT_EMBEDDER } from "./embedders";
import { clearEmbeddingCache, describeEmbeddingCache, formatClearedCache, formatEmbeddingCache } from "./embedding-cache";
import { nearest } from "./edit-distance";
import { KitError } from "./errors";
import { readJsonl, writeJsonlAtomic } from "./files";
import { DEFAULT_GENERATOR, DEFAULT_OLLAMA_MODEL, DEFAULT_TIMEOUT_MS, requestTimeoutMs, TRUNCATED } from "./generators";
import { DEFAULT_MAX_ANSWER_BYTES } from "./host-faults";
import { DEFAULT_STYLES } from "./paraphrase";
import { DEFAULT_KS, evaluateRetrieval, formatEvaluation, parseKs, parseRetrievers } from "./evaluate";
import { DEFAULT_DATA_SOURCE, exportDataset, formatExport } from "./export";
import { DEFAULT_BLOCK_CHUNKS } from "./export/split";
import { formatSeconds, progress, progressReporter } from "./progress";
import { checkPairsFile, VERDICTS } from "./quality";
import { createJudge, DEFAULT_JUDGE, JUDGE_SPECS, MINICHECK_MODEL } from "./quality/judge";
import { rulesLimits } from "./quality/claims";
import { openCache, withCache } from "./cache";
import { assertRetriever, DEFAULT_RETRIEVER, matchedPassage, openSearch, RETRIEVERS, type SearchResult } from "./search";
import { openEnvironments, singleEnvironment } from "./environments";
import { serveMcp } from "./mcp";
import { DEFAULT_HOST, DEFAULT_PORT, serve, SERVE_LIMITS, serveOnWorkers } from "./serve";
import { DEFAULT_FACTORY } from "./vector-index";
import { recordVerdict, tierWarning, verdictLines } from "./verdict";

interface Option {
  type: "string" | "boolean";
  help: string;
  /** Shown as the default in help; applied by the command itself. */
  default?: string;
}

interface Command {
  summary: string;
  usage: string;
  options: Record<string, Option>;
  /** Options the command cannot run without, all named at once when missing. */
  required?: string[];
  run(values: Record<string, string | boolean | undefined>): Promise<void>;
}

// Options several commands share, defined once so their help reads the same everywhere.
const OPTIONS = {
  corpus: { type: "string", help: "a .md file, or a folder of .md files" },
  chunkSize: { type: "string", help: "longest chunk in characters", default: String(DEFAULT_CHUNK_SIZE) },
  chunkOverlap: { type: "string", help: "characters shared by neighbouring chunks", default: String(DEFAULT_CHUNK_OVERLAP) },
  embedder: { type: "string", help: "use-lite | transformers:<model or folder> | ollama:<model>", default: DEFAULT_EMBEDDER },
  factory: { type: "string", help: "FAISS factory: Flat | HNSW32 | IVF<n>,Flat", default: DEFAULT_FACTORY },
  ollamaHost: { type: "string", help: "Ollama URL, or several comma-separated (else OLLAMA_HOST)" },
  requestTimeout: { type: "string", help: "seconds one LLM or Ollama embedding request may take before it is cancelled and retried (1 to 3600)", default: String(DEFAULT_TIMEOUT_MS / 1000) },
} satisfies Record<string, Option>;

const COMMANDS: Record<string, Command> = {
  build: {
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
  },

  chunk: {
    summary: "split a markdown corpus into chunks (chunks.jsonl, and chunks.pkl as AutoDidact pickles them)",
    usage: "kit chunk --corpus PATH --out DIR [--chunk-size N] [--chunk-overlap N]",
    required: ["corpus", "out"],
    options: {
      corpus: OPTIONS.corpus,
      out: { type: "string", help: "folder to write chunks.jsonl into" },
      "chunk-size": OPTIONS.chunkSize,
      "chunk-overlap": OPTIONS.chunkOverlap,
    },
    async run(v) {
      const started = Date.now();
      const skipped: SkippedLink[] = [];
      const docs = loadCorpus(required(v, "corpus"), { onSkip: (link) => skipped.push(link) });
      const chunks = chunkDocuments(docs, {
        chunkSize: integer(v, "chunk-size", DEFAULT_CHUNK_SIZE, 1),
        chunkOverlap: integer(v, "chunk-overlap", DEFAULT_CHUNK_OVERLAP, 0),
      });
      const out = path.join(required(v, "out"), "chunks.jsonl");
      writeChunks(out, chunks);
      warnStale(required(v, "out"), "chunks.jsonl");
      const mean = chunks.reduce((n, c) => n + c.text.length, 0) / Math.max(chunks.length, 1);
      console.log(`chunk: ${chunks.length} chunks (mean ${Math.round(mean)} chars) from ${docs.length} source(s)${skipped.length ? `; ${describeSkipped(skipped)}` : ""} -> ${out} in ${elapsed(started)}`);
    },
  },

  index: {
    summary: "embed chunks and build a FAISS index folder",
    usage: "kit index --chunks FILE --out DIR [--embedder SPEC] [--factory STR]",
    required: ["chunks", "out"],
    options: {
      chunks: { type: "string", help: "chunks.jsonl written by kit chunk" },
      out: { type: "string", help: "index folder to write (index.faiss, ids.json, manifest.json)" },
      embedder: OPTIONS.embedder,
      factory: OPTIONS.factory,
      "ollama-host": OPTIONS.ollamaHost,
    },
    async run(v) {
      const started = Date.now();
      const chunksFile = required(v, "chunks");
      const chunks = readChunks(chunksFile);
      const out = required(v, "out");
      const bar = progressReporter("embedding");
      const embedder = await createEmbedder(str(v, "embedder") ?? DEFAULT_EMBEDDER, { ollamaHost: str(v, "ollama-host"), onProgress: bar.onProgress });
      let m;
      try {
        m = await embedAndIndex(embedder, chunks, { out, chunksFile, factory: str(v, "factory") });
        bar.done();
      } finally {
        await embedder.close?.();
      }
      warnStale(path.dirname(path.resolve(out)), path.basename(out));
      console.log(`index: ${m.count} chunks, ${m.embedder} (${m.dimension}-d), ${m.factory} -> ${out} in ${elapsed(started)}`);
    },
  },

  search: {
    summary: "search a dataset's environment, or an index folder, for one query or a file of queries",
    usage: "kit search (--dataset DIR [--mode paraphrased] | --index DIR) (--query TEXT | --queries FILE.jsonl --out FILE.jsonl) [--k 5] [--retriever bm25|dense|hybrid]",
    options: {
      dataset: { type: "string", help: "dataset folder written by kit build" },
      mode: { type: "string", help: `environment of --dataset to search: ${MODES.join(" | ")} (as kit serve)`, default: "paraphrased" },
      index: { type: "string", help: "an index folder instead (kit index, or a dataset's env/<mode>)" },
      query: { type: "string", help: "one query; prints the hits" },
      queries: { type: "string", help: 'JSONL of {"id": ..., "text": ...} (other keys ignored)' },
      out: { type: "string", help: 'JSONL to write, one {"id", "hits": [{row_id, chunk_id, kind, score, text, ...}]} per query, in input order' },
      k: { type: "string", help: "hits per query, each from a different chunk", default: "5" },
      retriever: { type: "string", help: `${RETRIEVERS.join(" | ")}; bm25 measures best with the offline embedder`, default: DEFAULT_RETRIEVER },
      hybrid: { type: "boolean", help: "short for --retriever hybrid" },
      embedder: { type: "string", help: "embedder for dense queries; must be the index's (default: the index's)" },
      "ollama-host": OPTIONS.ollamaHost,
    },
    async run(v) {
      const started = Date.now();
      const query = str(v, "query");
      const queriesFile = str(v, "queries");
      if (!query === !queriesFile) throw new KitError("search needs exactly one of --query TEXT or --queries FILE.jsonl");
      const out = str(v, "out");
      if (queriesFile && !out) throw new KitError("--queries needs --out FILE.jsonl for the results");
      if (queriesFile && path.resolve(queriesFile) === path.resolve(out!)) throw new KitError(`--out ${out} is the --queries file; write the hits to another file`);
      const queries = query ? [{ id: "query", text: query }] : readQueries(queriesFile!);
      const k = integer(v, "k", 5, 1);
      const searcher = await openSearch(searchFolder(v, "paraphrased"), {
        retriever: assertRetriever(v.hybrid ? "hybrid" : (str(v, "retriever") ?? DEFAULT_RETRIEVER)),
        embedder: str(v, "embedder"),
        ollamaHost: str(v, "ollama-host"),
      });
      try {
        const bar = progress("searching", queries.length);
        const results: SearchResult[][] = [];
        for (let i = 0; i < queries.length; i += 256) {
          const batch = queries.slice(i, i + 256);
          results.push(...(await searcher.search(batch.map((q) => q.text), k)));
          bar.tick(batch.length);
        }
        bar.done();
        if (query) {
          results[0].forEach((hit, rank) => {
            const what = hit.kind === "paraphrase" ? `paraphrase ${hit.row_id} (${hit.style})` : "original";
            console.log(`${rank + 1}. ${hit.chunk_id}  score ${hit.score.toFixed(4)}  ${what}`);
            console.log(indent(matchedPassage(hit.text, query)));
          });
        } else {
          writeJsonlAtomic(out!, queries.map((q, i) => ({ id: q.id, hits: results[i] })));
        }
        console.log(`search: ${queries.length} ${queries.length === 1 ? "query" : "queries"}, top ${k} by ${searcher.retriever}${out ? ` -> ${out}` : ""} in ${elapsed(started)}`);
      } finally {
        await searcher.close();
      }
    },
  },

  serve: {
    summary: "serve a dataset's environment over HTTP with Search-R1's retrieval contract (POST /retrieve), for trainers' rollouts",
    usage: "kit serve (--dataset DIR [--mode paraphrased] | --index DIR) [--retriever bm25|dense|hybrid] [--port 8000] [--host 127.0.0.1] [--workers 1] [--grace 30]",
    options: {
      dataset: { type: "string", help: "dataset folder written by kit build (all three environments; a request's \"mode\" or \"noise\" picks one)" },
      mode: { type: "string", help: `environment of a request that names none: ${MODES.join(" | ")}`, default: "paraphrased" },
      index: { type: "string", help: "an index folder instead (kit index, or a dataset's env/<mode>)" },
      retriever: { type: "string", help: RETRIEVERS.join(" | "), default: DEFAULT_RETRIEVER },
      port: { type: "string", help: "TCP port (0 picks a free one)", default: String(DEFAULT_PORT) },
      host: { type: "string", help: "address to listen on (0.0.0.0 for other machines)", default: DEFAULT_HOST },
      topk: { type: "string", help: "hits per query when a request gives no topk", default: "3" },
      workers: { type: "string", help: "processes serving the port, each with its own copy of the index (one per core answers most)", default: "1" },
      "max-hits": { type: "string", help: "most hits one request may ask for (queries x topk); any batch size within it", default: String(SERVE_LIMITS.maxHits) },
      "max-query-chars": { type: "string", help: "longest query; a longer one is searched on its first this many characters", default: String(SERVE_LIMITS.maxQueryChars) },
      "max-response-bytes": { type: "string", help: "largest answer (queries x topk x document bytes); a request over it gets a 400", default: String(SERVE_LIMITS.maxResponseBytes) },
      grace: { type: "string", help: "seconds SIGTERM or Ctrl-C lets the requests received be answered before they are cut", default: String(SERVE_LIMITS.graceSeconds) },
      "request-timeout": OPTIONS.requestTimeout,
      embedder: { type: "string", help: "embedder for dense queries; must be the index's (default: the index's)" },
      "ollama-host": OPTIONS.ollamaHost,
    },
    async run(v) {
      const folder = searchFolder(v, "paraphrased");
      const dataset = str(v, "dataset");
      const mode = dataset ? assertMode(str(v, "mode") ?? "paraphrased") : null;
      const retriever = assertRetriever(str(v, "retriever") ?? DEFAULT_RETRIEVER);
      const workers = integer(v, "workers", 1, 1);
      const requestTimeout = optionalTimeout(v);
      const options = {
        port: port(v),
        host: str(v, "host"),
        topk: optionalInteger(v, "topk", 1),
        maxHits: optionalInteger(v, "max-hits", 1),
        maxQueryChars: optionalInteger(v, "max-query-chars", 1),
        maxResponseBytes: optionalInteger(v, "max-response-bytes", 1),
        graceSeconds: optionalInteger(v, "grace", 0),
      };
      const server = await serveOnWorkers(workers, async () => {
        // A rollout's queries are seldom asked twice: caching them would add a file to the embedding cache per request.
        const searchOptions = { retriever, embedder: str(v, "embedder"), ollamaHost: str(v, "ollama-host"), cache: false, requestTimeoutMs: requestTimeout };
        const environments = dataset && mode ? await openEnvironments(dataset, mode, searchOptions) : singleEnvironment(await openSearch(folder, searchOptions));
        const rows = environments.fallback.rows;
        const modes = Object.keys(environments.byMode);
        const info = { folder, mode, modes, retriever, rows: rows.size, chunks: new Set([...rows.values()].map((r) => r.chunk_id)).size };
        const served = await serve(environments, info, options);
        return { ...served, summary: `${info.rows} rows over ${info.chunks} chunks from ${folder}${modes.length > 1 ? ` (and ${modes.filter((m) => m !== mode).join(", ")} by request)` : ""}, ${retriever}` };
      }, { graceSeconds: options.graceSeconds });
      console.log(`serve: ${server.summary}; POST ${server.url}/retrieve, GET ${server.url}/health, POST ${server.url}/access (Ctrl-C stops)`);
      // Workers that keep failing to start end the server: `failed` rejects with the last one's error.
      const cut = await Promise.race([server.failed, new Promise<number>((resolve) => {
        // npx does not pass SIGTERM on, so `npx kit serve &` then `kill $!` ends npx alone: under npx the server
        // stops when npx does (a server started otherwise keeps serving when its parent ends, as nohup wants).
        const parent = process.ppid;
        const orphaned = process.env.npm_command === "exec" ? setInterval(() => process.ppid !== parent && stop(), 500).unref() : undefined;
        const stop = () => {
          clearInterval(orphaned);
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          server.close().then(resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      })]);
      if (cut) throw new KitError(`serve: stopped after the ${options.graceSeconds ?? SERVE_LIMITS.graceSeconds} s grace period, cutting ${cut} unanswered ${cut === 1 ? "request" : "requests"} (raise --grace)`);
      console.log("serve: stopped");
    },
  },

  mcp: {
    summary: "serve a dataset's environment to an MCP client over stdio: search(query, k) and open(id) tools, the manifest as a resource",
    usage: "kit mcp (--dataset DIR [--mode paraphrased] | --index DIR) [--retriever bm25|dense|hybrid]",
    options: {
      dataset: { type: "string", help: "dataset folder written by kit build" },
      mode: { type: "string", help: `environment to serve: ${MODES.join(" | ")}`, default: "paraphrased" },
      index: { type: "string", help: "an index folder instead (kit index, or a dataset's env/<mode>)" },
      retriever: { type: "string", help: RETRIEVERS.join(" | "), default: DEFAULT_RETRIEVER },
      embedder: { type: "string", help: "embedder for dense queries; must be the index's (default: the index's)" },
      "ollama-host": OPTIONS.ollamaHost,
      "request-timeout": OPTIONS.requestTimeout,
    },
    async run(v) {
      // stdout carries the protocol alone: a library's notice there (an embedder's loading) would break the client.
      console.log = console.error;
      const folder = searchFolder(v, "paraphrased");
      const dataset = str(v, "dataset");
      const retriever = assertRetriever(str(v, "retriever") ?? DEFAULT_RETRIEVER);
      const searcher = await openSearch(folder, { retriever, embedder: str(v, "embedder"), ollamaHost: str(v, "ollama-host"), cache: false, requestTimeoutMs: optionalTimeout(v) });
      const name = dataset ? `${path.basename(path.resolve(dataset))} (${str(v, "mode") ?? "paraphrased"})` : path.basename(path.resolve(folder));
      await serveMcp(searcher, folder, name);
    },
  },

  "check-paraphrases": {
    summary: "check (original, paraphrase) pairs from a CSV or JSONL file for invented facts, refusals and copies",
    usage: "kit check-paraphrases --in FILE (.csv or .jsonl) --out FILE.jsonl [--original-col original] [--paraphrase-col paraphrase] [--judge auto|rules|ollama:M|openai:M@URL|transformers:M]",
    required: ["in", "out"],
    options: {
      in: { type: "string", help: "a .csv (with a header row) or .jsonl file of pairs" },
      "original-col": { type: "string", help: "column or key holding the original", default: "original" },
      "paraphrase-col": { type: "string", help: "column or key holding the paraphrase", default: "paraphrase" },
      out: { type: "string", help: 'JSONL to write: {"row", "verdict", "reasons", "scores"} per input row, in input order' },
      embedder: { type: "string", help: "also check meaning drift with this embedder (e.g. use-lite); off by default" },
      judge: { type: "string", help: `claim-by-claim judge of rows the rules pass: ${JUDGE_SPECS} (auto: ${MINICHECK_MODEL} if Ollama has it, else rules)`, default: DEFAULT_JUDGE },
      cache: { type: "string", help: "judge answers cached here, so a re-run resumes (default: OUT.judge-cache.jsonl)" },
      "ollama-host": OPTIONS.ollamaHost,
    },
    async run(v) {
      const started = Date.now();
      const out = required(v, "out");
      const input = required(v, "in");
      if (path.resolve(input) === path.resolve(out)) throw new KitError(`--out ${out} is the --in file; write the verdicts to another file`);
      const embedderSpec = str(v, "embedder");
      const ollamaHost = str(v, "ollama-host");
      const embedder = embedderSpec ? await createEmbedder(embedderSpec, { ollamaHost }) : undefined;
      const cache = openCache(str(v, "cache") ?? `${out}.judge-cache.jsonl`);
      const judge = await createJudge(str(v, "judge") ?? DEFAULT_JUDGE, { ollamaHost, wrap: (g) => withCache(g, cache), onNotice: (line) => console.log(line) });
      const bar = progressReporter("checking");
      try {
        const counts = await checkPairsFile(input, out, {
          originalCol: str(v, "original-col"),
          paraphraseCol: str(v, "paraphrase-col"),
          embedder,
          judge,
          onProgress: bar.onProgress,
        });
        bar.done();
        const total = Object.values(counts).reduce((a, b) => a + b, 0);
        console.log(`check-paraphrases: ${total} rows: ${Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ")} (judge: ${judge?.spec ?? "rules only"}) -> ${out} in ${elapsed(started)}`);
      } finally {
        await embedder?.close?.();
        await judge?.close();
        cache.close();
      }
    },
  },

  export: {
    summary: "write a dataset folder as a Hugging Face dataset repo: parquet configs, indexes and environments, Search-R1/verl files, a dataset card",
    usage: "kit export --dataset DIR --out hf-export/NAME [--test-fraction 0.1] [--seed 42] [--name NAME] [--prompt-template FILE] [--force] [--overwrite-readme]",
    required: ["dataset", "out"],
    options: {
      dataset: { type: "string", help: "dataset folder written by kit build" },
      out: { type: "string", help: "folder to write, e.g. hf-export/NAME; an existing export (or a fresh clone of a Hub repo) needs --force" },
      "test-fraction": { type: "string", help: "share of chunks whose rows go to the test split", default: "0.1" },
      "block-chunks": { type: "string", help: "consecutive chunks per block of the split", default: String(DEFAULT_BLOCK_CHUNKS) },
      seed: { type: "string", help: "seed of the shuffle that picks the test blocks", default: "42" },
      "rows-per-shard": { type: "string", help: "most rows in one parquet file", default: "100000" },
      license: { type: "string", help: "Hub license id for the card (e.g. cc0-1.0); unknown makes the card ask for one", default: "unknown" },
      name: { type: "string", help: "the card's pretty_name and load_dataset id, e.g. user/apollo13 (default: the corpus's name)" },
      "prompt-template": { type: "string", help: "file with the search agent's instructions for the prompt column ({question} marks a one-message prompt)" },
      "data-source": { type: "string", help: "data_source of the search-r1/ rows (nq for Search-R1's own trainer)", default: DEFAULT_DATA_SOURCE },
      force: { type: "boolean", help: "update an existing export folder in place (keeps .git and files the kit did not write)" },
      "overwrite-readme": { type: "boolean", help: "replace a README.md edited since the last export (kept otherwise) with the new card" },
    },
    async run(v) {
      const fraction = str(v, "test-fraction");
      const result = await exportDataset({
        dataset: required(v, "dataset"),
        out: required(v, "out"),
        testFraction: fraction === undefined ? undefined : Number(fraction),
        blockChunks: optionalInteger(v, "block-chunks", 1),
        seed: optionalInteger(v, "seed", 0),
        rowsPerShard: optionalInteger(v, "rows-per-shard", 1),
        force: v.force === true,
        overwriteReadme: v["overwrite-readme"] === true,
        license: str(v, "license"),
        name: str(v, "name"),
        promptTemplate: str(v, "prompt-template"),
        dataSource: str(v, "data-source"),
      });
      console.log(formatExport(result));
    },
  },

  "eval-retrieval": {
    summary: "recall@k and MRR of dense, BM25 and hybrid retrieval in every environment mode, for a dataset's questions and paraphrases (eval.json)",
    usage: "kit eval-retrieval --dataset DIR [--k 1,5,10] [--retrievers dense,bm25,hybrid]",
    required: ["dataset"],
    options: {
      dataset: { type: "string", help: "dataset folder written by kit build" },
      k: { type: "string", help: "cut-offs for recall@k, comma-separated; MRR counts hits within the largest", default: DEFAULT_KS.join(",") },
      retrievers: { type: "string", help: "retrievers to score, comma-separated", default: "dense,bm25,hybrid" },
      "ollama-host": OPTIONS.ollamaHost,
    },
    async run(v) {
      const bar = progressReporter("evaluating");
      const result = await evaluateRetrieval({
        dataset: required(v, "dataset"),
        ks: parseKs(str(v, "k") ?? DEFAULT_KS.join(",")),
        retrievers: parseRetrievers(str(v, "retrievers") ?? "dense,bm25,hybrid"),
        ollamaHost: str(v, "ollama-host"),
        onProgress: bar.onProgress,
      });
      bar.done();
      console.log(formatEvaluation(result));
    },
  },

  cache: {
    summary: "show the embedding cache shared by builds, searchers and notebooks (where, size, vectors per embedder), or clear it",
    usage: "kit cache [--clear]",
    options: {
      clear: { type: "boolean", help: "remove every cached embedding (they are embedded again when next needed)" },
    },
    async run(v) {
      console.log(v.clear ? formatClearedCache(clearEmbeddingCache()) : formatEmbeddingCache(describeEmbeddingCache()));
    },
  },
};

/** A stage run alone into a dataset folder leaves what its build made from the file stale: say so, and what then. */
function warnStale(dir: string, file: string): void {
  if (!fs.existsSync(path.join(dir, "build.json"))) return;
  console.log(`note: ${dir} holds a kit build, which ${file} no longer matches: kit export, serve, search and eval-retrieval refuse it until kit build runs there again`);
}

/** The folder --dataset and --mode name, or --index. */
function searchFolder(v: Record<string, string | boolean | undefined>, defaultMode: string): string {
  const dataset = str(v, "dataset");
  const index = str(v, "index");
  if (!dataset === !index) throw new KitError("give exactly one of --dataset DIR (a kit build folder) or --index DIR (an index folder)");
  if (index) {
    if (str(v, "mode")) throw new KitError("--mode picks an environment of --dataset; with --index, point at the folder itself (e.g. DIR/env/merged)");
    return index;
  }
  const mode = assertMode(str(v, "mode") ?? defaultMode);
  readFinishedBuild(dataset!);
  return envDir(dataset!, mode);
}

function port(v: Record<string, string | boolean | undefined>): number {
  const n = integer(v, "port", DEFAULT_PORT, 0);
  if (n > 65535) throw new KitError(`--port must be at most 65535, got ${n}`);
  return n;
}

function readChunks(file: string): Chunk[] {
  const chunks = readJsonl<Chunk>(file);
  if (!chunks.length) throw new KitError(`${file} holds no chunks; run kit chunk first`);
  chunks.forEach((c, i) => {
    if (typeof c?.chunk_id !== "string" || typeof c.text !== "string") {
      throw new KitError(`${file}:${i + 1}: a chunk needs string chunk_id and text; write the file with kit chunk`);
    }
  });
  return chunks;
}

function readQueries(file: string): { id: unknown; text: string }[] {
  // An empty file, or a blank "text", is answered with no hits, as kit serve answers an empty batch or query.
  return readJsonl<{ id?: unknown; text?: unknown }>(file).map((r, i) => {
    if (typeof r?.text !== "string") throw new KitError(`${file}:${i + 1}: each line needs a "text" string`);
    return { id: r.id ?? i + 1, text: r.text };
  });
}

function str(v: Record<string, string | boolean | undefined>, name: string): string | undefined {
  const value = v[name];
  return typeof value === "string" ? value : undefined;
}

function required(v: Record<string, string | boolean | undefined>, name: string): string {
  const value = str(v, name);
  if (value === undefined || value === "") throw new KitError(`--${name} is required`);
  return value;
}

function optionalInteger(v: Record<string, string | boolean | undefined>, name: string, min: number): number | undefined {
  const value = str(v, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new KitError(`--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

/** --request-timeout in milliseconds, when given. */
function optionalTimeout(v: Record<string, string | boolean | undefined>): number | undefined {
  const seconds = str(v, "request-timeout");
  return seconds === undefined ? undefined : requestTimeoutMs(seconds);
}

function integer(v: Record<string, string | boolean | undefined>, name: string, fallback: number, min: number): number {
  return optionalInteger(v, name, min) ?? fallback;
}

function buildSummary(r: BuildRecord, out: string): string {
  const c = r.counts;
  const why = Object.entries(r.llm_requests.failed_by_reason ?? {}).sort((a, b) => b[1] - a[1]).map(([w, n]) => `${n} ${w}`).join(", ");
  const lines = [
    `build: ${out} with ${r.generator.spec === "builtin" ? "the builtin generator" : r.generator.spec}, judged by ${r.judge === "rules" ? "the rules alone" : `the rules and ${r.judge}`}`,
    `  chunks ${c.chunks}${c.symlinks_skipped ? ` (${c.symlinks_skipped} symlinks skipped)` : ""} | questions ${c.questions_accepted} accepted${c.questions_multi_hop ? ` (${c.questions_multi_hop} multi-hop)` : ""}, ${c.questions_rejected} rejected, ${c.question_prompts_failed} chunks got fewer than asked | paraphrases ${c.paraphrases} (${VERDICTS.map((v) => `${c[`paraphrases_${v}`]} ${v}`).join(", ")}), ${c.paraphrases_failed} failed`,
    `  environments (${path.join(out, "env")}): ${Object.entries(r.environments).map(([mode, e]) => `${mode} ${e.rows} rows`).join(", ")}; all cover ${c.chunks} chunks, ${r.environments.paraphrased.by_paraphrase} of them through a kept paraphrase`,
    `  LLM requests: ${r.llm_requests.sent} sent, ${r.llm_requests.answered_from_cache} answered from the cache, ${r.llm_requests.failed ?? 0} failed${why ? ` (${why})` : ""}${r.llm_requests.rejected ? `, ${r.llm_requests.rejected} answers rejected (kept in the cache: only a new --seed asks again)` : ""}`,
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

const elapsed = (started: number) => formatSeconds((Date.now() - started) / 1000);
const indent = (text: string) => text.replace(/^/gm, "     ");

function helpFor(name: string, command: Command): string {
  const flags = { ...command.options, help: { type: "boolean", help: "show this help" } as Option };
  const width = Math.max(...Object.keys(flags).map((f) => f.length));
  const rows = Object.entries(flags).map(([flag, o]) => {
    const def = o.default === undefined ? "" : ` (default ${o.default})`;
    return `  --${flag.padEnd(width)}  ${o.help}${def}`;
  });
  return [`kit ${name}: ${command.summary}`, "", `usage: ${command.usage}`, "", ...rows].join("\n");
}

/** The known name closest to a mistyped one (at most a third of its letters off), for "did you mean". */
const closest = (typed: string, names: string[]) => nearest(typed, names, Math.max(1, Math.floor(typed.length / 3)));

function mainHelp(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(15)} ${c.summary}`);
  return ["kit: build retrieval datasets for training search agents", "", "usage: kit <command> [options]", "", ...rows, "", "kit <command> --help shows a command's options; kit --version the kit's version."].join("\n");
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(mainHelp());
    return;
  }
  if (name === "--version" || name === "-v") {
    console.log(KIT_VERSION);
    return;
  }
  const command = COMMANDS[name];
  if (!command) {
    // Two edits: a swapped pair of letters ("biuld") is two.
    const guess = nearest(name, Object.keys(COMMANDS), 2);
    return fail(`unknown command "${name}"${guess ? `; did you mean kit ${guess}?` : ""}; commands: ${Object.keys(COMMANDS).join(", ")} (kit --help)`, 2);
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.entries(command.options).map(([flag, o]) => [flag, { type: o.type }]));
    values = parseArgs({ args: attachNegatives(rest, command), options: { ...options, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const message = (err as Error).message.split("\n")[0];
    const unknown = /Unknown option '--([^']+)'/.exec(message)?.[1];
    const guess = unknown && closest(unknown, Object.keys(command.options));
    return fail(`${message}${guess ? `; did you mean --${guess}?` : ""} (kit ${name} --help)`, 2);
  }
  if (values.help) {
    console.log(helpFor(name, command));
    return;
  }
  const missing = (command.required ?? []).filter((flag) => values[flag] === undefined || values[flag] === "");
  if (missing.length) return fail(`missing ${missing.map((f) => `--${f}`).join(" and ")} (kit ${name} --help)`, 2);
  try {
    await command.run(values);
  } catch (err) {
    if (err instanceof KitError) return fail(err.message, 1);
    throw err;
  }
}

/** `--chunk-size -5` as `--chunk-size=-5`: parseArgs takes a value starting with "-" for an option, and its error would not say which. */
function attachNegatives(args: string[], command: Command): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = /^--([\w-]+)$/.exec(args[i])?.[1];
    if (flag && command.options[flag]?.type === "string" && /^-\d/.test(args[i + 1] ?? "")) out.push(`${args[i]}=${args[++i]}`);
    else out.push(args[i]);
  }
  return out;
}

function fail(message: string, code: number): void {
  console.error(`kit: ${message}`);
  process.exitCode = code;
}
