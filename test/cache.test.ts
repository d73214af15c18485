import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openCache, requestKey, withCache } from "../lib/cache";
import { KitError } from "../lib/errors";
import { type GenerateRequest, type Generator, GeneratorError } from "../lib/generators";
import { buildApolloPart } from "./helpers/apollo-build";
import { startOllamaServer } from "./helpers/ollama-server";

// The module object itself (an import's namespace only has getters), so a test can stand in for a full disk.
const realFs = require("node:fs") as { writeSync: typeof fs.writeSync };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-cache-"));
const request = (prompt: string, seed = 1): GenerateRequest => ({ prompt, options: { seed }, task: { kind: "paraphrase", text: prompt, style: "s", variant: 0, attempt: 0 } });
const model = (name: string): Generator & { sent: number } => {
  const g = {
    spec: `ollama:${name}`,
    backend: "ollama" as const,
    model: name,
    sent: 0,
    async generate(r: GenerateRequest) {
      g.sent++;
      return `${name} says ${r.prompt}`;
    },
    async close() {},
  };
  return g;
};

test("keys differ by model, prompt and options, not by the task's bookkeeping", () => {
  const a = model("a");
  assert.is.not(requestKey(a, request("x")), requestKey(model("b"), request("x")));
  assert.is.not(requestKey(a, request("x")), requestKey(a, request("y")));
  assert.is.not(requestKey(a, request("x", 1)), requestKey(a, request("x", 2)));
  assert.is(requestKey(a, request("x")), requestKey(a, { ...request("x"), task: { kind: "paraphrase", text: "other", style: "t", variant: 3, attempt: 0 } }));
});

test("answers survive a reopen; a re-run sends nothing already answered", async () => {
  const file = path.join(tmp, "a", "llm.jsonl");
  const first = model("m");
  const cache = openCache(file);
  const g = withCache(first, cache);
  assert.is(await g.generate(request("one")), "m says one");
  assert.is(await g.generate(request("one")), "m says one");
  assert.equal([g.hits, g.misses, first.sent], [1, 1, 1]);
  cache.close();

  const second = model("m");
  const again = withCache(second, openCache(file));
  assert.is(await again.generate(request("one")), "m says one");
  assert.is(await again.generate(request("two")), "m says two");
  assert.equal([again.hits, again.misses, second.sent], [1, 1, 1]);
});

test("a line torn by a crash is skipped and the next answer starts a fresh line", async () => {
  const file = path.join(tmp, "torn.jsonl");
  const c = openCache(file);
  c.put("k1", "kept");
  c.close();
  fs.appendFileSync(file, '{"key":"k2","ans');
  const reopened = openCache(file);
  assert.is(reopened.get("k1"), "kept");
  assert.is(reopened.get("k2"), undefined);
  reopened.put("k3", "after");
  reopened.close();
  const lines = fs.readFileSync(file, "utf8").split("\n");
  assert.is(lines[2], '{"key":"k3","answer":"after"}');
  assert.is(openCache(file).get("k3"), "after");
});

/** A model answering `reply(prompt, n)`, n counting its requests from 1. */
const scripted = (reply: (prompt: string, n: number) => string): Generator & { sent: number } => {
  const g = {
    spec: "ollama:s",
    backend: "ollama" as const,
    model: "s",
    sent: 0,
    async generate(r: GenerateRequest) {
      return reply(r.prompt, ++g.sent);
    },
    async close() {},
  };
  return g;
};

const lines = (file: string) => fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));

