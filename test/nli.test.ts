import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KitError } from "../lib/errors";
import type { Judge } from "../lib/quality/claims";
import { createJudge } from "../lib/quality/judge";
import { DEFAULT_NLI_THRESHOLD, encodePairs, nliJudge, softmax, supportLabel } from "../lib/quality/nli";

// A tiny random BERT classifier (contradiction / neutral / entailment) from scripts/make-tiny-nli.py, generated on
// demand into this git-ignored folder.
const TINY_NLI = "test/fixtures/tiny-nli";
const GENERATOR = "scripts/make-tiny-nli.py";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-nli-"));
const open: Judge[] = [];

/** (Re)generates the tiny model when it is missing or older than its generator (or the tiny BERT it builds on). */
function tinyNli(): string {
  const model = path.join(TINY_NLI, "onnx", "model.onnx");
  const scripts = [GENERATOR, "scripts/make-tiny-bert.py"];
  if (!fs.existsSync(model) || scripts.some((s) => fs.statSync(model).mtimeMs < fs.statSync(s).mtimeMs)) {
    const r = spawnSync("/usr/bin/python3", [GENERATOR, TINY_NLI], { encoding: "utf8" });
    assert.is(r.status, 0, r.stderr);
  }
  return TINY_NLI;
}

/** A copy of the tiny model under tmp, with its config.json edited. */
function tinyNliCopy(name: string, edit: (config: Record<string, unknown>) => void = () => {}): string {
  const dir = path.join(tmp, name);
  fs.cpSync(tinyNli(), dir, { recursive: true });
  const file = path.join(dir, "config.json");
  const config = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  edit(config);
  fs.writeFileSync(file, JSON.stringify(config));
  return dir;
}

async function judge(model: string, options: Parameters<typeof nliJudge>[1] = {}): Promise<Judge> {
  const j = await nliJudge(model, options);
  open.push(j);
  return j;
}

async function kitError(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (e) {
    assert.instance(e, KitError, String(e));
    assert.not.match((e as Error).message, /\n/);
    return (e as Error).message;
  }
  throw new Error("expected a KitError");
}

function assertClose(actual: number[], expected: number[], tolerance = 1e-5, what = "probabilities") {
  assert.is(actual.length, expected.length, `${what} length`);
  const worst = Math.max(...actual.map((x, i) => Math.abs(x - expected[i])));
  assert.ok(worst <= tolerance, `${what} differ by ${worst}: ${actual} vs ${expected}`);
}

