// The builtin paraphrases' rewrites that keep the meaning without a synonym (see ./paraphrase.ts): plain phrases for
// wordy ones, contractions, an opening phrase moved to the end, a closing time phrase moved to the front, a compound
// sentence split in two. Each breaks word trigrams, which the copy rule counts, where a synonym of the usual sense is
// seldom to be had.
import type { Sentence } from "./paraphrase";
import { hasTag, tokenize } from "./text";
import { PHRASE_SWAPS } from "./vocabulary";

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const PHRASE_BY_TEXT = new Map(PHRASE_SWAPS.map(([from, to]) => [from, to]));
/** Longest first, so "in addition to" wins over "in addition,". */
const PHRASE_RE = new RegExp(
  `(?<![\\w'’-])(?:${[...PHRASE_BY_TEXT.keys()].sort((a, b) => b.length - a.length).map(escapeRe).join("|")})(?![\\w'’-])`,
  "gi",
);
/** "However," and "In addition," are swapped only where they open the sentence; "but" never closes one. */
const OPENER_ONLY = new Set(["however,", "in addition,"]);

/** Phrase swaps for about `rate` of the places that allow one, none inside `code` or touching another edit. */
export function phraseEdits(sentence: Sentence, rate: number, random: () => number): void {
  const code = [...sentence.text.matchAll(/`[^`]*`/g)].map((m) => ({ start: m.index!, end: m.index! + m[0].length }));
  for (const m of sentence.text.matchAll(PHRASE_RE)) {
    const start = m.index!;
    const end = start + m[0].length;
    const key = m[0].toLowerCase();
    if (OPENER_ONLY.has(key) && start !== 0) continue;
    // At the start a contraction's pieces read as names to the checks ("Shouldn't", "Do not").
    if (start === 0 && /n['’]?t\b|\bnot$/i.test(key)) continue;
    if (random() >= rate || code.some((c) => c.start < end && start < c.end)) continue;
    if (sentence.edits.some((e) => e.start < end && start < e.end)) continue;
    let text = PHRASE_BY_TEXT.get(key)!;
    if (/^[A-Z]/.test(m[0])) text = text[0].toUpperCase() + text.slice(1);
    sentence.edits.push({ start, end, text });
  }
}

/** Openings that may as well close the sentence: "During the flight, the crew ..." -> "The crew ... during the flight." */
const MOVABLE_OPENER =
  /^(During|After|Before|Following|Prior to|At|In|On|For|With|Without|Within|Upon|When|Whenever|Once|If|Unless|Until|Although|Though|Because|Through|By|Under|Throughout|Between|From|Despite|Since) ([^,;:()"`]+), (.+)$/;
/** Words that open another clause. */
const CLAUSE_WORD = /\b(?:if|when|whenever|until|unless|because|although|though|while|which|that|whether|and|or|but|so)\b/i;
/** Words that open a time clause or phrase, which a moved phrase beside it could be read as part of. */
const TIME_WORD = /\b(?:before|after|since|once|during)\b/i;

/** Words a sentence may start with lower case and that may be capitalised to start it. */
const SUBJECT_START = /^(?:the|a|an|this|these|those|that|it|its|they|their|we|our|he|his|she|her|there|each|every|all|both|no|some|any|one|many|most|several|such)\b/;