test("blank answers are never stored, nor read back from an older file: a re-run asks again", async () => {
  const file = path.join(tmp, "blank", "llm.jsonl");
  const down = scripted(() => " \n");
  const first = withCache(down, openCache(file));
  assert.is(await first.generate(request("one")), " \n", "the caller still gets the answer, to reject it");
  assert.equal([first.hits, first.misses, fs.readFileSync(file, "utf8")], [0, 1, ""]);
  assert.is(await first.generate(request("one")), " \n");
  assert.equal([first.hits, down.sent], [0, 2], "not even within the run");

  const healthy = scripted((prompt) => `answer to ${prompt}`);
  // A file written before blank answers were refused holds them; they are not answers.
  fs.appendFileSync(file, JSON.stringify({ key: requestKey(healthy, request("two")), answer: "" }) + "\n");
  const again = withCache(healthy, openCache(file));
  assert.is(await again.generate(request("one")), "answer to one");
  assert.is(await again.generate(request("two")), "answer to two");
  assert.equal([again.hits, again.misses, healthy.sent], [0, 2, 2]);
});

test("a rejected answer stays and is read back; one line records the reason and seed; only a new seed asks again", async () => {
  const file = path.join(tmp, "reject", "llm.jsonl");
  const model1 = scripted((prompt, n) => `${prompt} #${n}`);
  const cache = openCache(file);
  const g = withCache(model1, cache);
  assert.is(await g.generate(request("bad")), "bad #1");
  assert.is(await g.generate(request("good")), "good #2");
  g.reject(request("bad"), "unparseable output");
  g.reject(request("never asked"), "unparseable output");
  assert.is(g.rejected, 1, "only a stored answer is rejected");
  assert.is(await g.generate(request("bad")), "bad #1", "read back in the same run");
  g.reject(request("bad"), "unparseable output");
  assert.equal([g.rejected, model1.sent], [2, 2]);
  cache.close();
  const recorded = () => lines(file).map((l) => [l.answer ?? null, l.rejected ?? null, l.seed ?? null]);
  const firstRun = [
    ["bad #1", null, null],
    ["good #2", null, null],
    [null, "unparseable output", 1],
  ];
  assert.equal(recorded(), firstRun, "the rejection is recorded once");

  // A re-run sends nothing and records nothing new; a new seed is a new request.
  const model2 = scripted((prompt) => `${prompt} fixed`);
  const again = withCache(model2, openCache(file));
  assert.is(await again.generate(request("good")), "good #2");
  assert.is(await again.generate(request("bad")), "bad #1");
  again.reject(request("bad"), "unparseable output");
  assert.equal([again.hits, again.misses, again.rejected, model2.sent], [2, 0, 1, 0]);
  assert.equal(recorded(), firstRun);
  assert.is(await again.generate(request("bad", 2)), "bad fixed");
  assert.equal(model2.sent, 1);
});

test("an older file's discarded lines read as rejections: the answer is served, and not recorded again", () => {
  const file = path.join(tmp, "old-tombstones.jsonl");
  fs.writeFileSync(file, ['{"key":"k1","answer":"kept"}', '{"key":"k1","discarded":"unparseable output"}', '{"key":"k2","answer":"old"}', '{"key":"k2","discarded":"x"}', '{"key":"k2","answer":"new"}', ""].join("\n"));
  const c = openCache(file);
  assert.equal([c.get("k1"), c.get("k2"), c.size], ["kept", "new", 2]);
  assert.equal([c.reject("k1", "again"), c.reject("k2", "why"), c.reject("k3", "never answered")], [true, true, false]);
  c.close();
  assert.equal(lines(file).slice(5), [{ key: "k2", rejected: "why" }], "k1's was recorded; k2's new answer was not rejected yet");
});

test("a tombstone torn by a crash is skipped: the answer is read back, and its rejection recorded on a fresh line", () => {
  const file = path.join(tmp, "torn-tombstone.jsonl");
  const c = openCache(file);
  c.put("k1", "rejected");
  c.put("k2", "kept");
  c.close();
  fs.appendFileSync(file, '{"key":"k1","rejec');
  const reopened = openCache(file);
  assert.equal([reopened.get("k1"), reopened.get("k2")], ["rejected", "kept"]);
  assert.ok(reopened.reject("k1", "too few valid questions", 7));
  reopened.close();
  assert.is(fs.readFileSync(file, "utf8").split("\n")[3], '{"key":"k1","rejected":"too few valid questions","seed":7}');
  const last = openCache(file);
  assert.equal([last.get("k1"), last.get("k2"), last.size], ["rejected", "kept", 2]);
  last.close();
});

