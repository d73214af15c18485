// `kit serve` throughput and latency: queries/s, p50 and p99 per request at 1, 8 and 32 concurrent clients, BM25
// and dense, on the Apollo environment (datasets/apollo13, env/paraphrased, as `kit serve --dataset` serves it) and on
// a KEP slice of 5,000+ chunks, beside in-process search of the same queries one at a time, measured in one run.
// The server runs in a child process (so client and server do not share one JS thread); each client sends one query
// a request (topk 3, return_scores true) over a keep-alive connection. Each setting runs --rounds times, taking
// turns, and its best run (most queries/s) is shown, so a burst of other load on the machine hits no one setting alone.
// Server overhead = 1 - (server queries/s at its best concurrency) / (in-process queries/s, one query a call). A further
// setting sends 32 queries a request from 8 clients, as a trainer's rollout step does (Search-R1's batch_search): once
// search takes tens of microseconds, each request's fixed HTTP cost is what one-query requests measure.
// The one-query and batched settings run again with the server on --workers processes (`kit serve --workers`, one per
// core by default): node:cluster sharing the port, as a trainer's machine would run it.
// A floor: a bare TCP server (no HTTP parsing, search or JSON) answering each request with a real answer's bytes, at 32
// clients. Its CPU a request over that plus an in-process query's is the least overhead any server in Node can have at
// one query a request on one process.
// CPU ms/q is the searching processes' CPU time a query (the server child's and its cluster workers', or this process's
// in-process, worker threads included): less moved by other load than queries/s, so its ratio is the steadier measure
// of overhead.
// Faults (Apollo, BM25, one process): a client's p50 (one query a request) alone and while 4 clients send 1 MB
// single queries, with no query cap and with the default --max-query-chars; and the server's RSS while 12 clients that
// never read ask for 1,024 queries x topk 100 (about 84 MB each; --max-response-bytes raised to let it through), and
// once they have closed, with another client's p50 while they are searched (the 2 s after they are sent) and once
// they wait. --faults-only runs this part alone.
// Modes (Apollo, BM25, one process, 8 clients, one query a request): `kit serve --dataset` holding all three
// environments against a server on env/paraphrased alone: its start time and RSS, and queries/s and p50 of requests
// naming nothing, "mode": "original", and "noise": 0.5 (two searches a query), each as a ratio of the single-mode
// server's. --modes-only runs this part alone.
// Targets: BM25 on Apollo >= 1,000 queries/s at 32 clients with p99 <= 50 ms; server overhead <= 20%.
// Usage: node_modules/.bin/tsx bench/serve.ts [--requests 4000] [--dense-requests 100] [--rounds 3] [--keps FILE]
//          [--kep-chars 5000000] [--kep-queries 300] [--workers CORES] [--fault-seconds 5] [--faults-only] [--modes-only]
//          [--dataset datasets/apollo13]
//   The KEP slice is embedded with use-lite once (~5 minutes on 2 idle cores) and its environment folder cached in
//   datasets/.cache/ under a hash of its rows. Dense is capped at --dense-requests a setting: the query embedding
//   (use-lite) dominates, at tens of queries/s.
import { execFileSync, fork } from "node:child_process";
import cluster from "node:cluster";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { chunkDocuments } from "../lib/chunking";
import { markdownToText } from "../lib/corpus";
import { createEmbedder } from "../lib/embedders";
import { envDir, environmentRows, writeEnvironment } from "../lib/environment";
import { openEnvironments } from "../lib/environments";
import { readJsonl } from "../lib/files";
import { progressReporter } from "../lib/progress";
import { openSearch, type Retriever } from "../lib/search";
import { serve, SERVE_LIMITS, serveOnWorkers, type ServeOptions } from "../lib/serve";

