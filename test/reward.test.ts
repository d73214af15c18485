import { test } from "uvu";
import * as assert from "uvu/assert";
import { exactAnswerReward, normaliseAnswer, retrievalReward } from "../lib/reward";
import { throwsKit } from "./helpers/throws-kit";

const ranked = ["chunk_7", "chunk_3", "chunk_9", "chunk_1"];


test("default: 1 only for a hit at rank 1", () => {
  assert.is(retrievalReward("chunk_7", ranked), 1);
  assert.is(retrievalReward("chunk_3", ranked), 0);
  assert.is(retrievalReward("chunk_42", ranked), 0);
  assert.is(retrievalReward("chunk_7", []), 0);
});

test("k: any hit within the top k", () => {
  assert.is(retrievalReward("chunk_9", ranked, { k: 3 }), 1);
  assert.is(retrievalReward("chunk_1", ranked, { k: 3 }), 0);
  assert.is(retrievalReward("chunk_1", ranked, { k: 10 }), 1);
});

test("discounts: 1/rank and 1/log2(rank + 1), over the whole list unless k is given", () => {
  assert.is(retrievalReward("chunk_9", ranked, { discount: "reciprocal" }), 1 / 3);
  assert.is(retrievalReward("chunk_1", ranked, { discount: "reciprocal" }), 1 / 4);
  assert.is(retrievalReward("chunk_7", ranked, { discount: "log2" }), 1);
  assert.is(retrievalReward("chunk_3", ranked, { discount: "log2" }), 1 / Math.log2(3));
  assert.is(retrievalReward("chunk_1", ranked, { discount: "log2", k: 3 }), 0);
  assert.is(retrievalReward("chunk_3", ranked, { discount: "none", k: 2 }), 1);
});

test("texts match texts after whitespace and Unicode normalisation, ids stay exact", () => {
  const chunk = "The oxygen tank No. 2\nfailed at\t55:54 GET.";
  const retrieved = ["Another passage.", "The oxygen tank No.\u00a02 failed at 55:54 GET.  "];
  assert.is(retrievalReward(chunk, retrieved, { k: 2 }), 1);
  assert.is(retrievalReward(chunk, retrieved), 0);
  assert.is(retrievalReward("chunk_1", ["chunk_10", "chunk_11"], { k: 2 }), 0);
  assert.is(retrievalReward("Chunk_7", ranked), 0);
});

test("exact answer: case, punctuation, articles, whitespace and thousands separators do not matter", () => {
  assert.is(exactAnswerReward("  The Odyssey!", "odyssey"), 1);
  assert.is(exactAnswerReward("1,000,000 pounds", "1000000 pounds"), 1);
  assert.is(exactAnswerReward("2.5 hours", "2.5 hours."), 1);
  assert.is(exactAnswerReward("25 hours", "2.5 hours"), 0);
  assert.is(exactAnswerReward("an  oxygen\ntank", "Oxygen tank"), 1);
  assert.is(exactAnswerReward("oxygen tanks", "oxygen tank"), 0);
  assert.is(exactAnswerReward("", "oxygen tank"), 0);
  assert.is(exactAnswerReward("45%", "45"), 0);
  assert.is(exactAnswerReward("$400", "400"), 0);
  assert.is(normaliseAnswer("April 13, 1970"), "april 13 1970");
  assert.is(normaliseAnswer("U.S. Navy's"), "us navys");
});

test("malformed input throws a one-line KitError", () => {
  throwsKit(() => retrievalReward(7 as unknown as string, ranked), /target must be a non-empty chunk id or chunk text, got 7/);
  throwsKit(() => retrievalReward("", ranked), /target/);
  throwsKit(() => retrievalReward("chunk_7", "chunk_7" as unknown as string[]), /retrieved must be an array/);
  throwsKit(() => retrievalReward("chunk_7", ranked, { k: 0 }), /k must be an integer >= 1, got 0/);
  throwsKit(() => retrievalReward("chunk_7", ranked, { k: 1.5 }), /k must be an integer/);
  throwsKit(() => retrievalReward("chunk_7", ranked, { discount: "exp" as never }), /unknown discount "exp"; use none, reciprocal, log2/);
  throwsKit(() => retrievalReward("chunk_7", [null as unknown as string]), /retrieved\[0\] must be a string/);
  throwsKit(() => exactAnswerReward(undefined as unknown as string, "x"), /predicted must be a string/);
  throwsKit(() => exactAnswerReward("x", "  "), /gold must be a non-empty answer string/);
});

test.run();