test("withCache counts requests that failed, by reason, but not aborts, and passes rejections on", async () => {
  const passedOn: string[] = [];
  let failWith: unknown;
  const inner: Generator = {
    spec: "ollama:f",
    backend: "ollama",
    model: "f",
    async generate() {
      throw failWith;
    },
    reject: (r, reason) => passedOn.push(`${r.prompt}: ${reason}`),
    async close() {},
  };
  const g = withCache(inner, openCache(path.join(tmp, "failures.jsonl")));
  for (const [e, times] of [
    [new GeneratorError("Ollama at h failed 5 times ...", "timeout", "no answer within 300 s", false), 2],
    [new GeneratorError("Ollama at h failed 5 times ...", "server", "HTTP 500", false), 1],
    [new Error("something else\nwith a second line"), 1],
    [new DOMException("This operation was aborted", "AbortError"), 3],
  ] as const) {
    failWith = e;
    for (let i = 0; i < times; i++) await g.generate(request(`p${i}`)).then(() => assert.unreachable(), (err) => assert.is(err, e));
  }
  assert.equal(g.failed, { "no answer within 300 s": 2, "HTTP 500": 1, "something else": 1 });
  g.reject(request("x"), "why");
  assert.equal([passedOn, g.rejected], [["x: why"], 0]);
});

test("loading in blocks of any size indexes what is in the file: later answers win, garbage and a torn last line are skipped", () => {
  const file = path.join(tmp, "blocks.jsonl");
  // Multi-byte answers, so byte offsets differ from string offsets; 2,000 keys, so the index grows; two keys whose
  // hashes are equal (FNV-1a), so the index must read their lines to tell them apart.
  const answers = new Map(Array.from({ length: 2_000 }, (_, i) => [`k${i}`, `answer ${i} ${"é".repeat(i % 7)} 🚀`]));
  answers.set("key583084", "first of a hash pair").set("key1092000", "second of a hash pair");
  const text = [...answers].map(([key, answer]) => JSON.stringify({ key, answer }));
  text.push("not json", '{"answer":"no key"}', '{"key":"k-blank","answer":"  "}', "", '{"key":"k3","answer":"k3 again"}', '{"key":"k4","rejected":"r","seed":1}');
  fs.writeFileSync(file, text.join("\n") + '\n{"key":"k5","answer":"to');
  answers.set("k3", "k3 again");
  const size = fs.statSync(file).size;
  for (const blockBytes of [7, 100, undefined]) {
    const c = openCache(file, { blockBytes });
    assert.equal([...answers.keys()].filter((key) => c.get(key) !== answers.get(key)), [], `block ${blockBytes}`);
    assert.equal([c.size, c.get("k-blank"), c.get("no key")], [answers.size, undefined, undefined]);
    assert.ok(c.reject("k4", "r again"), "k4 has an answer");
    c.close();
    assert.is(fs.statSync(file).size, size, "k4's rejection was on file already: nothing appended");
  }

  const c = openCache(file, { blockBytes: 7 });
  c.put("k5", "after the torn line");
  c.put("k1", "k1 again");
  c.reject("k1", "why", 3);
  c.close();
  assert.equal(fs.readFileSync(file).subarray(size).toString().split("\n"), ["", '{"key":"k5","answer":"after the torn line"}', '{"key":"k1","answer":"k1 again"}', '{"key":"k1","rejected":"why","seed":3}', ""]);
  const reopened = openCache(file, { blockBytes: 7 });
  assert.equal([reopened.get("k5"), reopened.get("k1"), reopened.get("k0"), reopened.get("key1092000"), reopened.size], ["after the torn line", "k1 again", answers.get("k0"), "second of a hash pair", answers.size]);
  reopened.close();
});

