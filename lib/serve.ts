import cluster from "node:cluster";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { EnvRow } from "./environment";
import { KitError } from "./errors";
import type { SearchResult, Searcher } from "./search";

/**
 * A retrieval server speaking Search-R1's contract (search_r1/search/retrieval_server.py), so verl,
 * Search-R1 and TRL tool loops call it by URL during rollouts:
 *   POST /retrieve {"queries": [...], "topk": 3, "return_scores": true}
 *   -> {"result": [[{"document": {"id", "contents", ...}, "score"}, ...], ...]}, one list per query, in order
 *   (without return_scores, each list holds the documents alone).
 * A document is `{id, contents, chunk_id, kind}`: Search-R1's two fields (contents is a quoted title line, then the
 * text), the chunk_id a reward checks, and the row's kind. `--workers N` serves from N processes on one port.
 */
export interface ServeOptions {
  port?: number;
  host?: string;
  /** Hits per query when a request gives no topk (Search-R1's default is 3). */
  topk?: number;
  /** Largest topk a request may ask for. */
  maxTopk?: number;
  /**
   * Most hits one request may ask for: its queries times its topk. It bounds a request's work and answer, not its
   * batch: a Search-R1 turn of 512 x 5 rollouts sends 2,560 queries (7,680 hits at topk 3).
   */
  maxHits?: number;
  /** Largest request body in bytes. */
  maxBodyBytes?: number;
}

export const DEFAULT_PORT = 8000;
export const DEFAULT_HOST = "127.0.0.1";
export const SERVE_LIMITS = { topk: 3, maxTopk: 100, maxHits: 262_144, maxBodyBytes: 16 << 20 };

/**
 * A Search-R1 corpus document: `contents` is a quoted title line, then the text, as in its wiki-18 corpus. The text
 * is not repeated in a field of its own: it would double every answer's bytes, which cost the server more than its searches.
 */
export interface SearchR1Document {
  id: string;
  contents: string;
  chunk_id: string;
  kind: EnvRow["kind"];
}

export function searchR1Document(row: EnvRow): SearchR1Document {
  // The chunk id is the title: the same for a chunk's original and its paraphrases, so it says nothing of the kind.
  return { id: row.row_id, contents: `"${row.chunk_id}"\n${row.text}`, chunk_id: row.chunk_id, kind: row.kind };
}

/**
 * Serialises /retrieve answers from each row's document JSON, encoded once, the first time a hit returns the row:
 * JSON.stringify of whole answers cost more than half as much as the BM25 search itself (36 against 62 µs a query
 * on Apollo; 5 µs this way), and the same rows come back request after request. Holds at most one buffer per row.
 */
function resultWriter(): (lists: readonly SearchResult[][], scores: boolean) => Buffer {
  const documents = new Map<string, Buffer>();
  const document = (row: SearchResult) => {
    let json = documents.get(row.row_id);
    if (!json) documents.set(row.row_id, (json = Buffer.from(JSON.stringify(searchR1Document(row)))));
    return json;
  };
  return (lists, scores) => {
    const parts: Buffer[] = [];
    const text = (s: string) => parts.push(Buffer.from(s));
    text('{"result":[');
    lists.forEach((list, i) => {
      text(i ? ",[" : "[");
      list.forEach((hit, j) => {
        if (scores) text(`${j ? "," : ""}{"document":`);
        else if (j) text(",");
        parts.push(document(hit));
        if (scores) text(`,"score":${JSON.stringify(hit.score)}}`);
      });
      text("]");
    });
    text("]}");
    return Buffer.concat(parts);
  };
}

class BadRequest extends Error {}

/** Validates a /retrieve body; a message naming the field otherwise. */
function parseRequest(body: string, limits: typeof SERVE_LIMITS): { queries: string[]; topk: number; scores: boolean } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new BadRequest('body is not valid JSON; send {"queries": ["..."], "topk": 3, "return_scores": true}');
  }
  const request = json as { queries?: unknown; topk?: unknown; return_scores?: unknown };
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new BadRequest('body must be a JSON object with "queries"');
  const { queries, topk = null, return_scores = false } = request;
  // An empty list (no rollout searched this turn) and blank queries are answered, as Search-R1's server answers them.
  if (!Array.isArray(queries) || !queries.every((q) => typeof q === "string")) throw new BadRequest('"queries" must be a list of strings');
  // Search-R1 treats a missing, null or 0 topk as "use the server's default".
  if (topk !== null && topk !== 0 && !(Number.isInteger(topk) && (topk as number) >= 1 && (topk as number) <= limits.maxTopk)) {
    throw new BadRequest(`"topk" must be an integer from 1 to ${limits.maxTopk}, got ${JSON.stringify(topk)}`);
  }
  if (typeof return_scores !== "boolean") throw new BadRequest('"return_scores" must be true or false');
  const k = (topk as number | null) || limits.topk;
  if (queries.length * k > limits.maxHits) {
    throw new BadRequest(`${queries.length} queries x topk ${k} ask for ${queries.length * k} hits; at most ${limits.maxHits} a request (kit serve --max-hits): split the batch`);
  }
  return { queries, topk: k, scores: return_scores };
}

function readBody(req: http.IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > maxBytes) return reject(new BadRequest(`body of ${declared} bytes is over the limit of ${maxBytes}`));
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (part: Buffer) => {
      size += part.length;
      if (size > maxBytes) {
        reject(new BadRequest(`body is over the limit of ${maxBytes} bytes`));
        req.pause();
        return;
      }
      parts.push(part);
    });
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}

/** How long close() lets requests in flight finish before it drops their connections. */
const CLOSE_GRACE_MS = 2_000;

