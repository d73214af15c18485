// Text handling of the builtin generator: paragraphs and lines kept verbatim, sentences, and tagged tokens.
import { tagTerms } from "../../tagging";


/** Rows of tables become `cell | cell` lines (lib/corpus.ts); they are data, not sentences. */
export const isTableLine = (line: string) => line.includes("|");
export const isHeading = (line: string) => /^#{1,6}\s/.test(line);

export interface Block {
  kind: "prose" | "keep";
  start: number;
  end: number;
}

/** A markdown list item's marker and checkbox: "- ", "1. ", "* [x] ". */
export const LIST_ITEM = /^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?/;

const FENCE = /^\s*(?:```|~~~)/;
/** Lines of source code: comments, braces, statements. */
const CODE_LINE = /^\s*(?:\/\/|\/\*|\*\/|[{}()[\]]|(?:func|import|package|const|type|var|return|def|class)\b)|[{};]\s*$|^\s*\w+ :?= /;

/**
 * Splits text into paragraphs of prose lines (each list item its own) and lines kept verbatim:
 * tables, headings, blank lines, fenced code and other code lines.
 */
export function blocks(text: string): Block[] {
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

export interface Span {
  start: number;
  end: number;
}

// Words whose trailing period does not end a sentence.
const ABBREVIATIONS = new Set(
  "fig figs ref refs no nos vs approx ca cf dr mr mrs ms st e.g i.e etc eq eqs vol al jan feb mar apr jun jul aug sep sept oct nov dec inc co corp ltd sta max temp".split(" "),
);

/** Sentence spans inside text[from, to): a period, ! or ? then space then a capital, unless an abbreviation or an initial. */
export function sentences(text: string, from: number, to: number): Span[] {
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

export interface Token {
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
export function tokenize(sentence: string): Token[] {
  let tokens = tokenCache.get(sentence);
  if (!tokens) {
    tagAll([sentence]);
    tokens = tokenCache.get(sentence)!;
  }
  return tokens;
}

/**
 * Tags the sentences not in the cache, all at once (lib/tagging.ts), and caches their tokens.
 */
export function tagAll(sentences: readonly string[]): void {
  const missing = [...new Set(sentences)].filter((s) => !tokenCache.has(s));
  if (!missing.length) return;
  if (tokenCache.size + missing.length > TOKEN_CACHE_SIZE) tokenCache.clear();
  const tagged = tagTerms(missing, { roots: true });
  missing.forEach((sentence, k) => {
    // Offsets within the sentence, as compromise's compute("offset") gives them for a document of one sentence.
    const terms: TaggedTerm[] = [];
    let elapsed = 0;
    for (const term of tagged[k]) {
      terms.push({ start: elapsed + term.pre.length, length: term.text.length, tags: term.tags, root: term.root, normal: term.normal });
      elapsed += term.pre.length + term.text.length + term.post.length;
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

export const hasTag = (t: Token, ...tags: string[]) => tags.some((tag) => t.tags.has(tag));
