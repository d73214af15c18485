import { diffSequences } from "../edit-distance";
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

/** SemCor tags of a lemma in one sense. */
const tagsIn = (lemma: string, pos: WordNetPos, offset: number) => senseTags(lemma).find((t) => t.pos === pos && t.offset === offset)?.count ?? 0;

/**
 * A word tagged this often in SemCor, over all its senses, is a common word: a rewrite that uses it for a synonym
 * ("depicts" -> "shows", "final" -> "last") is taken to mean what the context needs, whichever sense WordNet shares.
 * Below it, on the dev rows of test/fixtures/builtin-senses.jsonl, swaps were mostly garbled ("whirlybird",
 * "nigh", "countenance"), while LLM rewrites judged faithful in the calibration sets seldom use such words.
 */
const COMMON_WORD_TAGS = 1;
/** Tags a rarer word needs in the replaced word's most frequent sense to stand for it. */
const MIN_SWAP_TAGS = 2;

const common = (lemma: string) => senseTags(lemma).reduce((sum, t) => sum + t.count, 0) >= COMMON_WORD_TAGS;

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

/** Longest runs a swap may replace and be replaced by; longer ones are rewrites, not swaps. */
const MAX_SWAPPED = 2;
const MAX_SWAPPED_IN = 2;
/** Beyond this many cells the word diff would take a noticeable time: such a pair is not read for swaps. */
const MAX_DIFF_CELLS = 4_000_000;

/**
 * Swaps of the paraphrase whose sense is not the original's. A word diff finds the runs of up to 3 original words
 * that the paraphrase replaced by up to 4 others ("spacecraft" -> "ballistic capsule"); in each, a new word (or two
 * in a row) that shares a WordNet sense with a replaced word is flagged when no shared sense is both the replaced
 * word's most frequent one and a usual one of the new word (usualIn). Inflections of the same word are not swaps.
 */
export function wrongSenses(original: string, paraphrase: string): Substitution[] {
  const words = (text: string) => text.toLowerCase().match(/\p{L}+/gu) ?? [];
  const a = words(original);
  const b = words(paraphrase);
  if (a.length * b.length > MAX_DIFF_CELLS) return [];
  const out: Substitution[] = [];
  let i = 0;
  let j = 0;
  const gone: string[] = [];
  const added: string[] = [];
  const flush = () => {
    if (gone.length && added.length && gone.length <= MAX_SWAPPED && added.length <= MAX_SWAPPED_IN) out.push(...swapsOfOtherSense(gone, added));
    gone.length = 0;
    added.length = 0;
  };
  for (const op of diffSequences(a, b)) {
    if (op === "same") flush();
    if (op !== "add") i++;
    if (op !== "del") j++;
    if (op === "del") gone.push(a[i - 1]);
    if (op === "add") added.push(b[j - 1]);
  }
  flush();
  return out;
}

/** The swaps of another sense in one replaced run: `gone` the original's words, `added` the paraphrase's. */
function swapsOfOtherSense(gone: readonly string[], added: readonly string[]): Substitution[] {
  const content = (w: string) => w.length > 2 && !STOP.has(w);
  const replaced = gone.filter(content).map((w) => ({ word: w, senses: sensesOf(bases(w)), bases: bases(w) }));
  const out: Substitution[] = [];
  // Another form of a replaced word ("parse" -> "parsing") is no swap.
  const fresh = (w: string | undefined) => !!w && content(w) && !replaced.some((r) => bases(w).some((b) => r.bases.includes(b)));
  for (let k = 0; k < added.length; k++) {
    if (!fresh(added[k])) continue;
    // Two words first: "ballistic capsule" stands for "spacecraft" where "capsule" alone does not.
    const units = fresh(added[k + 1]) ? [[added[k], added[k + 1]], [added[k]]] : [[added[k]]];
    for (const unit of units) {
      const found = sensesOf(lemmas(unit));
      let shared: string | undefined;
      let usual = false;
      for (const { word, senses: theirs } of replaced) {
        for (const [key, of] of found) {
          const senseOfOriginal = theirs.get(key);
          if (!senseOfOriginal) continue;
          shared ??= word;
          const [pos, offset] = [key[0] as WordNetPos, Number(key.slice(2))];
          const first = senseOfOriginal.some((o) => o.rank === 0);
          if (of.some((m) => common(m.lemma) || (first && tagsIn(m.lemma, pos, offset) >= MIN_SWAP_TAGS))) usual = true;
        }
      }
      if (!shared) continue;
      if (!usual) out.push({ original: shared, replacement: unit.join(" ") });
      k += unit.length - 1;
      break;
    }
  }
  return out;
}
