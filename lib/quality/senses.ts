import { STOP } from "./vocabulary";
import { bases, senses, senseTags, type WordNetPos } from "./wordnet";

/**
 * Word swaps whose sense is not the original's: a paraphrase word that stands for a word of the original only
 * through a WordNet sense the original word does not usually have ("permit" -> "countenance", "spacecraft" ->
 * "ballistic capsule"). The builtin generator picks its synonyms by the same measure (usualIn).
 */

/**
 * SemCor tags a word needs in a sense to be an ordinary word for it. WordNet lists rare and dated members of
 * a synset beside the common word ("spacecraft, ballistic capsule", "previously, antecedently", "near, nigh"),
 * untagged or tagged once; on the dev rows of test/fixtures/builtin-senses.jsonl most such swaps read as garbled.
 */
const MIN_SENSE_TAGS = 5;

/**
 * Whether a word is an ordinary word for a sense: tagged in it often enough, and more often than in any other
 * sense of any part of speech ("countenance" is a face far more often than it means permit).
 */
export function usualIn(lemma: string, pos: WordNetPos, offset: number): boolean {
  const tags = senseTags(lemma);
  const here = tags.find((t) => t.pos === pos && t.offset === offset)?.count ?? 0;
  return here >= MIN_SENSE_TAGS && tags.every((t) => t.count <= here);
}

/** A word of the original and the paraphrase words that replaced it. */
export interface Substitution {
  original: string;
  replacement: string;
}

const POS: readonly WordNetPos[] = ["n", "v", "a", "r"];

/** The lemmas a word (or two words joined by "_") may be, from its base forms. */
function lemmas(words: readonly string[]): string[] {
  const last = bases(words[words.length - 1]);
  if (words.length === 1) return last;
  return [...new Set(bases(words[0]).flatMap((first) => [...last, words[1]].map((l) => `${first}_${l}`)))];
}

/** Each sense of the lemmas, "pos:offset", with the lemma and the sense's rank among the lemma's senses of that part of speech. */
function sensesOf(candidates: readonly string[]): Map<string, { lemma: string; pos: WordNetPos; rank: number }[]> {
  const out = new Map<string, { lemma: string; pos: WordNetPos; rank: number }[]>();
  for (const lemma of candidates) {
    for (const pos of POS) {
      senses(lemma, pos).forEach((offset, rank) => {
        const key = `${pos}:${offset}`;
        if (!out.has(key)) out.set(key, []);
        out.get(key)!.push({ lemma, pos, rank });
      });
    }
  }
  return out;
}

/**
 * The paraphrase's words (one or two in a row) that are not the original's but share a WordNet sense with one of
 * its words gone from the paraphrase, when no shared sense is both that word's most frequent one and a usual one
 * of the new word (usualIn). Such a swap reads as another meaning, or as a word nobody uses for this one.
 */
export function wrongSenses(original: string, paraphrase: string): Substitution[] {
  const words = (text: string) => text.toLowerCase().match(/\p{L}+/gu) ?? [];
  const mine = words(paraphrase);
  const theirs = new Set(words(original));
  const present = new Set(mine);
  const gone = [...theirs].filter((w) => w.length > 2 && !STOP.has(w) && !present.has(w));
  if (!gone.length) return [];
  const goneSenses = new Map<string, ReturnType<typeof sensesOf>>(gone.map((w) => [w, sensesOf(bases(w))]));
  const out: Substitution[] = [];
  const isNew = (w: string | undefined) => !!w && w.length > 2 && !STOP.has(w) && !theirs.has(w);
  for (let i = 0; i < mine.length; i++) {
    if (!isNew(mine[i])) continue;
    // Two words first: "ballistic capsule" stands for "spacecraft" where "capsule" alone does not.
    const units = isNew(mine[i + 1]) ? [[mine[i], mine[i + 1]], [mine[i]]] : [[mine[i]]];
    for (const unit of units) {
      const found = sensesOf(lemmas(unit));
      let shared: string | undefined;
      let usual = false;
      for (const [word, theirSenses] of goneSenses) {
        for (const [key, of] of found) {
          const original = theirSenses.get(key);
          if (!original) continue;
          shared ??= word;
          const [pos, offset] = [key[0] as WordNetPos, Number(key.slice(2))];
          if (original.some((o) => o.rank === 0) && of.some((m) => usualIn(m.lemma, pos, offset))) usual = true;
        }
      }
      if (shared && !usual) out.push({ original: shared, replacement: unit.join(" ") });
      if (shared) {
        if (unit.length === 2) i++;
        break;
      }
    }
  }
  return out;
}
