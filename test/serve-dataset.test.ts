import { test } from "uvu";
import * as assert from "uvu/assert";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readJsonl } from "../lib/files";
import { sharedApolloDataset } from "./helpers/apollo-build";

// Issue 28 on an Apollo build, through kit serve --dataset as a trainer starts it: /access, a mode and a noise level
// per request, and environment.py's noise (Debian's python3; transformers' callback class a stand-in).
let dataset: string;
let server: ChildProcess;
let url: string;

test.before(async () => {
  dataset = await sharedApolloDataset();
  server = spawn(process.execPath, ["bin/kit.js", "serve", "--dataset", dataset, "--port", "0"], { env: { ...process.env, CI: "true" } });
  url = await new Promise<string>((resolve, reject) => {
    let log = "";
    server.stdout!.on("data", (d) => {
      log += d;
      const found = /POST (http:\/\/\S+)\/retrieve/.exec(log);
      if (found) resolve(found[1]);
    });
    server.once("exit", (code) => reject(new Error(`kit serve exited (${code}): ${log}`)));
  });
});
test.after(() => {
  server?.kill("SIGTERM");
});

async function post(route: string, body: unknown): Promise<any> {
  const res = await fetch(`${url}${route}`, { method: "POST", body: JSON.stringify(body) });
  assert.is(res.status, 200);
  return ((await res.json()) as { result: any }).result;
}

test("POST /access returns chunk_128, the 99 ampere-hours chunk, in Search-R1's document shape", async () => {
  const [doc] = await post("/access", { ids: ["chunk_128"], mode: "original" });
  assert.equal(Object.keys(doc), ["id", "contents", "chunk_id", "kind"]);
  assert.equal([doc.id, doc.chunk_id, doc.kind], ["chunk_128", "chunk_128", "original"]);
  assert.match(doc.contents, /^"chunk_128"\n[\s\S]*99 ampere-hours remained in the three entry batteries/);
});

/** Queries whose chunks have kept paraphrases (the builtin generator keeps few): the texts of those paraphrases. */
const paraphraseTexts = () => [...new Set(readJsonl<{ kind: string; text: string }>(path.join(dataset, "env/paraphrased/rows.jsonl")).filter((r) => r.kind === "paraphrase").map((r) => r.text))];

test("noise 0.5 returns half paraphrase rows, and the same ones again when repeated; no noise, the server's own mode", async () => {
  const queries = paraphraseTexts();
  assert.ok(queries.length >= 5, `${queries.length} paraphrase rows`);
  const body = { queries, topk: 2, noise: 0.5, return_scores: true };
  const first = await post("/retrieve", body);
  const kinds = first.flatMap((list: any[]) => list.map((x) => x.document.kind));
  assert.is(kinds.length, 2 * queries.length);
  assert.is(kinds.filter((k: string) => k === "paraphrase").length, queries.length, "half of the hits");
  assert.equal(await post("/retrieve", body), first, "seeded per query: the same request, the same answer");
  const ranks = first.map((list: any[]) => list.findIndex((x) => x.document.kind === "paraphrase"));
  assert.equal(new Set(ranks).size, 2, "the paraphrase's rank is drawn, not always first");
  const plain = await post("/retrieve", { queries, topk: 2 });
  assert.equal(plain, await post("/retrieve", { queries, topk: 2, mode: "paraphrased" }), "--mode paraphrased, the default");
});

test("environment.py sends SearchEnvironment.noise; the README's curriculum raises it step by step", async () => {
  const stubs = fs.mkdtempSync(path.join(os.tmpdir(), "kit-stubs-"));
  fs.mkdirSync(path.join(stubs, "transformers"));
  fs.writeFileSync(path.join(stubs, "transformers", "__init__.py"), "class TrainerCallback:\n    pass\n");
  const readme = fs.readFileSync("README.md", "utf8");
  const curriculum = /```python\n(from transformers import TrainerCallback[\s\S]*?)\ntrainer = /.exec(readme)![1];
  const script = `
import json, sys, types
sys.path.insert(0, "lib/export")
from environment import SearchEnvironment
${curriculum}
queries = json.load(sys.stdin)
env = SearchEnvironment()
callback, seen = NoiseCurriculum(), []
for step in (0, 50, 100):
    callback.on_step_begin(None, types.SimpleNamespace(global_step=step, max_steps=100), None)
    seen.append(SearchEnvironment().noise)
SearchEnvironment.noise = 0.5
retrieved = []
for q in queries:
    env.retrieved = []
    env.search(q)
    retrieved.append(env.retrieved)
SearchEnvironment.noise = 2
try:
    env.search(queries[0])
    error = None
except ValueError as e:
    error = str(e)
print(json.dumps({"seen": seen, "retrieved": retrieved, "error": error}))
`;
  const queries = paraphraseTexts();
  const run = spawnSync("/usr/bin/python3", ["-c", script], { input: JSON.stringify(queries), encoding: "utf8", env: { ...process.env, PYTHONPATH: stubs, KIT_SEARCH_URL: `${url}/retrieve` } });
  fs.rmSync(stubs, { recursive: true, force: true });
  assert.is(run.status, 0, run.stderr);
  const got = JSON.parse(run.stdout);
  assert.equal(got.seen, [0.25, 0.38, 0.5]);
  const want = await post("/retrieve", { queries, topk: 3, noise: 0.5 });
  assert.equal(got.retrieved, want.map((list: any[]) => list.map((d) => d.chunk_id)), "environment.py's searches are the server's noise 0.5 answers");
  assert.match(got.error, /SearchEnvironment.noise must be a number from 0 to 1 \(or None\), got 2/);
});

test.run();
