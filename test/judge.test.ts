import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createBuiltinGenerator } from "../lib/generators/builtin";
import { openCache, withCache } from "../lib/cache";
import type { Embedder } from "../lib/embedders";
import { KitError } from "../lib/errors";
import { readJsonl } from "../lib/files";
import { createGenerator } from "../lib/generators";
import { checkParaphrases } from "../lib/quality";
import { splitClaims } from "../lib/quality/claims";
import { claimRequest, createJudge, llmJudge, parseClaimAnswer } from "../lib/quality/judge";
import { type ChatAsk, startOllamaServer } from "./helpers/ollama-server";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-judge-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ORIGINAL =
  "The command module was completely powered down at 58 hours 40 minutes, at which time 99 ampere-hours remained in the three entry batteries. By charging the batteries with lunar module power, available battery capacity was increased to 118 ampere-hours.";
const FAITHFUL =
  "At 58 hours 40 minutes the command module was fully shut down, with 99 ampere-hours left in its three entry batteries. Charging them from the lunar module raised the available capacity to 118 ampere-hours.";
// Passes every rule (no new number, name or term), but its second sentence adds a claim the original lacks.
const ADDED = "At 58 hours 40 minutes the command module was fully shut down, with 99 ampere-hours left in its three entry batteries. The crew then charged them from the lunar module to save the mission.";

/** A fact checker for the test server: a claim is supported when every word of it is in the document. */
function supported(ask: ChatAsk): boolean {
  const [, document, claim] = /Document:\s*([\s\S]*?)\n+Claim:\s*([\s\S]*?)(?:\n\nDoes|$)/.exec(ask.prompt) ?? [];
  const words = (s: string) => s.toLowerCase().match(/[a-z0-9-]+/g) ?? [];
  const known = new Set(words(document ?? ""));
  return words(claim ?? "").filter((w) => w.length > 3).every((w) => known.has(w) || ["fully", "shut", "left", "from", "them", "raised"].includes(w));
}

test("claims: sentences and list items, without headings, table rules or fragments", () => {
  assert.equal(splitClaims("# Batteries\n\nThe module was powered down. It had 99 ampere-hours left!\n- Charging raised it to 118.\n2) See below:\n|---|---|"), [
    "The module was powered down.",
    "It had 99 ampere-hours left!",
    "Charging raised it to 118.",
  ]);
});

test("answers: Yes/No and JSON read, anything else unreadable", () => {
  for (const [answer, want] of [["Yes", true], ["No.", false], [' {"supported": false}', false], ['```json\n{"supported": true}\n```', true], ["I think so", undefined], ["", undefined]] as const) {
    assert.is(parseClaimAnswer(answer), want, answer);
  }
  const minicheck = claimRequest("bespoke-minicheck", "Doc.", "Claim here.", 0);
  assert.is(minicheck.prompt, "Document: Doc.\nClaim: Claim here.");
  assert.is(minicheck.format, undefined);
  const general = claimRequest("qwen2.5:7b-instruct", "Doc.", "Claim here.", 1);
  assert.ok(general.format && /Reply with JSON only/.test(general.prompt));
  assert.not.equal(general.options?.seed, claimRequest("qwen2.5:7b-instruct", "Doc.", "Claim here.", 0).options?.seed, "a retry is another request");
});

