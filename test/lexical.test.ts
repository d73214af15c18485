import { test } from "uvu";
import * as assert from "uvu/assert";
import { BM25, buildLexicalIndex } from "../lib/lexical";

const DOCS = [
  // Says "oxygen" and "tank" more often, but never side by side.
  { id: "apart", text: "The tank held nitrogen. Oxygen flowed to the crew; the second tank fed oxygen to the fuel cells." },
  { id: "phrase", text: "The oxygen tank pressure dropped to zero within seconds." },
  { id: "other", text: "The crew powered up the lunar module and moved into it." },
];

test("a query sharing a phrase with a text ranks it above one with the same words apart", () => {
  const hits = buildLexicalIndex(DOCS).search("oxygen tank", 3);
  assert.equal(hits.map((h) => h.id), ["phrase", "apart"]);
});

test("a query of stop words alone finds nothing", () => {
  assert.equal(buildLexicalIndex(DOCS).search("the of it", 3), []);
});

test("k caps the hits and ids come back as strings", () => {
  const hits = buildLexicalIndex(DOCS).search("tank crew oxygen", 2);
  assert.is(hits.length, 2);
  assert.ok(hits.every((h) => typeof h.id === "string" && h.score > 0));
});

test("a score is BM25+ of each matched term times the number of distinct terms matched", () => {
  // Distinct terms (words and adjacent pairs): 3, 3 and 5, so the average length is 11/3.
  const docs = [
    { id: "a", text: "pressure dropped" },
    { id: "b", text: "crew slept" },
    { id: "c", text: "crew ate lunch" },
  ];
  const { k1, b, delta } = BM25;
  const bm25 = (n: number, length: number) => Math.log(1 + (3 - n + 0.5) / (n + 0.5)) * (delta + (k1 + 1) / (1 + k1 * (1 - b + (b * length) / (11 / 3))));
  const index = buildLexicalIndex(docs);
  const [a] = index.search("pressure", 1);
  assert.is(a.id, "a");
  assert.ok(Math.abs(a.score - bm25(1, 3)) < 1e-12);
  // "crew" (in two texts), "slept" and "crew slept": three terms matched.
  const [top, next] = index.search("crew slept", 3);
  assert.is(top.id, "b");
  assert.ok(Math.abs(top.score - 3 * (bm25(2, 3) + 2 * bm25(1, 3))) < 1e-12);
  assert.is(next.id, "c");
  assert.ok(Math.abs(next.score - bm25(2, 5)) < 1e-12);
});

test("the k best are the head of the full ranking, however large k is", () => {
  const words = "oxygen tank crew fuel cell battery module lunar entry power".split(" ");
  const docs = Array.from({ length: 300 }, (_, i) => ({ id: `d${i}`, text: words.filter((_, w) => (i * 7 + w * 3) % 5 < 2 + (i % 3)).join(" ") + ` n${i}` }));
  const index = buildLexicalIndex(docs);
  const all = index.search("oxygen tank power battery", docs.length);
  assert.ok(all.length > 80);
  assert.equal(index.search("oxygen tank power battery", 5), all.slice(0, 5));
  assert.ok(all.every((h, i) => i === 0 || all[i - 1].score >= h.score));
});

test.run();
