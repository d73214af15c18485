import { ACRONYM, acronymLetters, numeronyms, shortFormWords } from "./abbreviations";
import { supportedNumbers } from "./numbers";
import { cleanText, CODE_SPAN, idKey, rawTokens, stem, visibleLength, wordTokens } from "./text";
import { originalCauses, STOP } from "./vocabulary";
import { synsetsOf } from "./wordnet";

/**
 * What a paraphrase is compared with, computed once per original: rows share originals (a build makes several
 * paraphrases of each chunk, in several styles and coverage rounds), so each is read only once.
 */
export interface OriginalProfile {
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
  /** Its words in order, lower case (letters only). */
  sequence: string[];
  /** Its acronyms' letters ("iss", "pvc" for "PVCs"): a paraphrase may spell them out. */
  acronyms: Set<string>;
  /** Its numeronyms ("K8s"): a paraphrase may write the word out. */
  numeronyms: string[];
  /** Its causal connectives. */
  causes: number;
  /** Its word trigrams with their counts (copyScore). */
  trigrams: Map<string, number>;
  /** visibleLength() of the original. */
  length: number;
}

const profiles = new Map<string, OriginalProfile>();
/**
 * Originals whose profiles are kept, the least recently used dropped first. A profile holds ~45 KB (its WordNet
 * synsets most): 1,024 of them ~45 MB, where 5,000 held 225 MB to the end of a whole-KEP build. A build checks a
 * chunk's paraphrases one after another, and a corpus of up to 1,024 chunks (Apollo's 352) keeps every profile for
 * its coverage rounds too.
 */
const PROFILES = 1024;

/** The profile of an original, memoised by its text. */
export function profile(original: string): OriginalProfile {
  let p = profiles.get(original);
  if (p) {
    // Moved to the newest end of the Map's insertion order.
    profiles.delete(original);
    profiles.set(original, p);
    return p;
  }
  const clean = cleanText(original);
  const ids = new Set<string>();
  const addId = (token: string) => {
    const key = idKey(token);
    ids.add(key);
    ids.add(key.replace(/s$/, "")); // "PVCs" names "PVC" too
  };
  const tokens: string[] = [];
  for (const { token } of rawTokens(clean)) {
    tokens.push(token);
    for (const part of token.split(/[-/.:_#]+/)) if (part !== token) tokens.push(part);
  }
  for (const token of tokens) addId(token);
  for (const m of clean.matchAll(CODE_SPAN)) addId(m[1]);
  const lower = clean.toLowerCase();
  const runs = [...lower.matchAll(/\p{L}+/gu)];
  const sequence = runs.map((m) => m[0]);
  const modifiers = new Map<string, Set<string>>();
  sequence.forEach((word, i) => {
    const before = sequence[i - 1];
    if (!before || STOP.has(before)) return;
    // Only a word right before it in the same phrase modifies it: "fuel isolation valve", "fuel-cell", not "components. Users".
    const gap = lower.slice(runs[i - 1].index! + before.length, runs[i].index!);
    if (!/^[\s-]+$/.test(gap) || /\n\s*\n/.test(gap)) return;
    if (!modifiers.has(stem(word))) modifiers.set(stem(word), new Set());
    modifiers.get(stem(word))!.add(stem(before));
  });
  // OCR splits words ("as cent stage", "electri cal"): two neighbours joined are a word of the original too.
  const words = new Set([...sequence, ...sequence.slice(1).map((w, i) => sequence[i] + w)]);
  // Short forms stand for their long forms and the reverse ("km/h" = "kilometres per hour", "CO2" = "carbon dioxide").
  const short = shortFormWords(tokens, lower);
  for (const w of short.words) words.add(w);
  for (const s of short.shorts) {
    addId(s);
    words.add(s);
  }
  const synsets = new Set([...words].filter((w) => !STOP.has(w)).flatMap(synsetsOf));
  const trigrams = new Map<string, number>();
  for (const g of wordTrigrams(wordTokens(original))) trigrams.set(g, (trigrams.get(g) ?? 0) + 1);
  p = {
    numbers: supportedNumbers(original),
    ids,
    words,
    stems: new Set([...words].map(stem)),
    synsets,
    modifiers,
    sequence,
    acronyms: new Set(tokens.filter((t) => ACRONYM.test(t)).map(acronymLetters)),
    numeronyms: numeronyms(tokens),
    causes: originalCauses(original),
    trigrams,
    length: visibleLength(original),
  };
  if (profiles.size >= PROFILES) profiles.delete(profiles.keys().next().value!);
  profiles.set(original, p);
  return p;
}

/** Word trigrams of a token list; a text of one or two words is one "trigram". */
export function wordTrigrams(tokens: string[]): string[] {
  if (tokens.length < 3) return tokens.length ? [tokens.join(" ")] : [];
  return tokens.slice(2).map((_, i) => `${tokens[i]} ${tokens[i + 1]} ${tokens[i + 2]}`);
}

/** Share of the paraphrase's word trigrams that occur in the original (with multiplicity): 1 for a verbatim extract. */
export function copyScore(original: string, paraphrase: string): number {
  const mine = wordTrigrams(wordTokens(paraphrase));
  if (!mine.length) return 0;
  const theirs = profile(original).trigrams;
  const used = new Map<string, number>();
  let shared = 0;
  for (const g of mine) {
    const taken = used.get(g) ?? 0;
    if (taken < (theirs.get(g) ?? 0)) {
      shared++;
      used.set(g, taken + 1);
    }
  }
  return shared / mine.length;
}
