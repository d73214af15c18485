import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import { RecursiveCharacterTextSplitter } from "@langchain/textsplitters";
import { chunkDocuments, chunkText, splitParagraphs } from "../lib/chunking";
import { loadCorpus, markdownToText } from "../lib/corpus";

const APOLLO = "datasets/corpora/apollo13_mission_report.md";
const KEPS = "../shared/corpora/kubernetes_keps.md";

async function langchain(text: string, chunkSize: number, chunkOverlap: number): Promise<string[]> {
  return new RecursiveCharacterTextSplitter({ chunkSize, chunkOverlap }).splitText(text);
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

test("bad parameters are one-line errors", () => {
  assert.throws(() => chunkText("x", { chunkSize: 0 }), /chunk size must be a positive integer/);
  assert.throws(() => chunkText("x", { chunkSize: 10, chunkOverlap: 10 }), /chunk overlap must be an integer from 0 to chunk size - 1 \(9\)/);
});

test("paragraphs split on blank lines", () => {
  assert.equal(splitParagraphs("First line\nsame paragraph.\n\n  Second.\n \n\n\nThird."), ["First line\nsame paragraph.", "Second.", "Third."]);
});

test.run();