const APOLLO = "datasets/apollo13";
// The modes part's clients: enough to keep the one server process busy.
const MODE_CLIENTS = 8;
const CACHE = "datasets/.cache";
const EMBEDDER = "use-lite";
const TOPK = 3;
const CLIENTS = [1, 8, 32];
const RETRIEVERS = ["bm25", "dense"] as const satisfies readonly Retriever[];
const TARGET = { qps: 1000, p99Ms: 50, overhead: 0.2 };
// A trainer sends a rollout step's queries in one request (Search-R1's batch_search): BATCH queries from each of BATCH_CLIENTS.
const BATCH = 32;
const BATCH_CLIENTS = 8;

interface Corpus {
  name: string;
  dir: string;
  queries: string[];
}

interface Run {
  requests: number;
  qps: number;
  p50: number;
  p99: number;
  /** CPU milliseconds a query of the searching process (the server child, or this one in-process), all its threads. */
  cpuMs: number;
}

/**
 * One retriever on one corpus: in-process, served at each client count, served a trainer's batch a request, and the
 * last two again with the server on `workers` processes.
 */
interface Measured {
  local: Run;
  served: Map<number, Run>;
  batched: Run;
  pool: { workers: number; served: Run; batched: Run };
  /** A bare TCP server answering each one-query request with a real answer's bytes and no other work, at 32 clients. */
  floor: Run;
}

interface Server {
  url: string;
  pid: number;
  /** The child's CPU milliseconds so far, its cluster workers' included. */
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;
const cpuMs = ({ user, system }: NodeJS.CpuUsage) => (user + system) / 1000;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

/** `count` calls of `call` spread over `lanes` concurrent loops, cycling through the queries; each call's latency. */
async function drive<Q>(queries: readonly Q[], count: number, lanes: number, call: (q: Q) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const q = queries[next++ % queries.length];
      const t = now();
      await call(q);
      latencies.push(now() - t);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return latencies;
}

/**
 * A warm-up (JIT, sockets, the embedder's first calls), then the measured run; `cpu` reads the searching process's CPU ms.
 * Each call carries `perCall` queries: queries/s and CPU ms/q count queries, latencies are per call.
 */
async function measure<Q>(queries: readonly Q[], count: number, lanes: number, call: (q: Q) => Promise<void>, cpu: () => Promise<number>, perCall = 1): Promise<Run> {
  await drive(queries, Math.max(2 * lanes, Math.ceil(count / 10)), lanes, call);
  const [started, cpuBefore] = [now(), await cpu()];
  const latencies = await drive(queries, count, lanes, call);
  const [seconds, cpuUsed] = [(now() - started) / 1000, (await cpu()) - cpuBefore];
  latencies.sort((a, b) => a - b);
  return { requests: count, qps: (count * perCall) / seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), cpuMs: cpuUsed / (count * perCall) };
}

/** POSTs the given queries a request over `clients` keep-alive sockets; the body is drained unread, to keep the client cheap. */
function retrieveClient(url: string, clients: number, extra: Record<string, unknown> = {}): { call(queries: string[]): Promise<void>; close(): void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const call = (queries: string[]) =>
    new Promise<void>((resolve, reject) => {
      const body = JSON.stringify({ queries, topk: TOPK, return_scores: true, ...extra });
      const req = http.request(`${url}/retrieve`, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`POST /retrieve answered ${res.statusCode}`))));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  return { call, close: () => agent.destroy() };
}

/**
 * Fails unless the server answers a query with TOPK scored Search-R1 documents, so the bench measures real answers.
 * Resolves with the answer's bytes.
 */
async function checkContract(url: string, query: string): Promise<Buffer> {
  const res = await fetch(`${url}/retrieve`, { method: "POST", body: JSON.stringify({ queries: [query], topk: TOPK, return_scores: true }) });
  const bytes = Buffer.from(await res.arrayBuffer());
  const { result } = JSON.parse(bytes.toString("utf8")) as { result: Array<Array<{ document: { chunk_id?: string }; score?: number }>> };
  const hits = result?.[0] ?? [];
  if (hits.length !== TOPK || !hits.every((h) => h.document?.chunk_id && typeof h.score === "number")) {
    throw new Error(`server at ${url} did not answer with ${TOPK} scored documents: ${JSON.stringify(result).slice(0, 200)}`);
  }
  return bytes;
}

