import { test } from "uvu";
import * as assert from "uvu/assert";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Chunk } from "../lib/chunking";
import { exportDataset } from "../lib/export";
import { readJsonl } from "../lib/files";
import type { Question } from "../lib/questions";
import { openEnvironment } from "../lib/search";
import { buildApolloPart } from "./helpers/apollo-build";
import { writeLangChainStubs } from "./helpers/langchain-stubs";
import { type OllamaServer, startOllamaServer } from "./helpers/ollama-server";

// Each consumer's loading lines, run as its own code runs them, with Debian's python3: LangChain's classes are
// stand-ins that record their calls (test/helpers/langchain-stubs.ts); FAISS is Debian's python3-faiss.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-consumers-"));
const dataset = path.join(tmp, "dataset");
const out = path.join(tmp, "hf");
const stubs = path.join(tmp, "stubs");
let ollama: OllamaServer;
let server: ChildProcess;
let url: string;

test.before(async () => {
  ollama = await startOllamaServer({ models: ["nomic-embed-text"] });
  await buildApolloPart(tmp, dataset, ollama.url);
  await exportDataset({ dataset, out, testFraction: 0.2 });
  writeLangChainStubs(stubs);
  // The server a trainer calls, as the README starts it (on a free port).
  server = spawn(process.execPath, ["bin/kit.js", "serve", "--dataset", dataset, "--mode", "paraphrased", "--port", "0"], { env: { ...process.env, CI: "true" } });
  url = await new Promise<string>((resolve, reject) => {
    let log = "";
    server.stdout!.on("data", (d) => {
      log += d;
      const found = /POST (http:\/\/\S+\/retrieve)/.exec(log);
      if (found) resolve(found[1]);
    });
    server.once("exit", (code) => reject(new Error(`kit serve exited (${code}): ${log}`)));
  });
});
test.after(async () => {
  server?.kill("SIGTERM");
  await ollama?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function python(script: string, input: unknown, args: string[] = [], env: Record<string, string> = {}): any {
  const run = spawnSync("/usr/bin/python3", ["-c", script, ...args], { input: JSON.stringify(input), encoding: "utf8", env: { ...process.env, PYTHONPATH: stubs, ...env } });
  assert.is(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

const chunks = () => readJsonl<Chunk>(path.join(dataset, "chunks.jsonl"));
const accepted = () => readJsonl<Question>(path.join(dataset, "questions.jsonl")).filter((q) => q.status === "accepted");

/** LangChain's FAISS.load_local of a folder; each stored vector searched for, and the chunk it finds. */
const LOAD_FAISS = `
import json, os, pickle, sys
from langchain_community.vectorstores import FAISS
from langchain_core import documents

class Embeddings:  # the consumer's own embedder; stored vectors stand in for queries here
    def embed_query(self, text):
        raise AssertionError("no query embedding in this test")

def load(folder):
    calls = len(documents.CALLS)
    store = FAISS.load_local(folder, Embeddings(), allow_dangerous_deserialization=True)
    rows = range(store.index.ntotal)
    found = [store.similarity_search_by_vector(store.index.reconstruct(i), k=1)[0] for i in rows]
    return {
        "rows": store.index.ntotal,
        "documents_made": len(documents.CALLS) - calls,
        "ids": [store.index_to_docstore_id[i] for i in rows],
        "found": [d.metadata["chunk_id"] for d in found],
        "texts": [d.page_content for d in found],
        "metadata": found[0].metadata,
    }
`;

test("AutoDidact: FAISS.load_local and pickle.load read autodidact/ and the build folder as they are; a stored vector finds its own chunk", () => {
  const script = `${LOAD_FAISS}
root, autodidact = sys.argv[1], sys.argv[2]
out = {"build": load(os.path.join(root, "faiss_index")), "export": load(os.path.join(autodidact, "faiss_index"))}
with open(os.path.join(autodidact, "saved_data", "chunks.pkl"), "rb") as f:
    chunks = pickle.load(f)
with open(os.path.join(root, "chunks.pkl"), "rb") as f:
    same = [d.page_content for d in pickle.load(f)] == [d.page_content for d in chunks]
with open(os.path.join(autodidact, "saved_data", "questions.json")) as f:
    questions = json.load(f)
out["chunks"] = [{"page_content": d.page_content, "metadata": d.metadata, "class": type(d).__module__ + "." + type(d).__name__} for d in chunks]
out["same_pickles"] = same
out["questions"] = questions
print(json.dumps(out))
`;
  const got = python(script, null, [dataset, path.join(out, "autodidact")]);
  const want = chunks();
  for (const where of ["build", "export"]) {
    const store = got[where];
    assert.is(store.rows, want.length, where);
    assert.is(store.documents_made, want.length, `${where}: every Document made by its constructor`);
    assert.equal(store.ids, want.map((c) => c.chunk_id), where);
    assert.equal(store.found, store.ids, `${where}: each stored vector finds its own chunk`);
    assert.equal(store.texts, want.map((c) => c.text), where);
    assert.equal(store.metadata, { chunk_id: want[0].chunk_id, source: want[0].source }, where);
  }
  assert.equal(got.chunks, want.map((c) => ({ page_content: c.text, metadata: { chunk_id: c.chunk_id, source: c.source }, class: "langchain_core.documents.Document" })));
  assert.ok(got.same_pickles);
  assert.equal(got.questions, JSON.parse(fs.readFileSync(path.join(dataset, "questions.json"), "utf8")));
  assert.equal(Object.keys(got.questions[0]), ["chunk_id", "question", "answer", "difficulty"]);
});

test("ReZero: its data/ loaders read rezero/: the index, accepted questions with supporting paragraphs its reward finds, chunks.csv and paragraphs_noise.csv", () => {
  const script = `${LOAD_FAISS}
import ast, csv
data = sys.argv[1]
store = FAISS.load_local(data, Embeddings(), allow_dangerous_deserialization=True)
with open(os.path.join(data, "questions.jsonl")) as f:
    questions = [json.loads(line) for line in f]
by_chunk = {store.docstore.search(store.index_to_docstore_id[i]).metadata["chunk_id"]: store.docstore.search(store.index_to_docstore_id[i]).page_content for i in range(store.index.ntotal)}
# ReZero's reward: the last supporting paragraph must appear in what the searches returned (here: the gold chunk).
found = [q["supporting_paragraphs"][-1] in by_chunk[q["supporting_chunk_ids"][-1]] for q in questions]
with open(os.path.join(data, "chunks.csv"), newline="") as f:
    chunk_rows = [{**r, "metadata": ast.literal_eval(r["metadata"])} for r in csv.DictReader(f)]
with open(os.path.join(data, "paragraphs_noise.csv"), newline="") as f:
    noise = list(csv.DictReader(f))
print(json.dumps({"rows": store.index.ntotal, "questions": questions, "found": found, "chunks": chunk_rows, "noise": noise}))
`;
  const got = python(script, null, [path.join(out, "rezero")]);
  const want = chunks();
  assert.is(got.rows, want.length);
  const questions = accepted();
  assert.equal(got.questions.map((q: any) => q.id), questions.map((q) => q.id), "accepted questions only, all of them");
  for (const q of got.questions) {
    assert.ok(q.question.trim() && q.answer.trim(), q.id);
    assert.ok(q.supporting_paragraphs.length > 0, q.id);
  }
  assert.ok(got.found.every(Boolean), "the last supporting paragraph lies in the gold chunk");
  assert.equal(got.chunks, want.map((c) => ({ chunk_id: c.chunk_id, content: c.text, metadata: { chunk_id: c.chunk_id, source: c.source } })));
  const kept = readJsonl<{ chunk_id: string; text: string; verdict: string }>(path.join(dataset, "paraphrases.jsonl")).filter((p) => p.verdict === "faithful");
  assert.equal(Object.keys(got.noise[0] ?? { chunk_id: 0, original_paragraph: 0, paraphrased_text: 0 }), ["chunk_id", "original_paragraph", "paraphrased_text"]);
  assert.equal(got.noise.map((n: any) => [n.chunk_id, n.paraphrased_text]), kept.map((p) => [p.chunk_id, p.text]));
});

test("TRL: environment.py driven through environment_factory's sequence (factory, reset(**row), the search tool, get_reward) against kit serve", async () => {
  const script = `
import inspect, json, os, sys, typing
sys.path.insert(0, sys.argv[1])
from environment import SearchEnvironment
rows = json.load(sys.stdin)
env = SearchEnvironment()  # TRL calls the factory with no arguments, and reuses instances across rollouts
tools = [n for n, m in inspect.getmembers(env, predicate=inspect.ismethod) if n not in ("reset", "get_reward") and not n.startswith("_")]
hints = {k: v.__name__ for k, v in typing.get_type_hints(env.search).items()}
doc = inspect.getdoc(env.search)
out = []
for row in rows:
    observation = env.reset(**row)  # every column of the row, prompt included
    before = env.get_reward()
    text = env.search(row["question"])
    out.append({"observation": observation, "before": before, "text": text, "retrieved": list(env.retrieved), "reward": env.get_reward(), "blank": env.search("   ")})
print(json.dumps({"tools": tools, "hints": hints, "doc": doc, "rollouts": out}))
`;
  const questions = accepted();
  const rows = questions.map((q) => ({ id: q.id, prompt: [{ role: "system", content: "..." }, { role: "user", content: q.question }], question: q.question, answer: q.answer, chunk_id: q.chunk_id, kind: q.kind ?? "single", supporting_chunk_ids: q.supporting_chunk_ids ?? [q.chunk_id], difficulty: q.difficulty }));
  const got = python(script, rows, [out], { KIT_SEARCH_URL: url });
  assert.equal(got.tools, ["search"], "the one tool TRL exposes");
  assert.equal(got.hints, { query: "str", return: "str" });
  assert.match(got.doc, /Args:\n\s+query: /, "a Google-style docstring, which TRL turns into the tool's schema");
  const searcher = await openEnvironment(dataset, "paraphrased");
  const hits = await searcher.search(questions.map((q) => q.question), 3);
  await searcher.close();
  got.rollouts.forEach((r: any, i: number) => {
    assert.is(r.observation, null, "the row's own prompt is the task");
    assert.is(r.before, 0);
    assert.equal(r.retrieved, hits[i].map((h) => h.chunk_id), questions[i].id);
    assert.is(r.reward, hits[i].some((h) => h.chunk_id === questions[i].chunk_id) ? 1 : 0, questions[i].id);
    assert.match(r.text, /^Doc 1\(Title: "chunk_\d+"\) /);
    assert.is(r.blank, "No passage matched the query.");
  });
  assert.ok(got.rollouts.filter((r: any) => r.reward === 1).length > rows.length / 2, "most cloze questions find their chunk");
});

test("Search-R1: its rollout loop's requests get 200 and a result per query: a turn with no search, empty searches, 2,560 searches", () => {
  const script = `
import json, sys, urllib.request
url = sys.argv[1]
def batch_search(queries):  # as search_r1/llm_agent/generation.py posts a turn's searches, then reads ["result"]
    payload = {"queries": queries, "topk": 3, "return_scores": True}
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return response.status, json.load(response)["result"]
def passages(result):  # its _passages2string
    return "".join(f"Doc {i + 1}(Title: {d['document']['contents'].split(chr(10))[0]}) " for i, d in enumerate(result))
none = batch_search([])
mixed = batch_search(["", "oxygen tank", " "])
turn = batch_search([f"oxygen tank {i}" for i in range(2560)])
print(json.dumps({"none": none, "mixed": [mixed[0], [len(r) for r in mixed[1]], passages(mixed[1][1])], "turn": [turn[0], len(turn[1])]}))
`;
  const got = python(script, null, [url]);
  assert.equal(got.none, [200, []]);
  assert.equal(got.mixed.slice(0, 2), [200, [0, 3, 0]]);
  assert.match(got.mixed[2], /^Doc 1\(Title: "chunk_\d+"\) Doc 2/);
  assert.equal(got.turn, [200, 2560]);
});

test.run();
