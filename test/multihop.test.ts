import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import type { Chunk } from "../lib/chunking";
import { KitError } from "../lib/errors";
import { scoreRankings } from "../lib/evaluate";
import { createGenerator } from "../lib/generators";
import { builtinAnswer } from "../lib/generators/builtin";
import { readJsonl } from "../lib/files";
import { corpusOf, findPartners, type MultiHopQuestion, withMultiHop } from "../lib/multihop";
import type { Question } from "../lib/questions";
import { allChunksReward, retrievalReward } from "../lib/reward";
import { type ChatAsk, type OllamaServer, startOllamaServer } from "./helpers/ollama-server";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-multihop-"));
const LLM = "test-llm";
const EMBEDDER = "ollama:nomic-embed-text";

// Ten chunks of one source. "crew", "spacecraft", "systems", "flight" are in more than three of them, so not rare
// (the rare cap is 3 here); "Fra Mauro" links chunk_1 to chunk_6 and chunk_9; chunk_2, chunk_1's neighbour, shares
// "hilly" with it.
const texts = [
  "The landing site chosen for the mission was Fra Mauro, a hilly upland region. Geologists picked the hilly site for its ejecta blanket.",
  "The crew rehearsed the landing in hilly terrain near the launch site. The spacecraft systems were checked.",
  "The spacecraft systems were checked by the crew during the flight.",
  "The crew slept while the spacecraft systems ran during the flight.",
  "During the flight the crew ate and the spacecraft systems were powered.",
  "Samples returned from Fra Mauro would have dated the Imbrium impact at 3.9 billion years.",
  "The flight controllers watched the spacecraft systems and the crew.",
  "The crew photographed the Moon from the spacecraft during the flight.",
  "Mission planners chose Fra Mauro after the Apollo 12 landing.",
  "The crew returned safely and the spacecraft systems were shut down after the flight.",
];
let at = 0;
const chunks: Chunk[] = texts.map((text, i) => {
  const chunk = { chunk_id: `chunk_${i + 1}`, text, source: "a.md", start: at, end: at + text.length };
  at += text.length + 2;
  return chunk;
});

let server: OllamaServer;
/** The model's answer to a multi-hop prompt, by "first second" chunk ids; no questions for any other pair. */
let script = new Map<string, object[]>();
const pairOf = (prompt: string) => [...prompt.matchAll(/^\[(chunk_\d+)\] \((?:first|second)\)$/gm)].map((m) => m[1]).join(" ");
const asked: string[] = [];