/** The sentence with its opening phrase moved to the end, or undefined when that could change what it attaches to. */
function movedOpener(text: string): string | undefined {
  const m = MOVABLE_OPENER.exec(text);
  if (!m) return undefined;
  const [, word, phrase, rest] = m;
  const words = phrase.split(" ").length + word.split(" ").length;
  // With more clauses after it, the phrase at the end would qualify the last one only.
  // Two words are mostly a discourse marker ("In fact", "For example"), which reads oddly at the end; another clause
  // in the rest ("... and then add actions until X is enabled") would take the phrase as its own.
  if (words < 3 || words > 10 || /[,;:]/.test(rest) || !/[a-z)`]\.$/i.test(rest) || rest.split(" ").length < 4) return undefined;
  // "If X, then Y" keeps its order; "At the same time" means "yet" as often as "meanwhile"; a rest running over
  // lines of code or a list ("packages. k8s.io/...") is no single clause.
  // A time word in the rest ("the same as before it was introduced") would take the phrase as its own too.
  if (CLAUSE_WORD.test(rest) || TIME_WORD.test(rest) || /^then\b/.test(rest) || /^at the same time$/i.test(`${word} ${phrase}`) || /[.!?:]\s|[{}=<>]/.test(rest)) return undefined;
  // The new first word is capitalised: a plain lower-case word or a number, never code. A pronoun would come before
  // the noun of the phrase it stands for ("It should have assumed the most load since battery 2 ...", "... from it if
  // this label already existed").
  if (!/^(?:[a-z]+|\d[\d.,]*)\s/.test(rest) || /\b(?:it|its|they|their|them|he|his|him|she|her)\b/i.test(rest)) return undefined;
  return `${rest[0].toUpperCase()}${rest.slice(1, -1)} ${word.toLowerCase()} ${phrase}.`;
}

/** A closing time phrase moved to the front: "The valve was opened after the burn." -> "After the burn, the valve was opened." */
function frontedCloser(text: string): string | undefined {
  const m = /^([A-Z][a-z]*) ([^,;:]+?) (during|after|before|following|until) ([^,;:()"`]+)\.$/.exec(text);
  if (!m) return undefined;
  const [, first, middle, word, phrase] = m;
  const words = phrase.split(" ").length;
  if (words < 2 || words > 8 || middle.split(" ").length < 3 || !SUBJECT_START.test(first.toLowerCase()) || first === "I") return undefined;
  // Another clause before it ("... into another one that will be sleeping for X after the request", "... occur if the
  // generation has not been updated during the migration") may own the phrase; a phrase with a clause or a discourse
  // word of its own ("during dry run and aggregates them", "the migration however") is no single phrase.
  if (CLAUSE_WORD.test(middle) || CLAUSE_WORD.test(phrase) || /\b(?:however|therefore|too|also)\b/i.test(phrase)) return undefined;
  const tokens = tokenize(`${first} ${middle}`);
  // One finite verb: a second ("the results we obtained after running") is a clause that may own the phrase.
  if (tokens.filter((t) => hasTag(t, ...FINITE) && !hasTag(t, "Auxiliary", "Modal")).length !== 1) return undefined;
  // "disappeared shortly after power-up": the adverb belongs to the phrase; "all changes after the resource version":
  // so does the noun.
  if (hasTag(tokens[tokens.length - 1], "Adverb", "Noun")) return undefined;
  // An infinitive or a bracket in the middle may own the phrase too ("a window (...) to migrate before X").
  if (/[()[\]]/.test(middle) || tokens.some((t, i) => t.core.toLowerCase() === "to" && tokens[i + 1] && hasTag(tokens[i + 1], "Infinitive"))) return undefined;
  return `${word[0].toUpperCase()}${word.slice(1)} ${phrase}, ${first.toLowerCase()} ${middle}.`;
}

/** Tags of a finite verb: a clause with one can stand as a sentence. */
const FINITE = ["PastTense", "PresentTense", "Copula", "Modal", "Auxiliary"];

/**
 * The sentence split at its ", and" (or ", but") when both sides are clauses of their own: no other comma before it,
 * a finite verb on each side, a subject after it. "The valve opened, and the pressure rose." -> "The valve opened.
 * The pressure rose."; "but" becomes "However,".
 */
function splitCompound(text: string): string | undefined {
  const m = /^([^,;:]+), (and|but) (.+)$/.exec(text);
  if (!m) return undefined;
  const [, before, joiner, after] = m;
  // "We will test that if the gate is off, but ..." : the joined clause may belong to a subordinate one.
  if (CLAUSE_WORD.test(before)) return undefined;
  if (!SUBJECT_START.test(after) || !/[.!?]$/.test(after) || before.split(" ").length < 4 || after.split(" ").length < 4) return undefined;
  const finite = (s: string) => tokenize(s).some((t) => hasTag(t, ...FINITE));
  if (!finite(before) || !finite(after)) return undefined;
  const next = joiner === "but" ? `However, ${after}` : `${after[0].toUpperCase()}${after.slice(1)}`;
  return `${before}. ${next}`;
}

/** Rewrites the text of about `rate` of the sentences that allow a moved opening or a split (before any edit). */
export function restructure(sentences: Sentence[], rate: number, random: () => number): void {
  for (const sentence of sentences) {
    if (random() >= rate) continue;
    const text = movedOpener(sentence.text) ?? frontedCloser(sentence.text) ?? splitCompound(sentence.text);
    if (text) sentence.text = text;
  }
}
