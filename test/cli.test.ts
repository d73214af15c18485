import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { matchedPassage } from "../lib/search";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readJsonl } from "../lib/files";

const APOLLO = "datasets/corpora/apollo13_mission_report.md";
const AMPERE_QUESTION = "How many ampere-hours remained in the entry batteries when the command module was powered down?";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-cli-"));

function kit(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/kit.js", ...args], { encoding: "utf8", env: { ...process.env, CI: "true" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("every command has --help", () => {
  const top = kit("--help");
  assert.is(top.code, 0);
  for (const name of ["build", "chunk", "index", "search", "check-paraphrases", "export", "eval-retrieval"]) {
    assert.match(top.stdout, new RegExp(`\\n  ${name} `));
    const help = kit(name, "--help");
    assert.is(help.code, 0, name);
    assert.match(help.stdout, new RegExp(`^kit ${name}: `), name);
    assert.match(help.stdout, /usage: kit /);
  }
});

test("chunk writes chunks.jsonl with ids, text, source and offsets", () => {
  const r = kit("chunk", "--corpus", APOLLO, "--out", tmp);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^chunk: \d+ chunks \(mean \d+ chars\) from 1 source\(s\) -> .*chunks\.jsonl in /);
  const chunks = readJsonl<Record<string, unknown>>(path.join(tmp, "chunks.jsonl"));
  assert.ok(chunks.length > 300);
  assert.equal(Object.keys(chunks[0]), ["chunk_id", "text", "source", "start", "end"]);
  assert.is(chunks[0].chunk_id, "chunk_1");
  assert.is(chunks[0].source, path.basename(APOLLO), "relative to the corpus root");
});

test("index then search finds the 99 ampere-hours chunk first, with every retriever", () => {
  const indexDir = path.join(tmp, "faiss_index");
  const r = kit("index", "--chunks", path.join(tmp, "chunks.jsonl"), "--out", indexDir);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^index: \d+ chunks, use-lite \(512-d\), Flat -> /);
  assert.ok(fs.existsSync(path.join(indexDir, "index.faiss")));
  const bm25 = kit("search", "--index", indexDir, "--query", AMPERE_QUESTION);
  assert.is(bm25.code, 0, bm25.stderr);
  assert.match(bm25.stdout.split(/^2\. /m)[0], /^1\. chunk_\d+[\s\S]*99 ampere-hours/);
  assert.match(bm25.stdout, /top 5 by bm25/);
  for (const [flag, retriever] of [[["--retriever", "dense"], "dense"], [["--hybrid"], "hybrid"]] as const) {
    const r2 = kit("search", "--index", indexDir, "--query", AMPERE_QUESTION, ...flag, "--k", "3");
    assert.is(r2.code, 0, r2.stderr);
    assert.match(r2.stdout, new RegExp(`top 3 by ${retriever}`));
  }
});

test("search --queries writes one line per query, in input order, ignoring other keys", () => {
  const queries = path.join(tmp, "queries.jsonl");
  fs.writeFileSync(queries, [{ id: "b", text: AMPERE_QUESTION, extra: 1 }, { id: 7, text: "oxygen tank 2 pressure" }].map((q) => JSON.stringify(q)).join("\n"));
  const out = path.join(tmp, "hits.jsonl");
  const r = kit("search", "--index", path.join(tmp, "faiss_index"), "--queries", queries, "--out", out, "--k", "2");
  assert.is(r.code, 0, r.stderr);
  const rows = readJsonl<{ id: unknown; hits: { chunk_id: string; score: number; text: string }[] }>(out);
  assert.equal(rows.map((x) => x.id), ["b", 7]);
  assert.is(rows[0].hits.length, 2);
  assert.match(rows[0].hits[0].text, /99 ampere-hours/);
  assert.equal(Object.keys(rows[0].hits[0]), ["row_id", "chunk_id", "kind", "paraphrase_id", "style", "text", "score"]);
});

