import { cleanText } from "./text";

/**
 * Numbers, dates, times and quantities, normalised so that a rewrite may write them another way ("three" = 3,
 * "1,000" = 1000, "58 hours 40 minutes" = "58:40", "85%" = 0.85) but not change them.
 */

const SPELLED_HINT =
  /\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|dozen)\b/i;

/** Values of the cardinal number words. Spelled ordinals are not here: they name positions ("the first correction"), not quantities. */
const NUMBER_WORDS = new Map<string, number>(
  [
    ..."zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
      .split(" ")
      .map((w, i) => [w, i] as const),
    ..."twenty thirty forty fifty sixty seventy eighty ninety".split(" ").map((w, i) => [w, 20 + 10 * i] as const),
    ["hundred", 100],
    ["thousand", 1e3],
    ["million", 1e6],
    ["billion", 1e9],
    ["dozen", 12],
  ],
);

/** A run of number words, with "and" and hyphens between them ("one hundred and twenty", "twenty-five"). */
const NUMBER_RUN = new RegExp(String.raw`\b(?:${[...NUMBER_WORDS.keys()].join("|")})(?:[\s-]+(?:and[\s-]+)?(?:${[...NUMBER_WORDS.keys()].join("|")}))*\b`, "gi");

/**
 * The numbers a run of number words spells, with where each starts and ends in the run's words: "one hundred and
 * twenty" is one number, "three and four" or "two three" are two. Scale words multiply what comes before them
 * ("two dozen" = 24, "three hundred thousand" = 300000) and stand alone for one of them ("hundred" = 100).
 */
function readNumberWords(words: readonly string[]): { first: number; last: number; value: number }[] {
  const out: { first: number; last: number; value: number }[] = [];
  let first = -1;
  let total = 0;
  let current = 0;
  /** The kind of the previous word: what may follow it in the same number. */
  let last: "" | "unit" | "teen" | "tens" | "hundred" | "scale" | "and" = "";
  /** The smallest scale word used so far (thousand, million, billion): a later one must be smaller. */
  let smallest = Infinity;
  let lastIndex = -1;
  const close = () => {
    if (first >= 0) out.push({ first, last: lastIndex, value: total + current });
    first = -1;
    total = current = 0;
    last = "";
    smallest = Infinity;
  };
  words.forEach((raw, i) => {
    const word = raw.toLowerCase();
    if (word === "and") {
      // "and" joins only after a hundred or a scale word ("one hundred and five"); else it ends the number.
      if (last === "hundred" || last === "scale") last = "and";
      else close();
      return;
    }
    const value = NUMBER_WORDS.get(word)!;
    const kind = word === "dozen" ? "dozen" : word === "hundred" ? "hundred" : value >= 1000 ? "scale" : value >= 20 ? "tens" : value >= 10 ? "teen" : "unit";
    const fits =
      last === "" ||
      (kind === "unit" && (last === "tens" || last === "hundred" || last === "scale" || last === "and")) ||
      ((kind === "teen" || kind === "tens") && (last === "hundred" || last === "scale" || last === "and")) ||
      (kind === "hundred" && (last === "unit" || last === "teen" || last === "tens")) ||
      (kind === "dozen" && (last === "unit" || last === "teen" || last === "tens")) ||
      (kind === "scale" && last !== "and" && value < smallest);
    if (!fits) close();
    if (first < 0) first = i;
    lastIndex = i;
    if (kind === "hundred") current = (current || 1) * 100;
    else if (kind === "dozen") current = (current || 1) * 12;
    else if (kind === "scale") {
      total += (current || 1) * value;
      current = 0;
      smallest = value;
    } else current += value;
    last = kind === "dozen" ? "scale" : kind;
  });
  close();
  return out;
}

/**
 * The text with spelled-out cardinals as digits ("four times" -> "4 times", "twenty-five" -> "25",
 * "a crew of three." -> "a crew of 3.", "a million" -> "a 1000000"). A scale word after digits ("3 million") is
 * left as it is: the digits are the number.
 */
