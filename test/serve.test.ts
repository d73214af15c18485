import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFile, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Chunk } from "../lib/chunking";
import type { Embedder } from "../lib/embedders";
import { environmentRows, envDir, writeEnvironment } from "../lib/environment";
import { KitError } from "../lib/errors";
import type { CheckedParaphrase } from "../lib/paraphrase";
import { createSearcher, type Searcher } from "../lib/search";
import { MODES } from "../lib/environment";
import { type Environments, singleEnvironment } from "../lib/environments";
import { searchInTurns, serve, TURN_HITS } from "../lib/serve";
import { hashedEmbedding } from "./helpers/ollama-server";

const TEXTS = [
  "Oxygen tank 2 failed at 55:54:53 after its fans were stirred.",
  "The crew moved into the lunar module, which served as a lifeboat.",
  "Carbon dioxide filters from the command module were adapted with tape for the lunar module.",
  "Entry batteries held 99 ampere-hours when the command module was powered down.",
  "A series of earth photos were taken after the maneuver.",
  "Splashdown came at 142:54:41, near the recovery ship Iwo Jima.",
  "The service module was jettisoned and photographed by the crew.",
  "Mission control computed a free-return trajectory around the moon.",
];
const CHUNKS: Chunk[] = TEXTS.map((text, i) => ({ chunk_id: `chunk_${i + 1}`, text, source: "test.md", start: 0, end: text.length }));
const PARAPHRASES: CheckedParaphrase[] = [
  { paraphrase_id: "chunk_1_reworded_1", chunk_id: "chunk_1", paragraph_index: null, style: "reworded", text: "After its fans were stirred, oxygen tank 2 failed at 55:54:53.", model: "test", verdict: "faithful", reasons: [] },
  { paraphrase_id: "chunk_5_condensed_1", chunk_id: "chunk_5", paragraph_index: null, style: "condensed", text: "Earth photos were taken after the maneuver.", model: "test", verdict: "faithful", reasons: [] },
];
const ROWS = environmentRows("paraphrased", CHUNKS, PARAPHRASES);
const INFO = { mode: "paraphrased", rows: ROWS.length };
const DOCUMENT_KEYS = ["id", "contents", "chunk_id", "kind"];

type Server = Awaited<ReturnType<typeof serve>>;
let main: Server;
/** Computes the answers the server should give: the same rows, searched directly. */
const reference = createSearcher(ROWS);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-serve-"));

test.before(async () => {
  main = await serve(createSearcher(ROWS), INFO, { port: 0 });
});
test.after(async () => {
  await main?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function post(url: string, body: unknown): Promise<{ status: number; type: string | null; json: any }> {
  const res = await fetch(`${url}/retrieve`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, type: res.headers.get("content-type"), json: await res.json() };
}

/** What a Search-R1 answer with scores should hold for these queries: the reference hits, as documents. */
async function expected(queries: string[], topk: number) {
  return (await reference.search(queries, topk)).map((hits) =>
    hits.map((h) => ({ document: { id: h.row_id, contents: `"${h.chunk_id}"\n${h.text}`, chunk_id: h.chunk_id, kind: h.kind }, score: h.score })),
  );
}

test("POST /retrieve: one list per query, in order, topk documents with scores, Search-R1's document shape", async () => {
  const queries = ["oxygen tank fans stirred by the crew", "lunar module lifeboat crew"];
  const r = await post(main.url, { queries, topk: 2, return_scores: true });
  assert.is(r.status, 200);
  assert.match(r.type ?? "", /^application\/json/);
  assert.equal(Object.keys(r.json), ["result"]);
  const result = r.json.result;
  assert.is(result.length, 2);
  assert.equal(result.map((list: unknown[]) => list.length), [2, 2]);
  // chunk_1 is served through its paraphrase (the paraphrased environment), chunk_2 through its own text.
  assert.equal(result[0][0].document, { id: "chunk_1_reworded_1", contents: `"chunk_1"\n${PARAPHRASES[0].text}`, chunk_id: "chunk_1", kind: "paraphrase" });
  assert.equal([result[1][0].document.id, result[1][0].document.kind], ["chunk_2", "original"]);
  for (const list of result) {
    for (const item of list) {
      assert.equal(Object.keys(item), ["document", "score"]);
      assert.equal(Object.keys(item.document), DOCUMENT_KEYS);
      assert.ok(item.document.contents.startsWith(`"${item.document.chunk_id}"\n`), "contents: the quoted title line, then the text");
      assert.type(item.score, "number");
    }
    assert.ok(list[0].score >= list[1].score, "best first");
    assert.is(new Set(list.map((x: any) => x.document.chunk_id)).size, list.length, "distinct chunks");
  }
  assert.equal(result, await expected(queries, 2));
  // Reversed queries, reversed lists.
  const reversed = await post(main.url, { queries: [...queries].reverse(), topk: 2, return_scores: true });
  assert.equal(reversed.json.result, [...result].reverse());
});

test("the README's Python client runs as written against the server (its URL swapped for the test's)", async () => {
  const readme = fs.readFileSync(path.join(__dirname, "../README.md"), "utf8");
  const client = /```python\n([\s\S]*?)```/.exec(readme)![1].replace("http://127.0.0.1:8000", main.url);
  // Not spawnSync: the server answers from this process's event loop.
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile("/usr/bin/python3", ["-c", client], { timeout: 30_000 }, (err, out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out))),
  );
  const lines = stdout.trim().split("\n");
  assert.is(lines.length, 3);
  // The README's query is the fourth chunk's sentence: it comes first, an original row, its text after the title line.
  assert.match(lines[0], /^[\d.]+ chunk_4 original Entry batteries held 99 ampere-hours/);
});

