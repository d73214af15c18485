import cluster from "node:cluster";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { assertMode, type EnvRow, type Mode } from "./environment";
import { environmentOf, type Environments, openRows, type Selection, searchEnvironments, singleEnvironment } from "./environments";
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
 * Beside the contract, each optional (a Search-R1 client sends none and gets the server's own environment):
 *   "mode": "original" | "paraphrased" | "merged" picks a dataset's environment per request;
 *   "noise": 0 to 1 mixes paraphrase rows into each answer at that share (lib/environments.ts searchNoisy);
 *   POST /access {"ids": [...], "mode"?} -> {"result": [document or null, ...]}: rows by row or chunk id, in order,
 *   null for an id the environment does not hold (as ASearcher's /access opens a page a search found).
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
  /**
   * Longest query in characters: a longer one is searched on its first maxQueryChars, as Search-R1's own server
   * truncates a query to its encoder's 256 tokens, so a rollout's runaway query costs no more than a long one and
   * does not fail its batch.
   */
  maxQueryChars?: number;
  /** Largest answer in bytes (queries x topk x document bytes), known from the hits before any byte is sent. */
  maxResponseBytes?: number;
  /** Seconds close() lets the requests received be answered before it cuts them. */
  graceSeconds?: number;
}

export const DEFAULT_PORT = 8000;
export const DEFAULT_HOST = "127.0.0.1";
export const SERVE_LIMITS = { topk: 3, maxTopk: 100, maxHits: 262_144, maxBodyBytes: 16 << 20, maxQueryChars: 4_096, maxResponseBytes: 64 << 20, graceSeconds: 30 };

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

/** Bytes of an answer a write carries: few writes for a large answer, little held for a client that does not read. */
const PIECE_BYTES = 64 << 10;

/** An answer ready to write: its bytes, and the answer PIECE_BYTES at a time. */
interface Answer {
  bytes: number;
  pieces(): Generator<Buffer>;
}

/**
 * Writes /retrieve answers from each row's document JSON, encoded once, the first time a hit returns the row:
 * JSON.stringify of whole answers cost more than half as much as the BM25 search itself (36 against 62 µs a query
 * on Apollo; 5 µs this way), and the same rows come back request after request. Holds at most one buffer per row.
 * An answer keeps, per hit, only its row's buffer and its score (16 bytes), not the search's hit objects, so a
 * client that does not read holds little beside the piece being written.
 */
function answerWriter() {
  const documents = new Map<string, Buffer>();
  const document = (row: SearchResult) => {
    let json = documents.get(row.row_id);
    if (!json) documents.set(row.row_id, (json = Buffer.from(JSON.stringify(searchR1Document(row)))));
    return json;
  };
  /** An answer taken a turn of hits at a time (searchInTurns), so the hits of a turn are dropped when the next comes. */
  return (withScores: boolean) => {
    const docs: Buffer[][] = [];
    const scores: Float64Array[] = [];
    const add = (lists: readonly SearchResult[][]) => {
      for (const list of lists) {
        docs.push(list.map(document));
        if (withScores) scores.push(Float64Array.from(list, (hit) => hit.score));
      }
    };
    return { add, finish: () => written(docs, withScores ? scores : undefined) };
  };
}

/** The answer to write: its bytes, counted first, then its pieces. */
function written(docs: readonly Buffer[][], scores: readonly Float64Array[] | undefined): Answer {
  // Framing is ASCII (brackets, keys, numbers): a string's length is its bytes.
  function* parts(): Generator<string | Buffer> {
    yield '{"result":[';
    for (const [i, list] of docs.entries()) {
      yield i ? ",[" : "[";
      for (const [j, doc] of list.entries()) {
        if (scores) yield `${j ? "," : ""}{"document":`;
        else if (j) yield ",";
        yield doc;
        if (scores) yield `,"score":${JSON.stringify(scores[i][j])}}`;
      }
      yield "]";
    }
    yield "]}";
  }
  let bytes = 0;
  for (const part of parts()) bytes += part.length;
  return {
    bytes,
    *pieces() {
      let piece: Buffer[] = [];
      let size = 0;
      for (const part of parts()) {
        piece.push(typeof part === "string" ? Buffer.from(part, "latin1") : part);
        size += part.length;
        if (size >= PIECE_BYTES) {
          yield Buffer.concat(piece, size);
          [piece, size] = [[], 0];
        }
      }
      if (size) yield Buffer.concat(piece, size);
    },
  };
}

/** Resolves once `res` may take more (its buffer drained) or is gone. */
function writable(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

class BadRequest extends Error {}

/** A request body as a JSON object; a message saying what to send otherwise. */
function parseBody(body: string, example: string, field: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new BadRequest(`body is not valid JSON; send ${example}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new BadRequest(`body must be a JSON object with "${field}"`);
  return json as Record<string, unknown>;
}

/** The optional mode of a request (null or missing: the server's own). */
function parseMode(mode: unknown): Mode | undefined {
  if (mode === undefined || mode === null) return undefined;
  if (typeof mode !== "string") throw new BadRequest(`"mode" must be a string, got ${JSON.stringify(mode)}`);
  try {
    return assertMode(mode, '"mode"');
  } catch (err) {
    throw new BadRequest((err as Error).message);
  }
}

/** Validates a /retrieve body; a message naming the field otherwise. */
function parseRequest(body: string, limits: typeof SERVE_LIMITS): { queries: string[]; topk: number; scores: boolean; selection: Selection } {
  const request = parseBody(body, '{"queries": ["..."], "topk": 3, "return_scores": true}', "queries");
  const { queries, topk = null, return_scores = false, noise = null } = request;
  // An empty list (no rollout searched this turn) and blank queries are answered, as Search-R1's server answers them.
  if (!Array.isArray(queries) || !queries.every((q) => typeof q === "string")) throw new BadRequest('"queries" must be a list of strings');
  // Search-R1 treats a missing, null or 0 topk as "use the server's default".
  if (topk !== null && topk !== 0 && !(Number.isInteger(topk) && (topk as number) >= 1 && (topk as number) <= limits.maxTopk)) {
    throw new BadRequest(`"topk" must be an integer from 1 to ${limits.maxTopk}, got ${JSON.stringify(topk)}`);
  }
  if (typeof return_scores !== "boolean") throw new BadRequest('"return_scores" must be true or false');
  const mode = parseMode(request.mode);
  if (noise !== null && !(typeof noise === "number" && noise >= 0 && noise <= 1)) throw new BadRequest(`"noise" must be a number from 0 to 1, got ${JSON.stringify(noise)}`);
  if (noise !== null && mode) throw new BadRequest('"noise" mixes the original and paraphrased environments: send it without "mode"');
  const k = (topk as number | null) || limits.topk;
  if (queries.length * k > limits.maxHits) {
    throw new BadRequest(`${queries.length} queries x topk ${k} ask for ${queries.length * k} hits; at most ${limits.maxHits} a request (kit serve --max-hits): split the batch`);
  }
  return {
    queries: queries.map((q) => (q.length > limits.maxQueryChars ? q.slice(0, limits.maxQueryChars) : q)),
    topk: k,
    scores: return_scores,
    selection: { mode, noise: (noise as number | null) ?? undefined },
  };
}

/** Validates an /access body: {"ids": [...], "mode"?}, at most maxHits ids. */
function parseAccess(body: string, limits: typeof SERVE_LIMITS): { ids: string[]; mode?: Mode } {
  const request = parseBody(body, '{"ids": ["chunk_1", ...]}', "ids");
  const { ids } = request;
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string")) throw new BadRequest('"ids" must be a list of strings (row ids or chunk ids)');
  if (ids.length > limits.maxHits) throw new BadRequest(`${ids.length} ids; at most ${limits.maxHits} a request (kit serve --max-hits): split the list`);
  return { ids, mode: parseMode(request.mode) };
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

/**
 * How long a closing server waits with no request in flight before it stops listening. Requests a client has sent may
 * still wait in the listen backlog, in the cluster primary's queue of connections, or unread on an open connection:
 * each reaches the handler within a turn or two of a free event loop, so the port stays open until none has come for
 * this long.
 */
const QUIET_MS = 200;

/**
 * Hits one request is searched for before it lets the process do anything else: the search is synchronous (BM25), so
 * a request of 1,024 queries held the process for all of them, and a client asking one query waited behind every
 * heavy request. In turns of TURN_HITS (85 queries at topk 3, 2 at topk 100), it waits for a turn of each.
 */
export const TURN_HITS = 256;

/**
 * Searches a request a turn (TURN_HITS) at a time, with a turn of the event loop between, handing each turn's hits
 * to `take`; false once `gone()` says its client left (the rest is not searched).
 */
export async function searchInTurns(
  environments: Environments,
  request: { queries: readonly string[]; topk: number; selection: Selection },
  take: (hits: SearchResult[][]) => void,
  gone: () => boolean = () => false,
): Promise<boolean> {
  const perTurn = Math.max(1, Math.floor(TURN_HITS / request.topk));
  for (let from = 0; from < request.queries.length; from += perTurn) {
    if (from) await new Promise(setImmediate);
    if (gone()) return false;
    take(await searchEnvironments(environments, request.queries.slice(from, from + perTurn), request.topk, request.selection));
  }
  return true;
}

/**
 * Starts the server on a searcher, or on a dataset's environments (one per mode); resolves once it listens. `close()`
 * stops it and the searchers, resolving with the requests it cut.
 */
export async function serve(target: Searcher | Environments, info: Record<string, unknown>, options: ServeOptions = {}): Promise<{ url: string; server: http.Server; close(): Promise<number> }> {
  const environments = "byMode" in target ? target : singleEnvironment(target);
  const limits = { ...SERVE_LIMITS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  if (limits.topk > limits.maxTopk) throw new KitError(`--topk ${limits.topk} is above the largest topk a request may ask for (${limits.maxTopk})`);

  let closing = false;
  // Requests in the handler, and when the last one came or went (a closing server waits for QUIET_MS of neither).
  let inFlight = 0;
  let lastActivity = Date.now();
  const head = (res: http.ServerResponse, status: number, bytes: number) =>
    // After an error the rest of a request's body may be unread, and once closing no connection may stay
    // open for another request, so those answers close their connection.
    res.writeHead(status, { "content-type": "application/json", "content-length": bytes, ...((status >= 400 || closing) && { connection: "close" }) });
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const data = JSON.stringify(body);
    head(res, status, Buffer.byteLength(data));
    res.end(data);
  };
  /** Streams an answer a piece at a time, waiting while the client's socket is full; stops if the client goes. */
  const stream = async (res: http.ServerResponse, bytes: number, pieces: Iterator<Buffer>) => {
    head(res, 200, bytes);
    for (let piece = pieces.next(); !piece.done; ) {
      const next = pieces.next();
      if (next.done) return void res.end(piece.value);
      if (!res.write(piece.value)) await writable(res);
      if (res.destroyed) return;
      piece = next;
    }
  };
  const routes: Record<string, string> = { "/retrieve": "POST", "/access": "POST", "/health": "GET" };
  const answers = answerWriter();

  const server = http.createServer(async (req, res) => {
    inFlight++;
    lastActivity = Date.now();
    res.once("close", () => {
      inFlight--;
      lastActivity = Date.now();
    });
    try {
      const url = (req.url ?? "/").split("?")[0];
      if (!(url in routes)) return send(res, 404, { error: `no route ${url}: POST /retrieve, POST /access or GET /health` });
      if (req.method !== routes[url]) return send(res, 405, { error: `use ${routes[url]} ${url}` });
      if (url === "/health") return send(res, 200, { status: "ok", ...info });
      if (url === "/access") {
        const request = parseAccess(await readBody(req, limits.maxBodyBytes), limits);
        const data = JSON.stringify({ result: openRows(environmentOf(environments, request.mode), request.ids).map((row) => row && searchR1Document(row)) });
        const bytes = Buffer.byteLength(data);
        if (bytes > limits.maxResponseBytes) throw new BadRequest(`the answer would be ${bytes} bytes; at most ${limits.maxResponseBytes} a response (kit serve --max-response-bytes): split the list`);
        head(res, 200, bytes);
        return void res.end(data);
      }
      const request = parseRequest(await readBody(req, limits.maxBodyBytes), limits);
      // A client gone while its request waited (a queue of heavy ones) costs no more search.
      const answering = answers(request.scores);
      if (!(await searchInTurns(environments, request, answering.add, () => res.destroyed))) return;
      const answer = answering.finish();
      if (answer.bytes > limits.maxResponseBytes) {
        throw new BadRequest(`the answer would be ${answer.bytes} bytes; at most ${limits.maxResponseBytes} a response (kit serve --max-response-bytes): split the batch or ask for a smaller topk`);
      }
      await stream(res, answer.bytes, answer.pieces());
    } catch (err) {
      if (res.headersSent) return void res.destroy();
      if (err instanceof BadRequest || err instanceof KitError) return send(res, 400, { error: err.message });
      send(res, 500, { error: (err as Error).message });
    }
  });
  server.on("connection", () => (lastActivity = Date.now()));
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
      const deadline = Date.now() + limits.graceSeconds * 1000;
      // The timer, then setImmediate: a poll phase (accepting connections, reading requests) has run since the check.
      while (Date.now() < deadline && (inFlight > 0 || Date.now() - lastActivity < QUIET_MS)) {
        await sleep(QUIET_MS / 4);
        await new Promise(setImmediate);
      }
      // Closing the listener closes idle connections too (Node 19+); those with a request in flight close once answered.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      let cut = 0;
      const graceOver = sleep(Math.max(0, deadline - Date.now()), undefined, { ref: false }).then(() => {
        // A client that does not read its answer, or half-sends a request, must not keep the server up.
        cut = inFlight;
        server.closeAllConnections();
      });
      await Promise.race([closed, graceOver]);
      await closed;
      await environments.close();
      return cut;
    },
  };
}

/** A running server: where it listens, a line saying what it serves, and how to stop it (resolving with the requests cut). */
export interface Served {
  url: string;
  summary: string;
  close(): Promise<number>;
}

/** What a worker tells the primary once it has started (or failed to), and once it has stopped. */
type WorkerReport = { url: string; summary: string } | { error: string };
type WorkerStopped = { cut: number };

/**
 * Replacing a worker that exits: the first restart after firstMs, each further one twice as late, up to maxMs; a worker
 * that stays up stableMs resets the delay. After `failures` starts in a row failed (the worker reported an error or
 * exited before it listened), the primary gives up: the dataset or the machine is broken, and a supervisor should see
 * the server fail rather than restart forever. Each worker's place counts its own.
 */
const RESTART = { firstMs: 500, maxMs: 30_000, stableMs: 60_000, failures: 5 };

/**
 * Runs `start` (open a searcher, then serve()) in `workers` processes sharing one port through node:cluster, so a
 * server uses more than one core: BM25 over a corpus like Apollo's takes less time than Node spends on the HTTP
 * request around it, and one process answers at most what one core can. With 1 worker `start` runs in this process.
 *
 * As with any cluster, each worker re-runs this program's entry script (the CLI, or a bench) with the same
 * arguments, and reaches this call again: there it serves until the primary says stop, then exits, never returning.
 * The primary resolves once every worker listens; a worker that fails to start fails it with the worker's error, and
 * one that dies later is replaced (RESTART). `failed` rejects with the last worker's error once the primary has given
 * up restarting and stopped the others. `graceSeconds` is the workers' own (serve()'s): a worker still running a
 * little past it is killed.
 */
export async function serveOnWorkers(
  workers: number,
  start: () => Promise<Served>,
  { graceSeconds = SERVE_LIMITS.graceSeconds, log = (line: string) => void process.stderr.write(line + "\n") } = {},
): Promise<Served & { failed: Promise<never> }> {
  if (cluster.isWorker) return runWorker(start);
  if (workers === 1) return { ...(await start()), failed: new Promise<never>(() => undefined) };
  let stopping = false;
  let cut = 0;
  /** A new worker: its first report (an error if it exited before it listened), and how it exited. */
  const fork = () => {
    const worker = cluster.fork();
    const exited = new Promise<string>((resolve) => worker.once("exit", (code, signal) => resolve(`exited (${signal ?? code})`)));
    const report = Promise.race([
      new Promise<WorkerReport>((resolve) => worker.once("message", resolve)),
      exited.then((how): WorkerReport => ({ error: `serve: worker process ${worker.process.pid} ${how} before it listened` })),
    ]);
    worker.on("message", (message: WorkerReport | WorkerStopped) => void ("cut" in message && (cut += message.cut)));
    return { pid: worker.process.pid, report, exited };
  };
  const stopAll = () =>
    Promise.all(
      Object.values(cluster.workers ?? {}).map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (!worker || worker.isDead()) return resolve();
            worker.once("exit", () => resolve());
            // A worker that failed to start may be closing its channel: the send then fails, and it exits anyway.
            if (worker.isConnected()) worker.send("stop", () => undefined);
            // A worker cuts what it has not answered at the end of the grace period, then exits; one stuck past that is killed.
            setTimeout(() => worker.kill("SIGKILL"), graceSeconds * 1000 + 5_000).unref();
          }),
      ),
    );
  const forked = Array.from({ length: workers }, fork);
  const failure = (await Promise.all(forked.map((f) => f.report))).find((r): r is { error: string } => "error" in r);
  if (failure) {
    stopping = true;
    await stopAll();
    throw new KitError(failure.error);
  }
  let giveUp!: (err: KitError) => void;
  const failed = new Promise<never>((_, reject) => (giveUp = reject));
  // Ends the waits between restarts, so a stop does not wait out a backoff.
  const halted = new AbortController();
  const halt = () => {
    stopping = true;
    halted.abort();
    return stopAll();
  };
  /** Keeps one worker running: once it exits, starts another, each start after a failed one twice as late (RESTART). */
  const keep = async (worker: ReturnType<typeof fork>, delay = RESTART.firstMs): Promise<void> => {
    const since = Date.now();
    const how = await worker.exited;
    if (stopping) return;
    if (Date.now() - since >= RESTART.stableMs) delay = RESTART.firstMs;
    log(`serve: worker process ${worker.pid} ${how}; starting another in ${delay / 1000} s`);
    for (let failures = 1; ; failures++) {
      await sleep(delay, undefined, { signal: halted.signal }).catch(() => undefined);
      delay = Math.min(2 * delay, RESTART.maxMs);
      if (stopping) return;
      const next = fork();
      const report = await next.report;
      if (!("error" in report)) return keep(next, delay);
      if (stopping) return;
      if (failures === RESTART.failures) {
        await halt();
        return giveUp(new KitError(`serve: ${failures} worker processes in a row failed to start; the last: ${report.error}`));
      }
      log(`serve: a new worker failed to start (${failures} in a row): ${report.error}; starting another in ${delay / 1000} s`);
    }
  };
  forked.forEach((f) => void keep(f));
  const { url, summary } = (await forked[0].report) as { url: string; summary: string };
  return {
    url,
    summary: `${summary}; ${workers} worker processes`,
    failed,
    async close() {
      await halt();
      return cut;
    },
  };
}

/** A cluster worker's side of serveOnWorkers: start, report to the primary, serve until told to stop, exit. */
async function runWorker(start: () => Promise<Served>): Promise<never> {
  // Ctrl-C reaches the whole process group, and `pkill -f` or a container's stop may signal every process: the
  // primary stops each worker, letting it answer what it has (a worker signalled alone would only be replaced).
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => undefined);
  const report = (message: WorkerReport | WorkerStopped, then = () => undefined) => process.send!(message, then);
  let served: Served | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    // Told to stop while starting (the server closing as a replacement starts): nothing to answer yet.
    served
      ? (stopping ??= served.close().then((cut) => {
          // With the primary gone the count has no one to go to; the worker exits all the same.
          if (process.connected) report({ cut }, () => process.exit(0));
          else process.exit(0);
        }))
      : process.exit(0);
  process.on("message", (message) => message === "stop" && stop());
  // The primary gone (even killed): stop with it rather than serve on unmanaged.
  process.once("disconnect", stop);
  try {
    served = await start();
  } catch (err) {
    report({ error: err instanceof Error ? err.message : String(err) });
    process.disconnect();
    return new Promise<never>(() => undefined);
  }
  report({ url: served.url, summary: served.summary });
  return new Promise<never>(() => undefined);
}
