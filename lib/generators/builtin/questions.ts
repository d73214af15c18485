// The builtin generator's cloze questions (see ./index.ts): answer candidates from tags and patterns, the sentence quoted with the answer blanked.
import type { BuiltinQuestion, Difficulty, QuestionsTask } from "../types";
import { blocks, hasTag, isHeading, isTableLine, sentences, type Span, type Token, tokenize, tagAll } from "./text";
import { MONTH, NAME_TAGS, STOP_WORDS, UNITS } from "./vocabulary";
import { isVerbOrModifier } from "./wordnet";


/** What kind of thing an answer is; difficulty counts candidates of the same kind. */
type AnswerType = "number" | "date" | "name" | "term";

interface Candidate {
  answer: string;
  type: AnswerType;
  /**
   * Lower is preferred: 0 quantities, dates and clock times; 1 names and identifiers; 2 bare numbers;
   * 3 noun phrases; 4 table cells (rows are terse, so they come last).
   */
  tier: number;
  /** Offsets of the answer in the chunk text, and of the sentence (or table row) holding it. */
  start: number;
  end: number;
  sentence: Span;
  /** For a table cell: the table's header line, when the chunk holds it. */
  table?: { header?: string };
}

const NUMBER = /^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$/;
const CLOCK = /^\d{1,3}:\d{2}(?::\d{2}(?:\.\d+)?)?$/;
/** A number glued to its unit: "10-second", "40-percent". */
const GLUED_QUANTITY = /^\d+(?:\.\d+)?-[a-z]+$/;
/** Identifiers: "S-IVB", "KEP-1287", "AS-508", "MSC-02680"; two capitals or a capital and a digit, so not "Re-evaluate". */
const IDENTIFIER = /^(?=(?:.*[A-Z]){2}|.*[A-Z].*\d|.*\d.*[A-Z])[A-Za-z0-9]+(?:[-/][A-Za-z0-9]+)+$/;
/** A number right after these is a cross-reference, not a fact worth asking about. */
const REFERENCE_WORDS = new Set(
  "section sections fig fig. figs figure figures table tables appendix reference references ref page pages chapter paragraph item step note eq equation".split(" "),
);
/** Sentences that talk about the document itself would make meta questions. */
const META = /\b(?:the|this) (?:passage|text|excerpt|chunk|document|paper|report)\b/i;

