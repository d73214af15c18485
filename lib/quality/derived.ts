import type { NumberFact } from "./numbers";

/**
 * Numbers one arithmetic step away from the original's: a total, a difference, a product, a ratio or a percentage
 * of two of its numbers ("0.9 pound in all" for "0.6 pound ... an additional 0.3 pound"). Models add these to
 * rewrites; they state nothing the original does not imply, so they are listed in the reasons, not counted as new.
 */

/** The steps tried, with how a reason writes them. */
const STEPS: [string, (a: number, b: number) => number][] = [
  ["+", (a, b) => a + b],
  ["-", (a, b) => a - b],
  ["×", (a, b) => a * b],
  ["/", (a, b) => a / b],
];

/**
 * Words that say a number was worked out ("a total of", "in all", "51 miles closer", "an increase of"). A derived
 * number stands in a sentence with one of them; without one, a number that happens to be a sum or a ratio of two
 * of the original's ("40 percent" = 4 × 10, "2" = 0.6 / 0.3) is a changed number, as on the labelled dev rows.
 */
const ARITHMETIC_CUE =
  /\b(?:total(?:l?ing)?|in all|altogether|combined|together|sum|difference|more|less|fewer|under|over|longer|shorter|closer|farther|higher|lower|leaving|left|remaining|remainder|increase[ds]?|decrease[ds]?|rise|gain|times|ratio|band|span|swing|steps?|only|did not)\b/i;

/** Decimals written in a number ("0.90" -> 2): a step's result must match to that precision. */
const decimals = (text: string) => /\.(\d+)/.exec(text)?.[1].length ?? 0;

/**
 * How `fact` (a number of the paraphrase the original does not hold, in `sentence`) follows from two of `operands`
 * (the original's numbers, durations in seconds as "t…"), as a reason ("0.9 = 0.6 + 0.3"), or undefined. 1 is no
 * operand: every "a" supports it, and with it any number next to one of the original's would pass. Durations
 * combine only with durations.
 */
export function derivation(fact: NumberFact, operands: ReadonlySet<string>, sentence: string): string | undefined {
  if (!ARITHMETIC_CUE.test(sentence)) return undefined;
  for (const value of fact.values) {
    const duration = value.startsWith("t");
    const target = Number(duration ? value.slice(1) : value);
    if (!Number.isFinite(target) || target === 0) continue;
    const pool = [...operands].filter((v) => v.startsWith("t") === duration).map((v) => Number(duration ? v.slice(1) : v)).filter((n) => Number.isFinite(n) && n !== 0 && n !== 1);
    const digits = /^\d/.test(fact.text) || duration ? decimals(fact.text.match(/[\d.]+/)?.[0] ?? "") : 0;
    const close = (x: number) => Math.abs(x - target) < 0.5 * 10 ** -digits && Math.abs(x - target) <= Math.abs(target) * 0.01;
    for (const a of pool) {
      for (const b of pool) {
        if (a === b) continue;
        for (const [sign, step] of STEPS) {
          if (close(step(a, b))) return `${fact.text} = ${a} ${sign} ${b}`;
        }
      }
      // A percentage's complement ("27%" for "73%"): a difference with the whole.
      if (a > 0 && a < 1 && close(1 - a)) return `${fact.text} = 100% - ${a * 100}%`;
    }
  }
  return undefined;
}