export function spelledToDigits(text: string): string {
  if (!SPELLED_HINT.test(text)) return text;
  return text.replace(NUMBER_RUN, (run, offset: number) => {
    // "zero out the needles", "zero in on": a verb.
    if (/^zero$/i.test(run) && /^\s+(?:out|in\s+on)\b/i.test(text.slice(offset + run.length))) return run;
    const parts = run.split(/([\s-]+)/);
    const words = parts.filter((_, i) => i % 2 === 0);
    const numbers = readNumberWords(words);
    const scale = NUMBER_WORDS.get(words[0].toLowerCase())! >= 100 || /^dozen$/i.test(words[0]);
    if (scale && numbers[0]?.first === 0 && /\d[\d.,]*\s*$/.test(text.slice(Math.max(0, offset - 24), offset))) numbers.shift();
    if (!numbers.length) return run;
    // Rebuild the run: each number's words become its digits, the separators between numbers stay.
    let out = "";
    let k = 0;
    for (const n of numbers) {
      for (; k < n.first; k++) out += parts[2 * k] + parts[2 * k + 1];
      out += String(n.value);
      k = n.last + 1;
      if (k < words.length) out += parts[2 * k - 1];
    }
    for (; k < words.length; k++) out += parts[2 * k] + (parts[2 * k + 1] ?? "");
    return out;
  });
}

/** Seconds per time unit, for "58 hours 40 minutes" = "58:40". */
const TIME_UNITS: [RegExp, number][] = [
  [/^(?:hours?|hrs?|h)$/i, 3600],
  [/^(?:minutes?|mins?|m)$/i, 60],
  [/^(?:seconds?|secs?|s)$/i, 1],
];
/** Letters allowed glued to a number: units and ordinal suffixes ("3.75Gb", "10ms", "2nd"); others make an identifier ("v2beta1"). */
const GLUED_UNIT = /^(?:st|nd|rd|th|s|ms|us|ns|m|h|hr|hrs|min|mins|sec|secs|d|k|x|g|kg|mg|lb|lbs|ft|in|mm|cm|km|psi|psia|psid|v|vdc|w|kw|a|ah|hz|khz|mhz|ghz|b|kb|mb|gb|tb|kib|mib|gib|tib|db|dbm|f|c|k|percent|pct)$/i;

export interface NumberFact {
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
 * The text without the numbers of numbered lists ("1. Go to ...", "- 2) Flush ..."): a rewrite that lists the
 * original's steps numbers them without stating a fact. An item's own number ("14.1.1 Shaft ...") stays.
 */
function withoutListMarkers(text: string): string {
  return text.replace(/^(\s*(?:[-*+]\s+)?)\(?\d{1,2}[.)](?=\s)/gm, "$1");
}

/**
 * Every number of a text, normalised: "1,000" = "1000", "three" = "3", "85%" = "85 percent" (= 0.85),
 * "58 hours 40 minutes" = "58:40" (= 211200 s), "4-3/4 hours" = 4.75 hours, "v1.33" = "1.33", OCR "l3" = 13.
 * Digits glued to letters ("e2e", "k8s", "v2beta1") are the identifier check's; "KEP-4569" also gives 4569.
 */
export function numberFacts(text: string): NumberFact[] {
  const t = spelledToDigits(withoutListMarkers(cleanText(text)));
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
  // Fractions by name: "a few millionths of a kelvin", "two hundredths" (tenth and smaller ordinals name positions too).
  for (const m of t.matchAll(/\b(hundredth|thousandth|millionth|billionth)s?\b/gi)) {
    const value = { hundredth: "0.01", thousandth: "0.001", millionth: "0.000001", billionth: "1e-9" }[m[1].toLowerCase()]!;
    facts.push({ text: m[0], values: [String(Number(value))], parts: [] });
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
export function supportedNumbers(original: string): Set<string> {
  const out = new Set<string>(["1"]);
  for (const f of numberFacts(original)) {
    for (const v of [...f.values, ...f.parts]) {
      out.add(v);
      const n = Number(v);
      if (Number.isFinite(n) && n > 0 && n < 1) out.add(String(Math.round(n * 1e8) / 1e6));
    }
  }
  const lower = original.toLowerCase();
  // Zero said with another word: "were zeroed", "all zeros", "flow went to nothing", "the tank was empty".
  if (/\b(?:zero(?:e[sd]|s|ing)?|null(?:ed)?|none|nothing|empty|depleted)\b/.test(lower)) out.add("0");
  if (/\b(?:twice|double|both|pair|second)\b/.test(lower)) out.add("2");
  if (/\bhalf\b/.test(lower)) out.add("0.5");
  if (/\bdozen\b/.test(lower)) out.add("12");
  if (/\b(?:third)\b/.test(lower)) out.add("3");
  return out;
}

/** The paraphrase's numbers that `known` (supportedNumbers of its original) does not hold, once each by their text. */
export function unsupportedNumbers(known: ReadonlySet<string>, paraphrase: string): NumberFact[] {
  const out: NumberFact[] = [];
  for (const f of numberFacts(paraphrase)) {
    if (f.values.some((v) => known.has(v))) continue;
    if (f.parts.length && f.parts.every((p) => known.has(p))) continue;
    if (!out.some((o) => o.text === f.text)) out.push(f);
  }
  return out;
}
