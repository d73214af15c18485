import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Chunk } from "../lib/chunking";
import { coverageOf, type EnvManifest, environmentRows, type EnvRow, envDir, MODES, type Mode } from "../lib/environment";
import { KitError } from "../lib/errors";
import { readJsonl } from "../lib/files";
import { type CheckedParaphrase, isKept } from "../lib/paraphrase";
import { createSearcher, openEnvironment, openSearch } from "../lib/search";
import { type OllamaServer, startOllamaServer } from "./helpers/ollama-server";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-env-"));
const dataset = path.join(tmp, "dataset");

let server: OllamaServer;
/** Why the build failed, if it did: uvu does not report an error thrown in a before hook. */
let buildFailure: string | undefined;

test.before(async () => {
  server = await startOllamaServer({ models: ["nomic-embed-text"] });
  const corpus = path.join(tmp, "apollo-part.md");
  fs.writeFileSync(corpus, fs.readFileSync("datasets/corpora/apollo13_mission_report.md", "utf8").slice(0, 16_000));
  // Asynchronously: the test server answering the build's embedding requests lives in this process.
  const args = ["bin/kit.js", "build", "--corpus", corpus, "--out", dataset, "--llm", "builtin", "--embedder", "ollama:nomic-embed-text", "--ollama-host", server.url];
  const child = spawn(process.execPath, args, { env: { ...process.env, CI: "true" } });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  if (code !== 0) buildFailure = `kit build exited ${code}: ${stderr.trim().split("\n").slice(-12).join("\n")}`;
});
test.after(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const chunk = (n: number, text: string): Chunk => ({ chunk_id: `chunk_${n}`, text, source: "test.md", start: 0, end: text.length });
const paraphrase = (chunkN: number, style: string, text: string, verdict: string | undefined, paragraph: number | null = null): CheckedParaphrase => ({
  paraphrase_id: `chunk_${chunkN}${paragraph === null ? "" : `_p${paragraph + 1}`}_${style}_1`,
  chunk_id: `chunk_${chunkN}`,
  paragraph_index: paragraph,
  style,
  text,
  model: "test",
  ...(verdict === undefined ? {} : { verdict, reasons: [] }),
});

const CHUNKS = [
  chunk(1, "Oxygen tank 2 failed at 55:54:53.\n\nThe crew powered down the command module."),
  chunk(2, "The lunar module served as a lifeboat.\n\nCarbon dioxide filters were adapted."),
  chunk(3, "Entry batteries held 99 ampere-hours."),
  chunk(4, "Splashdown came at 142:54:41."),
];
// In file order, which is not chunk order: chunk 3's paraphrases come first.
const PARAPHRASES: CheckedParaphrase[] = [
  paraphrase(3, "reworded", "The entry batteries still had 99 ampere-hours.", undefined), // no check ran: unchecked, kept
  paraphrase(3, "condensed", "Batteries: 99 ampere-hours.", "unchecked"),
  paraphrase(1, "reworded", "At 55:54:53 oxygen tank 2 failed.\n\nThe command module was powered down by the crew.", "faithful"),
  paraphrase(1, "reordered", "Oxygen tank 2 failed at 61:00:00 after a short circuit.", "hallucinated"),
  paraphrase(1, "condensed", "Tank 2 failed at 55:54:53.", "faithful", 0), // a paragraph's paraphrase
  paraphrase(2, "reworded", "The lunar module served as a lifeboat.\n\nCarbon dioxide filters were adapted.", "copy"),
  paraphrase(2, "reworded", "The LM was the lifeboat.", "faithful", 0), // chunk 2's only kept paraphrase is a paragraph's
  paraphrase(4, "reworded", "I cannot help with that.", "refusal"),
];
const ids = (rows: readonly EnvRow[]) => rows.map((r) => r.row_id);

test("original mode: one row per chunk, its own text, whatever the paraphrases", () => {
  const rows = environmentRows("original", CHUNKS, PARAPHRASES);
  assert.equal(rows, CHUNKS.map((c) => ({ row_id: c.chunk_id, chunk_id: c.chunk_id, kind: "original", paraphrase_id: null, style: null, text: c.text })));
  assert.equal(coverageOf(CHUNKS, rows), { chunks: 4, covered: 4, by_paraphrase: 0, by_original_only: 4 });
});

test("paraphrased mode: each chunk through its kept whole-chunk paraphrases, else its original, in chunk order", () => {
  const rows = environmentRows("paraphrased", CHUNKS, PARAPHRASES);
  assert.equal(ids(rows), ["chunk_1_reworded_1", "chunk_2", "chunk_3_reworded_1", "chunk_3_condensed_1", "chunk_4"]);
  assert.equal(rows[0], {
    row_id: "chunk_1_reworded_1",
    chunk_id: "chunk_1",
    kind: "paraphrase",
    paraphrase_id: "chunk_1_reworded_1",
    style: "reworded",
    text: "At 55:54:53 oxygen tank 2 failed.\n\nThe command module was powered down by the crew.",
  });
  // Chunk 2 kept only a paragraph's paraphrase and chunk 4 only a refusal: both fall back to their own text.
  assert.equal(rows[1], { row_id: "chunk_2", chunk_id: "chunk_2", kind: "original", paraphrase_id: null, style: null, text: CHUNKS[1].text });
  assert.is(rows[4].kind, "original");
  assert.equal(rows.map((r) => r.kind), ["paraphrase", "original", "paraphrase", "paraphrase", "original"]);
  assert.equal(rows.slice(2, 4).map((r) => r.text), [PARAPHRASES[0].text, PARAPHRASES[1].text]);
  assert.equal(coverageOf(CHUNKS, rows), { chunks: 4, covered: 4, by_paraphrase: 2, by_original_only: 2 });
});

test("merged mode: every original, then each chunk's kept paraphrases, paragraphs' included", () => {
  const rows = environmentRows("merged", CHUNKS, PARAPHRASES);
  assert.equal(ids(rows), ["chunk_1", "chunk_1_reworded_1", "chunk_1_p1_condensed_1", "chunk_2", "chunk_2_p1_reworded_1", "chunk_3", "chunk_3_reworded_1", "chunk_3_condensed_1", "chunk_4"]);
  for (const r of rows) {
    assert.is(r.row_id, r.kind === "paraphrase" ? r.paraphrase_id : r.chunk_id, r.row_id);
    const source = r.kind === "paraphrase" ? PARAPHRASES.find((p) => p.paraphrase_id === r.row_id) : CHUNKS.find((c) => c.chunk_id === r.row_id);
    assert.is(r.text, source?.text, r.row_id);
  }
  assert.equal(coverageOf(CHUNKS, rows), { chunks: 4, covered: 4, by_paraphrase: 3, by_original_only: 1 });
});

test("every mode covers every chunk, and holds no paraphrase judged unfaithful", () => {
  const dropped = new Set(PARAPHRASES.filter((p) => !isKept(p)).map((p) => p.paraphrase_id));
  assert.is(dropped.size, 3);
  for (const mode of MODES) {
    const rows = environmentRows(mode, CHUNKS, PARAPHRASES);
    assert.equal([...new Set(rows.map((r) => r.chunk_id))], CHUNKS.map((c) => c.chunk_id), mode);
    assert.ok(rows.every((r) => !dropped.has(r.row_id)), mode);
    assert.is(new Set(ids(rows)).size, rows.length, `${mode}: row ids are unique`);
  }
  // With no paraphrases at all, every mode is the original one.
  for (const mode of MODES) assert.equal(environmentRows(mode, CHUNKS, []), environmentRows("original", CHUNKS, []), mode);
});

test("coverageOf counts only the corpus's chunks that have a row", () => {
  const rows = environmentRows("merged", CHUNKS, PARAPHRASES).filter((r) => r.chunk_id !== "chunk_4" && r.row_id !== "chunk_1");
  assert.equal(coverageOf(CHUNKS, rows), { chunks: 4, covered: 3, by_paraphrase: 3, by_original_only: 0 });
  assert.equal(coverageOf(CHUNKS, []), { chunks: 4, covered: 0, by_paraphrase: 0, by_original_only: 0 });
});

test("BM25 in paraphrased mode returns the paraphrase's text, under the original's chunk id", async () => {
  const chunks = [
    chunk(1, "The oxygen tank pressure dropped suddenly during the mission."),
    chunk(2, "The crew moved into the lunar module."),
    chunk(3, "Mission control computed a return trajectory."),
  ];
  const reworded = paraphrase(1, "reworded", "Cryogenic vessel readings plummeted abruptly mid-flight.", "faithful");
  const paraphrased = createSearcher(environmentRows("paraphrased", chunks, [reworded]));
  const [[hit]] = await paraphrased.search(["cryogenic vessel plummeted"], 3);
  assert.is(hit.kind, "paraphrase");
  assert.is(hit.text, reworded.text);
  assert.is(hit.chunk_id, "chunk_1");
  assert.is(hit.row_id, "chunk_1_reworded_1");
  assert.ok(hit.score > 0);
  // The original text is not in the paraphrased environment; the merged one holds both.
  const [originalWords] = await paraphrased.search(["oxygen tank pressure"], 3);
  assert.equal(originalWords, []);
  const merged = createSearcher(environmentRows("merged", chunks, [reworded]));
  const [[fromMerged]] = await merged.search(["oxygen tank pressure"], 3);
  assert.equal([fromMerged.row_id, fromMerged.kind], ["chunk_1", "original"]);
});

test("hits are distinct chunks, k of them even when one chunk's rows outrank the rest", async () => {
  const chunks = [chunk(1, "Oxygen oxygen: the oxygen tank."), chunk(2, "Long text about the flight plan, the crew, the ground and, once, oxygen, among many other words here."), chunk(3, "Nothing relevant.")];
  const paraphrases = [
    paraphrase(1, "reworded", "The oxygen tank, oxygen.", "faithful"),
    paraphrase(1, "reordered", "Oxygen: tank of oxygen.", "faithful"),
    paraphrase(1, "condensed", "Oxygen tank.", "faithful"),
  ];
  const searcher = createSearcher(environmentRows("merged", chunks, paraphrases));
  const [hits] = await searcher.search(["oxygen"], 2);
  assert.equal(hits.map((h) => h.chunk_id), ["chunk_1", "chunk_2"]);
  const [all] = await searcher.search(["oxygen"], 10);
  assert.equal(all.map((h) => h.chunk_id), ["chunk_1", "chunk_2"], "chunk 3 does not match, and chunk 1 appears once");
  assert.ok(all[0].score >= all[1].score);
  const error = await searcher.search(["oxygen"], 0).then(() => null, (e: Error) => e);
  assert.ok(error instanceof KitError && /positive integer/.test(error.message), String(error));
});

// The dataset of a real build, read back.
const readRows = (mode: Mode) => readJsonl<EnvRow>(path.join(envDir(dataset, mode), "rows.jsonl"));
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, "utf8"));
const builtTest = (name: string, run: () => void | Promise<void>) =>
  test(name, async () => {
    if (buildFailure) assert.unreachable(buildFailure);
    await run();
  });

