import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { RecursiveCharacterTextSplitter } from "@langchain/textsplitters";
import { chunkDocuments, chunkText, MAX_CHUNK_SIZE, splitParagraphs } from "../lib/chunking";
import { loadCorpus, markdownToText } from "../lib/corpus";

const APOLLO = "datasets/corpora/apollo13_mission_report.md";
// The 21 MB KEP corpus is not in the repository: it sits beside the checkout on the project's machines.
const KEPS = path.join(__dirname, "../../shared/corpora/kubernetes_keps.md");

async function langchain(text: string, chunkSize: number, chunkOverlap: number, separators?: string[]): Promise<string[]> {
  return new RecursiveCharacterTextSplitter({ chunkSize, chunkOverlap, separators }).splitText(text);
}

function assertSameAsLangchain(text: string, kit: ReturnType<typeof chunkText>, expected: string[], label: string) {
  assert.is(kit.length, expected.length, `${label}: chunk count`);
  kit.forEach((span, i) => {
    if (span.text !== expected[i]) assert.fixture(span.text, expected[i], `${label}: chunk ${i + 1}`);
    assert.is(text.slice(span.start, span.end), span.text, `${label}: offsets of chunk ${i + 1}`);
  });
}

for (const [name, file] of [["Apollo", APOLLO], ["KEPs", KEPS]] as const) {
  for (const [size, overlap] of [[1000, 0], [300, 60]] as const) {
    test(`same chunks as langchain on ${name} (size ${size}, overlap ${overlap})`, async () => {
      if (!fs.existsSync(file)) return console.log(`  skipped the ${name} comparison: ${file} is not there`);
      const text = markdownToText(fs.readFileSync(file, "utf8"));
      assertSameAsLangchain(text, chunkText(text, { chunkSize: size, chunkOverlap: overlap }), await langchain(text, size, overlap), name);
    });
  }
}

test("same chunks as langchain on awkward inputs: runs of separators, long words, tiny sizes", async () => {
  const words = ["a", "bb", " ", "\n", "\n\n", "\n\n\n", "  ", "ccccccccccccccccccccccc", "d.", "\t", "\u00a0"];
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 300; round++) {
    const text = Array.from({ length: 1 + Math.floor(random() * 60) }, () => words[Math.floor(random() * words.length)]).join("");
    const size = 1 + Math.floor(random() * 30);
    const overlap = Math.floor(random() * size);
    assertSameAsLangchain(text, chunkText(text, { chunkSize: size, chunkOverlap: overlap }), await langchain(text, size, overlap), JSON.stringify({ text, size, overlap }));
  }
});

test("same chunks as langchain with custom separators, \"\" anywhere in the list", async () => {
  // "" before other separators means: split into characters, and split no further.
  assert.equal(chunkText("ko", { chunkSize: 1, separators: ["", "\n"] }).map((s) => s.text), ["k", "o"]);
  const words = ["a", "bb", " ", "\n", "\n\n", "ccccccccccc", "d.", "ab", "-", "\u00e9", "\u{1F600}", "aa"];
  const pool = ["\n\n", "\n", " ", "", ".", "a", "aa", "ab", "-", "\u{1F600}", "b b"];
  let seed = 11;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
  for (let round = 0; round < 2000; round++) {
    const text = Array.from({ length: Math.floor(random() * 50) }, () => pick(words)).join("");
    const separators = Array.from({ length: Math.floor(random() * 5) }, () => pick(pool));
    const size = 1 + Math.floor(random() * 25);
    const overlap = Math.floor(random() * size);
    const kit = chunkText(text, { chunkSize: size, chunkOverlap: overlap, separators });
    assertSameAsLangchain(text, kit, await langchain(text, size, overlap, separators), JSON.stringify({ text, size, overlap, separators }));
  }
});

test("long lines with no spaces take linear time, as lines with spaces do", () => {
  // Each line longer than the chunk size used to search the rest of the text for a space: quadratic.
  const lines = (line: string) => Array.from({ length: 15_000 }, () => line + "\u2014").join("\n");
  const time = (text: string) => {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      chunkText(text, { chunkSize: 10 });
      best = Math.min(best, performance.now() - started);
    }
    return best;
  };
  const spaced = time(lines("xxxxx xxxx"));
  const unspaced = time(lines("xxxxxxxxxx"));
  assert.ok(unspaced < 10 * spaced + 100, `${unspaced.toFixed(0)} ms without spaces, ${spaced.toFixed(0)} ms with`);
});

test("chunk ids are stable and run across documents", () => {
  const docs = [{ source: "a.md", text: "one\n\ntwo" }, { source: "b.md", text: "three" }];
  const chunks = chunkDocuments(docs, { chunkSize: 5 });
  assert.equal(chunks.map((c) => [c.chunk_id, c.text, c.source]), [["chunk_1", "one", "a.md"], ["chunk_2", "two", "a.md"], ["chunk_3", "three", "b.md"]]);
  assert.equal(chunkDocuments(docs, { chunkSize: 5 }), chunks);
});

test("AutoDidact defaults: 1000 characters, no overlap", () => {
  const chunks = chunkDocuments(loadCorpus(APOLLO));
  assert.ok(chunks.every((c) => c.text.length <= 1000));
  for (let i = 1; i < chunks.length; i++) assert.ok(chunks[i].start >= chunks[i - 1].end, "no overlap");
});

test("a chunk size out of range, 1e9 too, is a one-line error naming --chunk-size", () => {
  for (const chunkSize of [0, -5, 1.5, 1e9, MAX_CHUNK_SIZE + 1]) {
    assert.throws(() => chunkText("x", { chunkSize }), (err: Error) => err.message === `--chunk-size must be an integer from 1 to 100000 (characters), got ${chunkSize}`);
  }
  assert.is(chunkText("x", { chunkSize: MAX_CHUNK_SIZE }).length, 1);
});

test("an overlap at least the chunk size is a one-line error naming --chunk-overlap and --chunk-size", () => {
  assert.throws(
    () => chunkText("x", { chunkSize: 10, chunkOverlap: 10 }),
    (err: Error) => err.name === "KitError" && err.message === "--chunk-overlap must be an integer from 0 to 9, less than --chunk-size (10), got 10; lower --chunk-overlap or raise --chunk-size",
  );
  assert.throws(() => chunkText("x", { chunkOverlap: -1 }), /^--chunk-overlap must be an integer from 0 to 999, less than --chunk-size \(1000\), got -1;/);
});

test("paragraphs split on blank lines", () => {
  assert.equal(splitParagraphs("First line\nsame paragraph.\n\n  Second.\n \n\n\nThird."), ["First line\nsame paragraph.", "Second.", "Third."]);
});

test.run();