test("bespoke-minicheck through the Ollama client: claim by claim, unsupported claims in the reasons, cached on re-run", async () => {
  const server = await startOllamaServer({ models: ["bespoke-minicheck", "qwen2.5:7b-instruct"], reply: (ask) => (supported(ask) ? "Yes" : "No") });
  try {
    const cacheFile = path.join(tmp, "minicheck.jsonl");
    const run = async () => {
      const cache = openCache(cacheFile);
      const judge = await createJudge("ollama:bespoke-minicheck", { ollamaHost: server.url, wrap: (g) => withCache(g, cache) });
      try {
        return await checkParaphrases([{ original: ORIGINAL, paraphrase: FAITHFUL }, { original: ORIGINAL, paraphrase: ADDED }], { judge });
      } finally {
        await judge!.close();
        cache.close();
      }
    };
    const checks = await run();
    const asked = server.received.filter((r) => r.path === "/api/chat");
    assert.is(asked.length, 4, "two claims each");
    assert.ok(asked.every((r) => r.body.model === "bespoke-minicheck" && /^Document: /.test(r.body.messages.at(-1).content)));
    assert.is(checks[0].verdict, "faithful");
    assert.equal([checks[0].scores.judge_claims, checks[0].scores.judge_unsupported], [2, 0]);
    assert.is(checks[1].verdict, "hallucinated");
    assert.match(checks[1].reasons.join("\n"), 'judge: unsupported claims: "The crew then charged them from the lunar module to save the mission."');
    const again = await run();
    assert.is(server.received.filter((r) => r.path === "/api/chat").length, 4, "the re-run is answered from the cache");
    assert.equal(again, checks);
  } finally {
    await server.close();
  }
});

test("a general model answers JSON; a malformed answer is asked again, and unreadable claims are not counted", async () => {
  let n = 0;
  const server = await startOllamaServer({
    models: ["qwen2.5:7b-instruct"],
    // Every first answer is malformed; the retry (another seed) answers JSON, except for the claim about the crew.
    reply: (ask) => (++n % 2 === 1 ? "Let me think about it." : /crew/.test(ask.prompt) ? "still thinking" : JSON.stringify({ supported: supported(ask) })),
  });
  try {
    const judge = await createJudge("ollama:qwen2.5:7b-instruct", { ollamaHost: server.url });
    const [check] = await checkParaphrases([{ original: ORIGINAL, paraphrase: ADDED }], { judge });
    await judge!.close();
    const asked = server.received.filter((r) => r.path === "/api/chat");
    assert.ok(asked.every((r) => r.body.format?.required?.[0] === "supported"), "the JSON schema is sent");
    assert.is(new Set(asked.map((r) => r.body.options.seed)).size, 3, "retries use new seeds");
    assert.is(check.verdict, "faithful", "an unreadable claim does not make the row hallucinated");
    assert.match(check.reasons.join("\n"), "judge: 1 of 2 claims got no readable answer, not counted");
  } finally {
    await server.close();
  }
});

test("the judge's requests take the build's --request-timeout and --max-answer-bytes: a hanging judge fails in seconds, an endless one as too large", async () => {
  let fault: "hang" | "endless" = "hang";
  const server = await startOllamaServer({
    models: ["qwen2.5:7b-instruct"],
    script: (r) => (r.path !== "/api/chat" ? undefined : fault === "hang" ? { hang: true } : { endless: `{"message": {"content": "${"la ".repeat(300)}` }),
  });
  try {
    for (const [what, client, reason] of [
      ["hang", { timeoutMs: 300 }, /no answer within 300 ms; raise --request-timeout/],
      ["endless", { maxAnswerBytes: 2048 }, /answer larger than 2048 bytes/],
    ] as const) {
      fault = what;
      const judge = await createJudge("ollama:qwen2.5:7b-instruct", { ollamaHost: server.url, client: { ...client, concurrency: 1 } });
      const started = Date.now();
      const error = await checkParaphrases([{ original: ORIGINAL, paraphrase: ADDED }], { judge }).then(() => undefined, (e: Error) => e);
      await judge!.close();
      // Without the build's settings the client would wait its default 300 s a try (or read without end).
      assert.ok(Date.now() - started < 30_000, `${what}: took ${Date.now() - started} ms`);
      assert.ok(error, `${what}: the check fails`);
      assert.match(error!.message, reason);
    }
  } finally {
    await server.close();
  }
});

