import { test } from "uvu";
import * as assert from "uvu/assert";
import { originalRow } from "../lib/environment";
import { bucketOf, goldRanksWith } from "../lib/export/difficulty";
import { goldRank, retrievalMisses } from "../lib/frames";
import { createSearcher } from "../lib/search";

const chunks = [
  { chunk_id: "chunk_1", text: "The oxygen tank 2 pressure dropped; oxygen tank 2 readings went to zero." },
  { chunk_id: "chunk_2", text: "Damaged heater wires caused the failure of the tank." },
  { chunk_id: "chunk_3", text: "The crew heard a sharp bang at 55 hours." },
];
const hit = (chunk_id: string, style: string | null = null) => ({ chunk_id, text: `text of ${chunk_id}`, style });

test("goldRank: 1-based rank of the gold chunk, null when absent", () => {
  assert.is(goldRank([hit("a"), hit("b")], "b"), 2);
  assert.is(goldRank([hit("a")], "z"), null);
});

test("retrievalMisses: only the queries whose gold is not in the hits, with its deeper rank and the top hit", () => {
  const asked = [
    { query: "found", gold: "a" },
    { query: "deeper", gold: "c" },
    { query: "lost", gold: "z" },
  ];
  const hits = [[hit("a")], [hit("b", "reworded")], [hit("b")]];
  const deeper = [[hit("a")], [hit("b"), hit("d"), hit("c")], [hit("b"), hit("c")]];
  const rows = retrievalMisses(asked, hits, deeper, { retriever: "bm25" });
  assert.equal(
    rows.map((r) => [r.retriever, r.query, r["gold chunk"], r["its rank"], r["ranked first"]]),
    [
      ["bm25", "deeper", "c", 3, "b (reworded)"],
      ["bm25", "lost", "z", "not in the first 2", "b"],
    ],
  );
  assert.equal(retrievalMisses([{ query: "q", gold: "a" }], [[]]).map((r) => r["ranked first"]), ["(nothing)"]);
});

test("goldRanksWith: the measured difficulty over a searcher of the chunks, before any environment exists", async () => {
  const questions = [
    { question: "When did the crew hear a sharp bang?", chunk_id: "chunk_3" },
    { question: "What caused the failure of the tank?", chunk_id: "chunk_2" },
    { question: "What caused the failure of the tank?", chunk_id: "chunk_2", supporting_chunk_ids: ["chunk_3", "chunk_2"] },
    { question: "unrelated words only", chunk_id: "chunk_1" },
  ];
  const ranks = await goldRanksWith(createSearcher(chunks.map(originalRow)), questions);
  assert.is(ranks[0], 1);
  assert.is(ranks[1], 1);
  assert.is(ranks[2], null, "a multi-hop question's chunk not found counts as not found");
  assert.is(ranks[3], null);
  assert.equal(ranks.map(bucketOf), ["easy", "easy", "hard", "hard"]);
});

test.run();