test("without return_scores each list holds the documents alone; topk missing, null or 0 means the default 3", async () => {
  const queries = ["the crew and the command module", "moon"];
  const want = (await expected(queries, 3)).map((list) => list.map((x) => x.document));
  assert.is(want[0].length, 3, "the first query matches at least 3 chunks");
  for (const body of [{ queries }, { queries, topk: null }, { queries, topk: 0 }, { queries, topk: 3, return_scores: false }]) {
    const r = await post(main.url, body);
    assert.is(r.status, 200, JSON.stringify(body));
    assert.equal(r.json.result, want, JSON.stringify(body));
    assert.equal(Object.keys(r.json.result[0][0]), DOCUMENT_KEYS);
  }
  const one = await post(main.url, { queries: ["the crew and the command module"], topk: 1 });
  assert.equal(one.json.result, [want[0].slice(0, 1)]);
});

test("GET /health answers 200 with JSON: status ok and the server's info", async () => {
  const res = await fetch(`${main.url}/health`);
  assert.is(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  assert.equal(await res.json(), { status: "ok", ...INFO });
});

test("each bad request gets a 400 with a JSON error, and the next good request is answered", async () => {
  const cases: [string, string | unknown, RegExp][] = [
    ["malformed JSON", '{"queries": ["oxygen"', /not valid JSON/],
    ["empty body", "", /not valid JSON/],
    ["a list body", [1], /JSON object/],
    ["a string body", '"oxygen"', /JSON object/],
    ["null body", "null", /JSON object/],
    ["missing queries", { topk: 3 }, /"queries" must be a list of strings/],
    ["queries as a string", { queries: "oxygen" }, /"queries" must be a list of strings/],
    ["a non-string query", { queries: ["oxygen", 7] }, /"queries" must be a list of strings/],
    ["a null query", { queries: [null] }, /"queries" must be a list of strings/],
    ["over maxHits", { queries: Array.from({ length: 22_000 }, (_, i) => `q${i}`), topk: 12 }, /22000 queries x topk 12 ask for 264000 hits; at most 262144 a request \(kit serve --max-hits\)/],
    ["topk 1000", { queries: ["oxygen"], topk: 1000 }, /"topk" must be an integer from 1 to 100, got 1000/],
    ["topk -1", { queries: ["oxygen"], topk: -1 }, /"topk" must be an integer from 1 to 100, got -1/],
    ["topk 2.5", { queries: ["oxygen"], topk: 2.5 }, /"topk" must be an integer from 1 to 100, got 2\.5/],
    ["topk as a string", { queries: ["oxygen"], topk: "3" }, /"topk" must be an integer/],
    ["return_scores 'yes'", { queries: ["oxygen"], return_scores: "yes" }, /"return_scores" must be true or false/],
  ];
  const good = { queries: ["oxygen tank"], topk: 1 };
  const goodAnswer = { result: (await expected(["oxygen tank"], 1)).map((l) => l.map((x) => x.document)) };
  for (const [name, body, message] of cases) {
    const r = await post(main.url, body);
    assert.is(r.status, 400, name);
    assert.match(r.type ?? "", /^application\/json/, name);
    assert.equal(Object.keys(r.json), ["error"], name);
    assert.match(r.json.error, message, name);
    const next = await post(main.url, good);
    assert.is(next.status, 200, `after ${name}`);
    assert.equal(next.json, goodAnswer, `after ${name}`);
  }
});

test("a Search-R1 turn: no searches, empty and blank queries, and a batch of 2,560 queries are answered with 200", async () => {
  // Search-R1's rollout loop posts every rollout's search of a turn at once and reads response["result"].
  const none = await post(main.url, { queries: [], topk: 3, return_scores: true });
  assert.is(none.status, 200);
  assert.equal(none.json, { result: [] });
  const mixed = await post(main.url, { queries: ["oxygen tank", "", "  \n\t", "oxygen tank"], topk: 2, return_scores: true });
  assert.is(mixed.status, 200);
  assert.is(mixed.json.result.length, 4);
  assert.equal(mixed.json.result[1], []);
  assert.equal(mixed.json.result[2], []);
  assert.equal(mixed.json.result[0], await expected(["oxygen tank"], 2).then((l) => l[0]));
  assert.equal(mixed.json.result[3], mixed.json.result[0]);
  // 512 prompts x 5 rollouts (train_grpo.sh), every one searching.
  // Each query asks for another row's words, so answers in the wrong order would not pass as right.
  const queries = Array.from({ length: 2_560 }, (_, i) => (i % 7 ? ROWS[i % ROWS.length].text.split(/\s+/).slice(0, 6).join(" ") : ""));
  const batch = await post(main.url, { queries, topk: 3, return_scores: true });
  assert.is(batch.status, 200);
  assert.is(batch.json.result.length, 2_560);
  queries.forEach((q, i) => assert.is(batch.json.result[i].length === 0, q === "", `query ${i}`));
  // Searched in turns (lib/serve.ts searchInTurns), answered as one search of the whole batch, in order.
  assert.equal(batch.json.result, await expected(queries, 3));
});

test("wrong method 405, unknown path 404, both JSON", async () => {
  for (const [method, route, status] of [["GET", "/retrieve", 405], ["PUT", "/retrieve", 405], ["GET", "/nothing", 404], ["POST", "/search", 404]] as const) {
    const res = await fetch(`${main.url}${route}`, { method, ...(method !== "GET" && { body: "{}" }) });
    assert.is(res.status, status, `${method} ${route}`);
    assert.type(((await res.json()) as { error: unknown }).error, "string");
  }
});

test("a body over maxBodyBytes gets a 400, announced or chunked; one at the limit is served", async () => {
  const limit = 256;
  const small = await serve(createSearcher(ROWS), INFO, { port: 0, maxBodyBytes: limit, topk: 1, maxTopk: 5 });
  try {
    const padded = (size: number) => {
      const body = JSON.stringify({ queries: ["oxygen tank"] });
      return body.slice(0, -1) + " ".repeat(size - body.length) + "}";
    };
    assert.is(Buffer.byteLength(padded(limit)), limit);
    const atLimit = await post(small.url, padded(limit));
    assert.is(atLimit.status, 200);
    assert.is(atLimit.json.result[0].length, 1, "this server's default topk is 1");
    // A declared content-length over the limit is refused before the body is read.
    const over = await post(small.url, padded(limit + 1));
    assert.is(over.status, 400);
    assert.equal(over.json, { error: "body of 257 bytes is over the limit of 256" });
    const large = await post(small.url, padded(1 << 20));
    assert.is(large.status, 400);
    assert.match(large.json.error, /body of 1048576 bytes is over the limit of 256/);
    // Without a content-length, the server counts the bytes as they come.
    const chunked = await new Promise<{ status?: number; body: string }>((resolve, reject) => {
      const req = http.request(`${small.url}/retrieve`, { method: "POST", headers: { "transfer-encoding": "chunked" } }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode, body }));
      });
      req.on("error", reject);
      req.write('{"queries": ["oxygen"');
      for (let i = 0; i < 20; i++) req.write(", " + JSON.stringify("x".repeat(50)));
      req.end("]}");
    });
    assert.is(chunked.status, 400);
    assert.match(JSON.parse(chunked.body).error, /body is over the limit of 256 bytes/);
    assert.equal((await post(small.url, { queries: ["oxygen"], topk: 6 })).json, { error: '"topk" must be an integer from 1 to 5, got 6' });
    assert.is((await post(small.url, { queries: ["oxygen"], topk: 5 })).status, 200);
  } finally {
    await small.close();
  }
  let error: unknown;
  await serve(createSearcher(ROWS), INFO, { port: 0, topk: 10, maxTopk: 5 }).catch((e) => (error = e));
  assert.ok(error instanceof KitError && /--topk 10 is above/.test(error.message), String(error));
});

