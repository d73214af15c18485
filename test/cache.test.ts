import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openCache, requestKey, withCache } from "../lib/cache";
import type { GenerateRequest, Generator } from "../lib/generators";

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

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
