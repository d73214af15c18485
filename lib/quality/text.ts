/**
 * Text handling shared by the checks: OCR and LaTeX clean-up, word tokens, sentences, identifier keys, and a memo of
 * compromise's tags per sentence (lib/tagging.ts).
 */
import { tagTerms } from "../tagging";

/** One word as compromise tags it. */
export interface TaggedTerm {
  text: string;
  tags: string[];
}

const tagMemo = new Map<string, TaggedTerm[]>();
/** Cap on memoised sentences (~1 KB each), so a long-running process does not grow without bound. */
const TAG_MEMO_SIZE = 20000;

/**
 * Tags the sentences not tagged yet, all in one compromise document (cheaper than a call each; compromise tags
 * sentence by sentence, so each gets the tags nlp(sentence) gives it), and memoises their terms: the paraphrases of
 * one original share many sentences, and tagging is most of a check's time.
 */
export function tagSentences(sentences: readonly string[]): void {
  const missing = [...new Set(sentences)].filter((s) => !tagMemo.has(s));
  if (!missing.length) return;
  if (tagMemo.size + missing.length > TAG_MEMO_SIZE) tagMemo.clear();
  const tagged = tagTerms(missing);
  missing.forEach((sentence, k) => tagMemo.set(sentence, tagged[k].map((term) => ({ text: term.text, tags: [...term.tags] }))));
}

/** compromise's terms of one sentence (see tagSentences). */
export function tagSentence(sentence: string): TaggedTerm[] {
  tagSentences([sentence]);
  return tagMemo.get(sentence)!;
}

/** LaTeX left by OCR ("$70^{\circ}$", "$\mathtt{124}$") hides the numbers it wraps. */
export function stripLatex(text: string): string {
  return text.replace(/\\[a-zA-Z]+/g, " ").replace(/[$^{}]/g, " ").replace(/[ \t]{2,}/g, " ");
}

/**
 * OCR reads "1" as "l" in scanned reports ("Apollo l3", "ll8 ampere-hours", "6l:29:44", "tank l"): in a run of
 * digits and number punctuation holding a digit, and in the lone words "l" and "ll", l means 1.
 */
export function fixOcrDigits(text: string): string {
  return text
    .replace(/(?<![A-Za-z])[0-9l][0-9l.,:/-]*(?![A-Za-z])/g, (run) => (/\d/.test(run) ? run.replace(/l/g, "1") : run))
    .replace(/(?<![\w-])l{1,2}(?![\w-])/g, (w) => "1".repeat(w.length))
    .replace(/(\d) +\.(?=\d)/g, "$1."); // "14 .2.5"
}

/** The text as every check reads it: LaTeX stripped, OCR digits fixed. */
export function cleanText(text: string): string {
  return fixOcrDigits(stripLatex(text));
}

/** Lower-case word tokens for overlap measures: OCR digits fixed, thousands separators dropped. */
export function wordTokens(text: string): string[] {
  return (
    cleanText(text)
      .toLowerCase()
      .replace(/(\d),(?=\d{3}\b)/g, "$1")
      .match(/[\p{L}\p{N}]+(?:[.'’][\p{L}\p{N}]+)*/gu) ?? []
  );
}

/**
 * A crude stem: the first five letters. It matches "depleted" with "depletion" and "tanks" with "tank" without
 * a dictionary; the price is rare false matches ("radiator" with "radial"), which only make the check lenient.
 */
export function stem(word: string): string {
  return word.toLowerCase().replace(/['’]s$/, "").slice(0, 5);
}

/** Sentences: a period, ! or ? followed by space, or a line break. Good enough to localise new words. */
export function splitSentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+(?=[A-Z0-9"'(`])|\n+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Identifier-shaped tokens: letters mixed with digits ("KEP-1287", "v2beta1", "e2e"),
 * camelCase, snake_case, dotted or slashed names ("kubernetes.io/pv-controller"), capitalised hyphenated
 * names ("S-IVB"), acronyms ("VHF", "DSKY").
 */
export const IDENTIFIER =
  /^(?=.*[A-Za-z])(?:(?=.*\d)[\w.\/#:-]+|(?=.*[a-z][A-Z])\w+|\w+_\w+|[\w-]+[./][\w./-]*\w|[A-Z][\w]*-[\w-]+|[A-Z]{2,}s?)$/;

/** A markdown code span on one line. */
export const CODE_SPAN = /`([^`\n]{1,200})`/g;

/** A key that ignores case, punctuation and the OCR confusion of l, I and 1 ("S-IvB" = "S-IVB", "Apollo l3" = "13"). */
export function idKey(token: string): string {
  return token.toLowerCase().replace(/[l1]/g, "i").replace(/[^a-z0-9]/g, "");
}

/** Tokens of a text: words with their inner punctuation, without surrounding quotes, brackets or stops. */
export function rawTokens(text: string): { token: string; sentenceStart: boolean }[] {
  const out: { token: string; sentenceStart: boolean }[] = [];
  for (const sentence of splitSentences(text)) {
    let first = true;
    for (const raw of sentence.split(/\s+/)) {
      const token = raw.replace(/^[("'`“‘\[*_]+|[)"'`”’\].,;:!?*_]+$/g, "");
      if (!token) continue;
      out.push({ token, sentenceStart: first });
      // A colon starts a new clause whose first word may be capitalised too ("Note: The ...").
      first = /[:]$/.test(raw);
    }
  }
  return out;
}

/** Characters without runs of white space: what length ratios compare. */
export const visibleLength = (s: string) => s.replace(/\s+/g, " ").trim().length;

/** Three decimals, as scores are reported. */
export const round = (x: number) => Math.round(x * 1000) / 1000;

/** "a", "b" for a reason line. */
export const quoteList = (items: readonly string[]) => items.map((s) => `"${s}"`).join(", ");