/** Starts `serve()` on the folder in a child process (this file with --child) on `workers` processes; resolves with its URL once it listens. */
function startServer(dir: string, retriever: Retriever, workers = 1, options: ServeOptions = {}): Promise<Server> {
  return startChild(["--child", dir, retriever, String(workers), JSON.stringify(options)], dir);
}

/** Starts `serve()` on a dataset's three environments (as `kit serve --dataset`) in a child process. */
function startModesServer(dataset: string): Promise<Server> {
  return startChild(["--child-modes", dataset], dataset);
}

/** Starts the floor server (floorMain) in a child process, answering `answer`'s bytes to every request. */
function startFloor(answer: Buffer): Promise<Server> {
  return startChild(["--floor", answer.toString("base64")], "the floor server");
}

/** Forks this file with `args`; resolves once the child says where it listens. */
function startChild(args: string[], name: string): Promise<Server> {
  const child = fork(__filename, args);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    await exited;
  };
  const cpu = () =>
    new Promise<number>((resolve) => {
      child.once("message", (m) => resolve(m as number));
      child.send("cpu");
    });
  return new Promise((resolve, reject) => {
    child.once("message", (m) => resolve({ url: (m as { url: string }).url, pid: child.pid!, cpu, stop }));
    child.once("error", (e) => stop().then(() => reject(e)));
    child.once("exit", (code, signal) => reject(new Error(`server child for ${name} exited (${signal ?? code}) before it listened`)));
  });
}

/** Clock ticks a second, for /proc/<pid>/stat's CPU times. */
const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));

/** A process's CPU milliseconds (user + system, all its threads) from /proc, or 0 once it is gone. */
function procCpuMs(pid: number): number {
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

async function childMain(dir: string, retriever: Retriever, workers: number, options: ServeOptions): Promise<void> {
  // The parent going away (even killed) closes the IPC channel: stop with it rather than linger.
  // It may have gone while this one was loading, before the listener was there: then sending fails, and it stops too.
  // (In a cluster worker, which re-runs this, the channel is the primary's, and serveOnWorkers does not return.)
  process.once("disconnect", () => process.exit(0));
  const server = await serveOnWorkers(workers, async () => ({ ...(await serve(await openSearch(dir, { retriever }), { folder: dir, retriever }, { ...options, port: 0 })), summary: dir }));
  const workerPids = () => Object.values(cluster.workers ?? {}).map((w) => w!.process.pid!);
  process.on("message", (m) => m === "cpu" && process.send!(cpuMs(process.cpuUsage()) + workerPids().reduce((sum, pid) => sum + procCpuMs(pid), 0)));
  process.send!({ url: server.url }, (err: Error | null) => err && process.exit(0));
}

async function childModesMain(dataset: string): Promise<void> {
  process.once("disconnect", () => process.exit(0));
  const server = await serve(await openEnvironments(dataset, "paraphrased", { retriever: "bm25" }), { dataset }, { port: 0 });
  process.on("message", (m) => m === "cpu" && process.send!(cpuMs(process.cpuUsage())));
  process.send!({ url: server.url }, (err: Error | null) => err && process.exit(0));
}

/**
 * The least any HTTP server in Node can do a request: a bare TCP server that finds the end of each request (its
 * head and Content-Length body) and writes back a fixed answer (a real one's bytes), with no parsing, search or
 * JSON. Its CPU a request is a floor under kit serve's: 20% overhead at one query a request needs the whole request
 * to cost at most a quarter of the search.
 */
function floorMain(answer: Buffer): void {
  const response = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${answer.length}\r\n\r\n`), answer]);
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let pending = Buffer.alloc(0);
    socket.on("data", (data: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, data]) : data;
      for (;;) {
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) return;
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(pending.toString("latin1", 0, end))?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        pending = pending.subarray(end + 4 + length);
        socket.write(response);
      }
    });
  });
  process.once("disconnect", () => process.exit(0));
  process.on("message", (m) => m === "cpu" && process.send!(cpuMs(process.cpuUsage())));
  server.listen(0, "127.0.0.1", () => process.send!({ url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` }));
}

