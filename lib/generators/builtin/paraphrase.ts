// The builtin generator's paraphrases (see ./index.ts): WordNet synonyms, rewrites that keep the meaning
// (./rewrites.ts), sentences reordered, clauses dropped.
import type { ParaphraseTask } from "../types";
import { nlp } from "../../tagging";
import { phraseEdits, restructure } from "./rewrites";
import { type Block, blocks, hasTag, sentences, type Token, tokenize, tagAll } from "./text";
import { MONTH, NAME_TAGS, PLAIN_SYNONYMS, STOP_WORDS, UNITS } from "./vocabulary";
import { synonyms, type WordNetPos } from "./wordnet";
import { seededRandom, shuffle } from "../../seeded";


type Mode = "reworded" | "reordered" | "condensed";

/** The kit's three default styles; any other style name a user picks is treated as "reworded". */
function modeOf(style: string): Mode {
  return style === "reordered" || style === "condensed" ? style : "reworded";
}

export interface Edit {
  start: number;
  end: number;
  text: string;
}

export interface Sentence {
  text: string;
  edits: Edit[];
  /** Dropped whole (condensed). */
  dropped: boolean;
}

function pluralize(phrase: string): string {
  return phrase.replace(/([a-z]+)$/, (w) =>
    /(?:s|x|z|ch|sh)$/.test(w) ? `${w}es` : /[^aeiou]y$/.test(w) ? `${w.slice(0, -1)}ies` : `${w}s`,
  );
}

const conjugations = new Map<string, Record<string, string> | undefined>();

/** The synonym in the grammatical form of the word it replaces, or undefined when it cannot be had. */
function inflect(synonym: string, token: Token, pos: WordNetPos): string | undefined {
  if (pos === "n") return hasTag(token, "Plural") ? pluralize(synonym) : synonym;
  if (pos !== "v" || token.core.toLowerCase() === token.root) return synonym;
  if (!conjugations.has(synonym)) conjugations.set(synonym, nlp()(synonym).verbs().conjugate()[0] as Record<string, string> | undefined);
  const forms = conjugations.get(synonym);
  if (!forms) return undefined;
  const form = hasTag(token, "Gerund")
    ? forms.Gerund
    : hasTag(token, "PastTense", "Participle")
      ? forms.PastTense
      : /s$/.test(token.core)
        ? forms.PresentTense
        : undefined;
  return form && /^[a-z]+(?:[ -][a-z]+)*$/.test(form) ? form : undefined;
}

/** Where a token's WordNet lookup goes, or undefined for words that must stay as they are. */
function contentPos(token: Token, first: boolean): { pos: WordNetPos; lemma: string } | undefined {
  const word = token.core;
  if (token.code || !/^[A-Za-z]{3,}$/.test(word)) return undefined; // numbers, identifiers, units like "ft/sec"
  if (/[A-Z]/.test(word.slice(1)) || (!first && /^[A-Z]/.test(word))) return undefined; // proper nouns, acronyms
  const lower = word.toLowerCase();
  if (STOP_WORDS.has(lower) || UNITS.has(lower) || MONTH.test(word)) return undefined;
  const protectedTags = [...NAME_TAGS, "Value", "Date", "Unit", "Abbreviation", "Pronoun", "Determiner", "Preposition",
    "Conjunction", "Copula", "Modal", "Auxiliary", "Negative", "QuestionWord", "PhrasalVerb", "Particle"];
  if (hasTag(token, ...protectedTags)) return undefined;
  if (hasTag(token, "Verb")) return { pos: "v", lemma: token.root || lower };
  if (hasTag(token, "Noun")) return { pos: "n", lemma: hasTag(token, "Plural") ? token.root || lower : lower };
  // Participles tagged as adjectives ("was powered") would get an adjective's synonym: leave them.
  if (hasTag(token, "Adjective")) return hasTag(token, "Comparative", "Superlative") || /(?:ed|ing)$/.test(lower) ? undefined : { pos: "a", lemma: lower };
  if (hasTag(token, "Adverb")) return { pos: "r", lemma: lower };
  return undefined;
}

/** Tags of the words a multiword term is made of: "propellant gaging", "thermal control modes". */
const TERM_TAGS = ["Noun", "Gerund"];

/**
 * Whether a token is part of a multiword term: a word before a noun ("thermal" and "control" in "thermal
 * control modes", "main" in "main parachute"), or a noun after one ("gaging" in "propellant gaging").
 * Swapping one word of a term reads as another term ("caloric control styles"), so such words stay.
 */