builtTest("build: every env/<mode> covers every chunk of chunks.jsonl, and ids.json and the manifest match its rows", () => {
  const chunks = readJsonl<Chunk>(path.join(dataset, "chunks.jsonl"));
  const build = readJson(path.join(dataset, "build.json"));
  assert.ok(chunks.length >= 10, `${chunks.length} chunks`);
  for (const mode of MODES) {
    const dir = envDir(dataset, mode);
    const rows = readRows(mode);
    const manifest: EnvManifest = readJson(path.join(dir, "manifest.json"));
    assert.equal([...new Set(rows.map((r) => r.chunk_id))].sort(), chunks.map((c) => c.chunk_id).sort(), mode);
    assert.equal(readJson(path.join(dir, "ids.json")), ids(rows), mode);
    assert.ok(fs.statSync(path.join(dir, "index.faiss")).size > 0, mode);
    assert.is(manifest.mode, mode);
    assert.is(manifest.count, rows.length);
    assert.is(manifest.rows, rows.length);
    assert.is(manifest.paraphrase_rows, rows.filter((r) => r.kind === "paraphrase").length);
    assert.is(manifest.original_rows, rows.filter((r) => r.kind === "original").length);
    assert.equal(manifest.coverage, coverageOf(chunks, rows), mode);
    assert.is(manifest.coverage.covered, chunks.length, mode);
    assert.equal(build.environments[mode], { rows: rows.length, ...manifest.coverage }, mode);
  }
  const original = readRows("original");
  assert.equal(original.map((r) => [r.row_id, r.kind, r.text]), chunks.map((c) => [c.chunk_id, "original", c.text]));
});