test("cheap checks first: a copy or a refusal is never embedded or judged", async () => {
  const embedded: string[] = [];
  const embedder: Embedder = {
    spec: "test",
    dimension: 2,
    embed: async (texts) => (embedded.push(...texts), texts.map(() => Float32Array.of(1, 0))),
  };
  const judged: string[] = [];
  const judge = { spec: "test", close: async () => {}, judge: async (_: string, claims: readonly string[]) => claims.map((claim) => (judged.push(claim), { claim, supported: true })) };
  const checks = await checkParaphrases(
    [
      { original: ORIGINAL, paraphrase: ORIGINAL },
      { original: ORIGINAL, paraphrase: "Please provide the text you would like me to rewrite." },
      { original: ORIGINAL, paraphrase: FAITHFUL },
    ],
    { embedder, judge },
  );
  assert.equal(checks.map((c) => c.verdict), ["copy", "refusal", "faithful"]);
  assert.equal(embedded.sort(), [FAITHFUL, ORIGINAL].sort());
  assert.equal(judged, splitClaims(FAITHFUL));
});

test("auto: bespoke-minicheck when the host has it, else the generator's model, rules alone with builtin", async () => {
  const server = await startOllamaServer({ models: ["qwen2.5:7b-instruct"] });
  const withMinicheck = await startOllamaServer({ models: ["qwen2.5:7b-instruct", "bespoke-minicheck"] });
  try {
    const notices: string[] = [];
    const onNotice = (line: string) => notices.push(line);
    const generator = await createGenerator("ollama:qwen2.5:7b-instruct", { ollamaHost: server.url });
    assert.is((await createJudge("auto", { generator, ollamaHost: server.url, onNotice }))?.spec, "ollama:qwen2.5:7b-instruct");
    const other = await createGenerator("ollama:qwen2.5:7b-instruct", { ollamaHost: withMinicheck.url });
    assert.is((await createJudge("auto", { generator: other, ollamaHost: withMinicheck.url, onNotice }))?.spec, "ollama:bespoke-minicheck");
    assert.is(await createJudge("auto", { generator: createBuiltinGenerator(), onNotice }), undefined);
    assert.is(await createJudge("rules"), undefined);
    assert.match(notices.join("\n"), "judge: rules only (the builtin generator cannot judge)");
    await generator.close();
    await other.close();
    const bad = await createJudge("gpt:4").catch((e: unknown) => e);
    assert.ok(bad instanceof KitError && /unknown judge spec "gpt:4" \(--judge\)/.test(bad.message));
    assert.throws(() => llmJudge(createBuiltinGenerator()), /builtin generator cannot judge/);
  } finally {
    await server.close();
    await withMinicheck.close();
  }
});

test("kit check-paraphrases --judge ollama:M against the test server writes verdicts with the judge's reasons", async () => {
  const server = await startOllamaServer({ models: ["bespoke-minicheck"], reply: (ask) => (supported(ask) ? "Yes" : "No") });
  try {
    const input = path.join(tmp, "pairs.jsonl");
    fs.writeFileSync(input, [FAITHFUL, ADDED].map((paraphrase) => JSON.stringify({ original: ORIGINAL, paraphrase })).join("\n") + "\n");
    const out = path.join(tmp, "verdicts.jsonl");
    // Asynchronously: the test server lives in this process.
    const child = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const { spawn } = require("node:child_process") as typeof import("node:child_process");
      const p = spawn(process.execPath, ["bin/kit.js", "check-paraphrases", "--in", input, "--out", out, "--judge", "ollama:bespoke-minicheck", "--ollama-host", server.url], { env: { ...process.env, CI: "true" } });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (d) => (stdout += d));
      p.stderr.on("data", (d) => (stderr += d));
      p.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
    assert.is(child.code, 0, child.stderr);
    assert.match(child.stdout, "1 faithful, 1 hallucinated");
    assert.match(child.stdout, "(judge: ollama:bespoke-minicheck)");
    const rows = readJsonl<{ verdict: string; reasons: string[] }>(out);
    assert.equal(rows.map((r) => r.verdict), ["faithful", "hallucinated"]);
    assert.ok(fs.existsSync(`${out}.judge-cache.jsonl`));
    const same = spawnSync(process.execPath, ["bin/kit.js", "check-paraphrases", "--in", input, "--out", input], { encoding: "utf8" });
    assert.is(same.status, 1);
    assert.match(same.stderr, "is the --in file");
  } finally {
    await server.close();
  }
});

test.run();