test("a full disk on append is one line naming the cache file; the answers so far are kept and the next append starts a fresh line", async () => {
  const file = path.join(tmp, "full", "llm.jsonl");
  const model1 = scripted((prompt) => `answer to ${prompt}`);
  const g = withCache(model1, openCache(file));
  await g.generate(request("before"));
  const write = realFs.writeSync;
  realFs.writeSync = ((fd: number, data: Buffer) => {
    write(fd, data.subarray(0, 5));
    throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
  }) as unknown as typeof fs.writeSync;
  const message = `cannot append to ${file}: no space left on the device; free some and run again; the answers so far are kept, and a re-run resumes from them`;
  try {
    // A lost GeneratorError: a stage stops at once instead of failing every row.
    await g.generate(request("during")).then(assert.unreachable, (e) => assert.ok(e instanceof GeneratorError && e.lost && e.message === message, e.message));
    // The tombstone's append starts with the newline that ends the torn line.
    assert.throws(() => g.reject(request("before"), "why"), (e: Error) => e instanceof KitError && e.message === message);
  } finally {
    realFs.writeSync = write;
  }
  await g.generate(request("after"));
  const again = withCache(model1, openCache(file));
  for (const prompt of ["before", "during", "after"]) await again.generate(request(prompt));
  assert.equal([again.hits, again.misses], [2, 1], "during's answer was not kept: asked again");
  assert.equal(fs.readFileSync(file, "utf8").split("\n").slice(1, 4), ['{"key', '{"ke', `{"key":"${requestKey(model1, request("after"))}","answer":"answer to after"}`]);
});

test("a cache over 1 GiB opens in memory far below its size; answers from before and after the padding are read back", () => {
  const file = path.join(tmp, "big", "llm.jsonl");
  const first = openCache(file);
  first.put("before", "asked first");
  first.close();
  // 1,030 unrelated answers of 1 MiB, one buffer written again and again with its key's digits changed.
  const line = Buffer.from(`{"key":"pad0000","answer":"${"x".repeat(1 << 20)}"}\n`);
  const fd = fs.openSync(file, "a");
  for (let i = 0; i < 1_030; i++) {
    line.write(String(i).padStart(4, "0"), 11);
    fs.writeSync(fd, line);
  }
  fs.writeSync(fd, '{"key":"after","answer":"asked after the padding"}\n');
  fs.closeSync(fd);
  const size = fs.statSync(file).size;
  assert.ok(size > 2 ** 30);
  const rss = process.memoryUsage().rss;
  const big = openCache(file);
  const grown = process.memoryUsage().rss - rss;
  big.put("last", "asked last");
  assert.equal([big.get("before"), big.get("after"), big.get("last"), big.get("pad1029")?.length, big.size], ["asked first", "asked after the padding", "asked last", 1 << 20, 1_033]);
  big.close();
  fs.rmSync(file);
  // Some tens of MB: the read blocks, and each line's strings until the garbage collector takes them.
  assert.ok(grown < size / 8, `opening ${size} bytes grew RSS by ${grown} bytes`);
});

test("a finished builtin build run again sends 0 LLM requests and leaves its cache as it was", async () => {
  const server = await startOllamaServer({ models: ["nomic-embed-text"] });
  try {
    const dataset = path.join(tmp, "build");
    await buildApolloPart(tmp, dataset, server.url);
    const cacheFile = path.join(dataset, "cache", "llm.jsonl");
    const before = fs.readFileSync(cacheFile, "utf8");
    const first = JSON.parse(fs.readFileSync(path.join(dataset, "build.json"), "utf8")).llm_requests;
    await buildApolloPart(tmp, dataset, server.url);
    const second = JSON.parse(fs.readFileSync(path.join(dataset, "build.json"), "utf8")).llm_requests;
    assert.ok(first.sent > 0 && first.rejected > 0, JSON.stringify(first));
    assert.equal(second, { ...first, sent: 0, answered_from_cache: first.sent + first.answered_from_cache });
    assert.is(fs.readFileSync(cacheFile, "utf8"), before);
  } finally {
    await server.close();
  }
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