function inTerm(sentence: string, tokens: Token[], i: number): boolean {
  const joined = (a: Token | undefined, b: Token | undefined) => !!a && !!b && sentence.slice(a.end, b.start) === " ";
  const next = tokens[i + 1];
  if (joined(tokens[i], next) && (hasTag(next, ...TERM_TAGS) || (hasTag(next, "Adjective") && inTerm(sentence, tokens, i + 1)))) {
    return !hasTag(next, "Pronoun", "Determiner");
  }
  const previous = tokens[i - 1];
  return hasTag(tokens[i], ...TERM_TAGS) && joined(previous, tokens[i]) && hasTag(previous, ...TERM_TAGS) && !hasTag(previous, "Pronoun", "Determiner");
}

/** A word of a sentence that may be swapped, and what it may become (inflected, in order of preference). */
export interface SynonymOption {
  /** Offsets of the word in the sentence. */
  start: number;
  end: number;
  texts: string[];
  /** From a confident sense (see synonyms). */
  confident: boolean;
}

/**
 * The content words of a sentence and what each may become: nothing for words touching a number, words of
 * multiword terms and names; else synonyms of their most frequent sense that inflect. Single words when
 * there are any ("maneuver" -> "manoeuvre", not "simulated military operation"); `shorterOnly` keeps a
 * condensed text from growing back.
 */
export function synonymOptions(sentence: string, shorterOnly = false): SynonymOption[] {
  const tokens = tokenize(sentence);
  const out: SynonymOption[] = [];
  tokens.forEach((token, i) => {
    // Words touching a number are its unit or its label ("tank 2"): part of the fact.
    if ([tokens[i - 1], tokens[i + 1]].some((t) => t && /\d/.test(t.core))) return;
    const target = contentPos(token, i === 0);
    if (!target) return;
    const plain = PLAIN_SYNONYMS[target.pos].get(target.lemma);
    // A plain modifier reads the same before a noun ("additional tests" -> "extra tests"); a noun of a term stays.
    const term = inTerm(sentence, tokens, i);
    const found = term ? { words: [] as string[], confident: false } : { ...synonyms(target.lemma, target.pos) };
    if (plain && (target.pos === "a" || target.pos === "r" || !term)) found.words = [...new Set([...plain, ...found.words])];
    if (plain) found.confident ||= found.words.length > 0;
    const single = found.words.filter((w) => !w.includes(" "));
    const choices = (single.length ? single : found.words.filter((w) => w.split(" ").length === 2)).filter(
      (w) => !shorterOnly || w.length <= token.core.length,
    );
    const texts = choices.map((w) => inflect(w, token, target.pos)).filter((t): t is string => !!t && t !== token.core.toLowerCase());
    out.push({ start: token.start, end: token.end, texts, confident: found.confident });
  });
  return out;
}

/**
 * Synonym edits for about `rate` of the content words, from words whose sense is confident (see
 * synonyms); at least `minimum`, taking a less confident word only when no confident one exists.
 */
function synonymEdits(sentences: Sentence[], rate: number, minimum: number, shorterOnly: boolean, random: () => number): void {
  type Option = { sentence: Sentence; tokens: Token[]; i: number; texts: string[] };
  const confident: Option[] = [];
  const unsure: Option[] = [];
  let contentWords = 0;
  tagAll(sentences.map((s) => s.text));
  for (const sentence of sentences) {
    const tokens = tokenize(sentence.text);
    for (const option of synonymOptions(sentence.text, shorterOnly)) {
      contentWords++;
      const i = tokens.findIndex((t) => t.start === option.start);
      if (option.texts.length) (option.confident ? confident : unsure).push({ sentence, tokens, i, texts: option.texts });
    }
  }
  const wanted = Math.max(minimum, Math.round(contentWords * rate));
  const pool = confident.length ? shuffle(confident, random) : shuffle(unsure, random).slice(0, minimum);
  let made = 0;
  for (const { sentence, tokens, i, texts } of pool) {
    if (made >= wanted) break;
    const token = tokens[i];
    let text = texts[Math.floor(random() * texts.length)];
    if (/^[A-Z]/.test(token.core)) text = text[0].toUpperCase() + text.slice(1);
    const edit: Edit = { start: token.start, end: token.end, text };
    // "a" / "an" must agree with the new word.
    const article = tokens[i - 1];
    if (article && /^an?$/i.test(article.core) && article.end + 1 === token.start) {
      edit.start = article.start;
      edit.text = `${article.core[0]}${/^[aeiou]/i.test(text) ? "n" : ""} ${text}`;
    }
    if (sentence.edits.some((e) => e.start < edit.end && edit.start < e.end)) continue;
    sentence.edits.push(edit);
    made++;
  }
}

