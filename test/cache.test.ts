import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openCache, requestKey, withCache } from "../lib/cache";
import { type GenerateRequest, type Generator, GeneratorError } from "../lib/generators";

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

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
