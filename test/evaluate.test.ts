import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Chunk } from "../lib/chunking";
import { KitError } from "../lib/errors";
import { evaluateRetrieval, formatEvaluation, parseKs, type RetrievalEvaluation, scoreRankings } from "../lib/evaluate";
import { type CheckedParaphrase, KEPT_VERDICTS, verdictOf } from "../lib/paraphrase";
import { readJsonl } from "../lib/files";
import { buildLexicalIndex } from "../lib/lexical";
import { hashedEmbedding, type OllamaServer, startOllamaServer } from "./helpers/ollama-server";
import { restamp } from "./helpers/restamp";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-eval-"));
const dataset = path.join(tmp, "dataset");
const DIMENSION = 64;

let server: OllamaServer;
let evaluation: RetrievalEvaluation;
/** Every text the server embedded while the evaluation ran. */
let queryInputs: string[] = [];

const cacheSetting = process.env.KIT_EMBEDDING_CACHE;

test.before(async () => {
  // The tests below read the texts embedded from the server's requests: cache hits would send none.
  process.env.KIT_EMBEDDING_CACHE = "off";
  server = await startOllamaServer({ models: ["nomic-embed-text"], dimension: DIMENSION });
  const corpus = path.join(tmp, "apollo-part.md");
  fs.writeFileSync(corpus, fs.readFileSync("datasets/corpora/apollo13_mission_report.md", "utf8").slice(0, 16_000));
  // Asynchronously: the test server answering the build's embedding requests lives in this process.
  const args = ["bin/kit.js", "build", "--corpus", corpus, "--out", dataset, "--llm", "builtin", "--embedder", "ollama:nomic-embed-text", "--ollama-host", server.url];
  const child = spawn(process.execPath, args, { env: { ...process.env, CI: "true" } });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  assert.is(code, 0, stderr);
  const before = server.received.length;
  evaluation = await evaluateRetrieval({ dataset, ollamaHost: server.url });
  queryInputs = server.received.slice(before).filter((r) => r.path === "/api/embed").flatMap((r) => r.body.input);
});
test.after(async () => {
  if (cacheSetting === undefined) delete process.env.KIT_EMBEDDING_CACHE;
  else process.env.KIT_EMBEDDING_CACHE = cacheSetting;
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const approx = (a: number, b: number) => Math.abs(a - b) < 1e-12;

test("scoreRankings: recall@k and MRR within the largest k", () => {
  const targets = ["c1", "c2", "c3", "c4"];
  const rankings = [["c1", "c9"], ["c9", "c2"], ["c8", "c9", "c7", "c3"], []];
  const s = scoreRankings(targets, rankings, [1, 2, 3]);
  assert.equal(s.recall, { "1": 1 / 4, "2": 2 / 4, "3": 2 / 4 });
  assert.ok(approx(s.mrr, (1 + 1 / 2) / 4), `mrr ${s.mrr}: c3 at rank 4 is past the largest k`);
  assert.ok(approx(scoreRankings(targets, rankings, [4]).mrr, (1 + 1 / 2 + 1 / 4) / 4));
  assert.throws(() => scoreRankings(targets, rankings.slice(1), [1]), (e: Error) => e instanceof KitError && /3 rankings for 4 queries/.test(e.message));
});

test("parseKs", () => {
  assert.equal(parseKs("1,5,10"), [1, 5, 10]);
  assert.equal(parseKs(" 3 "), [3]);
  for (const bad of ["", "0", "1,x", "2.5"]) assert.throws(() => parseKs(bad), (e: Error) => e instanceof KitError && /--k must be comma-separated integers >= 1/.test(e.message));
});

test("every retriever is scored on questions in every mode and on paraphrases, and eval.json holds the result", () => {
  const questions = readJsonl<{ status: string }>(path.join(dataset, "questions.jsonl")).filter((q) => q.status === "accepted");
  const paraphrases = readJsonl<CheckedParaphrase>(path.join(dataset, "paraphrases.jsonl")).filter((p) => KEPT_VERDICTS.includes(verdictOf(p)));
  assert.ok(paraphrases.length > 0);
  assert.equal(Object.keys(evaluation.questions), ["original", "paraphrased", "merged"]);
  for (const set of Object.values(evaluation.questions)) assert.is(set.queries, questions.length);
  assert.is(evaluation.paraphrases.queries, paraphrases.length);
  assert.equal(evaluation.ks, [1, 5, 10]);
  assert.is(evaluation.embedder, "ollama:nomic-embed-text");
  for (const mode of ["original", "paraphrased", "merged"] as const) {
    const mrr = (r: "dense" | "bm25" | "hybrid") => evaluation.questions[mode].retrievers[r].mrr;
    assert.is(mrr(evaluation.best[mode]), Math.max(mrr("dense"), mrr("bm25"), mrr("hybrid")));
  }
  for (const set of [...Object.values(evaluation.questions), evaluation.paraphrases]) {
    assert.equal(Object.keys(set.retrievers), ["dense", "bm25", "hybrid"]);
    for (const s of Object.values(set.retrievers)) {
      const r = [s.recall["1"], s.recall["5"], s.recall["10"]];
      assert.ok(r[0] <= r[1] && r[1] <= r[2] && r[2] <= 1, `recall grows with k: ${r}`);
      assert.ok(s.mrr >= r[0] && s.mrr <= r[2], `MRR ${s.mrr} lies between recall@1 and recall@10`);
    }
  }
  // Paraphrases share most words with their chunk: BM25 must find nearly all of them.
  assert.ok(evaluation.paraphrases.retrievers.bm25.recall["10"] > 0.9, JSON.stringify(evaluation.paraphrases.retrievers.bm25));
  assert.equal(JSON.parse(fs.readFileSync(path.join(dataset, "eval.json"), "utf8")), evaluation);
  assert.equal(fs.readdirSync(dataset).filter((f) => f.includes(".tmp-")), []);
});

test("dense scores match a brute-force search over the server's embeddings; BM25 matches the lexical index", () => {
  const chunks = readJsonl<Chunk>(path.join(dataset, "chunks.jsonl"));
  const questions = readJsonl<{ status: string; question: string; chunk_id: string }>(path.join(dataset, "questions.jsonl")).filter((q) => q.status === "accepted");
  // The embedder may prefix texts (nomic's search_query: / search_document:); take the texts as the server saw them.
  const passageInputs = server.received.filter((r) => r.path === "/api/embed").flatMap((r) => r.body.input as string[]);
  const sent = (inputs: string[], text: string) => {
    const found = inputs.find((s) => s.endsWith(text));
    assert.ok(found, `no embedding request for ${text.slice(0, 60)}`);
    return hashedEmbedding(found!, DIMENSION);
  };
  const chunkVectors = chunks.map((c) => sent(passageInputs.filter((s) => !queryInputs.includes(s)), c.text));
  const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
  const dense = questions.map((q) => {
    const v = sent(queryInputs, q.question);
    return chunks.map((c, i) => ({ id: c.chunk_id, score: dot(v, chunkVectors[i]) })).sort((a, b) => b.score - a.score).slice(0, 10).map((h) => h.id);
  });
  const targets = questions.map((q) => q.chunk_id);
  const expected = scoreRankings(targets, dense, [1, 5, 10]);
  assert.equal(evaluation.questions.original.retrievers.dense.recall, expected.recall);
  assert.ok(approx(evaluation.questions.original.retrievers.dense.mrr, expected.mrr));

  const lexical = buildLexicalIndex(chunks.map((c) => ({ id: c.chunk_id, text: c.text })));
  const bm25 = scoreRankings(targets, questions.map((q) => lexical.search(q.question, 10).map((h) => h.id)), [1, 5, 10]);
  assert.equal(evaluation.questions.original.retrievers.bm25.recall, bm25.recall);
});

test("the table names every set, mode and retriever with its scores, and the best retriever per mode", () => {
  const table = formatEvaluation(evaluation);
  const lines = table.split("\n");
  assert.match(lines[0], `retrieval on ${dataset} (dense: ollama:nomic-embed-text`);
  assert.match(lines[1], /queries\s+mode\s+retriever\s+R@1\s+R@5\s+R@10\s+MRR@10/);
  assert.is(lines.length, 2 + 3 * 3 + 3 + 1);
  assert.match(lines[5], /^questions \(\d+\)\s+paraphrased\s+dense/);
  const q = evaluation.questions.paraphrased.retrievers.hybrid;
  assert.match(lines[7], new RegExp(`^\\s+hybrid\\s+${q.recall["1"].toFixed(3)}\\s+${q.recall["5"].toFixed(3)}\\s+${q.recall["10"].toFixed(3)}\\s+${q.mrr.toFixed(3)}$`));
  assert.match(lines[11], new RegExp(`^paraphrases \\(${evaluation.paraphrases.queries}\\)\\s+original\\s+dense`));
  assert.is(lines[14], `best retriever by MRR: original ${evaluation.best.original}, paraphrased ${evaluation.best.paraphrased}, merged ${evaluation.best.merged}`);
});

test("unfaithful paraphrases are not queries; custom ks; progress; a missing environment says how to make it", async () => {
  const dir = path.join(tmp, "verdicts");
  fs.cpSync(dataset, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}cache`) });
  // The index manifest refers to ../chunks.jsonl, which the copy carries along.
  const file = path.join(dir, "paraphrases.jsonl");
  const rows = readJsonl<object>(file).map((p, i) => ({ ...p, verdict: i % 2 ? "unfaithful" : "faithful" }));
  fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  restamp(dir);
  const progress: [number, number][] = [];
  const result = await evaluateRetrieval({ dataset: dir, ks: [3, 1], ollamaHost: server.url, onProgress: (done, total) => progress.push([done, total]) });
  assert.is(result.paraphrases.queries, Math.ceil(rows.length / 2));
  const total = 3 * (3 * result.questions.original.queries + result.paraphrases.queries);
  assert.ok(progress.every(([done, t], i) => t === total && done > (progress[i - 1]?.[0] ?? 0)), "one running total over every retriever and query set");
  assert.equal(progress.at(-1), [total, total]);
  assert.equal(result.ks, [1, 3]);
  assert.equal(Object.keys(result.questions.merged.retrievers.bm25.recall), ["1", "3"]);

  fs.rmSync(path.join(dir, "env", "merged"), { recursive: true });
  restamp(dir);
  try {
    await evaluateRetrieval({ dataset: dir, ollamaHost: server.url });
    assert.unreachable("expected a KitError");
  } catch (e) {
    assert.instance(e, KitError);
    assert.is((e as Error).message, `${dir} has no environment merged (${path.join(dir, "env", "merged")}); run kit build --out ${dir} again`);
  }
});

test("a sample searches evenly spread queries of each set and says of how many", async () => {
  const all = evaluation.questions.original.queries;
  const sampled = await evaluateRetrieval({ dataset, ollamaHost: server.url, retrievers: ["bm25"], sample: 5 });
  assert.is(sampled.questions.paraphrased.queries, 5);
  assert.is(sampled.questions.paraphrased.of, all);
  assert.is(evaluation.questions.original.of, undefined, "no `of` when every query was searched");
  assert.match(formatEvaluation(sampled), `questions (5 of ${all})`);
  for (const bad of [0, 2.5]) {
    const error = await evaluateRetrieval({ dataset, sample: bad }).then(() => undefined, (e: Error) => e);
    assert.instance(error, KitError);
    assert.match(error!.message, `the evaluation sample must be a positive integer, got ${bad}`);
  }
});

test.run();
