import { ACRONYM, acronymWords, isNumeronymOf, isShortForm, LATIN_ABBREVIATION, spelledOut } from "./abbreviations";
import type { OriginalProfile } from "./original";
import { cleanText, CODE_SPAN, IDENTIFIER, idKey, rawTokens, splitSentences, stem, type TaggedTerm, tagSentence, tagSentences } from "./text";
import { causalMarkers, GENERIC, STOP } from "./vocabulary";
import { isEnglish, synsetsOf } from "./wordnet";
import { editDistance } from "../edit-distance";

/**
 * Names, identifiers, technical terms and causes a paraphrase brings that its original does not have, read with
 * compromise's part-of-speech tags and WordNet.
 */

export interface TermFindings {
  /** Names and identifiers the original does not have. */
  names: string[];
  /** Technical terms the original does not have: jargon, new compounds, a component swapped in a compound. */
  terms: string[];
  /**
   * New content words (nouns, adjectives) per sentence, as the cause check reads them: complete for sentences with a
   * causal connective; a sentence without one may be left untagged, and then has none.
   */
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

/**
 * The names, identifiers, terms, new words and causal connectives of a paraphrase that its original does not have.
 * `tagEverySentence` tags the sentences needsTags() leaves out too (the findings must not change: tests compare).
 */
export function findTerms(p: OriginalProfile, paraphrase: string, tagEverySentence = false, subject: ReadonlySet<string> = new Set()): TermFindings {
  const clean = cleanText(paraphrase);
  const names: string[] = [];
  const terms: string[] = [];
  const add = (list: string[], item: string) => {
    if (!list.includes(item)) list.push(item);
  };
  const lookup = new Lookup(p, clean, subject);

  // Code spans: one line at most; with spaces inside, only an unknown word of it counts (a stray backtick
  // elsewhere pairs the others wrongly and makes prose look like code).
  for (const m of clean.matchAll(CODE_SPAN)) {
    if (p.ids.has(idKey(m[1]))) continue;
    const unknown = m[1].trim().includes(" ") ? m[1].split(/\s+/).filter((w) => /\w/.test(w) && !p.ids.has(idKey(w))) : [m[1]];
    if (unknown.length) add(names, m[1].includes(" ") ? unknown.join(" ") : m[1]);
  }
  // Identifier-shaped tokens, by their shape alone.
  for (const { token, sentenceStart } of rawTokens(clean.replace(CODE_SPAN, " "))) {
    // Numbers and quantities glued to a unit ("55-hour", "10-second") are the number check's.
    if (/^[\d.,:/%-]+$/.test(token) || /^\d[\d.,]*-[a-z]+$/.test(token) || !IDENTIFIER.test(token)) continue;
    // Capitalised English compounds ("Short-lived", "Non-free-return") are words, not identifiers.
    if (/^[A-Z][a-z]+(?:-[a-z]+)+$/.test(token)) continue;
    if (sentenceStart && /^[A-Z][a-z]+$/.test(token)) continue;
    if (p.ids.has(idKey(token)) || shortForOriginal(p, token) || subject.has(token.toLowerCase())) continue;
    // A hyphenated or slashed token is known when every part is ("S-II/S-IVB"); its digits are the number check's.
    const parts = token.split(/[-/.:_#]+/).filter((x) => /[A-Za-z]/.test(x));
    if (parts.length > 1 && parts.every((x) => p.ids.has(idKey(x)))) continue;
    add(names, token);
  }

  // Words with compromise's tags, sentence by sentence; code spans read as a pronoun so they join no compound.
  const newWordsBySentence: string[][] = [];
  const causes: { marker: string; sentence: number }[] = [];
  const sentences = splitSentences(clean.replace(CODE_SPAN, " it ")).map((text) => ({ text, markers: causalMarkers(text), tag: false }));
  // Tagging is most of a check's time: a sentence whose words cannot make a name, a term or (beside a causal
  // connective) a new content word, whatever their tags, is not tagged. The others are tagged together.
  for (const s of sentences) s.tag = tagEverySentence || needsTags(lookup, s.text, s.markers.length > 0);
  tagSentences(sentences.filter((s) => s.tag).map((s) => s.text));
  sentences.forEach(({ text: sentence, markers, tag }, i) => {
    const words = tag ? readWords(lookup, tagSentence(sentence), names) : [];
    words.forEach((w, k) => {
      if (!w.isNew) return;
      // Jargon: a word that is not English ("kubelet", "userspace") names a thing the original never mentions.
      if (!w.lower.split("-").every((part) => part.length <= 2 || isEnglish(part) || isShortForm(part))) add(terms, w.text);
      const next = words[k + 1];
      // A new compound: two or more new nouns in a row ("coolant pump", "audit log entries"). New adjectives
      // before a noun are left out: rewrites make those ("a poor choice" for "not a good value").
      const noun = (x: Word | undefined) => !!x?.isNew && x.tags.has("Noun") && !x.tags.has("Adjective");
      if (noun(w) && noun(next) && !noun(words[k - 1])) {
        let end = k + 1;
        while (noun(words[end + 1])) end++;
        add(terms, words.slice(k, end + 1).map((x) => x.text).join(" "));
      }
      // A noun swapped into one of the original's compounds: "oxidizer isolation valve" where it has "fuel isolation
      // valve". When the paraphrase still has the original's compound too ("individual objects" beside "max object
      // size"), the new noun was added beside it, not swapped in.
      if (noun(w) && next?.content && !next.isNew && next.tags.has("Noun") && lookup.swapsModifier(w.lower, next.lower)) add(terms, `${w.text} ${next.text}`);
    });
    newWordsBySentence.push(words.filter((w) => w.isNew).map((w) => w.lower));
    for (const marker of markers) causes.push({ marker, sentence: i });
  });
  return { names, terms, newWordsBySentence, causes };
}

/** Word lookups against one original for one paraphrase, each computed once. */
class Lookup {
  private pairs?: Set<string>;
  private spelled?: Set<string>;
  private misspelt?: string[];
  constructor(
    readonly p: OriginalProfile,
    private readonly clean: string,
    /** The corpus subject's words (lib/quality/subject.ts): no new names. */
    private readonly subject: ReadonlySet<string>,
  ) {}

  /**
   * Known: a word of the original, a word of the same stem or synset, the long form of one of its short forms, or
   * the correction of one of its misspelt words ("command" for OCR's "comnand").
   */
  knownWord(lower: string): boolean {
    const p = this.p;
    return (
      p.words.has(lower) ||
      p.stems.has(stem(lower)) ||
      synsetsOf(lower).some((x) => p.synsets.has(x)) ||
      this.spellsAcronym(lower) ||
      p.numeronyms.some((n) => isNumeronymOf(n, lower)) ||
      this.corrects(lower)
    );
  }

  /** A hyphenated word is known when each of its parts is ("S-band", "post-separation"), or when it corrects one word ("ground-generated" for "groumdgenerated"). */
  known(lower: string): boolean {
    return lower.split("-").every((part) => part.length <= 2 || this.knownWord(part)) || (lower.includes("-") && this.corrects(lower.replace(/-/g, "")));
  }

  /** Whether `lower`, an English word, corrects a misspelt (not English) word of the original (see misspelling). */
  corrects(lower: string): boolean {
    if (lower.length < 4 || !isEnglish(lower)) return false;
    this.misspelt ??= [...this.p.words].filter((w) => w.length >= 4 && !isEnglish(w) && !isShortForm(w));
    return this.misspelt.some((w) => misspelling(w, lower));
  }

  /** A capitalised word that is not a new name whatever compromise tags it: the original's or the corpus subject's, or a short form of its words. */
  nameKnown(text: string): boolean {
    const lower = text.toLowerCase();
    const p = this.p;
    return (
      p.words.has(lower) ||
      p.words.has(lower.replace(/s$/, "")) ||
      p.ids.has(idKey(text)) ||
      shortForOriginal(p, text) ||
      this.spellsAcronym(lower) ||
      this.subject.has(lower) ||
      this.corrects(lower)
    );
  }

  /** Whether `word` before `head` replaces a modifier the original puts before that head, one gone from the paraphrase. */
  swapsModifier(word: string, head: string): boolean {
    const h = stem(head);
    const before = this.p.modifiers.get(h);
    if (!before) return false;
    this.pairs ??= pairsOf(this.clean);
    for (const m of before) if (m !== stem(word) && !this.pairs.has(`${m} ${h}`)) return true;
    return false;
  }

  /** A word that spells out one of the original's acronyms ("cloud controller manager" for "CCM"). */
  private spellsAcronym(lower: string): boolean {
    this.spelled ??= acronymWords(this.p.acronyms, this.clean.toLowerCase().match(/\p{L}+/gu) ?? []);
    return this.spelled.has(lower);
  }
}

/**
 * Whether `typo` reads as `word` misspelt, as OCR and typing misspell: one letter added, dropped or changed
 * ("poumds", "cournters"), or two changed in a word of the same length ("timnel" for "tunnel"), or OCR's "rn" for
 * "m". Two edits that change the length ("timnel" to "timer") make another word.
 */
export function misspelling(typo: string, word: string): boolean {
  if (typo === word) return false;
  if (typo.replace(/rn/g, "m") === word) return true;
  const d = editDistance(typo, word, 2);
  return d === 1 || (d === 2 && typo.length === word.length && word.length >= 6);
}

/** Stems of a text's neighbouring words ("fuel isola"). */
function pairsOf(text: string): Set<string> {
  const sequence = (text.toLowerCase().match(/\p{L}+/gu) ?? []).map(stem);
  return new Set(sequence.slice(1).map((x, i) => `${sequence[i]} ${x}`));
}

/** compromise's terms as words: content or not, new or not; capitalised names the original lacks go to `names`. */
function readWords(lookup: Lookup, tagged: readonly TaggedTerm[], names: string[]): Word[] {
  return tagged.map((term, k) => {
    const text = term.text.replace(/['’]s$/, "");
    const lower = text.toLowerCase();
    const tags = new Set(term.tags);
    if (!/^[\p{L}][\p{L}'’-]*$/u.test(text)) return { text, lower, tags, content: false, isNew: false };
    if (/^[A-Z]/.test(text) && (NAME_TAGS.some((tag) => tags.has(tag)) || (k > 0 && (tags.has("ProperNoun") || tags.has("Acronym"))))) {
      if (!lookup.nameKnown(text) && !names.includes(text)) names.push(text);
      return { text, lower, tags, content: false, isNew: false };
    }
    const content = (tags.has("Noun") || tags.has("Adjective")) && !NOT_CONTENT.some((tag) => tags.has(tag)) && lower.length > 2 && !STOP.has(lower) && !GENERIC.has(lower);
    return { text, lower, tags, content, isNew: content && !lookup.known(lower) };
  });
}

/**
 * Whether a sentence's tags could change the findings. They cannot when every word compromise may read out of it
 * (its runs of letters, apostrophes and hyphens, or a part of one) is known or, for a capitalised one, no new name;
 * and every unknown word is English, stands between known words, and does not sit before a head noun whose original
 * modifier it may have replaced; and, beside a causal connective, there is no unknown word at all. Then, tagged
 * or not, the sentence brings no name, no term, and no new word a cause would count. Anything the test cannot
 * vouch for (an apostrophe inside a word, a capitalised compound of unknown parts) is tagged.
 */
function needsTags(lookup: Lookup, sentence: string, causal: boolean): boolean {
  const pieces: { lower: string; unknown: boolean }[] = [];
  for (const run of sentence.match(/[\p{L}'’-]+/gu) ?? []) {
    const core = run.replace(/['’]s$/, "").replace(/^[-'’]+|[-'’]+$/g, "");
    if (!core) continue;
    if (/['’]/.test(core)) return true;
    const lower = core.toLowerCase();
    const capitalised = /^\p{Lu}/u.test(core);
    if (core.includes("-")) {
      const parts = lower.split(/-+/);
      if (capitalised && !(parts.every((x) => lookup.p.words.has(x)) && lookup.p.ids.has(idKey(core)))) return true;
      if (!parts.every((x) => lookup.known(x))) return true;
      for (const x of parts) pieces.push({ lower: x, unknown: false });
      continue;
    }
    if (capitalised && !lookup.nameKnown(core)) return true;
    pieces.push({ lower, unknown: !lookup.known(lower) });
  }
  for (const [k, piece] of pieces.entries()) {
    if (!piece.unknown) continue;
    if (causal) return true;
    if (!isEnglish(piece.lower) && !isShortForm(piece.lower)) return true;
    if (pieces[k - 1]?.unknown || pieces[k + 1]?.unknown) return true;
    if (pieces[k + 1] && lookup.swapsModifier(piece.lower, pieces[k + 1].lower)) return true;
  }
  return false;
}

/**
 * Whether a token is a short form of the original's words that the original does not use itself: a Latin
 * abbreviation ("e.g."), an acronym of its words ("ISS" for "International Space Station") or a numeronym of
 * one ("K8s" for "Kubernetes"). Unit and clipped short forms ("km/h", "CO2") are in the profile's ids already.
 */
function shortForOriginal(p: OriginalProfile, token: string): boolean {
  if (LATIN_ABBREVIATION.test(token)) return true;
  if (ACRONYM.test(token) && spelledOut(token, p.sequence)) return true;
  return /\d/.test(token) && p.sequence.some((w) => isNumeronymOf(token, w));
}
