import { test } from "uvu";
import * as assert from "uvu/assert";
import { easiestBaseline, LIFTS, type Lift, tierWarning, type VerdictInput, verdictLines, verdictOf } from "../lib/verdict";

/** A record past every floor: 2,000 questions over 1,000 chunks, 80% paraphrased, a mixed difficulty, a model judge. */
function ready(): VerdictInput {
  return {
    counts: { chunks: 1000, questions_accepted: 2000, questions_cloze: 100, chunks_without_question: 20, paraphrases: 3000, paraphrases_kept: 2000 },
    environments: { paraphrased: { rows: 1000, chunks: 1000, covered: 1000, by_paraphrase: 800, by_original_only: 200 } },
    judge: "ollama:bespoke-minicheck",
    measured_difficulty: { easy: 1000, medium: 600, hard: 400 },
    evaluation: { sample: 1000, best: { original: "hybrid", paraphrased: "hybrid", merged: "dense" }, easiest: { mode: "original", retriever: "bm25", recall_at_5: 0.7 } },
  };
}

/** The record with one change: its tier, its one reason's floor and lifts. */
function oneChange(change: (r: VerdictInput) => void) {
  const record = ready();
  change(record);
  const verdict = verdictOf(record);
  assert.is(verdict.reasons.length, 1, JSON.stringify(verdict.reasons));
  return { tier: verdict.tier, floor: verdict.reasons[0].floor, lift: verdict.reasons[0].lift as Lift[] };
}

test("a record past every floor is ready, with nothing to lift", () => {
  const verdict = verdictOf(ready());
  assert.is(verdict.tier, "ready");
  assert.equal(verdict.reasons, []);
  assert.equal(verdict.passed.map((f) => f.floor), ["questions", "cloze", "baseline", "chunks without question", "paraphrase coverage", "measured difficulty", "judge"]);
  assert.equal(verdictLines(verdict), ["verdict: ready (no figure is past its floor: worth a first training run (not proven good))"]);
  assert.equal(tierWarning(verdict), []);
});

test("each blocking floor makes a smoke test, and names what lifts it", () => {
  assert.equal(oneChange((r) => Object.assign(r.counts, { questions_accepted: 99, questions_cloze: 10 })), { tier: "smoke test only", floor: "questions", lift: ["questions", "llm"] });
  assert.equal(oneChange((r) => (r.counts.questions_cloze = 1001)), { tier: "smoke test only", floor: "cloze", lift: ["llm"] });
  assert.equal(oneChange((r) => (r.evaluation!.easiest!.recall_at_5 = 0.95)), { tier: "smoke test only", floor: "baseline", lift: ["llm", "coverage"] });
});

test("each other floor makes a caveat, and names what lifts it", () => {
  assert.equal(oneChange((r) => (r.counts.chunks_without_question = 101)), { tier: "trainable with caveats", floor: "chunks without question", lift: ["questions", "llm"] });
  assert.equal(oneChange((r) => (r.environments.paraphrased.by_paraphrase = 499)), { tier: "trainable with caveats", floor: "paraphrase coverage", lift: ["llm", "coverage"] });
  assert.equal(oneChange((r) => (r.measured_difficulty = { easy: 1958, medium: 30, hard: 12 })), { tier: "trainable with caveats", floor: "measured difficulty", lift: ["llm", "coverage"] });
  assert.equal(oneChange((r) => (r.judge = "rules")), { tier: "trainable with caveats", floor: "judge", lift: ["judge"] });
  assert.equal(oneChange((r) => delete r.evaluation), { tier: "trainable with caveats", floor: "baselines measured", lift: ["baselines"] });
  // With no paraphrase kept there is no judged paraphrase to doubt: coverage is the one floor missed.
  const none = (r: VerdictInput) => Object.assign(r, { judge: "rules", counts: { ...r.counts, paraphrases_kept: 0 }, environments: { paraphrased: { ...r.environments.paraphrased, by_paraphrase: 0 } } });
  assert.equal(oneChange(none), { tier: "trainable with caveats", floor: "paraphrase coverage", lift: ["llm", "coverage"] });
});

test("a builtin build of the Apollo report is a smoke test; its lines say why and what lifts it, the blocking floors first", () => {
  const verdict = verdictOf({
    counts: { chunks: 352, questions_accepted: 604, questions_cloze: 604, chunks_without_question: 30, paraphrases: 1200, paraphrases_kept: 60 },
    environments: { paraphrased: { rows: 352, chunks: 352, covered: 352, by_paraphrase: 43, by_original_only: 309 } },
    judge: "rules",
    measured_difficulty: { easy: 591, medium: 8, hard: 5 },
    evaluation: { sample: 604, best: { original: "bm25", paraphrased: "bm25", merged: "bm25" }, easiest: { mode: "original", retriever: "bm25", recall_at_5: 1 } },
  });
  assert.is(verdict.tier, "smoke test only");
  assert.equal(verdict.reasons.map((f) => f.floor), ["cloze", "baseline", "paraphrase coverage", "measured difficulty", "judge"]);
  assert.equal(verdict.passed.map((f) => f.floor), ["questions", "chunks without question"]);
  const lines = verdictLines(verdict);
  assert.is(lines[0], "verdict: smoke test only (the pipeline ran, but a search agent trained on this would learn little)");
  assert.is(lines[1], `  - 100% of the accepted questions are cloze (fill a blank in a quoted sentence), over 50%: word matching finds their chunk, so an agent learns to look up quotes, not to search; to lift: ${LIFTS.llm}`);
  assert.match(lines[3], "  - 43 of 352 chunks (12.2%) are covered by a kept paraphrase in the paraphrased environment; 60 of 1,200 paraphrases were kept; under 50%");
  assert.match(lines[4], "easy 97.8%, medium 1.3%, hard 0.8%; medium and hard under 10%, too few for a curriculum");
  assert.match(lines[5], `to lift: ${LIFTS.judge}`);
  // The warning names what lifts the blocking floors only.
  assert.equal(tierWarning(verdict), [`warning: this dataset is a smoke test only; to train on it, lift it with ${LIFTS.llm}, ${LIFTS.coverage}`]);
});

test("a record without a figure (an older build.json, a notebook build) skips its floor", () => {
  const record = ready();
  delete record.counts.questions_cloze;
  delete record.counts.chunks_without_question;
  delete record.measured_difficulty;
  const verdict = verdictOf(record);
  assert.is(verdict.tier, "ready");
  assert.equal(verdict.passed.map((f) => f.floor), ["questions", "baseline", "paraphrase coverage", "judge"]);
  // No accepted question at all: a smoke test, and no baselines to ask for.
  const empty = verdictOf({ counts: { chunks: 5, questions_accepted: 0 }, environments: {}, judge: "rules" });
  assert.equal(empty.reasons.map((f) => [f.floor, f.text]), [["questions", "no accepted question: there is nothing to train on"]]);
});

test("easiestBaseline: the highest recall@5 of any mode and retriever", () => {
  const set = (bm25: number, dense: number) => ({ retrievers: { bm25: { recall: { "5": bm25 } }, dense: { recall: { "5": dense } } } });
  assert.equal(easiestBaseline({ original: set(0.8, 0.6), paraphrased: set(0.5, 0.9) }), { mode: "paraphrased", retriever: "dense", recall_at_5: 0.9 });
  assert.is(easiestBaseline({}), undefined);
});

test.run();