/** The best run (most queries/s) of each setting over `rounds` rounds, taking turns so none gets the quiet moments alone. */
async function bestOf(settings: Array<() => Promise<Run>>, rounds: number): Promise<Run[]> {
  const best: Run[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < settings.length; k++) {
      const i = (k + round) % settings.length; // a different one goes first each round
      const run = await settings[i]();
      if (!best[i] || run.qps > best[i].qps) best[i] = run;
    }
  }
  return best;
}

/**
 * One corpus and retriever: the queries through the searcher in this process (one query a call, one call at a
 * time), and through the server at each client count.
 */
async function benchRetriever(corpus: Corpus, retriever: Retriever, count: number, rounds: number, workers: number): Promise<Measured> {
  const { dir, queries } = corpus;
  const searcher = await openSearch(dir, { retriever });
  const servers: Server[] = [];
  try {
    const [one, pool] = [await startServer(dir, retriever), await startServer(dir, retriever, workers)];
    servers.push(one, pool);
    for (const server of servers) await checkContract(server.url, queries[0]);
    const floor = await startFloor(await checkContract(one.url, queries[0]));
    servers.push(floor);
    const local = () => measure(queries, count, 1, async (q) => void (await searcher.search([q], TOPK)), async () => cpuMs(process.cpuUsage()));
    const served = (server: Server, clients: number, perCall = 1) => async () => {
      const client = retrieveClient(server.url, clients);
      const groups = Array.from({ length: Math.ceil(queries.length / perCall) }, (_, i) => queries.slice(i * perCall, (i + 1) * perCall));
      try {
        return await measure(groups, Math.ceil(count / perCall), clients, client.call, server.cpu, perCall);
      } finally {
        client.close();
      }
    };
    const [best, batched, poolServed, poolBatched, floorRun, ...bestServed] = await bestOf(
      [local, served(one, BATCH_CLIENTS, BATCH), served(pool, 32), served(pool, BATCH_CLIENTS, BATCH), served(floor, 32), ...CLIENTS.map((c) => served(one, c))],
      rounds,
    );
    return { local: best, batched, served: new Map(CLIENTS.map((clients, i) => [clients, bestServed[i]])), pool: { workers, served: poolServed, batched: poolBatched }, floor: floorRun };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await searcher.close();
  }
}

function apolloCorpus(dataset: string): Corpus {
  const dir = envDir(dataset, "paraphrased");
  const questions = path.join(dataset, "questions.jsonl");
  if (!fs.existsSync(dir) || !fs.existsSync(questions)) throw new Error(`${dataset} has no env/paraphrased or questions.jsonl: run \`npm start\` to build it`);
  const queries = readJsonl<{ status: string; question: string }>(questions)
    .filter((q) => q.status === "accepted")
    .map((q) => q.question);
  return { name: `Apollo 13 (${dir})`, dir, queries };
}