test("32 concurrent clients, 20 requests each: no error, every answer right", async () => {
  const queries = ["oxygen tank", "lunar module", "command module batteries", "earth photos", "splashdown recovery ship", "crew", "moon trajectory", "carbon dioxide filters tape"];
  const answers = new Map<string, unknown>();
  for (const q of queries) for (const topk of [1, 2, 3]) answers.set(`${q}|${topk}`, await expected([q, queries[0]], topk));
  let answered = 0;
  const client = async (c: number) => {
    for (let i = 0; i < 20; i++) {
      const q = queries[(c + i) % queries.length];
      const topk = 1 + ((c * 7 + i) % 3);
      const r = await post(main.url, { queries: [q, queries[0]], topk, return_scores: true });
      assert.is(r.status, 200, `client ${c}, request ${i}`);
      assert.equal(r.json.result, answers.get(`${q}|${topk}`), `client ${c}, request ${i}: ${q}`);
      answered++;
    }
  };
  await Promise.all(Array.from({ length: 32 }, (_, c) => client(c)));
  assert.is(answered, 32 * 20);
});

test("a request of many queries is searched in turns: others are served between its turns; a client gone stops it", async () => {
  const marks: string[] = [];
  const searcher: Searcher = {
    retriever: "bm25",
    embedder: null,
    rows: new Map(),
    search: async (queries) => {
      marks.push(`search ${queries.length}`);
      return queries.map(() => []);
    },
    close: async () => {},
  };
  const perTurn = TURN_HITS / 4;
  const request = { queries: Array(3 * perTurn).fill("q"), topk: 4, selection: {} };
  const taken: unknown[][] = [];
  const heavy = searchInTurns(singleEnvironment(searcher), request, (hits) => taken.push(hits));
  setImmediate(() => marks.push("another request"));
  assert.is(await heavy, true);
  assert.equal(marks, [`search ${perTurn}`, "another request", `search ${perTurn}`, `search ${perTurn}`]);
  assert.equal(taken.map((hits) => hits.length), [perTurn, perTurn, perTurn], "each turn's hits handed on as it comes");

  let turns = 0;
  assert.is(await searchInTurns(singleEnvironment(searcher), request, () => {}, () => ++turns > 1), false);
  assert.is(marks.length, 5, "one turn searched, then the client was gone");
  // A topk over TURN_HITS still searches a query a turn.
  await searchInTurns(singleEnvironment(searcher), { ...request, queries: ["a", "b"], topk: 2 * TURN_HITS }, () => {});
  assert.equal(marks.slice(5), ["search 1", "search 1"]);
});

