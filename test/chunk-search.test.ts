import { test } from "uvu";
import * as assert from "uvu/assert";
import { createChunkSearcher } from "../lib/chunk-search";
import type { Chunk } from "../lib/chunking";
import type { Embedder } from "../lib/embedders";

const texts = ["The oxygen tank failed after a short circuit.", "Entry batteries held 99 ampere-hours.", "The crew slept in the lunar module."];
const chunks: Chunk[] = texts.map((text, i) => ({ chunk_id: `chunk_${i}`, text, source: "a.md", start: 0, end: text.length }));

/** Embeds a text as a unit vector over three topic words: enough to rank these chunks. */
const WORDS = ["oxygen", "batteries", "crew"];
const toy: Embedder & { closed: boolean } = {
  spec: "toy",
  dimension: 3,
  closed: false,
  async embed(list) {
    return list.map((t) => {
      const v = Float32Array.from(WORDS, (w) => (t.toLowerCase().includes(w) ? 1 : 0.01));
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm);
    });
  },
  async close() {
    this.closed = true;
  },
};

test("bm25 over chunks in memory: no folder, no embedder", async () => {
  const searcher = await createChunkSearcher(chunks);
  assert.is(searcher.retriever, "bm25");
  const [hits] = await searcher.search(["How many ampere-hours did the entry batteries hold?"], 2);
  assert.is(hits[0].chunk_id, "chunk_1");
  assert.is(hits[0].kind, "original");
});

test("dense and hybrid embed the chunks with the embedder given, and leave it open", async () => {
  for (const retriever of ["dense", "hybrid"] as const) {
    const searcher = await createChunkSearcher(chunks, { retriever, embedder: toy });
    const [hits] = await searcher.search(["where did the crew sleep"], 1);
    assert.is(hits[0].chunk_id, "chunk_2", retriever);
    await searcher.close();
  }
  assert.is(toy.closed, false);
  const failed = await createChunkSearcher(chunks, { retriever: "dense" }).then(() => null, (e: Error) => e);
  assert.match(String(failed?.message), /pass \{ embedder/);
});

test.run();