test.after(async () => {
  await Promise.all(open.map((j) => j.close()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const ORIGINAL = "The cat sat on the mat while the sun and the moon were in the sky, and red cars were on the road.";
const CLAIMS = [
  "the cat sat on the mat",
  "a dog",
  "red cars and blue cars were fast on the road in the rain and snow, and the cat sat on a mat in the sun",
  "the moon is not the sun",
  "kubernetes pods run on nodes of a cluster",
];

/** The entailment probability straight from transformers.js: its own pair encoding, the model, softmax, label 2. */
async function reference(folder: string, original: string, claim: string): Promise<number> {
  const { AutoModelForSequenceClassification, AutoTokenizer, env } = await import("@xenova/transformers");
  const id = path.relative(env.localModelPath, path.resolve(folder));
  const tokenizer = await AutoTokenizer.from_pretrained(id, { local_files_only: true });
  const model = await AutoModelForSequenceClassification.from_pretrained(id, { quantized: false, local_files_only: true });
  try {
    const { logits } = await model(tokenizer(original, { text_pair: claim }));
    return softmax(logits.data)[2];
  } finally {
    await model.dispose();
  }
}

test("the generator is deterministic: a second run writes the same bytes", () => {
  const again = path.join(tmp, "again");
  const r = spawnSync("/usr/bin/python3", [GENERATOR, again], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  for (const file of ["config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model.onnx"]) {
    assert.ok(fs.readFileSync(path.join(again, file)).equals(fs.readFileSync(path.join(tinyNli(), file))), file);
  }
  const config = JSON.parse(fs.readFileSync(path.join(again, "config.json"), "utf8"));
  assert.equal(config.architectures, ["BertForSequenceClassification"]);
  assert.equal(config.id2label, { 0: "contradiction", 1: "neutral", 2: "entailment" });
  assert.equal(config.label2id, { contradiction: 0, neutral: 1, entailment: 2 });
});

test("a local folder loads offline; each probability is the softmax of the entailment logit, in [0,1], in claim order", async () => {
  const j = await judge(tinyNli());
  assert.is(j.spec, `transformers:${TINY_NLI}`);
  const verdicts = await j.judge(ORIGINAL, CLAIMS);
  assert.equal(verdicts.map((v) => v.claim), CLAIMS);
  const probabilities = verdicts.map((v) => v.probability!);
  for (const p of probabilities) assert.ok(p >= 0 && p <= 1, `probability ${p}`);
  assert.is(new Set(probabilities.map((p) => p.toFixed(6))).size, CLAIMS.length, `distinct probabilities: ${probabilities}`);
  const expected: number[] = [];
  for (const claim of CLAIMS) expected.push(await reference(TINY_NLI, ORIGINAL, claim));
  assertClose(probabilities, expected);
  verdicts.forEach((v) => assert.is(v.supported, v.probability! >= DEFAULT_NLI_THRESHOLD, v.claim));
  assert.equal(await j.judge(ORIGINAL, []), []);
});

test("batching: one claim at a time, one batch of mixed lengths and uneven batches give the same probabilities", async () => {
  const one = await judge(tinyNli(), { batchSize: 1 });
  const alone: number[] = [];
  for (const claim of CLAIMS) alone.push((await one.judge(ORIGINAL, [claim]))[0].probability!);
  for (const batchSize of [8, 2]) {
    const batched = await (await judge(tinyNli(), { batchSize })).judge(ORIGINAL, CLAIMS);
    assert.equal(batched.map((v) => v.claim), CLAIMS);
    // In one batch the short claims are padded to the longest: equality shows the attention mask is honoured.
    assertClose(batched.map((v) => v.probability!), alone, 1e-5, `batch ${batchSize}`);
  }
  // Reversed input, reversed output: results are not sorted or shuffled by batching.
  const reversed = await one.judge(ORIGINAL, [...CLAIMS].reverse());
  assertClose(reversed.map((v) => v.probability!), [...alone].reverse());
  // Concurrent calls queue on the one model and each gets its own claims back.
  const [a, b] = await Promise.all([one.judge(ORIGINAL, CLAIMS.slice(0, 2)), one.judge(ORIGINAL, CLAIMS.slice(2))]);
  assertClose([...a, ...b].map((v) => v.probability!), alone);
});

test("supported follows the threshold: a cut between the observed probabilities splits the claims there", async () => {
  const probabilities = (await (await judge(tinyNli())).judge(ORIGINAL, CLAIMS)).map((v) => v.probability!);
  const sorted = [...probabilities].sort((x, y) => x - y);
  const cut = (sorted[1] + sorted[2]) / 2;
  const verdicts = await (await judge(tinyNli(), { threshold: cut })).judge(ORIGINAL, CLAIMS);
  assert.equal(verdicts.map((v) => v.supported), probabilities.map((p) => p > cut));
  assert.equal(verdicts.filter((v) => v.supported).length, 3);
  // At exactly a claim's probability it counts as supported (>=); a hair above, not.
  const exact = await (await judge(tinyNli(), { threshold: sorted[2] })).judge(ORIGINAL, CLAIMS);
  assert.equal(exact.map((v) => v.supported), probabilities.map((p) => p >= sorted[2]));
  const above = await (await judge(tinyNli(), { threshold: sorted[4] + 1e-6 })).judge(ORIGINAL, CLAIMS);
  assert.ok(above.every((v) => v.supported === false));
  assert.ok((await (await judge(tinyNli(), { threshold: 0 })).judge(ORIGINAL, CLAIMS)).every((v) => v.supported));
});

test("a long original is cut from its end to the model's 512 tokens; the claim is kept whole", async () => {
  const { AutoTokenizer, env } = await import("@xenova/transformers");
  const tokenizer = await AutoTokenizer.from_pretrained(path.relative(env.localModelPath, path.resolve(tinyNli())), { local_files_only: true });
  const head = Array.from({ length: 300 }, (_, i) => `the cat ${["sat", "ran", "slept"][i % 3]} on the mat.`).join(" ");
  const claims = ["the cat sat on the mat", "kubernetes pods run on nodes"];
  const [encoded] = encodePairs(tokenizer, [[head, claims[1]]], 512);
  assert.is(encoded.input_ids.length, 512);
  const claimIds = tokenizer.encode(claims[1], null, { add_special_tokens: false });
  assert.equal(encoded.input_ids.slice(-claimIds.length - 1), [...claimIds, tokenizer.sep_token_id]);
  assert.equal(encoded.input_ids.slice(0, 4), tokenizer.encode(head, null).slice(0, 4));
  assert.is(encoded.token_type_ids!.filter((t) => t === 1).length, claimIds.length + 1);
  // Short pairs are encoded exactly as the tokenizer's own pair encoding.
  const [short] = encodePairs(tokenizer, [[ORIGINAL, CLAIMS[0]]], 512);
  const own = tokenizer(ORIGINAL, { text_pair: CLAIMS[0], return_tensor: false }) as unknown as Record<string, number[]>;
  assert.equal(short, { input_ids: own.input_ids, token_type_ids: own.token_type_ids });

  const j = await judge(tinyNli());
  // Without truncation the position table (512) would overflow; what follows the cut changes nothing.
  const a = await j.judge(`${head} Snow fell on red cars.`, claims);
  const b = await j.judge(`${head} The moon is blue.`, claims);
  assertClose(a.map((v) => v.probability!), b.map((v) => v.probability!));
  assert.ok(Math.abs(a[0].probability! - a[1].probability!) > 1e-4, "the claims still decide");
});

test("the supported label: entailment, else consistent / supported / factual, else index 1 of two generic labels", () => {
  const index = (labels: string[]) => supportLabel(Object.fromEntries(labels.map((l, i) => [i, l])))?.index;
  assert.is(index(["contradiction", "neutral", "entailment"]), 2);
  assert.is(index(["CONTRADICTION", "NEUTRAL", "ENTAILMENT"]), 2);
  assert.is(index(["entailment", "neutral", "contradiction"]), 0);
  assert.is(index(["entailment", "not_entailment"]), 0);
  assert.is(index(["non-entailment", "entailment"]), 1);
  assert.is(index(["hallucinated", "consistent"]), 1);
  assert.is(index(["consistent", "inconsistent"]), 0);
  assert.is(index(["unsupported", "supported"]), 1);
  assert.is(index(["non_factual", "factual"]), 1);
  assert.is(index(["LABEL_0", "LABEL_1"]), 1);
  assert.is(index(["0", "1"]), 1);
  assert.is(index(["positive", "negative"]), undefined);
  assert.is(index(["LABEL_0", "LABEL_1", "LABEL_2"]), undefined);
  assert.is(index(["LABEL_0"]), undefined);
  assert.is(index(["entailment", "strong entailment"]), undefined);
  assert.is(supportLabel(undefined), undefined);
  assertClose(softmax([1, 2, 3]), [0.09003057, 0.24472847, 0.66524096], 1e-7);
  assertClose(softmax([1000, 1000]), [0.5, 0.5], 0);
});

test("unidentifiable labels, a missing folder, a non-classifier or logits that do not fit the labels are one-line KitErrors", async () => {
  const generic = tinyNliCopy("tiny-generic", (c) => {
    c.id2label = { 0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2" };
  });
  assert.match(await kitError(() => nliJudge(generic)), /tiny-generic: no label means "supported" among its labels \["LABEL_0","LABEL_1","LABEL_2"\]/);
  const sentiment = tinyNliCopy("tiny-sentiment", (c) => {
    c.id2label = { 0: "negative", 1: "neutral", 2: "positive" };
  });
  const message = await kitError(() => nliJudge(sentiment));
  assert.ok(message.startsWith(`judge transformers:${sentiment}: `), message);
  assert.match(message, /\["negative","neutral","positive"\]/);

  const missing = path.join(tmp, "missing");
  assert.match(await kitError(() => nliJudge(missing)), /^judge transformers:.*missing: model folder .*missing does not exist \(give a folder/);
  const empty = path.join(tmp, "no-weights");
  fs.mkdirSync(empty);
  assert.match(await kitError(() => nliJudge(empty)), /no-weights has no onnx\/model\.onnx/);

  // The tiny BERT embedder: no id2label at all; with one, its ONNX graph has no logits output.
  const bert = path.join(tmp, "tiny-bert");
  const r = spawnSync("/usr/bin/python3", ["scripts/make-tiny-bert.py", bert], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  assert.match(await kitError(() => nliJudge(bert)), /tiny-bert: config\.json has no id2label, so it is not a sequence classifier/);
  const encoderOnly = tinyNliCopy("tiny-encoder-only");
  fs.copyFileSync(path.join(bert, "onnx", "model.onnx"), path.join(encoderOnly, "onnx", "model.onnx"));
  assert.match(await kitError(() => nliJudge(encoderOnly)), /tiny-encoder-only: its ONNX model outputs last_hidden_state, not logits/);

  // Two labels in config.json on a three-logit model: caught at the first call, not read as probabilities.
  const binary = tinyNliCopy("tiny-binary", (c) => {
    c.id2label = { 0: "LABEL_0", 1: "LABEL_1" };
  });
  const mismatch = await judge(binary);
  assert.match(await kitError(() => mismatch.judge(ORIGINAL, CLAIMS)), /tiny-binary: the model gave logits of shape \[5,3\] for 5 pairs and 2 labels/);

  assert.match(await kitError(() => nliJudge(tinyNli(), { threshold: 1.5 })), /threshold must be between 0 and 1, got 1\.5/);
  assert.match(await kitError(() => nliJudge(tinyNli(), { batchSize: 0 })), /batchSize must be a positive integer, got 0/);
});

test("createJudge('transformers:<folder>') gives an NLI judge named by the folder; close() ends it; an aborted signal stops it", async () => {
  const notices: string[] = [];
  const folder = path.resolve(tinyNli());
  const j = (await createJudge(`transformers:${folder}`, { onNotice: (line) => notices.push(line) }))!;
  assert.ok(j);
  assert.is(j.spec, `transformers:${folder}`);
  assert.equal(notices, [`judge: transformers:${folder} (entailment probability per claim)`]);
  const [verdict] = await j.judge(ORIGINAL, [CLAIMS[0]]);
  assertClose([verdict.probability!], [await reference(folder, ORIGINAL, CLAIMS[0])]);
  const controller = new AbortController();
  controller.abort();
  let aborted: unknown;
  await j.judge(ORIGINAL, CLAIMS, controller.signal).catch((e) => (aborted = e));
  assert.is((aborted as Error)?.name, "AbortError");
  await j.close();
  assert.match(await kitError(() => j.judge(ORIGINAL, CLAIMS)), /used after close\(\)/);
});

test.run();
