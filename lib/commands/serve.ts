import { assertMode, MODES } from "../environment";
import { openEnvironments, singleEnvironment } from "../environments";
import { KitError } from "../errors";
import { assertRetriever, DEFAULT_RETRIEVER, openSearch, RETRIEVERS } from "../search";
import { DEFAULT_HOST, DEFAULT_PORT, serve, SERVE_LIMITS, serveOnWorkers } from "../serve";
import { type Command, type Values, integer, optionalInteger, optionalTimeout, OPTIONS, searchFolder, str } from "./command";

export default {
  name: "serve",
  summary: "serve a dataset's environment over HTTP with Search-R1's retrieval contract (POST /retrieve), for trainers' rollouts",
  usage: "kit serve (--dataset DIR [--mode paraphrased] | --index DIR) [--retriever bm25|dense|hybrid] [--port 8000] [--host 127.0.0.1] [--workers 1] [--grace 30]",
  options: {
    dataset: { type: "string", help: "dataset folder written by kit build (all three environments; a request's \"mode\" or \"noise\" picks one)" },
    mode: { type: "string", help: `environment of a request that names none: ${MODES.join(" | ")}`, default: "paraphrased" },
    index: OPTIONS.index,
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
    embedder: OPTIONS.queryEmbedder,
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
} satisfies Command;

function port(v: Values): number {
  const n = integer(v, "port", DEFAULT_PORT, 0);
  if (n > 65535) throw new KitError(`--port must be at most 65535, got ${n}`);
  return n;
}
