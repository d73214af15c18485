// WordNet 3.1 synonyms for the builtin paraphrases, read through lib/quality/wordnet.ts (the one WordNet reader).
import { usualIn } from "../../quality/senses";
import { senses, senseTags, synsetWords, type WordNetPos } from "../../quality/wordnet";

export type { WordNetPos } from "../../quality/wordnet";

/** Whether WordNet knows the word (or its -s/-ed/-ing stem) as a verb, adjective or adverb. */
export function isVerbOrModifier(word: string): boolean {
  const stems = [word, word.replace(/(?:e?s|e?d|ing)$/, ""), word.replace(/(?:s|d|ing)$/, "")];
  return stems.some((w) => senses(w, "v").length) || senses(word, "a").length > 0 || senses(word, "r").length > 0;
}

export interface Synonyms {
  words: string[];
  /** The lemma has one sense here, or its first sense clearly dominates; else its synonyms may well be another meaning. */
  confident: boolean;
}

const synonymCache = new Map<string, Synonyms>();

/**
 * Synonyms of a lemma from its most frequent WordNet sense only (single words first), and only ordinary
 * words for that sense whose own most frequent sense it is too (usualIn). Later senses are usually another
 * meaning; and when the first sense does not dominate the tag counts ("tank": 7 army tank vs 3 storage
 * tank), it is flagged as not confident so callers use it only when nothing else can be replaced.
 */
export function synonyms(lemma: string, pos: WordNetPos): Synonyms {
  const key = `${pos}:${lemma}`;
  let found = synonymCache.get(key);
  if (found) return found;
  found = { words: [], confident: false };
  const offsets = senses(lemma, pos);
  if (offsets.length) {
    for (const entry of synsetWords(offsets[0], pos)) {
      const word = entry.replace(/_/g, " ");
      if (word === lemma || !/^[a-z]+(?:[ -][a-z]+){0,2}$/.test(word) || word.split(/[ -]/).includes(lemma)) continue;
      // "consist" -> "lie" would read as lying: the synonym's own first sense must be this one.
      const own = entry.toLowerCase();
      if (senses(own, pos)[0] !== offsets[0] || !usualIn(own, pos, offsets[0])) continue;
      found.words.push(word);
    }
    found.words.sort((a, b) => Number(a.includes(" ")) - Number(b.includes(" ")));
    const counts = new Map(senseTags(lemma).filter((t) => t.pos === pos).map((t) => [t.offset, t.count]));
    const first = counts.get(offsets[0]) ?? 0;
    const others = offsets.slice(1).reduce((sum, o) => sum + (counts.get(o) ?? 0), 0);
    found.confident = offsets.length === 1 || (first >= 3 && first >= 3 * others);
  }
  synonymCache.set(key, found);
  return found;
}