/** The first prose sentence (capitalised, 40 to 200 characters, no markup or code) of a chunk: a query a reader might type. */
function sentenceOf(text: string): string | undefined {
  return text
    .split(/(?<=[.?!])\s+|\n+/)
    .map((s) => s.replace(/\s+/g, " ").trim())
    .find((s) => s.length >= 40 && s.length <= 200 && /^[A-Z][A-Za-z0-9 ,;:'"()/-]+[.?!]$/.test(s));
}

/**
 * The first `chars` characters of the KEP corpus, cut at a line end, chunked as `kit chunk` does (1000/0), as an
 * original-mode environment folder in the cache (embedding its rows the first time); queries are `count` evenly
 * spaced ones of the chunks' first prose sentences.
 */
async function kepCorpus(file: string, chars: number, count: number): Promise<Corpus> {
  if (!fs.existsSync(file)) throw new Error(`KEP corpus ${file} not found; pass its path with --keps FILE`);
  const raw = fs.readFileSync(file, "utf8");
  const slice = raw.slice(0, raw.lastIndexOf("\n", chars) + 1 || chars);
  const chunks = chunkDocuments([{ source: file, text: markdownToText(slice) }]);
  const rows = environmentRows("original", chunks, []);
  // Keyed by the rows (the slice's content as chunked) and the embedder, so a change to either re-embeds.
  const key = crypto.createHash("sha256").update(EMBEDDER).update(JSON.stringify(rows)).digest("hex").slice(0, 16);
  const dir = path.join(CACHE, `serve-kep-${key}`);
  if (fs.existsSync(path.join(dir, "manifest.json"))) {
    console.log(`KEP: using the cached environment ${dir} (delete it to re-embed)`);
  } else {
    console.log(`KEP: embedding ${rows.length} chunks with ${EMBEDDER} into ${dir}; this takes a few minutes the first time`);
    const embedder = await createEmbedder(EMBEDDER, progressReporter("embedding"));
    try {
      await writeEnvironment(dir, "original", chunks, [], { embedder });
    } finally {
      await embedder.close?.();
    }
  }
  const sentences = chunks.map((c) => sentenceOf(c.text)).filter((s): s is string => s !== undefined);
  const queries = Array.from({ length: Math.min(count, sentences.length) }, (_, i) => sentences[Math.floor((i * sentences.length) / count)]);
  return { name: `KEP slice (${slice.length.toLocaleString("en")} chars of ${file}, ${chunks.length} chunks)`, dir, queries };
}

const fixed = (x: number, digits: number) => x.toFixed(digits);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The overhead of serving: 1 - server queries/s / in-process queries/s (negative when serving is faster). */
const overhead = (local: Run, served: Run) => 1 - served.qps / local.qps;

/**
 * The least overhead one query a request can have on one process: the floor server's CPU a request over that plus an
 * in-process query's (CPU, so the client's share of the cores does not count).
 */
const floorOverhead = ({ local, floor }: Measured) => floor.cpuMs / (floor.cpuMs + local.cpuMs);

/** The one-process server's best one-query-a-request run, over the client counts. */
function bestServed({ served }: Measured): { clients: number; run: Run } {
  const [clients, run] = [...served].reduce((a, b) => (b[1].qps > a[1].qps ? b : a));
  return { clients, run };
}

function printTable(corpus: Corpus, results: Map<Retriever, Measured>): void {
  console.log(`\n${corpus.name}: ${corpus.queries.length} queries, top ${TOPK}`);
  const columns = (...cells: string[]) => cells[0].padEnd(10) + cells[1].padEnd(34) + cells.slice(2).map((c) => c.padStart(10)).join("");
  console.log(columns("retriever", "clients", "requests", "queries/s", "p50 ms", "p99 ms", "CPU ms/q"));
  const line = (retriever: string, clients: string, r: Run) =>
    console.log(columns(retriever, clients, String(r.requests), fixed(r.qps, 1), fixed(r.p50, 2), fixed(r.p99, 2), fixed(r.cpuMs, 3)));
  for (const [retriever, m] of results) {
    const { local, served, batched, pool } = m;
    line(retriever, "in-process, 1 at once", local);
    for (const [clients, run] of served) line(retriever, `server, ${clients}`, run);
    line(retriever, `server, ${BATCH_CLIENTS} x ${BATCH} a req`, batched);
    line(retriever, `server, 32, ${pool.workers} processes`, pool.served);
    line(retriever, `server, ${BATCH_CLIENTS} x ${BATCH} a req, ${pool.workers} processes`, pool.batched);
    line(retriever, "bare TCP floor, 32", m.floor);
    const { clients, run } = bestServed(m);
    const describe = (r: Run) => `${pct(overhead(local, r))} (CPU a query ${fixed(r.cpuMs / local.cpuMs, 2)}x in-process)`;
    console.log(
      `${"".padEnd(10)}server overhead against ${fixed(local.qps, 1)} q/s in-process: one query a request ${describe(run)} at ${clients} clients, ` +
        `${describe(pool.served)} on ${pool.workers} processes; ${BATCH} queries a request ${describe(batched)}, ${describe(pool.batched)} on ${pool.workers} processes`,
    );
    console.log(
      `${"".padEnd(10)}floor: a bare TCP server answering the same bytes with no work takes ${fixed(1000 * m.floor.cpuMs, 1)} µs of CPU a request, ` +
        `${fixed(m.floor.cpuMs / local.cpuMs, 2)}x an in-process query: one query a request can have no less than ${pct(floorOverhead(m))} overhead on one process`,
    );
  }
}

function verdict(ok: boolean): string {
  return ok ? "PASS" : "FAIL";
}

function printTargets(all: Array<[Corpus, Map<Retriever, Measured>]>): void {
  const apollo32 = all[0][1].get("bm25")!.served.get(32)!;
  console.log("\nTargets (the server on one process unless said):");
  console.log(`  BM25 Apollo, 32 clients: ${fixed(apollo32.qps, 0)} queries/s = ${fixed(apollo32.qps / TARGET.qps, 2)}x the ${TARGET.qps} floor: ${verdict(apollo32.qps >= TARGET.qps)}`);
  console.log(`  BM25 Apollo, 32 clients: p99 ${fixed(apollo32.p99, 1)} ms = ${fixed(apollo32.p99 / TARGET.p99Ms, 2)}x the ${TARGET.p99Ms} ms ceiling: ${verdict(apollo32.p99 <= TARGET.p99Ms)}`);
  for (const [corpus, results] of all) {
    for (const [retriever, m] of results) {
      const { local, batched, pool } = m;
      const settings: Array<[string, Run]> = [
        [`one query a request (floor ${pct(floorOverhead(m))})`, bestServed(m).run],
        [`one query a request, ${pool.workers} processes`, pool.served],
        [`${BATCH} queries a request`, batched],
        [`${BATCH} queries a request, ${pool.workers} processes`, pool.batched],
      ];
      const shown = settings.map(([name, run]) => `${name} ${pct(overhead(local, run))} ${verdict(overhead(local, run) <= TARGET.overhead)}`);
      console.log(`  overhead ${retriever} ${corpus.name.split(" (")[0]} (ceiling ${pct(TARGET.overhead)}): ${shown.join("; ")}`);
    }
  }
}


/** A process's resident memory in MB, from /proc. */
function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

/** One client's p50 in ms over `seconds`, one query a request, one request at a time. */
async function p50(url: string, queries: readonly string[], seconds: number): Promise<number> {
  const client = retrieveClient(url, 1);
  try {
    const latencies: number[] = [];
    for (const until = now() + seconds * 1000; now() < until; ) {
      const t = now();
      await client.call([queries[latencies.length % queries.length]]);
      latencies.push(now() - t);
    }
    return percentile(latencies.sort((a, b) => a - b), 0.5);
  } finally {
    client.close();
  }
}

/** The limits against their faults on one corpus (BM25, one process): huge queries beside a normal client, and clients that never read. */
async function benchFaults(corpus: Corpus, seconds: number): Promise<void> {
  const { dir, queries } = corpus;
  console.log(`\nFaults, ${corpus.name}, BM25 on one process (${seconds} s a setting):`);
  // 1 MB of the corpus's own questions, so every word is searched.
  const huge = queries.join(" ").repeat(Math.ceil((1 << 20) / queries.join(" ").length)).slice(0, 1 << 20);
  for (const [name, options] of [["no query cap", { maxQueryChars: 1 << 30 }], [`--max-query-chars ${SERVE_LIMITS.maxQueryChars} (default)`, {}]] as const) {
    const server = await startServer(dir, "bm25", 1, options);
    try {
      const alone = await p50(server.url, queries, seconds);
      let loading = true;
      const heavy = retrieveClient(server.url, 4);
      const senders = Array.from({ length: 4 }, async () => {
        while (loading) await heavy.call([huge]);
      });
      const loaded = await p50(server.url, queries, seconds);
      loading = false;
      await Promise.all(senders);
      heavy.close();
      console.log(`  ${name}: a client's p50 ${fixed(alone, 2)} ms alone, ${fixed(loaded, 2)} ms while 4 clients send 1 MB queries`);
    } finally {
      await server.stop();
    }
  }
  // 1,024 queries x topk 100: about 84 MB on Apollo, over the 64 MiB default; raised so that the answers stream.
  const server = await startServer(dir, "bm25", 1, { maxResponseBytes: 1 << 30 });
  try {
    await checkContract(server.url, queries[0]);
    const before = rssMb(server.pid);
    const body = JSON.stringify({ queries: Array.from({ length: 1_024 }, (_, i) => queries[i % queries.length]), topk: 100, return_scores: true });
    const port = Number(new URL(server.url).port);
    const clients = Array.from({ length: 12 }, () => {
      const socket = net.connect(port, "127.0.0.1");
      socket.pause(); // never reads
      socket.write(`POST /retrieve HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      return socket;
    });
    // A client asking one query at a time while the 12 are searched, from the moment they are sent.
    const searching = await p50(server.url, queries, 2);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const held = rssMb(server.pid);
    const stalled = await p50(server.url, queries, 1);
    for (const socket of clients) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    console.log(
      `  12 clients that never read a 1,024 x topk 100 answer: server RSS ${fixed(before, 0)} MB before, ${fixed(held, 0)} MB while they wait, ` +
        `${fixed(rssMb(server.pid), 0)} MB 2 s after they close; another client's p50 ${fixed(searching, 2)} ms in the 2 s after they are sent, ${fixed(stalled, 2)} ms ${seconds} s later`,
    );
  } finally {
    await server.stop();
  }
}

/** A server's start (fork to listening) in ms and its RSS in MB once it answered a warm-up. */
async function started(start: () => Promise<Server>, query: string): Promise<{ server: Server; ms: number; rss: number }> {
  const t = now();
  const server = await start();
  const ms = now() - t;
  await checkContract(server.url, query);
  return { server, ms, rss: rssMb(server.pid) };
}

/** The mixed-mode server (kit serve --dataset: three environments) against a single-mode one, BM25, one process. */
async function benchModes(dataset: string, corpus: Corpus, count: number, rounds: number): Promise<void> {
  const { queries } = corpus;
  const single = await started(() => startServer(envDir(dataset, "paraphrased"), "bm25"), queries[0]);
  const mixed = await started(() => startModesServer(dataset), queries[0]);
  try {
    const run = (server: Server, extra: Record<string, unknown>) => async () => {
      const client = retrieveClient(server.url, MODE_CLIENTS, extra);
      try {
        return await measure(queries.map((q) => [q]), count, MODE_CLIENTS, client.call, server.cpu);
      } finally {
        client.close();
      }
    };
    const settings: Array<[string, () => Promise<Run>]> = [
      ["single-mode server (env/paraphrased)", run(single.server, {})],
      ["mixed-mode server, no mode (paraphrased)", run(mixed.server, {})],
      ['mixed-mode server, "mode": "original"', run(mixed.server, { mode: "original" })],
      ['mixed-mode server, "noise": 0.5', run(mixed.server, { noise: 0.5 })],
    ];
    const best = await bestOf(settings.map(([, s]) => s), rounds);
    console.log(`\nModes, ${corpus.name}, BM25 on one process, ${MODE_CLIENTS} clients, one query a request (best of ${rounds} rounds of ${count} requests):`);
    console.log(`  start: single ${fixed(single.ms, 0)} ms, mixed ${fixed(mixed.ms, 0)} ms (${fixed(mixed.ms / single.ms, 2)}x); RSS: single ${fixed(single.rss, 0)} MB, mixed ${fixed(mixed.rss, 0)} MB (${fixed(mixed.rss / single.rss, 2)}x)`);
    settings.forEach(([name], i) => {
      const r = best[i];
      console.log(`  ${name}: ${fixed(r.qps, 0)} queries/s (${fixed(r.qps / best[0].qps, 2)}x), p50 ${fixed(r.p50, 2)} ms, p99 ${fixed(r.p99, 2)} ms, CPU ${fixed(r.cpuMs, 3)} ms/q (${fixed(r.cpuMs / best[0].cpuMs, 2)}x)`);
    });
  } finally {
    await Promise.all([single.server.stop(), mixed.server.stop()]);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: "string", default: "4000" },
      "dense-requests": { type: "string", default: "100" },
      rounds: { type: "string", default: "3" },
      keps: { type: "string", default: "../shared/corpora/kubernetes_keps.md" },
      "kep-chars": { type: "string", default: "5000000" },
      "kep-queries": { type: "string", default: "300" },
      workers: { type: "string", default: String(os.availableParallelism()) },
      "fault-seconds": { type: "string", default: "5" },
      "faults-only": { type: "boolean", default: false },
      "modes-only": { type: "boolean", default: false },
      dataset: { type: "string", default: APOLLO },
    },
  });
  const apollo = apolloCorpus(values.dataset);
  if (values["faults-only"]) return benchFaults(apollo, Number(values["fault-seconds"]));
  if (values["modes-only"]) return benchModes(values.dataset, apollo, Number(values.requests), Number(values.rounds));
  const workers = Number(values.workers);
  const requests = { bm25: Number(values.requests), dense: Number(values["dense-requests"]) };
  const rounds = Number(values.rounds);
  const corpora = [apollo, await kepCorpus(values.keps, Number(values["kep-chars"]), Number(values["kep-queries"]))];
  console.log(
    `${os.availableParallelism()} cores, 1-minute load average ${os.loadavg()[0].toFixed(1)} at the start; a setting: best of ${rounds} rounds of ` +
      `bm25 ${requests.bm25} / dense ${requests.dense} requests (dense capped: use-lite embeds each query), each after a warm-up of a tenth as many`,
  );
  const all: Array<[Corpus, Map<Retriever, Measured>]> = [];
  for (const corpus of corpora) {
    const results = new Map<Retriever, Measured>();
    for (const retriever of RETRIEVERS) results.set(retriever, await benchRetriever(corpus, retriever, requests[retriever], rounds, workers));
    printTable(corpus, results);
    all.push([corpus, results]);
  }
  printTargets(all);
  await benchFaults(apollo, Number(values["fault-seconds"]));
  await benchModes(values.dataset, apollo, requests.bm25, rounds);
  // The bench and its server child take both cores at 8+ clients; a higher figure means other work competed.
  console.log(`1-minute load average at the end: ${os.loadavg()[0].toFixed(1)}`);
}

if (process.argv[2] === "--floor") {
  floorMain(Buffer.from(process.argv[3], "base64"));
} else if (process.argv[2] === "--child-modes") {
  childModesMain(process.argv[3]).catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
} else if (process.argv[2] === "--child") {
  childMain(process.argv[3], process.argv[4] as Retriever, Number(process.argv[5]), JSON.parse(process.argv[6])).catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
} else {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