/** Markdown links and calls ("Controller](https://...", "f(x") are not answers. */
const isPlain = (t: Token) => /^[\w.'\u2019/&+-]+$/.test(t.core);

const isUnit = (t: Token | undefined) =>
  !!t && (UNITS.has(t.core.toLowerCase()) || (hasTag(t, "Unit", "Duration", "Percent") && /^[a-z%/-]+$/i.test(t.core)));
const isNumberToken = (t: Token) => NUMBER.test(t.core) || (hasTag(t, "TextValue") && hasTag(t, "Cardinal") && /^[a-z]+$/i.test(t.core));

/** Answer candidates of one sentence, as token ranges with a type and tier. */
function sentenceCandidates(tokens: Token[]): { from: number; to: number; type: AnswerType; tier: number }[] {
  const out: { from: number; to: number; type: AnswerType; tier: number }[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (CLOCK.test(t.core) || GLUED_QUANTITY.test(t.core)) {
      out.push({ from: i, to: i + 1, type: "number", tier: 0 });
    } else if (MONTH.test(t.core) && /^[A-Z]/.test(t.core) && tokens[i + 1] && /^\d{1,4}$/.test(tokens[i + 1].core)) {
      let to = i + 2;
      if (/^\d{1,2}$/.test(tokens[i + 1].core) && tokens[i + 2] && /^\d{4}$/.test(tokens[i + 2].core)) to = i + 3;
      out.push({ from: i, to, type: "date", tier: 0 });
    } else if (isNumberToken(t)) {
      const before = tokens[i - 1]?.core.toLowerCase();
      if (before && REFERENCE_WORDS.has(before)) continue;
      // Thousands set apart by spaces ("40 000") are one number.
      let last = i;
      while (/^\d{1,3}$/.test(tokens[last].core) && tokens[last + 1] && /^\d{3}(?:\.\d+)?$/.test(tokens[last + 1].core) && tokens[last + 1].start === tokens[last].end + 1) last++;
      if (/^\d{4}$/.test(t.core) && hasTag(t, "Year")) {
        out.push({ from: i, to: i + 1, type: "date", tier: 1 });
        continue;
      }
      let to = last + 1;
      while (isUnit(tokens[to])) {
        to++;
        // "58 hours 40 minutes": a second number and unit continue the quantity.
        if (tokens[to] && isNumberToken(tokens[to]) && isUnit(tokens[to + 1])) to++;
        else break;
      }
      if (to > last + 1) out.push({ from: i, to, type: "number", tier: 0 });
      else if (to - i > 1 || (t.core.length > 1 && !/^[a-z]/.test(t.core))) out.push({ from: i, to, type: "number", tier: 2 });
      else if (/^[a-z]{4,}$/.test(t.core)) out.push({ from: i, to, type: "number", tier: 2 });
      i = to - 1;
    } else if (!isPlain(t)) {
      continue;
    } else if (IDENTIFIER.test(t.core)) {
      out.push({ from: i, to: i + 1, type: "name", tier: 1 });
    } else if (hasTag(t, ...NAME_TAGS) && /[A-Z]/.test(t.core) && !/\d/.test(t.core) && t.core.length > 1) {
      // A capital that only starts a sentence or a title makes no name ("Allow time", "Feature Enabled by Default").
      const plainCapital = !hasTag(t, "Person", "Place", "Organization", "Acronym") && !/[A-Z]/.test(t.core.slice(1));
      if (plainCapital && (i === 0 || STOP_WORDS.has(t.core.toLowerCase()) || isVerbOrModifier(t.core.toLowerCase()))) continue;
      let to = i + 1;
      const continues = (u: Token | undefined) => !!u && hasTag(u, ...NAME_TAGS) && /^[A-Z]/.test(u.core) && !/\d/.test(u.core) && isPlain(u);
      // Capitalised words just before belong to the name too: "Lunar Module Pilot".
      let from = i;
      while (from > 0 && /^[A-Z][a-z]+$/.test(tokens[from - 1].core) && !STOP_WORDS.has(tokens[from - 1].core.toLowerCase()) && tokens[from].start === tokens[from - 1].end + 1) from--;
      // Punctuation between two names ends the first: "Spica, Antares".
      while (continues(tokens[to]) && tokens[to].start === tokens[to - 1].end + 1) to++;
      // A name with a number is one name: "Apollo 13", "Verb 65".
      if (to === i + 1 && tokens[to] && /^\d{1,3}$/.test(tokens[to].core) && tokens[to].start === t.end + 1) to++;
      out.push({ from, to, type: "name", tier: 1 });
      i = to - 1;
    }
  }
  // Technical noun phrases ("lithium hydroxide cartridges"): two to four lower-case adjectives/nouns ending in a noun.
  for (let i = 0; i < tokens.length; ) {
    const isWord = (t: Token | undefined) =>
      !!t && /^[a-z][a-z-]*[a-z]$/.test(t.core) && hasTag(t, "Noun", "Adjective") && !hasTag(t, "Pronoun", "Determiner", "Value", "Date", "Verb");
    let to = i;
    while (to < tokens.length && to - i < 4 && isWord(tokens[to])) {
      to++;
      // Punctuation after a word ends the phrase.
      if (tokens[to] && tokens[to].start !== tokens[to - 1].end + 1) break;
    }
    while (to > i && !hasTag(tokens[to - 1], "Noun")) to--;
    if (to - i >= 2) {
      out.push({ from: i, to, type: "term", tier: 3 });
      i = to;
    } else i++;
  }
  return out;
}

/** All answer candidates of the target chunk, overlapping ones resolved in favour of the preferred tier. */
function chunkCandidates(text: string): Candidate[] {
  const found: Candidate[] = [];
  const prose: { sentence: Span; s: string }[] = [];
  for (const block of blocks(text)) {
    if (block.kind !== "prose") continue;
    for (const sentence of sentences(text, block.start, block.end)) {
      const s = text.slice(sentence.start, sentence.end);
      if (s.split(/\s+/).length < 6 || META.test(s) || /[$\\{}]/.test(s)) continue; // LaTeX left by OCR
      // Runs of figures without pipes are tables too ("updated to -0.167 at 141:30:00 ...").
      const words = s.split(/\s+/);
      if (words.filter((w) => /^[A-Za-z][A-Za-z'-]*[,.;:]?$/.test(w)).length < words.length * 0.6) continue;
      prose.push({ sentence, s });
    }
  }
  // Tagged together: one compromise document costs less than a call per sentence.
  tagAll(prose.map((p) => p.s));
  for (const { sentence, s } of prose) {
    const tokens = tokenize(s);
    if (!tokens.some((t) => hasTag(t, "Verb"))) continue; // headings run into a line, lists of words
    const taken: Span[] = [];
    const local = sentenceCandidates(tokens).sort((a, b) => a.tier - b.tier || b.to - b.from - (a.to - a.from));
    for (const c of local) {
      const start = tokens[c.from].start;
      const end = tokens[c.to - 1].end;
      if (taken.some((t) => t.start < end && start < t.end)) continue;
      const answer = s.slice(start, end);
      if (answer.includes("\n")) continue;
      taken.push({ start, end });
      found.push({
        answer,
        type: c.type,
        tier: c.tier,
        start: sentence.start + start,
        end: sentence.start + end,
        sentence,
      });
    }
  }
  found.push(...tableCandidates(text));
  return found.sort((a, b) => a.tier - b.tier || a.start - b.start);
}

const DATE_CELL = /^(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s*(?:\d{1,2},?\s*)?\d{4}$/i;

function cellType(cell: string): AnswerType | undefined {
  if (DATE_CELL.test(cell)) return "date";
  if (CLOCK.test(cell) || NUMBER.test(cell)) return "number";
  if (IDENTIFIER.test(cell)) return "name";
  return undefined;
}

/**
 * Cells of `a | b | c` rows that hold a date, number, clock time or identifier, when the rest of the
 * row has words enough to say which fact it is. The first row of a table is its header when it has no digits.
 */
function tableCandidates(text: string): Candidate[] {
  const out: Candidate[] = [];
  let header: string | undefined;
  let inTable = false;
  let pos = 0;
  for (const line of text.split("\n")) {
    const start = pos;
    pos += line.length + 1;
    if (!isTableLine(line)) {
      inTable = false;
      continue;
    }
    const cells: Span[] = [];
    for (const m of line.matchAll(/[^|]+/g)) {
      const lead = m[0].length - m[0].trimStart().length;
      const value = m[0].trim();
      if (value) cells.push({ start: m.index! + lead, end: m.index! + lead + value.length });
    }
    if (!inTable) {
      inTable = true;
      header = !/\d/.test(line) && cells.length >= 2 ? cells.map((c) => line.slice(c.start, c.end)).join(" | ") : undefined;
      if (header) continue;
    }
    if (cells.length < 3 || line.length > MAX_QUOTE) continue;
    const values = cells.map((c) => line.slice(c.start, c.end));
    cells.forEach((cell, i) => {
      const type = cellType(values[i]);
      const others = values.filter((_, k) => k !== i);
      if (!type || others.includes(values[i]) || (others.join(" ").match(/[A-Za-z]{3,}/g) ?? []).length < 2) return;
      out.push({
        answer: values[i],
        type,
        tier: 4,
        start: start + cell.start,
        end: start + cell.end,
        sentence: { start, end: start + line.length },
        table: { header: header && header.length <= 120 ? header : undefined },
      });
    });
  }
  return out;
}

/**
 * 1 candidate of its type in the chunk -> easy, 2-3 -> medium, more -> hard: the more look-alike
 * values a reader (or a retriever) has to tell apart, the harder the question.
 */
function difficultyOf(sameType: number): Difficulty {
  return sameType <= 1 ? "easy" : sameType <= 3 ? "medium" : "hard";
}

const MAX_QUOTE = 200;
const BLANK = "___";

/** The sentence with the answer blanked, cut to the clauses around the blank, at most MAX_QUOTE characters. */
function quote(text: string, c: Candidate): string | undefined {
  const s = text.slice(c.sentence.start, c.sentence.end);
  const a = c.start - c.sentence.start;
  if (c.table) return (s.slice(0, a) + BLANK + s.slice(a + c.answer.length)).replace(/\s+/g, " ").replace(/"/g, "'").trim();
  const escaped = c.answer.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  // Other mentions of the answer would give it away; "40" must not blank part of "140" or "40.5".
  const blanked = (s.slice(0, a) + BLANK + s.slice(a + c.answer.length))
    .replace(new RegExp(`(?<![\\w.,])${escaped}(?![\\w]|[.,]\\d)`, "g"), BLANK)
    .replace(/\s+/g, " ")
    .replace(/"/g, "'");
  const trim = (q: string) => q.replace(/^[,;:\s]+/, "").replace(/[\s,;:.]+$/, "");
  // Grow from the clause holding the blank to its neighbours while the quote stays short enough.
  const grow = (parts: string[], limit: number) => {
    const at = parts.findIndex((p) => p.includes(BLANK));
    const length = (from: number, to: number) => parts.slice(from, to).join(" ").length;
    let from = at;
    let to = at + 1;
    for (let grew = true; grew; ) {
      grew = false;
      if (to < parts.length && length(from, to + 1) <= limit) (to++, (grew = true));
      if (from > 0 && length(from - 1, to) <= limit) (from--, (grew = true));
    }
    return { text: trim(parts.slice(from, to).join(" ")), cutLeft: from > 0, cutRight: to < parts.length };
  };
  let q = grow(blanked.split(/(?<=[,;:])\s+|\s+(?=\u2014)/), MAX_QUOTE).text;
  if (q.length > MAX_QUOTE) {
    // One clause too long: keep the words nearest the blank.
    const words = grow(q.split(" "), MAX_QUOTE - 8);
    q = (words.cutLeft ? "... " : "") + words.text + (words.cutRight ? " ..." : "");
  }
  const otherWords = q.split(/\s+/).filter((w) => /[A-Za-z]{2}/.test(w) && !w.includes(BLANK));
  return otherWords.length >= 4 ? q : undefined;
}

/** The nearest heading above the sentence, from the target chunk or the chunks before it in the window. */
function headingFor(task: QuestionsTask, targetIndex: number, before: number): string | undefined {
  for (let w = targetIndex; w >= 0; w--) {
    const text = task.window[w].text;
    const lines = (w === targetIndex ? text.slice(0, before) : text).split("\n");
    for (let i = lines.length - 1; i >= 0; i--) {
      if (!isHeading(lines[i])) continue;
      const title = lines[i]
        .replace(/^#+\s*/, "")
        .replace(/^(?:\(?[A-Za-z0-9]{1,3}\)|[A-Z]?\.?[0-9lI]+(?:\.[0-9lI]+)*\.?)\s+/, "")
        .replace(/\s+/g, " ")
        .trim();
      if (title.length < 3 || title.length > 80 || !/[A-Za-z]{3}/.test(title) || title.includes("|")) return undefined;
      return title.replace(/"/g, "'");
    }
  }
  return undefined;
}

const ASKED: Record<AnswerType, string> = { number: "value", date: "date", name: "name", term: "term" };

/**
 * Up to `task.count` cloze questions about the target chunk; fewer (possibly none) when the chunk has
 * fewer candidates. `task.attempt` rotates where in the candidate list picking starts.
 */
export function builtinQuestions(task: QuestionsTask): BuiltinQuestion[] {
  const targetIndex = task.window.findIndex((c) => c.chunk_id === task.target);
  if (targetIndex < 0) throw new Error(`builtin generator: target ${task.target} is not in the window`);
  const text = task.window[targetIndex].text;
  const candidates = chunkCandidates(text);
  const perType = new Map<AnswerType, Set<string>>();
  for (const c of candidates) {
    if (!perType.has(c.type)) perType.set(c.type, new Set());
    perType.get(c.type)!.add(c.answer.toLowerCase());
  }
  const n = candidates.length;
  const shift = n ? (task.attempt * Math.max(1, task.count)) % n : 0;
  const ordered = [...candidates.slice(shift), ...candidates.slice(0, shift)];
  const questions: BuiltinQuestion[] = [];
  const answers = new Set<string>();
  const sentencesUsed = new Set<number>(); // by start offset
  // First distinct answers from distinct sentences, then distinct answers from any sentence.
  for (const distinctSentences of [true, false]) {
    for (const c of ordered) {
      if (questions.length >= task.count) break;
      const key = c.answer.toLowerCase();
      if (answers.has(key) || (distinctSentences && sentencesUsed.has(c.sentence.start))) continue;
      const q = quote(text, c);
      if (!q) continue;
      const heading = headingFor(task, targetIndex, c.sentence.start);
      const section = heading && !heading.toLowerCase().includes(key) ? ` from the section "${heading}"` : "";
      const where = c.table
        ? `this table row${section}${c.table.header ? ` (columns: ${c.table.header.replace(/"/g, "'")})` : ""}`
        : `this statement${section}`;
      answers.add(key);
      sentencesUsed.add(c.sentence.start);
      questions.push({
        question: `Which ${ASKED[c.type]} fills the blank in ${where}: "${q}"?`,
        answer: c.answer,
        difficulty: difficultyOf(perType.get(c.type)!.size),
        source: task.target,
      });
    }
  }
  return questions;
}
