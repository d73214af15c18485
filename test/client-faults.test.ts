// Issue 26, item 1: builds and kit serve against an LLM and embedder host that rate-limits, garbles, answers
// without end or hangs, through the CLI, as a user runs them. Each build is a small corpus through the test server.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { builtinReply } from "./helpers/builtin-replies";
import { type OllamaServer, type OllamaRequest, type Reply, startOllamaServer } from "./helpers/ollama-server";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-client-faults-"));
const corpus = path.join(tmp, "apollo-part.md");
fs.writeFileSync(corpus, fs.readFileSync("datasets/corpora/apollo13_mission_report.md", "utf8").slice(0, 6_000));
const LLM = "test-llm";

/** What the host does to each chat or embedding request, by test; undefined answers it. */
let fault: (request: OllamaRequest) => Reply | undefined = () => undefined;
let server: OllamaServer;
test.before(async () => {
  server = await startOllamaServer({ models: ["nomic-embed-text", LLM], script: (r) => fault(r), reply: builtinReply });
});
test.after(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs the kit in a child process (the test server lives in this one), with its own embedding cache. */
async function kit(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, ["bin/kit.js", ...args], { env: { ...process.env, CI: "true", KIT_CACHE_DIR: path.join(tmp, "cache") } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { code, stdout, stderr, ms: Date.now() - started };
}

const build = (out: string, ...extra: string[]) =>
  kit("build", "--corpus", corpus, "--out", out, "--llm", `ollama:${LLM}`, "--judge", "rules", "--embedder", "ollama:nomic-embed-text", "--ollama-host", server.url, ...extra);

const record = (out: string) => JSON.parse(fs.readFileSync(path.join(out, "build.json"), "utf8"));

test("a host answering 429 with Retry-After for 5 s, and garbling every 10th answer, gives a complete build: 0 failed requests, exit 0", async () => {
  let limitedUntil = 0;
  const served = { limited: 0, garbled: 0, answered: 0 };
  fault = ({ path: p }) => {
    if (p !== "/api/chat") return undefined;
    limitedUntil ||= Date.now() + 5_000;
    if (Date.now() < limitedUntil) return served.limited++, { status: 429, json: { error: "rate limited" }, headers: { "Retry-After": "2" } };
    if (++served.answered % 10 === 0) return served.garbled++, { text: '{"model": "test-llm", "mess' };
    return undefined;
  };
  const out = path.join(tmp, "limited");
  const r = await build(out);
  assert.is(r.code, 0, r.stderr);
  assert.ok(served.limited >= 4 && served.garbled >= 2, JSON.stringify(served));
  const { llm_requests, failures } = record(out);
  assert.equal([llm_requests.failed, llm_requests.failed_by_reason], [0, {}]);
  assert.equal(Object.keys(failures).filter((reason) => /HTTP|malformed|larger than/.test(reason)), [], "rows not kept were the checks' choice");
  assert.match(r.stdout, / 0 failed/);
});

test("requests that fail after every retry (here answers past --max-answer-bytes) end the build non-zero, saying so last; --allow-failed-requests accepts them", async () => {
  // The first two question requests get answers without end, every time they are asked.
  const endless = new Set<string>();
  fault = ({ path: p, body }) => {
    if (p !== "/api/chat" || !/Write \d+ different questions/.test(body.messages.at(-1).content)) return undefined;
    const key = createHash("sha256").update(JSON.stringify(body)).digest("hex");
    if (endless.size < 2) endless.add(key);
    return endless.has(key) ? { endless: `{"message": {"content": "${"la ".repeat(300)}` } : undefined;
  };
  const out = path.join(tmp, "holes");
  const r = await build(out, "--max-answer-bytes", "4096");
  assert.is(r.code, 1, r.stderr);
  assert.is(
    r.stderr.trim().split("\n").at(-1),
    "kit: build: 2 LLM requests failed (2 answer larger than 4096 bytes), so their rows are missing: run the same command again to ask them again, or pass --allow-failed-requests to accept the holes",
  );
  assert.equal(record(out).llm_requests.failed_by_reason, { "answer larger than 4096 bytes": 2 });
  const accepted = await build(out, "--max-answer-bytes", "4096", "--allow-failed-requests");
  assert.is(accepted.code, 0, accepted.stderr);
  assert.is(record(out).llm_requests.sent, 0, "the re-run asked only the two again, and they failed again");
  assert.match(accepted.stdout, /2 failed \(2 answer larger than 4096 bytes\)/);
});

test("a hanging embedder with --request-timeout fails within a minute with one line: kit build, and kit serve --retriever dense", async () => {
  fault = ({ path: p }) => (p === "/api/embed" ? { hang: true } : undefined);
  const hung = `kit: Ollama at ${server.url} did not answer an embedding request with "nomic-embed-text" within 5 s: raise --request-timeout, or see the server's log`;
  const r = await build(path.join(tmp, "hung"), "--request-timeout", "5");
  assert.is(r.code, 1);
  assert.ok(r.ms < 60_000, `took ${r.ms} ms`);
  assert.equal(r.stderr.trim().split("\n"), [hung]);
  // The dataset of the first test, served with dense retrieval: the embedder is made, and hangs, at start.
  const served = await kit("serve", "--dataset", path.join(tmp, "limited"), "--retriever", "dense", "--port", "0", "--ollama-host", server.url, "--request-timeout", "1");
  assert.is(served.code, 1);
  assert.ok(served.ms < 30_000, `took ${served.ms} ms`);
  assert.equal(served.stderr.trim().split("\n"), [hung.replace("within 5 s", "within 1 s")]);
});

test.run();
