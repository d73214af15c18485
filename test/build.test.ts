import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { readJsonl } from "../lib/files";
import { TRUNCATED } from "../lib/generators";
import { easiestBaseline, tierWarning, verdictLines, verdictOf } from "../lib/verdict";
import { builtinReply, taskOf } from "./helpers/builtin-replies";
import { type ChatAsk, type OllamaServer, startOllamaServer } from "./helpers/ollama-server";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-build-"));
// The first 30-odd chunks of the Apollo report keep three builds fast.
const corpus = path.join(tmp, "apollo-part.md");
fs.writeFileSync(corpus, fs.readFileSync("datasets/corpora/apollo13_mission_report.md", "utf8").slice(0, 24_000));
const LLM = "test-llm";
const EMBEDDER = "ollama:nomic-embed-text";
const OUTPUTS = ["chunks.jsonl", "questions.json", "questions.jsonl", "paraphrases.jsonl"];

let server: OllamaServer;
/** How many times the server answered each distinct chat request. */
const answered = new Map<string, number>();
let answerLimit = Infinity;

const keyOf = (ask: ChatAsk) => createHash("sha256").update(JSON.stringify(ask.request.body)).digest("hex");
const answeredTotal = () => [...answered.values()].reduce((a, b) => a + b, 0);

