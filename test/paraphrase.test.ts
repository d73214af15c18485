import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Chunk } from "../lib/chunking";
import type { GenerateRequest } from "../lib/generators";
import { scriptedGenerator } from "./helpers/scripted-generator";
import { DEFAULT_STYLES, generateParaphrases, resolveStyles } from "../lib/paraphrase";

const chunks: Chunk[] = [
  { chunk_id: "chunk_1", text: "First paragraph here.\n\nSecond one, with 99 ampere-hours.", source: "a.md", start: 0, end: 56 },
  { chunk_id: "chunk_2", text: "Only one paragraph.", source: "a.md", start: 58, end: 77 },
];

/** A model answering each paraphrase request with transform(original text, request, n). */
const echo = (transform: (text: string, req: GenerateRequest, n: number) => string) =>
  scriptedGenerator((req, n) => transform((req.task as Extract<GenerateRequest["task"], { kind: "paraphrase" }>).text, req, n));

test("every chunk in every style, N per style, with ids and the model", async () => {
  const gen = echo((text, req) => `${(req.task as { style: string }).style}: ${text}`);
  const { paraphrases, failures } = await generateParaphrases(chunks, gen, { perStyle: 2 });
  assert.is(failures.length, 0);
  assert.is(paraphrases.length, 2 * DEFAULT_STYLES.length * 2);
  assert.equal(paraphrases[0], { paraphrase_id: "chunk_1_reworded_1", chunk_id: "chunk_1", paragraph_index: null, style: "reworded", text: "reworded: " + chunks[0].text, model: "test-model" });
  assert.is(paraphrases[1].paraphrase_id, "chunk_1_reworded_2");
  assert.is.not(gen.requests[0].options?.seed, gen.requests[1].options?.seed);
  assert.match(gen.requests[0].prompt, /Keep every fact, number/);
  assert.ok(gen.requests[0].prompt.endsWith(chunks[0].text));
  assert.match(gen.requests[0].prompt, /\(8 words, give or take a fifth\)/);
});

test("per paragraph: one job per paragraph, indexed", async () => {
  const gen = echo((text) => text.toUpperCase());
  const { paraphrases } = await generateParaphrases(chunks, gen, { byParagraph: true, styles: resolveStyles(["condensed"]) });
  assert.equal(paraphrases.map((p) => [p.paraphrase_id, p.paragraph_index, p.text]), [
    ["chunk_1_p1_condensed_1", 0, "FIRST PARAGRAPH HERE."],
    ["chunk_1_p2_condensed_1", 1, "SECOND ONE, WITH 99 AMPERE-HOURS."],
    ["chunk_2_p1_condensed_1", 0, "ONLY ONE PARAGRAPH."],
  ]);
});

test("empty or unchanged answers are retried, then recorded as failures", async () => {
  const flaky = echo((text, _req, n) => (n === 1 ? "" : `Reworded ${text}`));
  const ok = await generateParaphrases(chunks.slice(1), flaky, { styles: resolveStyles(["reworded"]) });
  assert.equal([ok.paraphrases.length, flaky.requests.length], [1, 2]);
  const lazy = echo((text) => text);
  const bad = await generateParaphrases(chunks.slice(1), lazy, { styles: resolveStyles(["reworded"]), retries: 1 });
  assert.equal(bad.failures, [{ chunk_id: "chunk_2", paragraph_index: null, style: "reworded", reason: "answer repeats the original unchanged (after 2 tries)" }]);
});

test("styles: defaults, a user's file, and one-line errors before any work", () => {
  assert.equal(resolveStyles(undefined).map((s) => s.name), ["reworded", "reordered", "condensed"]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-styles-"));
  const file = path.join(dir, "styles.json");
  fs.writeFileSync(file, JSON.stringify([{ name: "pirate", prompt: "Say it like a pirate, facts intact:\n{text}" }]));
  assert.equal(resolveStyles(["pirate", "condensed"], file).map((s) => s.name), ["pirate", "condensed"]);
  assert.throws(() => resolveStyles(["nope"]), /unknown paraphrase style "nope": known styles are reworded, reordered, condensed/);
  fs.writeFileSync(file, JSON.stringify([{ name: "lazy", prompt: "Rewrite it." }]));
  assert.throws(() => resolveStyles(["lazy"], file), /paraphrase style "lazy": its prompt has no \{text\} placeholder/);
  fs.writeFileSync(file, "[{");
  assert.throws(() => resolveStyles(undefined, file), /styles-\w+\/styles\.json: not valid JSON/);
  assert.throws(() => resolveStyles(undefined, path.join(dir, "missing.json")), /missing\.json: not found/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