builtTest("build: paraphrase rows map to kept paraphrase ids with the same text; unkept ones enter no environment", () => {
  const chunks = readJsonl<Chunk>(path.join(dataset, "chunks.jsonl"));
  const paraphrases = readJsonl<CheckedParaphrase>(path.join(dataset, "paraphrases.jsonl"));
  const byId = new Map(paraphrases.map((p) => [p.paraphrase_id, p]));
  const kept = paraphrases.filter(isKept);
  assert.ok(kept.length > 0, "the build kept some paraphrases");
  assert.ok(kept.length < paraphrases.length, "and judged some unfaithful");
  for (const mode of MODES) {
    for (const r of readRows(mode).filter((x) => x.kind === "paraphrase")) {
      const p = byId.get(r.row_id);
      assert.ok(p, `${mode}: row ${r.row_id} is no paraphrase_id of paraphrases.jsonl`);
      assert.ok(isKept(p), `${mode}: ${r.row_id} has verdict ${p.verdict}`);
      assert.equal([r.paraphrase_id, r.chunk_id, r.style, r.text], [p.paraphrase_id, p.chunk_id, p.style, p.text], `${mode}: ${r.row_id}`);
      if (mode === "paraphrased") assert.is(p.paragraph_index, null, r.row_id);
    }
  }
  // Paraphrased: a chunk with a kept whole-chunk paraphrase shows only those; any other shows its own text once.
  const paraphrased = readRows("paraphrased");
  for (const c of chunks) {
    const wanted = kept.filter((p) => p.chunk_id === c.chunk_id && p.paragraph_index === null).map((p) => p.paraphrase_id);
    const got = paraphrased.filter((r) => r.chunk_id === c.chunk_id);
    if (wanted.length) assert.equal(ids(got), wanted, c.chunk_id);
    else assert.equal(got.map((r) => [r.row_id, r.kind, r.text]), [[c.chunk_id, "original", c.text]], c.chunk_id);
  }
  const merged = readRows("merged");
  assert.is(merged.length, chunks.length + kept.length);
  assert.equal(merged.filter((r) => r.kind === "paraphrase").map((r) => r.row_id).sort(), kept.map((p) => p.paraphrase_id).sort());
});