test.before(async () => {
  server = await startOllamaServer({
    models: ["nomic-embed-text", LLM],
    reply: ({ prompt }: ChatAsk) => {
      asked.push(pairOf(prompt));
      return JSON.stringify({ questions: script.get(pairOf(prompt)) ?? [] });
    },
  });
});
test.after(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function multiHop(perChunk: number, retries: number, singles: Question[] = []): Promise<Question[]> {
  const generator = await createGenerator(`ollama:${LLM}`, { ollamaHost: server.url });
  try {
    return await withMultiHop(chunks, singles, generator, { perChunk, retries });
  } finally {
    await generator.close();
  }
}

const bridge = (question: string, answer: string, bridgeName: string, hops: [string, string][], type = "bridge") => ({
  question,
  answer,
  difficulty: "hard",
  type,
  bridge: bridgeName,
  hops: hops.map(([source, part]) => ({ source, part })),
});

test("partner choice: the chunks BM25 finds over the whole corpus by rare shared terms, names first, neighbours left out", async () => {
  const partners = findPartners(corpusOf(chunks), 3);
  const ofFirst = partners.get("chunk_1")!;
  assert.equal(ofFirst.map((p) => p.chunk.chunk_id), ["chunk_9", "chunk_6"], "chunk_2 shares 'hilly' but is a neighbour");
  assert.equal(ofFirst[1].shared, ["fra mauro", "fra", "mauro"]);
  assert.is(ofFirst[0].shared[0], "fra mauro", "the shared name before the shared lower-case words");
  assert.ok(ofFirst[0].shared.includes("landing"));
  // Chunks sharing only common words ("crew", "flight") get no partner.
  assert.equal(partners.get("chunk_3"), []);

  // Through the test server: each try shows the chunk and its next partner, both whole, with the shared terms.
  script = new Map();
  asked.length = 0;
  const rows = (await multiHop(1, 1)).filter((r) => r.kind === "multi-hop" && r.id.startsWith("chunk_1_"));
  assert.equal(asked.filter((p) => p.startsWith("chunk_1 ")), ["chunk_1 chunk_9", "chunk_1 chunk_6"]);
  const prompt = server.received.find((r) => r.path === "/api/chat" && JSON.stringify(r.body).includes("[chunk_1] (first)"))!.body.messages.at(-1).content;
  assert.match(prompt, "Both mention: fra mauro; ");
  assert.match(prompt, `[chunk_9] (second)\n${texts[8]}`);
  assert.equal(rows.map((r) => [r.status, r.reason]), [["failed", "multi-hop: 0 of 1 questions after 2 tries: the model returned no questions"]]);
  const lonely = (await multiHop(1, 0)).find((r) => r.id === "chunk_3_mh_failed")!;
  assert.is(lonely.reason, "multi-hop: no other chunk shares a rare term with this one");
});

test("grounding per hop, single-hop rejection, labelled rows in search order", async () => {
  const good = bridge("What age would samples from the hilly upland site give the Imbrium impact?", "3.9 billion years", "Fra Mauro", [["chunk_1", "Fra Mauro"], ["chunk_6", "3.9 billion years"]]);
  script = new Map([
    [
      "chunk_1 chunk_6",
      [
        { ...good, question: "What age would the ejecta site's samples give the Imbrium impact?", bridge: "Imbrium" },
        { ...good, question: "What age would the hilly site's samples give the impact?", hops: [{ source: "chunk_1", part: "Fra Mauro" }, { source: "chunk_6", part: "4.2 billion years" }] },
        bridge("Which region did geologists pick for the site whose samples date the Imbrium impact?", "hilly upland region", "Fra Mauro", [["chunk_1", "Fra Mauro"], ["chunk_6", "Imbrium impact"]]),
        { ...good, question: "How old is the Imbrium impact by the upland samples?", hops: [{ source: "chunk_6", part: "Fra Mauro" }, { source: "chunk_6", part: "3.9 billion years" }] },
        bridge("How old did samples from Fra Mauro date the Imbrium impact?", "3.9 billion years", "Fra Mauro", [["chunk_1", "Fra Mauro"], ["chunk_6", "3.9 billion years"]]),
        good,
        bridge("Which is named in the landing plan, the ejecta blanket or the Imbrium impact?", "ejecta blanket", "", [["chunk_1", "ejecta blanket"], ["chunk_6", "Imbrium impact"]], "comparison"),
      ],
    ],
  ]);
  const rows = (await multiHop(2, 1)).filter((r) => r.id.startsWith("chunk_1_mh")) as MultiHopQuestion[];
  assert.equal(
    rows.map((r) => r.reason),
    [
      "multi-hop: bridge entity is not in both chunks",
      "multi-hop: a hop's part is not in its chunk",
      "multi-hop: answer is not in its chunk (the last hop's)",
      "multi-hop: hops are not one in each passage",
      "multi-hop: single-hop: one chunk holds the answer and every key term, and BM25 ranks it first",
      null,
      null,
    ],
  );
  const [bridged, compared] = rows.slice(-2);
  assert.equal([bridged.kind, bridged.hop_type, bridged.bridge, bridged.chunk_id, bridged.supporting_chunk_ids], ["multi-hop", "bridge", "Fra Mauro", "chunk_6", ["chunk_1", "chunk_6"]]);
  assert.equal(bridged.window, ["chunk_1", "chunk_6"]);
  assert.equal(bridged.hops, [{ chunk_id: "chunk_1", part: "Fra Mauro" }, { chunk_id: "chunk_6", part: "3.9 billion years" }]);
  // A comparison's hops are put in the order that ends at the answer's chunk.
  assert.equal([compared.hop_type, compared.bridge, compared.chunk_id, compared.supporting_chunk_ids], ["comparison", "", "chunk_1", ["chunk_6", "chunk_1"]]);
});

test("dedupe: a multi-hop question that repeats a single one is rejected; single rows are labelled", async () => {
  const good = bridge("What age would samples from the hilly upland site give the Imbrium impact?", "3.9 billion years", "Fra Mauro", [["chunk_1", "Fra Mauro"], ["chunk_6", "3.9 billion years"]]);
  script = new Map([["chunk_1 chunk_6", [good]]]);
  const single: Question = {
    id: "chunk_6_q1",
    chunk_id: "chunk_6",
    question: "What age would the samples from the hilly upland site give the Imbrium impact?",
    answer: "3.9 billion years",
    difficulty: "easy",
    window: ["chunk_5", "chunk_6", "chunk_7"],
    model: LLM,
    prompt_version: "questions-v1",
    status: "accepted",
    reason: null,
  };
  const rows = await multiHop(1, 1, [single]);
  assert.equal([rows[0].kind, rows[0].supporting_chunk_ids, rows[0].status], ["single", ["chunk_6"], "accepted"]);
  assert.equal(rows.find((r) => r.id === "chunk_1_mh1")!.reason, "near-duplicate of chunk_6_q1");
});

test("the builtin generator: labelled bridge questions from two cloze facts sharing a named term", () => {
  const task = { kind: "multi-hop" as const, chunks: [chunks[0], chunks[5]].map(({ chunk_id, text }) => ({ chunk_id, text })), shared: ["fra mauro", "fra", "mauro"], count: 2, attempt: 0 };
  const items = JSON.parse(builtinAnswer(task)).questions;
  assert.ok(items.length >= 1, JSON.stringify(items));
  for (const item of items) {
    assert.is(item.type, "bridge");
    assert.is(item.bridge, "Fra Mauro");
    assert.equal(item.hops.map((h: { source: string }) => h.source).sort(), ["chunk_1", "chunk_6"]);
    assert.is(item.hops[0].part, "Fra Mauro");
    assert.is(item.hops[1].part, item.answer);
    assert.match(item.question, /^Which \w+ fills the blank in ".*\[N\].*", where \[N\] is the name that fills the blank in ".*___.*"\?$/);
    assert.not.match(item.question, "Fra Mauro", "the bridge is hidden");
  }
  assert.equal(JSON.parse(builtinAnswer({ ...task, shared: ["hilly"] })).questions, [], "no bridge the shared rare terms cover");
});

test("allChunksReward: every gold chunk within the top k, discounted by the last one's rank; one target is retrievalReward", () => {
  assert.is(allChunksReward(["chunk_1", "chunk_6"], ["chunk_6", "chunk_1"]), 1);
  assert.is(allChunksReward(["chunk_1", "chunk_6"], ["chunk_6", "chunk_3", "chunk_1"]), 0, "default k: as many as targets");
  assert.is(allChunksReward(["chunk_1", "chunk_6"], ["chunk_6", "chunk_3", "chunk_1"], { k: 3 }), 1);
  assert.is(allChunksReward(["chunk_1", "chunk_6"], ["chunk_6", "chunk_3", "chunk_1"], { discount: "reciprocal" }), 2 / 3);
  assert.is(allChunksReward(["chunk_1", "chunk_6"], ["chunk_1", "chunk_1", "chunk_3"], { k: 3 }), 0, "a repeat is not the second chunk");
  assert.is(allChunksReward(["chunk_1", "chunk_1 "], ["chunk_1"]), 1, "targets equal after normalisation count once");
  for (const retrieved of [["chunk_1"], ["chunk_2", "chunk_1"], []]) {
    for (const options of [{}, { k: 2 }, { discount: "reciprocal" as const }, { discount: "log2" as const, k: 2 }]) {
      assert.is(allChunksReward(["chunk_1"], retrieved, options), retrievalReward("chunk_1", retrieved, options));
    }
  }
  assert.throws(() => allChunksReward([], ["chunk_1"]), (e: Error) => e instanceof KitError && /targets must be a non-empty array/.test(e.message));
  assert.throws(() => allChunksReward(["chunk_1", " "], ["chunk_1"]), /targets\[1\] must be a non-empty/);
  // eval-retrieval's score of a multi-hop question is the same reward.
  const s = scoreRankings([["chunk_1", "chunk_6"], "chunk_2"], [["chunk_6", "chunk_3", "chunk_1"], ["chunk_2"]], [1, 3]);
  assert.equal(s, { recall: { "1": 0.5, "3": 1 }, mrr: (2 / 3 + 1) / 2 });
});

/** Runs bin/kit.js in a child process (the test server answering it lives in this one); its stdout. */
async function kit(args: string[]): Promise<string> {
  const child = spawn(process.execPath, ["bin/kit.js", ...args], { env: { ...process.env, CI: "true" } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  assert.is(code, 0, stderr);
  return stdout;
}

test("a builtin build with --multi-hop: rows with two supporting chunks, eval-retrieval and the export report them", async () => {
  const corpus = path.join(tmp, "apollo-part.md");
  fs.writeFileSync(corpus, fs.readFileSync("datasets/corpora/apollo13_mission_report.md", "utf8").slice(0, 40_000));
  const dataset = path.join(tmp, "dataset");
  const host = ["--embedder", EMBEDDER, "--ollama-host", server.url];
  const summary = await kit(["build", "--corpus", corpus, "--out", dataset, "--llm", "builtin", "--multi-hop", "1", "--coverage-rounds", "0", ...host]);
  const rows = readJsonl<Question>(path.join(dataset, "questions.jsonl"));
  const multi = rows.filter((r) => r.kind === "multi-hop" && r.status === "accepted") as MultiHopQuestion[];
  assert.ok(multi.length >= 3, `${multi.length} multi-hop rows`);
  assert.match(summary, `accepted (${multi.length} multi-hop)`);
  for (const r of multi) {
    assert.is(r.supporting_chunk_ids.length, 2, r.id);
    assert.is(r.chunk_id, r.supporting_chunk_ids[1]);
    assert.is.not(r.supporting_chunk_ids[0], r.supporting_chunk_ids[1]);
    assert.is(r.hop_type, "bridge");
  }
  assert.ok(rows.filter((r) => r.kind === "single").length > multi.length);
  const build = JSON.parse(fs.readFileSync(path.join(dataset, "build.json"), "utf8"));
  assert.is(build.parameters.multi_hop, 1);
  assert.is(build.counts.questions_multi_hop, multi.length);
  assert.ok(Object.keys(build.failures).some((reason) => reason.startsWith("question failed: multi-hop: ")));
  // questions.json keeps the seed's four fields; a multi-hop row there has its answer chunk's id.
  const seed = JSON.parse(fs.readFileSync(path.join(dataset, "questions.json"), "utf8"));
  assert.ok(seed.every((q: object) => Object.keys(q).join() === "chunk_id,question,answer,difficulty"));
  assert.equal(seed.find((q: { question: string }) => q.question === multi[0].question), { chunk_id: multi[0].chunk_id, question: multi[0].question, answer: multi[0].answer, difficulty: multi[0].difficulty });

  const table = await kit(["eval-retrieval", "--dataset", dataset, "--retrievers", "bm25", ...host.slice(2)]);
  assert.match(table, new RegExp(`multi-hop \\(${multi.length}\\) +original +bm25`));
  const evaluation = JSON.parse(fs.readFileSync(path.join(dataset, "eval.json"), "utf8"));
  assert.is(evaluation.multi_hop.original.queries, multi.length);
  assert.is(evaluation.multi_hop.original.retrievers.bm25.recall["1"], 0, "two chunks are never both in the top 1");

  const out = path.join(tmp, "hf");
  await kit(["export", "--dataset", dataset, "--out", out, "--test-fraction", "0"]);
  const db = await DuckDBInstance.create(":memory:");
  const sql = await db.connect();
  try {
    const read = async (text: string) => (await sql.runAndReadAll(text)).getRowObjectsJson() as Record<string, any>[];
    const exported = await read(`SELECT id, kind, chunk_id, supporting_chunk_ids FROM read_parquet('${out}/data/questions/*.parquet') WHERE kind = 'multi-hop' ORDER BY id`);
    assert.equal(exported, [...multi].sort((a, b) => (a.id < b.id ? -1 : 1)).map((r) => ({ id: r.id, kind: "multi-hop", chunk_id: r.chunk_id, supporting_chunk_ids: r.supporting_chunk_ids })));
    const [{ singles }] = await read(`SELECT count(*)::INTEGER AS singles FROM read_parquet('${out}/data/questions/*.parquet') WHERE kind = 'single' AND supporting_chunk_ids = [chunk_id]`);
    assert.is(singles, rows.filter((r) => r.kind === "single" && r.status === "accepted").length);
    for (const layout of ["search-r1", "verl"]) {
      const id = layout === "verl" ? "metadata.chunk_id" : "id";
      const gold = await read(`SELECT ${id} AS id, metadata.supporting_chunk_ids AS gold FROM read_parquet('${out}/${layout}/train.parquet') WHERE len(metadata.supporting_chunk_ids) = 2`);
      const want = exported.map((r) => ({ id: layout === "verl" ? r.chunk_id : r.id, gold: r.supporting_chunk_ids }));
      assert.equal(gold.map((r) => JSON.stringify(r)).sort(), want.map((r) => JSON.stringify(r)).sort(), layout);
    }
    assert.match(fs.readFileSync(path.join(out, "README.md"), "utf8"), `| multi-hop questions | 1 per chunk (${multi.length} accepted)`);
  } finally {
    sql.closeSync();
    db.closeSync();
  }
});

test.run();