const SUBORDINATORS =
  "(?:at|in|during|after|by|from|for|of|on|with|through) which|which|who|whose|whom|although|though|because|since|while|whereas|unless|resulting|including|indicating|thereby|so that|where|when";
const LEADING_CLAUSE =
  /^(?:Although|Though|Because|Since|While|When|After|Before|Following|During|If|Once|Whereas|As a result|However|Therefore|Consequently|Also|In addition|In general|Thus|Subsequently|Additionally)\b[^,;:()]*,\s+/;

/** A span that may be dropped: it holds no number, no proper noun or identifier (no capital at all). */
function droppable(s: string): boolean {
  return !/[\dA-Z|]/.test(s);
}

/** Candidate drops in one sentence: parentheticals, comma-bounded subordinate clauses, a leading clause. */
function dropEdits(text: string): Edit[] {
  const out: Edit[] = [];
  // Round or square brackets after a space; not a markdown link's "[text](url)".
  for (const m of text.matchAll(/\s(?:\([^()[\]]*\)|\[[^()[\]]*\](?![([:]))/g)) {
    if (droppable(m[0])) out.push({ start: m.index!, end: m.index! + m[0].length, text: "" });
  }
  // The sentence without its closing punctuation, so a clause running to the end leaves the period.
  const body = text.replace(/[.!?]["')\]]*$/, "");
  for (const m of body.matchAll(new RegExp(`,\\s+(?:${SUBORDINATORS})\\b[^,;:()]*(,|$)`, "g"))) {
    // Dropping one quotation mark of a pair would leave the other dangling.
    if (droppable(m[0]) && (m[0].match(/"/g) ?? []).length % 2 === 0) out.push({ start: m.index!, end: m.index! + m[0].length, text: "" });
  }
  const lead = LEADING_CLAUSE.exec(text);
  if (lead && lead[0].length < text.length * 0.6 && droppable(lead[0].replace(/^\S+/, ""))) out.push({ start: 0, end: lead[0].length, text: "" });
  return out;
}

/** The sentence without its first word when that is a common word capitalised only for starting it. */
function withoutOpener(sentence: string): string {
  const first = /^[A-Z][a-z]*\b/.exec(sentence)?.[0];
  return first && STOP_WORDS.has(first.toLowerCase()) ? sentence.slice(first.length) : sentence;
}

function applyEdits(sentence: Sentence): string {
  let text = sentence.text;
  for (const e of [...sentence.edits].sort((a, b) => b.start - a.start)) text = text.slice(0, e.start) + e.text + text.slice(e.end);
  text = text.replace(/^\s+/, ""); // left by a dropped opening parenthetical
  // A dropped leading clause leaves the sentence starting in lower case.
  if (/^[A-Z]/.test(sentence.text) && /^[a-z]/.test(text)) text = text[0].toUpperCase() + text.slice(1);
  return text;
}

interface Paragraph {
  block: Block;
  /** Text of the block before its first sentence and after its last. */
  lead: string;
  tail: string;
  sentences: Sentence[];
  /** Whitespace between consecutive sentences, by position. */
  gaps: string[];
  order: number[];
}

/**
 * A rule-based paraphrase of `task.text` in the task's style; see createBuiltinGenerator. Table lines
 * and headings are kept as they are. Deterministic in (text, style, variant, attempt), and unlike the
 * lower variants (attempt 0) and the earlier attempts of the same variant whenever the text allows it,
 * so extra variants add something and a retry can succeed.
 */
export function builtinParaphrase(task: ParaphraseTask): string {
  const { text, style, variant, attempt } = task;
  const key = `${style}\u0000${variant}\u0000${attempt}\u0000${text}`;
  const cached = paraphraseCache.get(key);
  if (cached !== undefined) return cached;
  const earlier = new Set<string>([text]);
  for (let v = 0; v < variant; v++) earlier.add(builtinParaphrase({ ...task, variant: v, attempt: 0 }));
  for (let a = 0; a < attempt; a++) earlier.add(builtinParaphrase({ ...task, attempt: a }));
  const mode = modeOf(style);
  let out = text;
  for (let roll = 0; roll < MAX_ROLLS && earlier.has(out); roll++) {
    // Past half the rolls, force every kind of change the text allows.
    out = paraphrase(text, mode, seededRandom(`${roll}\u0000${key}`), roll >= MAX_ROLLS / 2);
  }
  if (paraphraseCache.size >= 1000) paraphraseCache.clear(); // a pipeline asks for a chunk's variants together
  paraphraseCache.set(key, out);
  return out;
}

const MAX_ROLLS = 8;
const paraphraseCache = new Map<string, string>();

/** One paraphrase roll; `forceAll` reorders and drops whatever the style, for texts where nothing else changed. */
function paraphrase(text: string, mode: Mode, random: () => number, forceAll: boolean): string {
  const paragraphs: Paragraph[] = [];
  for (const block of blocks(text)) {
    if (block.kind !== "prose") continue;
    const spans = sentences(text, block.start, block.end);
    if (!spans.length) continue;
    paragraphs.push({
      block,
      lead: text.slice(block.start, spans[0].start),
      tail: text.slice(spans[spans.length - 1].end, block.end),
      sentences: spans.map((s) => ({ text: text.slice(s.start, s.end), edits: [], dropped: false })),
      gaps: spans.slice(1).map((s, i) => text.slice(spans[i].end, s.start)),
      order: spans.map((_, i) => i),
    });
  }
  const all = paragraphs.flatMap((p) => p.sentences);
  // Rewrites that keep the meaning come first, everywhere: they change the words the other edits are placed in.
  const keep = 1;
  restructure(all, keep, random);

  if (mode === "condensed" || forceAll) {
    // Condensed aims at 65-80% of the length; a forced change of another style drops one clause.
    const target = mode === "condensed" ? text.length * (0.65 + random() * 0.15) : text.length - 1;
    const floor = text.length * 0.6;
    let length = text.length;
    const clauses = shuffle(
      all.flatMap((sentence) => dropEdits(sentence.text).map((edit) => ({ sentence, edit }))),
      random,
    );
    for (const { sentence, edit } of clauses) {
      if (length <= target) break;
      const cut = edit.end - edit.start;
      if (length - cut < floor || sentence.edits.some((e) => e.start < edit.end && edit.start < e.end)) continue;
      sentence.edits.push(edit);
      length -= cut;
    }
    // Still long: drop whole sentences that carry no numbers or names, never a paragraph's first.
    if (mode === "condensed" && length > text.length * 0.85) {
      for (const sentence of shuffle(paragraphs.flatMap((p) => p.sentences.slice(1)), random)) {
        if (length <= target) break;
        if (!droppable(withoutOpener(sentence.text)) || length - sentence.text.length < floor) continue;
        sentence.dropped = true;
        length -= sentence.text.length + 1;
      }
    }
  }

  if (mode === "reordered" || forceAll) {
    for (const p of paragraphs) {
      // A chunk can start or end mid-sentence: such a fragment stays where it is.
      const first = /^[a-z]/.test(p.sentences[0].text) ? 1 : 0;
      const last = /[.!?]["')\]]*$/.test(p.sentences[p.sentences.length - 1].text) ? p.sentences.length : p.sentences.length - 1;
      if (last - first < 2) continue;
      const middle = shuffle(p.order.slice(first, last), random);
      if (middle.every((v, i) => v === first + i)) middle.push(middle.shift()!);
      p.order = [...p.order.slice(0, first), ...middle, ...p.order.slice(last)];
    }
  }

  for (const sentence of all) if (!sentence.dropped) phraseEdits(sentence, keep, random);
  const rate = mode === "reworded" ? 0.15 + random() * 0.1 : 0.08;
  synonymEdits(
    all.filter((s) => !s.dropped),
    rate,
    1,
    mode === "condensed",
    random,
  );

  let out = "";
  let pos = 0;
  for (const p of paragraphs) {
    out += text.slice(pos, p.block.start);
    const kept = p.order.filter((i) => !p.sentences[i].dropped);
    out += p.lead + kept.map((i, k) => (k ? p.gaps[k - 1] : "") + applyEdits(p.sentences[i])).join("") + p.tail;
    pos = p.block.end;
  }
  return out + text.slice(pos);
}