builtTest("build: BM25 over env/paraphrased returns a paraphrase's text for a chunk that has one", async () => {
  const kept = readJsonl<CheckedParaphrase>(path.join(dataset, "paraphrases.jsonl")).filter((p) => isKept(p) && p.paragraph_index === null);
  const target = kept[kept.length - 1];
  const searcher = await openEnvironment(dataset, "paraphrased");
  try {
    assert.is(searcher.retriever, "bm25");
    const [hits] = await searcher.search([target.text], 3);
    assert.is(hits[0].chunk_id, target.chunk_id);
    assert.is(hits[0].kind, "paraphrase");
    assert.ok(kept.some((p) => p.paraphrase_id === hits[0].row_id && p.text === hits[0].text), hits[0].row_id);
    assert.is(new Set(hits.map((h) => h.chunk_id)).size, hits.length);
  } finally {
    await searcher.close();
  }
  assert.throws(() => openEnvironment(path.join(tmp, "nowhere"), "merged"), (e: Error) => e instanceof KitError && /has no environment merged/.test(e.message));
});

builtTest("BM25 opens an environment without reading its FAISS file; dense needs it", async () => {
  const copy = path.join(tmp, "no-faiss");
  fs.cpSync(envDir(dataset, "original"), copy, { recursive: true });
  fs.rmSync(path.join(copy, "index.faiss"));
  const direct = await openEnvironment(dataset, "original", { retriever: "bm25" });
  const query = ["oxygen tank"];
  const bm25 = await openSearch(copy, { retriever: "bm25" });
  assert.equal(await bm25.search(query, 3), await direct.search(query, 3));
  const error = await openSearch(copy, { retriever: "dense", embedder: "ollama:nomic-embed-text", ollamaHost: server.url }).then(() => null, (e: Error) => e);
  assert.ok(error instanceof KitError && error.message === `index folder ${copy} has no index.faiss; rebuild the index`, String(error));
});

test.run();