test("a query over maxQueryChars is searched on its first maxQueryChars characters; BM25's cost stays that of a short query", async () => {
  const capped = await serve(createSearcher(ROWS), INFO, { port: 0, maxQueryChars: 21 });
  try {
    const head = "lunar module lifeboat";
    const long = head + " oxygen tank fans stirred".repeat(40_000); // 1 MB, all of it matching other chunks
    const r = await post(capped.url, { queries: [long, head], topk: 3, return_scores: true });
    assert.is(r.status, 200);
    assert.equal(r.json.result, await expected([head, head], 3));
  } finally {
    await capped.close();
  }
});

/** POSTs a body over a raw socket that reads nothing until resumed; resolves once the body is sent. */
async function nonReadingClient(url: string, body: string): Promise<net.Socket> {
  const client = net.connect(Number(new URL(url).port), "127.0.0.1");
  client.pause();
  await new Promise<void>((resolve) => client.write(`POST /retrieve HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, () => resolve()));
  return client;
}

test("an answer over maxResponseBytes gets a 400 naming the limit, before any of it is sent; one at the limit is served", async () => {
  const queries = ["oxygen tank", "lunar module"];
  const size = Buffer.byteLength(JSON.stringify({ result: await expected(queries, 3) }));
  for (const [limit, status] of [[size, 200], [size - 1, 400]] as const) {
    const bounded = await serve(createSearcher(ROWS), INFO, { port: 0, maxResponseBytes: limit });
    try {
      const res = await fetch(`${bounded.url}/retrieve`, { method: "POST", body: JSON.stringify({ queries, topk: 3, return_scores: true }) });
      assert.is(res.status, status, `limit ${limit}`);
      if (status === 200) assert.is(Number(res.headers.get("content-length")), size, "the length is known before the answer is written");
      else assert.equal(await res.json(), { error: `the answer would be ${size} bytes; at most ${limit} a response (kit serve --max-response-bytes): split the batch or ask for a smaller topk` });
    } finally {
      await bounded.close();
    }
  }
});

test("an answer streams as the client reads: one that never reads holds a piece in the server, not the answer; gone, it holds nothing", async () => {
  // 32,768 queries x topk 8: an answer of about 40 MB, far more than the kernel's socket buffers hold.
  const queries = Array.from({ length: 32_768 }, (_, i) => TEXTS[i % TEXTS.length].split(" ").slice(0, 3).join(" "));
  const connected = new Promise<net.Socket>((resolve) => main.server.once("connection", resolve));
  const client = await nonReadingClient(main.url, JSON.stringify({ queries, topk: 8, return_scores: true }));
  const server = await connected;
  let written = -1;
  await within(
    (async () => {
      // Written until the socket is full, then no more.
      while (server.bytesWritten !== written || server.bytesWritten === 0) {
        written = server.bytesWritten;
        await sleep(300);
      }
    })(),
    30_000,
    "the server's writes stopping",
  );
  assert.ok(written < 16 << 20, `the server wrote ${written} bytes to a client that reads nothing`);
  assert.ok(server.writableLength <= 256 << 10, `the server buffers ${server.writableLength} bytes for it`);
  const closed = new Promise((resolve) => server.once("close", resolve));
  client.destroy();
  await within(closed, 10_000, "the server's side closing");
  // The next request is answered at once.
  assert.is((await post(main.url, { queries: ["oxygen"] })).status, 200);
});

test("close() answers every request received, however long they take, then resolves 0; past the grace period it cuts the rest and says how many", async () => {
  // A search that holds the event loop, as a heavy BM25 batch does: requests wait unread meanwhile.
  const busy: Searcher = {
    ...createSearcher(ROWS),
    search: (queries, k) => {
      for (const until = Date.now() + 300; Date.now() < until; );
      return reference.search(queries, k);
    },
  };
  const s = await serve(busy, INFO, { port: 0 });
  // One at a time, the 12 take 3.6 s, more than close() used to wait.
  const clients = await Promise.all(Array.from({ length: 12 }, () => nonReadingClient(s.url, JSON.stringify({ queries: ["oxygen tank"], topk: 1 }))));
  const answers = clients.map((client) => {
    client.resume();
    let text = "";
    client.on("data", (d) => (text += d));
    return new Promise<string>((resolve) => client.on("close", () => resolve(text)));
  });
  assert.is(await within(s.close(), 30_000, "close()"), 0);
  for (const text of await Promise.all(answers)) assert.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*connection: close[^]*"chunk_1"/i);

  const stuck = await serve({ ...createSearcher(ROWS), search: () => sleep(5_000).then(() => []) }, INFO, { port: 0, graceSeconds: 1 });
  const client = (await nonReadingClient(stuck.url, JSON.stringify({ queries: ["oxygen tank"] }))).resume();
  const reset = new Promise((resolve) => client.on("close", resolve));
  const started = Date.now();
  assert.is(await within(stuck.close(), 10_000, "close() with a request past the grace"), 1);
  assert.ok(Date.now() - started < 3_000, `close() took ${Date.now() - started} ms with a grace of 1 s`);
  await within(reset, 5_000, "the cut client's connection closing");
});

/** Whether a new TCP connection to the port is refused. */
const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED"));
  });

/** Fails instead of hanging the suite when `promise` takes longer than a generous bound. */
const within = <T>(promise: Promise<T>, ms: number, what: string) =>
  // Unreferenced, so the timer does not keep the process alive once the promise has won.
  Promise.race([promise, sleep(ms, undefined, { ref: false }).then(() => Promise.reject(new Error(`${what} took over ${ms / 1000}s`)))]);

test("close() resolves with a kept-alive client connection open, closes the searcher, and the port refuses connections", async () => {
  let searcherClosed = 0;
  const searcher: Searcher = { ...createSearcher(ROWS), close: async () => void searcherClosed++ };
  const s = await serve(searcher, INFO, { port: 0 });
  const port = Number(new URL(s.url).port);
  assert.ok(port > 0);
  // This leaves an idle keep-alive connection in fetch's pool.
  assert.is((await post(s.url, { queries: ["oxygen"] })).status, 200);
  assert.not.ok(await refused(port));
  await within(s.close(), 10_000, "close()");
  assert.is(searcherClosed, 1);
  assert.ok(await refused(port), "connections are refused after close()");
  const failed = await fetch(`${s.url}/health`, { headers: { connection: "close" } }).then(() => false, () => true);
  assert.ok(failed, "a request after close() fails");
});

test("the README's recipe, npx kit serve & then kill $!, leaves no server running", async () => {
  const { child } = await startKitServe();
  child.kill("SIGTERM");
  await new Promise((resolve) => child.once("exit", resolve));
  const folder = envDir(path.join(tmp, "dataset"), "paraphrased");
  // npx runs the kit as its child and does not pass SIGTERM on: the server must stop when npx does.
  const script = `npx --no-install kit serve --index ${folder} --port 0 > ${tmp}/npx.log 2>&1 &
pid=$!
for i in $(seq 100); do grep -q "POST http" ${tmp}/npx.log && break; sleep 0.2; done
grep -q "POST http" ${tmp}/npx.log || { cat ${tmp}/npx.log; exit 3; }
kill $pid
sleep 2
pgrep -f "^node .* serve --index ${folder}" && exit 4
exit 0`;
  const run = spawnSync("bash", ["-c", script], { encoding: "utf8", env: { ...process.env, CI: "true" } });
  assert.is(run.status, 0, `${run.stdout}${run.stderr}`);
  assert.match(fs.readFileSync(path.join(tmp, "npx.log"), "utf8"), /^serve: stopped$/m);
});

/** Runs `kit serve --index DIR --port 0 ...args` on an environment of the test rows (written to DIR if missing); resolves once it prints where it listens. */
async function startKitServe(args: string[] = [], folder = envDir(path.join(tmp, "dataset"), "paraphrased")) {
  const embedder: Embedder = { spec: "test-hash", dimension: 16, embed: async (texts) => texts.map((t) => Float32Array.from(hashedEmbedding(t, 16))) };
  if (!fs.existsSync(folder)) await writeEnvironment(folder, "paraphrased", CHUNKS, PARAPHRASES, { embedder });
  const child = spawn(process.execPath, ["bin/kit.js", "serve", "--index", folder, "--port", "0", ...args], { env: { ...process.env, CI: "true" } });
  const output = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (output.stdout += d));
  child.stderr.on("data", (d) => (output.stderr += d));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("exit", (code, signal) => resolve([code, signal])));
  try {
    const url = await within(
      (async () => {
        for (;;) {
          const m = /^serve: (\d+) rows over (\d+) chunks from .*, bm25(; \d+ worker processes)?; POST (http:\/\/127\.0\.0\.1:(\d+))\/retrieve, GET \4\/health/m.exec(output.stdout);
          if (m) {
            assert.equal([Number(m[1]), Number(m[2])], [ROWS.length, CHUNKS.length]);
            assert.ok(Number(m[5]) > 0, `the printed port is the one picked, not 0: ${m[0]}`);
            return m[4];
          }
          if (child.exitCode !== null) throw new Error(`kit serve exited ${child.exitCode}: ${output.stderr.trim().split("\n").slice(-12).join("\n")}`);
          await sleep(50);
        }
      })(),
      30_000,
      "kit serve starting",
    );
    return { child, url, output, exited };
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
}

/** The process ids of a process's children (Linux /proc). */
function childrenOf(pid: number): number[] {
  return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
}

test("kit serve --port 0: prints the URL it listens on, answers, and stops on SIGTERM with exit 0", async () => {
  const { child, url, output, exited } = await startKitServe();
  try {
    const health = (await (await fetch(`${url}/health`)).json()) as Record<string, unknown>;
    assert.equal([health.status, health.mode, health.retriever, health.rows, health.chunks], ["ok", null, "bm25", ROWS.length, CHUNKS.length], "an --index folder has no mode");
    const r = await post(url, { queries: ["oxygen tank fans stirred"], topk: 1, return_scores: true });
    assert.is(r.status, 200);
    assert.equal(r.json.result, await expected(["oxygen tank fans stirred"], 1));
    child.kill("SIGTERM");
    const [code, signal] = await within(exited, 10_000, "kit serve stopping");
    assert.equal([code, signal], [0, null], output.stderr);
    assert.match(output.stdout, /\nserve: stopped\n$/);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});

test("kit serve --workers 2: two processes answer on one port, a killed one is replaced, SIGTERM stops them all", async () => {
  const { child, url, output, exited } = await startKitServe(["--workers", "2"]);
  try {
    assert.match(output.stdout, /; 2 worker processes; POST/);
    const workers = childrenOf(child.pid!);
    assert.is(workers.length, 2);
    const queries = ["oxygen tank fans stirred", "lunar module lifeboat crew"];
    const want = await expected(queries, 2);
    // Fresh connections are spread over the workers; every answer is the same.
    for (let i = 0; i < 8; i++) assert.equal((await post(url, { queries, topk: 2, return_scores: true })).json.result, want);
    process.kill(workers[0], "SIGKILL");
    const replaced = await within(
      (async () => {
        for (;;) {
          const now = childrenOf(child.pid!);
          if (now.length === 2 && !now.includes(workers[0]) && /exited \(SIGKILL\); starting another/.test(output.stderr)) return now;
          await sleep(50);
        }
      })(),
      30_000,
      "a replacement worker",
    );
    for (let i = 0; i < 8; i++) assert.equal((await post(url, { queries, topk: 2, return_scores: true })).json.result, want);
    child.kill("SIGTERM");
    const [code, signal] = await within(exited, 10_000, "kit serve stopping");
    assert.equal([code, signal], [0, null], output.stderr);
    assert.match(output.stdout, /\nserve: stopped\n$/);
    for (const pid of replaced) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});

for (const workers of [1, 2]) {
  test(`kit serve --workers ${workers}: SIGTERM during 12 heavy requests answers all 12, then exits 0`, async () => {
    const { child, url, output, exited } = await startKitServe(["--workers", String(workers)]);
    try {
      // 16,384 queries x topk 8 a request: about 20 MB to answer, a second or more of work each on a busy machine.
      const queries = Array.from({ length: 16_384 }, (_, i) => TEXTS[i % TEXTS.length].split(" ").slice(0, 4).join(" "));
      const clients = await Promise.all(Array.from({ length: 12 }, () => nonReadingClient(url, JSON.stringify({ queries, topk: 8 }))));
      const answers = clients.map((client) => {
        const parts: Buffer[] = [];
        client.on("data", (d: Buffer) => parts.push(d)).resume();
        return new Promise<string>((resolve) => client.on("close", () => resolve(Buffer.concat(parts).toString("utf8"))));
      });
      child.kill("SIGTERM");
      for (const [i, text] of (await within(Promise.all(answers), 60_000, "the answers")).entries()) {
        assert.match(text.slice(0, 20), /^HTTP\/1\.1 200 OK/, `request ${i}: ${text.slice(0, 200)}`);
        assert.is(JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4)).result.length, queries.length, `request ${i}`);
      }
      assert.equal(await within(exited, 30_000, "kit serve stopping"), [0, null], output.stderr);
      assert.match(output.stdout, /\nserve: stopped\n$/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });
}

test("kit serve --workers 2 whose workers die and cannot start again (the index removed): exits 1 with the last worker's error", async () => {
  const folder = path.join(tmp, "removed");
  const { child, output, exited } = await startKitServe(["--workers", "2"], folder);
  try {
    fs.rmSync(folder, { recursive: true });
    for (const pid of childrenOf(child.pid!)) process.kill(pid, "SIGKILL");
    // Restarts 0.5, 1, 2 and 4 s apart, then the fifth failure ends it.
    const [code] = await within(exited, 60_000, "kit serve giving up");
    assert.is(code, 1, output.stderr);
    const lines = output.stderr.trim().split("\n");
    assert.match(lines.at(-1)!, new RegExp(`^kit: serve: 5 worker processes in a row failed to start; the last: index folder ${folder} does not exist`));
    assert.match(output.stderr, /exited \(SIGKILL\); starting another in 0\.5 s/);
    assert.match(output.stderr, /a new worker failed to start \(1 in a row\): .*; starting another in 1 s\n/);
    assert.match(output.stderr, /a new worker failed to start \(4 in a row\): .*; starting another in 8 s\n/);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});

test("kit serve --workers 2 on a folder holding no index: the workers' one-line error, exit 1", async () => {
  // The folder exists, so the primary starts the workers; opening the index fails in them.
  const empty = fs.mkdtempSync(path.join(tmp, "empty-"));
  const child = spawn(process.execPath, ["bin/kit.js", "serve", "--index", empty, "--port", "0", "--workers", "2"], { env: { ...process.env, CI: "true" } });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const code = await within(new Promise<number | null>((resolve) => child.once("close", resolve)), 30_000, "kit serve failing");
  assert.is(code, 1);
  assert.equal(stderr.trim().split("\n"), [`kit: index folder ${empty} has no manifest.json; rebuild the index`]);
});

/** The fixture's three environments in memory, as kit serve --dataset holds them (paraphrased answering requests naming none). */
function fixtureEnvironments(): Environments {
  const byMode = Object.fromEntries(MODES.map((m) => [m, createSearcher(environmentRows(m, CHUNKS, PARAPHRASES))])) as Environments["byMode"];
  return { mode: "paraphrased", fallback: byMode.paraphrased!, byMode, close: async () => {} };
}

async function postTo(url: string, route: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}${route}`, { method: "POST", body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

test("issue 28: a request's mode picks an environment; none gets the server's own, as before", async () => {
  const modes = await serve(fixtureEnvironments(), INFO, { port: 0 });
  try {
    const query = { queries: ["oxygen tank fans stirred", "earth photos after the maneuver"], topk: 8 };
    const plain = await postTo(modes.url, "/retrieve", query);
    assert.equal(plain.json, (await post(main.url, query)).json, "no mode: the paraphrased environment's answers, as a one-environment server gives them");
    for (const mode of MODES) {
      const r = await postTo(modes.url, "/retrieve", { ...query, mode });
      const rows = environmentRows(mode, CHUNKS, PARAPHRASES);
      const want = (await createSearcher(rows).search(query.queries, 8)).map((hits) => hits.map((h) => h.row_id));
      assert.equal(r.json.result.map((list: any[]) => list.map((d) => d.id)), want, mode);
    }
    const bad = await postTo(modes.url, "/retrieve", { ...query, mode: "noisy" });
    assert.equal(bad, { status: 400, json: { error: '"mode" "noisy" is not a mode: use original, paraphrased, merged' } });
    const both = await postTo(modes.url, "/retrieve", { ...query, mode: "merged", noise: 0.5 });
    assert.match(both.json.error, /"noise" mixes the original and paraphrased environments: send it without "mode"/);
  } finally {
    await modes.close();
  }
});

test("issue 28: noise takes that share of each answer from paraphrase rows, the rest from originals, the same for the same request", async () => {
  const modes = await serve(fixtureEnvironments(), INFO, { port: 0 });
  try {
    // Each query matches the two paraphrased chunks (and only them): at noise 0.5 and topk 2, a paraphrase and an original.
    const queries = ["oxygen tank 2 failed after its fans, then earth photos", "earth photos after the maneuver and oxygen tank 2", "tank fans stirred, photos of the earth"];
    const kinds = async (noise: number, topk = 2) => {
      const r = await postTo(modes.url, "/retrieve", { queries, topk, noise, return_scores: true });
      assert.is(r.status, 200, JSON.stringify(r.json));
      return r.json.result.map((list: any[]) => list.map((x) => x.document.kind));
    };
    const half = await kinds(0.5);
    for (const list of half) assert.equal([...list].sort(), ["original", "paraphrase"], JSON.stringify(half));
    assert.equal(await kinds(0.5), half, "seeded: the same request, the same answer");
    assert.ok((await kinds(0)).flat().every((k: string) => k === "original"));
    assert.ok((await kinds(1)).flat().every((k: string) => k === "paraphrase"));
    // Two chunks have paraphrases: noise 1 at topk 4 takes both, then fills from the originals rather than answer short.
    const filled = await postTo(modes.url, "/retrieve", { queries: ["oxygen tank 2 failed; earth photos; the crew and the lunar module"], topk: 4, noise: 1 });
    assert.equal(filled.json.result[0].map((d: any) => d.kind), ["paraphrase", "paraphrase", "original", "original"]);
    assert.is(new Set(filled.json.result[0].map((d: any) => d.chunk_id)).size, 4, "each chunk once");
    for (const noise of [-0.1, 1.5, "0.5", true]) {
      const bad = await postTo(modes.url, "/retrieve", { queries, noise });
      assert.equal(bad, { status: 400, json: { error: `"noise" must be a number from 0 to 1, got ${JSON.stringify(noise)}` } });
    }
    // A server on one folder holds no other environment to mix or pick.
    const one = await postTo(main.url, "/retrieve", { queries, noise: 0.5 });
    assert.equal(one.status, 400);
    assert.match(one.json.error, /this server holds one environment .*kit serve --dataset DIR/);
  } finally {
    await modes.close();
  }
});

test("issue 28: POST /access returns documents by row or chunk id, in order, null for an unknown id; a mode per request", async () => {
  const modes = await serve(fixtureEnvironments(), INFO, { port: 0 });
  try {
    const r = await postTo(modes.url, "/access", { ids: ["chunk_4", "chunk_1_reworded_1", "chunk_1", "nope"] });
    assert.is(r.status, 200);
    assert.equal(r.json.result, [
      { id: "chunk_4", contents: `"chunk_4"\n${TEXTS[3]}`, chunk_id: "chunk_4", kind: "original" },
      { id: "chunk_1_reworded_1", contents: `"chunk_1"\n${PARAPHRASES[0].text}`, chunk_id: "chunk_1", kind: "paraphrase" },
      // chunk_1's own text is not in the paraphrased environment: its chunk id opens the paraphrase the agent could find.
      { id: "chunk_1_reworded_1", contents: `"chunk_1"\n${PARAPHRASES[0].text}`, chunk_id: "chunk_1", kind: "paraphrase" },
      null,
    ]);
    const original = await postTo(modes.url, "/access", { ids: ["chunk_1", "chunk_1_reworded_1"], mode: "original" });
    assert.equal(original.json.result, [{ id: "chunk_1", contents: `"chunk_1"\n${TEXTS[0]}`, chunk_id: "chunk_1", kind: "original" }, null]);
    assert.equal((await postTo(main.url, "/access", { ids: ["chunk_4"] })).json.result[0].id, "chunk_4", "a one-folder server opens its rows too");
    for (const [body, message] of [
      [{ id: "chunk_1" }, /"ids" must be a list of strings/],
      [{ ids: [1] }, /"ids" must be a list of strings/],
      [{ ids: ["chunk_1"], mode: "noisy" }, /"mode" "noisy" is not a mode/],
    ] as const) {
      const bad = await postTo(modes.url, "/access", body);
      assert.is(bad.status, 400);
      assert.match(bad.json.error, message);
    }
    const get = await fetch(`${modes.url}/access`);
    assert.equal([get.status, await get.json()], [405, { error: "use POST /access" }]);
  } finally {
    await modes.close();
  }
});

test.run();