test("check-paraphrases: one verdict line per CSV row, in order, and the counts", () => {
  const csv = path.join(tmp, "pairs.csv");
  fs.writeFileSync(csv, 'original,paraphrase\n"Oxygen tank 2 failed at 55:54:53.","At 55:54:53, oxygen tank 2 failed."\n"Oxygen tank 2 failed at 55:54:53.","Tank 2 failed at 61:10:00, because of a short."\nx,"Please provide the text."\n');
  const out = path.join(tmp, "verdicts.jsonl");
  const r = kit("check-paraphrases", "--in", csv, "--out", out);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^check-paraphrases: 3 rows: 1 faithful, 1 hallucinated, 1 refusal, 0 copy \(judge: rules only\) -> /m);
  assert.equal(readJsonl<{ row: number; verdict: string }>(out).map((x) => [x.row, x.verdict]), [[1, "faithful"], [2, "hallucinated"], [3, "refusal"]]);
});

test("bad input: one line on stderr, non-zero exit", () => {
  const cases: [string[], RegExp][] = [
    [["frobnicate"], /unknown command "frobnicate"/],
    [["chunk", "--out", tmp], /missing --corpus \(kit chunk --help\)/],
    [["chunk", "--corpus", APOLLO, "--out", tmp, "--chunk-size", "ten"], /--chunk-size must be an integer >= 1, got "ten"/],
    [["chunk", "--corpus", APOLLO, "--out", tmp, "--chunk-size", "-5"], /--chunk-size must be an integer >= 1, got "-5"/],
    [["chunk", "--corpus", APOLLO, "--out", tmp, "--chunk-size", "1e9"], /--chunk-size must be an integer from 1 to 100000/],
    [["chunk", "--corpus", APOLLO, "--out", tmp, "--chunk-size", "10", "--chunk-overlap", "10"], /--chunk-overlap .* less than --chunk-size \(10\)/],
    [["build", "--out", tmp], /missing --corpus \(kit build --help\)/],
    [["build", "--copus", APOLLO, "--out", tmp], /Unknown option '--copus'; did you mean --corpus\?/],
    [["chunk", "--corpus", APOLLO, "--out", tmp, "--bogus"], /Unknown option '--bogus'/],
    [["search", "--index", tmp, "--query", "x", "--queries", "y"], /exactly one of --query TEXT or --queries/],
    [["search", "--index", path.join(tmp, "faiss_index"), "--query", "x", "--retriever", "magic"], /unknown retriever "magic"/],
    [["index", "--chunks", path.join(tmp, "nope.jsonl"), "--out", tmp], /nope\.jsonl: cannot read it/],
    [["check-paraphrases", "--in", APOLLO, "--out", path.join(tmp, "v.jsonl")], /apollo13_mission_report\.md/],
  ];
  for (const [args, message] of cases) {
    const r = kit(...args);
    assert.ok(r.code !== 0, args.join(" "));
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

test("issue 25.7: a mistyped command gets a did-you-mean; search and serve default to the same mode; a mistyped --dataset names the folder meant", () => {
  assert.match(kit("biuld").stderr, 'unknown command "biuld"; did you mean kit build?');
  assert.match(kit("search", "--help").stdout, /--mode .*\(as kit serve\) \(default paraphrased\)/);
  assert.match(kit("serve", "--help").stdout, /--mode .*\(default paraphrased\)/);
  fs.mkdirSync(path.join(tmp, "datasets", "apollo13"), { recursive: true });
  const r = kit("search", "--dataset", path.join(tmp, "datasets", "apolo13"), "--query", "oxygen");
  assert.match(r.stderr, `dataset folder ${path.join(tmp, "datasets", "apolo13")} does not exist; did you mean ${path.join(tmp, "datasets", "apollo13")}?`);
});

test("issue 25.7: kit search shows the passage of a hit that matched, not its first characters", () => {
  const text = `${"Launch preparations went as planned. ".repeat(12)}At 58 hours 40 minutes, 99 ampere-hours remained in the three entry batteries. ${"Recovery went as planned. ".repeat(12)}`;
  const shown = matchedPassage(text, "ampere-hours left in the entry batteries", 200);
  assert.match(shown, "99 ampere-hours remained in the three entry batteries.");
  assert.ok(shown.length <= 202 && shown.startsWith("…"), shown);
  assert.is(matchedPassage("short text", "anything"), "short text");
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
