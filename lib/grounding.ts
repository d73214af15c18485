/**
 * Which chunk states a question's answer. Both sides are compared as tokens in one form: NFKC, lower case,
 * thousands separators and hyphens inside words dropped, "°"/"degrees" one unit word, OCR confusables folded (l/1, O/0 in numbers, a lone
 * "l" as 1), a crude stem, and words of 5+ letters equal at edit distance 1 ("comnand", "poumds").
 * Measured on test/fixtures/grounding-cases.jsonl (test/grounding.test.ts).
 */

import { withinOneEdit } from "./edit-distance";

/** Tokens one short span may cover: about a sentence. */
const SPAN = 40;

const STOP = new Set(
  ("a an the of in on at to for from by with and or as is are was were be been being it its this that these those " +
    "what which who whom whose when where why how many much long far did does do has have had can could should would will " +
    "time about approximately around roughly nearly some any into than then there their they after before during until within")
    .split(" "),
);
const YES_NO = /^(yes|no)\b[\s\S]{0,40}$/i;
// Unit words as tokens() leaves them: with a number, they alone do not make an answer specific.
const UNITS = new Set(["deg", "f", "c", "percent", "lb", "pound", "psi", "psia", "hour", "minut", "second", "mile", "miles", "feet", "ft", "sec", "amper", "amperehour", "watt", "volt"]);

/** The comparable tokens of a text, in order. */
export function tokens(s: string): string[] {
  return s
    .normalize("NFKC")
    .toLowerCase()
    .replace(/(\d)\s*(?:°|º|\?|degrees?\b)\s*/g, "$1 deg ")
    .replace(/\bdegrees?\b/g, "deg")
    .replace(/\bfahrenheit\b/g, "f")
    .replace(/%|\bper ?cent\b/g, " percent")
    .replace(/(\d),(?=\d{3}\b)/g, "$1")
    .replace(/(?<=\p{L})-(?=\p{L})/gu, "")
    .replace(/[^\p{L}\p{N}.]+|\.(?![\p{L}\p{N}])|(?<![\p{L}\p{N}])\./gu, " ")
    .split(" ")
    .filter(Boolean)
    .map(fold);
}

// OCR reads 1 as l or i and 0 as o inside numbers; a lone "l" is a 1 ("l mile").
function fold(t: string): string {
  if (t === "l") return "1";
  if (/\d/.test(t) && /^[\dlio.]+$/.test(t)) return t.replace(/[li]/g, "1").replace(/o/g, "0");
  return /\d/.test(t) ? t : t.replace(/(ing|ed|es|s|e|ly)$/, (m) => (t.length - m.length >= 4 ? "" : m));
}

const isNumber = (t: string) => /\d/.test(t);

/** Equal, or both words of 5+ letters one edit apart (an OCR slip or the model's fix of one). */
function same(a: string, b: string): boolean {
  if (a === b) return true;
  return a.length >= 5 && b.length >= 5 && withinOneEdit(a, b) && !isNumber(a) && !isNumber(b);
}

const content = (ts: readonly string[]) => [...new Set(ts.filter((t) => !STOP.has(t)))];

/**
 * The question's content words beyond the answer's. Given the window's texts, only those some chunk holds: words
 * no chunk has (the question's frame, "fills the blank") say nothing about which chunk answers.
 */
export function keyTerms(question: string, answer: string, texts?: readonly string[]): string[] {
  const answerWords = tokens(answer);
  const held = texts?.map(tokens);
  return content(tokens(question)).filter((q) => !answerWords.some((a) => same(a, q)) && (!held || held.some((ts) => ts.some((t) => same(t, q)))));
}

/** The largest share of `want` one span of `text` holds, and the largest share of `key` beside it. */
function bestSpan(want: readonly string[], key: readonly string[], text: readonly string[]): { answer: number; key: number } {
  // The span slides over the text a token at a time, keeping per list how many of its tokens match each word and
  // how many words are matched at all: each token is compared with each word once, not once per span it falls in.
  const lists = [want, key].map((words) => ({
    words,
    matches: text.map((t) => words.flatMap((w, j) => (same(t, w) ? [j] : []))),
    counts: new Array<number>(words.length).fill(0),
    held: 0,
  }));
  const move = (at: number, step: 1 | -1) => {
    for (const list of lists) {
      for (const j of list.matches[at]) {
        const before = list.counts[j];
        list.counts[j] += step;
        if (before === 0 || list.counts[j] === 0) list.held += step;
      }
    }
  };
  const share = (list: (typeof lists)[number]) => (list.words.length ? list.held / list.words.length : 1);
  for (let at = 0; at < Math.min(SPAN, text.length); at++) move(at, 1);
  let best = { answer: 0, key: 0 };
  for (let start = 0; start < Math.max(1, text.length - SPAN + 1); start++) {
    if (start > 0) {
      move(start - 1, -1);
      move(start + SPAN - 1, 1);
    }
    const found = { answer: share(lists[0]), key: share(lists[1]) };
    if (found.answer > best.answer || (found.answer === best.answer && found.key > best.key)) best = found;
  }
  return best;
}

/**
 * How well a chunk grounds an answer to a question, 0 when it does not. `key` are the question's key terms
 * (keyTerms). Counts: the whole answer in the text; a longer answer's content words together in one span; a bare
 * number, a number with its unit or a single word only in a span with at least half the key terms; a yes/no answer
 * only by the claim: most of the key terms in one span. A "no" needs no negation there, since a model's "no" often
 * denies in other words ("could not be duplicated"): the claim's place is what the gold chunk needs.
 */
export function groundingScore(answer: string, key: readonly string[], text: string): number {
  const t = tokens(text);
  const keyShare = key.length ? key.filter((k) => t.some((w) => same(w, k))).length / key.length : 1;
  if (YES_NO.test(answer.trim())) {
    const claim = bestSpan([], key, t).key;
    return key.length && claim >= 0.6 ? 1 + claim : 0;
  }
  const want = content(tokens(answer));
  if (!want.length) return 0;
  const numbers = want.filter(isNumber);
  if (numbers.some((n) => !t.includes(n))) return 0;
  const words = want.filter((w) => !isNumber(w) && !UNITS.has(w));
  const span = bestSpan(want, key, t);
  const weak = words.length <= 1;
  if (weak ? span.answer < 1 && !(numbers.length && span.answer >= 0.5) : span.answer < 0.8) return 0;
  if (weak && span.key < 0.5) return 0;
  return span.answer + span.key + keyShare;
}

/** Whether a text grounds an answer on its own terms, with no question to hold it to (multi-hop parts, bridges). */
export function groundsAlone(answer: string, text: string): boolean {
  return groundingScore(answer, [], text) > 0;
}
