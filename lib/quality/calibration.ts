import type { PairInput, Verdict } from "./types";

/** Figures of the verdicts against hand labels (bench/quality.ts, test/quality.test.ts). */

/** One labelled row of test/fixtures/paraphrase-calibration.jsonl. */
export interface CalibrationRow extends PairInput {
  label: Verdict;
  kind: string;
  source: string;
  /** "dev": looked at while choosing thresholds; "heldout": written after they were fixed. */
  split: "dev" | "heldout";
}

export interface CalibrationFigures {
  /** Of the rows judged hallucinated, the share labelled hallucinated. */
  precision: number;
  /** Of the rows labelled hallucinated, the share judged so. */
  recall: number;
  /** Of the rows kept (judged faithful), the share labelled hallucinated. */
  keptHallucinated: number;
  /** Of the rows labelled faithful, the share kept. */
  faithfulKept: number;
}

export function calibrationFigures(rows: readonly { label: Verdict }[], checks: readonly { verdict: Verdict }[]): CalibrationFigures {
  let flagged = 0;
  let flaggedRight = 0;
  let positives = 0;
  let kept = 0;
  let keptHallucinated = 0;
  let faithful = 0;
  let faithfulKept = 0;
  rows.forEach((row, i) => {
    const verdict = checks[i].verdict;
    if (verdict === "hallucinated") flagged++;
    if (row.label === "hallucinated") positives++;
    if (verdict === "hallucinated" && row.label === "hallucinated") flaggedRight++;
    if (verdict === "faithful") {
      kept++;
      if (row.label === "hallucinated") keptHallucinated++;
    }
    if (row.label === "faithful") {
      faithful++;
      if (verdict === "faithful") faithfulKept++;
    }
  });
  const share = (a: number, b: number) => (b ? a / b : 0);
  return { precision: share(flaggedRight, flagged), recall: share(flaggedRight, positives), keptHallucinated: share(keptHallucinated, kept), faithfulKept: share(faithfulKept, faithful) };
}