/** Starts the server on a searcher; resolves once it listens. `close()` stops it and the searcher. */
export async function serve(searcher: Searcher, info: Record<string, unknown>, options: ServeOptions = {}): Promise<{ url: string; server: http.Server; close(): Promise<void> }> {
  const limits = { ...SERVE_LIMITS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  if (limits.topk > limits.maxTopk) throw new KitError(`--topk ${limits.topk} is above the largest topk a request may ask for (${limits.maxTopk})`);

  let closing = false;
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const data = Buffer.isBuffer(body) ? body : JSON.stringify(body);
    // After an error the rest of a request's body may be unread, and once closing no connection may stay
    // open for another request, so those answers close their connection.
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...((status >= 400 || closing) && { connection: "close" }) });
    res.end(data);
  };
  const routes: Record<string, string> = { "/retrieve": "POST", "/health": "GET" };
  const writeResult = resultWriter();

  const server = http.createServer(async (req, res) => {
    try {
      const url = (req.url ?? "/").split("?")[0];
      if (!(url in routes)) return send(res, 404, { error: `no route ${url}: POST /retrieve or GET /health` });
      if (req.method !== routes[url]) return send(res, 405, { error: `use ${routes[url]} ${url}` });
      if (url === "/health") return send(res, 200, { status: "ok", ...info });
      const request = parseRequest(await readBody(req, limits.maxBodyBytes), limits);
      send(res, 200, writeResult(await searcher.search(request.queries, request.topk), request.scores));
    } catch (err) {
      if (err instanceof BadRequest || err instanceof KitError) return send(res, 400, { error: err.message });
      send(res, 500, { error: (err as Error).message });
    }
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "EADDRINUSE" ? new KitError(`port ${options.port ?? DEFAULT_PORT} on ${options.host ?? DEFAULT_HOST} is in use; pick another with --port`) : err),
    );
    server.listen(options.port ?? DEFAULT_PORT, options.host ?? DEFAULT_HOST, resolve);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    server,
    async close() {
      closing = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // A client that keeps its connection busy (or half-sends a request) must not keep the server up.
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      });
      await searcher.close();
    },
  };
}

/** A running server: where it listens, a line saying what it serves, and how to stop it. */
export interface Served {
  url: string;
  summary: string;
  close(): Promise<void>;
}

/** What a worker tells the primary once it has started, or failed to. */
type WorkerReport = { url: string; summary: string } | { error: string };

/**
 * Runs `start` (open a searcher, then serve()) in `workers` processes sharing one port through node:cluster, so a
 * server uses more than one core: BM25 over a corpus like Apollo's takes less time than Node spends on the HTTP
 * request around it, and one process answers at most what one core can. With 1 worker `start` runs in this process.
 *
 * As with any cluster, each worker re-runs this program's entry script (the CLI, or a bench) with the same
 * arguments, and reaches this call again: there it serves until the primary says stop, then exits, never returning.
 * The primary resolves once every worker listens; a worker that fails to start fails it with the worker's error, and
 * one that dies later is replaced.
 */
export async function serveOnWorkers(workers: number, start: () => Promise<Served>, log = (line: string) => process.stderr.write(line + "\n")): Promise<Served> {
  if (workers === 1) return start();
  if (cluster.isWorker) return runWorker(start);
  let stopping = false;
  const fork = () =>
    new Promise<Served>((resolve, reject) => {
      const worker = cluster.fork();
      worker.once("message", (report: WorkerReport) =>
        "error" in report ? reject(new KitError(report.error)) : resolve({ ...report, close: async () => undefined }),
      );
      worker.once("exit", (code, signal) => reject(new KitError(`serve: worker process ${worker.process.pid} exited (${signal ?? code}) before it listened`)));
    });
  const stopAll = () =>
    Promise.all(
      Object.values(cluster.workers ?? {}).map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (!worker || worker.isDead()) return resolve();
            worker.once("exit", () => resolve());
            // A worker that failed to start may be closing its channel: the send then fails, and it exits anyway.
            if (worker.isConnected()) worker.send("stop", () => undefined);
            // Each worker lets its requests in flight finish (CLOSE_GRACE_MS); past that it is killed.
            setTimeout(() => worker.kill("SIGKILL"), CLOSE_GRACE_MS + 1_000).unref();
          }),
      ),
    );
  let first: Served;
  try {
    [first] = await Promise.all(Array.from({ length: workers }, fork));
  } catch (err) {
    stopping = true;
    await stopAll();
    throw err;
  }
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    log(`serve: worker process ${worker.process.pid} exited (${signal ?? code}); starting another`);
    fork().catch((err: Error) => log(err.message));
  });
  return {
    url: first.url,
    summary: `${first.summary}; ${workers} worker processes`,
    async close() {
      stopping = true;
      await stopAll();
    },
  };
}

/** A cluster worker's side of serveOnWorkers: start, report to the primary, serve until told to stop, exit. */
async function runWorker(start: () => Promise<Served>): Promise<never> {
  // Ctrl-C reaches the whole process group, and `pkill -f` or a container's stop may signal every process: the
  // primary stops each worker, letting its requests finish (a worker signalled alone would only be replaced).
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => undefined);
  const report = (message: WorkerReport) => process.send!(message);
  let served: Served;
  try {
    served = await start();
  } catch (err) {
    report({ error: err instanceof Error ? err.message : String(err) });
    process.disconnect();
    return new Promise<never>(() => undefined);
  }
  report({ url: served.url, summary: served.summary });
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= served.close().then(() => process.exit(0)));
  process.on("message", (message) => message === "stop" && stop());
  // The primary gone (even killed): stop with it rather than serve on unmanaged.
  process.once("disconnect", stop);
  return new Promise<never>(() => undefined);
}
