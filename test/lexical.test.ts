import { test } from "uvu";
import * as assert from "uvu/assert";
import { buildLexicalIndex } from "../lib/lexical";

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

test.run();