test.before(async () => {
  server = await startOllamaServer({
    models: ["nomic-embed-text", LLM],
    latencyMs: (r) => (r.path === "/api/chat" ? 5 : 0),
    maxParallel: 4,
    // Past the limit, chat requests hang: a build can be killed with a known set of answers given.
    script: (r) => (r.path === "/api/chat" && answeredTotal() >= answerLimit ? { hang: true } : undefined),
    reply: (ask) => {
      const key = keyOf(ask);
      answered.set(key, (answered.get(key) ?? 0) + 1);
      return builtinReply(ask);
    },
  });
});
test.after(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function buildArgs(out: string, llm: string): string[] {
  return ["bin/kit.js", "build", "--corpus", corpus, "--out", out, "--llm", llm, "--judge", "rules", "--embedder", EMBEDDER, "--ollama-host", server.url, "--multi-hop", "1"];
}

/** Runs a build in a child process; asynchronously, because the test server lives in this one. */
async function kitBuild(out: string, llm: string): Promise<string> {
  const child = spawn(process.execPath, buildArgs(out, llm), { env: { ...process.env, CI: "true" } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  assert.is(code, 0, stderr);
  return stdout;
}

const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file), "utf8");
const withoutModel = (text: string) => text.replace(/"model":"[^"]*"/g, '"model":"-"');

test("builtin build: every file of the dataset folder, and a summary", async () => {
  const out = path.join(tmp, "builtin");
  const stdout = await kitBuild(out, "builtin");
  assert.match(stdout, /^generator: builtin/);
  assert.match(stdout, /build: .* with the builtin generator, judged by the rules alone\n  chunks \d+ \| questions \d+ accepted/);
  assert.match(stdout, "\n  The rules alone do not see meaning changes in the order of events, causes, time spans, negation or modality: --judge ollama:bespoke-minicheck (or any ollama:<model>) checks them.\n");
  // No LLM took part, so the summary counts what the builtin made, not "LLM requests".
  assert.match(stdout, /\n  builtin generator \(no LLM\): \d+ texts made, \d+ taken from the cache\n/);
  assert.not.match(stdout, "LLM requests");
  assert.match(stdout, /time: chunk [\d.]+s, index [\d.]+s, questions [\d.]+s, paraphrases [\d.]+s, checks [\d.]+s, environments [\d.]+s, evaluation [\d.]+s, report [\d.]+s/);
  for (const f of [...OUTPUTS, "build.json", "report.html", "faiss_index/index.faiss", "faiss_index/index.pkl", "chunks.pkl", "env/original/index.faiss", "env/paraphrased/rows.jsonl", "env/merged/ids.json", "cache/llm.jsonl"]) assert.ok(fs.existsSync(path.join(out, f)), f);
  const seed = JSON.parse(read(out, "questions.json"));
  assert.ok(seed.length > 20);
  assert.equal(Object.keys(seed[0]), ["chunk_id", "question", "answer", "difficulty"]);
  const rows = readJsonl<{ model: string; status: string; window: string[] }>(path.join(out, "questions.jsonl"));
  assert.ok(rows.every((r) => r.model === "builtin"));
  assert.is(rows.filter((r) => r.status === "accepted").length, seed.length);
  const paraphrases = readJsonl<{ chunk_id: string; style: string; model: string; verdict: string; reasons: string[] }>(path.join(out, "paraphrases.jsonl"));
  assert.equal([...new Set(paraphrases.map((p) => p.style))], ["reworded", "reordered", "condensed"]);
  assert.ok(paraphrases.every((p) => ["faithful", "hallucinated", "refusal", "copy"].includes(p.verdict) && Array.isArray(p.reasons)));
  const manifest = JSON.parse(read(out, "env/merged/manifest.json"));
  const chunks = readJsonl(path.join(out, "chunks.jsonl")).length;
  assert.is(manifest.count, chunks + paraphrases.filter((p) => p.verdict === "faithful").length, "the chunks and the faithful paraphrases");
  assert.is(manifest.embedder, EMBEDDER);
  assert.match(stdout, new RegExp(`environments \\(.*\\): original ${chunks} rows, paraphrased \\d+ rows, merged ${manifest.count} rows; all cover ${chunks} chunks, \\d+ of them through a kept paraphrase`));
  const build = JSON.parse(read(out, "build.json"));
  assert.equal(Object.keys(build.environments), ["original", "paraphrased", "merged"]);
  assert.is(build.environments.paraphrased.covered, chunks);
  assert.is(build.generator.model, "builtin");
  assert.is(build.counts.questions_accepted, seed.length);
  assert.ok(build.counts.questions_multi_hop > 0, "multi-hop rows");
  // The build's last stages: the baselines (eval.json) and the measured difficulty, both in the report.
  const evaluation = JSON.parse(read(out, "eval.json"));
  assert.equal(Object.keys(evaluation.questions), ["original", "paraphrased", "merged"]);
  assert.ok(evaluation.multi_hop.paraphrased.queries > 0);
  assert.equal(build.evaluation.best, evaluation.best);
  const measured = build.measured_difficulty;
  assert.is(measured.easy + measured.medium + measured.hard, seed.length);
  assert.equal(build.evaluation.easiest, easiestBaseline(evaluation.questions));
  const report = read(out, "report.html");
  assert.match(report, /best baseline: \w+ finds the question&#39;s chunk in its top 5/);
  assert.match(report, /<section id="multi-hop">/);
  assert.match(report, /Embedding similarity is measured only for the \d+ of \d+ paraphrases that passed the rule checks/);
  assert.match(report, /measured difficulty \(the rank of the chunk when the question is searched\)/);
  // A builtin build is a smoke test: build.json, the summary's last lines and the report say so alike.
  assert.equal(build.verdict, verdictOf(build));
  assert.is(build.verdict.tier, "smoke test only");
  assert.match(stdout, `\n${verdictLines(build.verdict).join("\n")}\n${tierWarning(build.verdict)[0]}\n`);
  assert.match(report, '<p class="lead warn-text">Smoke test only: ');
});

test("the same build through the Ollama client gives the same files", async () => {
  const out = path.join(tmp, "ollama");
  const stdout = await kitBuild(out, `ollama:${LLM}`);
  assert.match(stdout, new RegExp(`^generator: ollama:${LLM}`));
  for (const f of OUTPUTS) assert.is(withoutModel(read(out, f)), withoutModel(read(path.join(tmp, "builtin"), f)), f);
  assert.match(read(out, "paraphrases.jsonl"), new RegExp(`"model":"${LLM}"`));
  assert.ok(server.requests["/api/chat"] > 0);
});

test("kill -9 half way, then resume: no answered request is sent twice, outputs equal an uninterrupted run's", async () => {
  answered.clear();
  const out = path.join(tmp, "killed");
  // Tombstones (records of answers the stages rejected) are not answers; the rejected answers stay, and are read back.
  const answers = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((l) => l && !l.includes('"rejected":')).length : 0);
  const total = answers(path.join(tmp, "builtin", "cache", "llm.jsonl"));
  const limit = Math.floor(total / 2);
  answerLimit = limit;
  const child = spawn(process.execPath, buildArgs(out, `ollama:${LLM}`), { stdio: "ignore", env: { ...process.env, CI: "true" } });
  const cacheFile = path.join(out, "cache", "llm.jsonl");
  const cached = () => answers(cacheFile);
  for (let waited = 0; cached() < limit; waited += 50) {
    assert.ok(waited < 60_000, `only ${cached()} of ${limit} answers cached after a minute`);
    await sleep(50);
  }
  child.kill("SIGKILL");
  await new Promise((resolve) => child.once("exit", resolve));
  assert.is(cached(), limit);
  assert.not.ok(fs.existsSync(path.join(out, "paraphrases.jsonl")), "killed before the paraphrases were written");

  answerLimit = Infinity;
  const stdout = await kitBuild(out, `ollama:${LLM}`);
  assert.match(stdout, new RegExp(`LLM requests: ${total - limit} sent, ${limit} answered from the cache`));
  assert.equal([...answered.values()].filter((n) => n > 1), [], "no answered request was sent again, rejected ones included");
  assert.is(answered.size, total);
  for (const f of OUTPUTS) assert.is(read(out, f), read(path.join(tmp, "ollama"), f), f);

  // The finished build run again sends nothing, and leaves the cache as it was.
  const before = read(out, "cache/llm.jsonl");
  assert.match(await kitBuild(out, `ollama:${LLM}`), new RegExp(`LLM requests: 0 sent, ${total} answered from the cache, 0 failed, \\d+ answers rejected \\(kept in the cache`));
  assert.is(read(out, "cache/llm.jsonl"), before);
});

test("Ctrl-C stops at once, leaving only whole files; the next run takes over the lock with a notice", async () => {
  answerLimit = 0;
  const out = path.join(tmp, "interrupted");
  const child = spawn(process.execPath, buildArgs(out, `ollama:${LLM}`), { env: { ...process.env, CI: "true" } });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  for (let waited = 0; !fs.existsSync(path.join(out, "faiss_index")); waited += 50) {
    assert.ok(waited < 60_000, "the build never reached the question stage");
    await sleep(50);
  }
  child.kill("SIGINT");
  const stopped = Date.now();
  const signal = await new Promise((resolve) => child.once("exit", (_, sig) => resolve(sig)));
  answerLimit = Infinity;
  assert.is(signal, "SIGINT");
  assert.ok(Date.now() - stopped < 2000, "stopped at once");
  // A signal can land while a file is being written: its temp file is left (the next run removes it), never a torn file.
  const left = fs.readdirSync(out).sort();
  assert.equal(left.filter((f) => !/\.tmp-\d+$/.test(f)), [".kit.lock", "build.json", "cache", "chunks.jsonl", "chunks.pkl", "faiss_index"]);
  const state = JSON.parse(fs.readFileSync(path.join(out, "build.json"), "utf8"));
  assert.is(state.build.status, "running", "build.json says the build is unfinished");
  assert.ok(["chunk", "chunk,index"].includes(Object.keys(state.stages).join()), "the stages done before the signal");
  const again = await kitBuild(out, `ollama:${LLM}`);
  assert.match(again, new RegExp(`taking over the lock of process ${child.pid}, which is gone`));
  assert.not.ok(fs.existsSync(path.join(out, ".kit.lock")), "released at the end");
  assert.equal(fs.readdirSync(out).filter((f) => /\.tmp-\d+$/.test(f)), [], "temp files of the stopped run removed");
});

test("an Apollo build through the test server keeps no paraphrase that stops mid-sentence", async () => {
  // A quarter of the paraphrases are cut silently (no done_reason), a quarter cut at the limit and whole when asked
  // again with a larger one, a quarter cut at the limit every time; the rest are whole.
  const cutTexts = new Set<string>();
  const whole = new Set<string>();
  const cutModel = await startOllamaServer({
    models: ["nomic-embed-text", LLM],
    reply: (ask) => {
      const answer = builtinReply(ask);
      const task = taskOf(ask);
      if (task.kind !== "paraphrase") return answer;
      const at = answer.lastIndexOf(" to ", Math.floor(answer.length * 0.7));
      const cut = at > 0 ? answer.slice(0, at + 3) : "These modifications aimed to";
      const kind = createHash("sha256").update(task.text + task.style).digest()[0] % 4;
      if (kind === 0) return cutTexts.add(cut), cut;
      if (kind === 1 && ask.request.body.options?.num_predict === undefined) return { text: cut, cut: true };
      if (kind === 1) return whole.add(answer), answer;
      if (kind === 2) return { text: cut, cut: true };
      return answer;
    },
  });
  try {
    const out = path.join(tmp, "cut");
    const args = ["bin/kit.js", "build", "--corpus", corpus, "--out", out, "--llm", `ollama:${LLM}`, "--judge", "rules", "--embedder", EMBEDDER, "--ollama-host", cutModel.url];
    const child = spawn(process.execPath, args, { env: { ...process.env, CI: "true" } });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    assert.is(await new Promise((resolve) => child.once("exit", resolve)), 0);
    const rows = readJsonl<{ text: string; verdict: string; reasons: string[] }>(path.join(out, "paraphrases.jsonl"));
    const silent = rows.filter((r) => cutTexts.has(r.text));
    assert.ok(silent.length > 0 && whole.size > 0);
    for (const r of silent) assert.ok(r.verdict === "hallucinated" && r.reasons.some((w) => w.startsWith("cut off mid-sentence")), r.text);
    assert.ok(rows.some((r) => whole.has(r.text)), "answers whole at the larger limit are rows");
    // A kept row ends a sentence, or in a heading, table or HTML line.
    const ended = (text: string) => /[.!?:;)|`]["'*_]*$|^\s*[#|<].*$/.test(text.trim().split("\n").at(-1)!);
    assert.equal(rows.filter((r) => r.verdict === "faithful" && !ended(r.text)), [], "no kept row ends mid-sentence");
    const build = JSON.parse(read(out, "build.json"));
    assert.ok(build.llm_requests.failed_by_reason[TRUNCATED] > 0);
    assert.match(stdout, new RegExp(`LLM requests: .* failed \\(\\d+ ${TRUNCATED}\\)`));
  } finally {
    await cutModel.close();
  }
});

test.run();
