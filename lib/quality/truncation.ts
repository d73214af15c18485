/**
 * Paraphrases that stop where a model's token limit stopped them ("These modifications aimed to"). Chosen on the
 * dev rows of test/fixtures/truncation-cases.jsonl. Markdown ends are not sentences: an original ending in a list
 * item, a table, a heading or a code block says nothing about how its paraphrase's last line should end, so the
 * punctuation test compares with the original's last prose line, and structure is checked for being closed.
 */

/** Words a sentence does not end on: articles, prepositions, conjunctions, auxiliaries, determiners. */
const DANGLING = new Set(
  (
    "a an the of to in on at by for with from into onto about as than through between via per over under within without during after before " +
    "and or but nor because since while whereas although that which who whose whether if when where " +
    "is are was were be been being has have had will would can could should may might must shall do does did " +
    "its their his her this these those our your such each every any no not also both either neither"
  ).split(" "),
);

const FENCE = /^\s*(```|~~~)/;
const HEADING = /^\s{0,3}#{1,6}\s/;
const TABLE_ROW = /^\s*\|/;
const HTML = /^\s*</;
const LIST_ITEM = /^\s*([-*+]|\d+[.)])\s/;
/** Closing marks after a sentence's last word or punctuation: emphasis, quotes, brackets. */
const CLOSERS = /[\s*_"'”’)\]]+$/;
const TERMINAL = /[.!?:;…]$/;

/** Lines outside code blocks. */
function proseLines(text: string): string[] {
  const lines: string[] = [];
  let code = false;
  for (const line of text.split("\n")) {
    if (FENCE.test(line)) code = !code;
    else if (!code && line.trim()) lines.push(line.trim());
  }
  return lines;
}

const fences = (text: string) => text.split("\n").filter((l) => FENCE.test(l)).length;
const count = (text: string, pattern: RegExp) => text.match(pattern)?.length ?? 0;

/** A bracket or backtick the text opens and does not close, where the original closes all of its own. */
function leftOpen(original: string, tail: string): string | undefined {
  const pairs: [string, RegExp, RegExp][] = [
    ["parenthesis", /\(/g, /\)/g],
    ["square bracket", /\[/g, /\]/g],
    ["code span", /`/g, /`/g],
  ];
  for (const [name, open, close] of pairs) {
    const balanced = (t: string) => (open === close ? count(t, open) % 2 === 0 : count(t, open) <= count(t, close));
    if (balanced(original) && !balanced(tail)) return `a ${name} left open`;
  }
  return undefined;
}

/**
 * Why `paraphrase` looks cut off where `original` is not, or undefined: a code block, HTML table, table row,
 * bracket or code span left open; a last line ending on a comma, colon or the like (unless the original ends so),
 * or on a word no sentence ends on ("to", "and", "the"); or no closing punctuation where the original's prose has it.
 */
export function cutOff(original: string, paraphrase: string): string | undefined {
  const text = paraphrase.trim();
  const quote = `"...${text.split(/\s+/).slice(-5).join(" ")}"`;
  const cut = (why: string) => `cut off mid-sentence (${why}): ${quote}`;
  if (fences(text) % 2 === 1 && fences(original) % 2 === 0) return cut("a code block left open");
  if (count(text, /<table/g) > count(text, /<\/table>/g) && count(original, /<table/g) === count(original, /<\/table>/g)) return cut("a table left open");
  // A closed code block, a heading or HTML at the end is structure, not a sentence.
  const tail = text.split("\n").at(-1)!.trim();
  if (FENCE.test(tail) || HEADING.test(tail) || HTML.test(tail)) return undefined;
  if (TABLE_ROW.test(tail)) return tail.endsWith("|") ? undefined : cut("a table row left open");
  // The last paragraph, so that a bracket opened on an earlier wrapped line counts.
  const open = leftOpen(original, text.split(/\n\s*\n/).at(-1) ?? tail);
  if (open) return cut(open);

  const end = tail.replace(CLOSERS, "");
  const originalLast = proseLines(original).filter((l) => !HEADING.test(l) && !TABLE_ROW.test(l) && !HTML.test(l)).at(-1) ?? "";
  const originalEnd = originalLast.replace(CLOSERS, "");
  const mark = /[,;:\-–—/&]$/.exec(end)?.[0];
  if (mark) return originalEnd.endsWith(mark) ? undefined : cut(`ends on "${mark}"`);
  if (TERMINAL.test(end)) return undefined;
  const lastWord = (line: string) => /([\p{L}']+)$/u.exec(line)?.[1].toLowerCase();
  const word = lastWord(end);
  if (word && DANGLING.has(word) && lastWord(originalEnd) !== word) return cut(`ends on "${word}"`);
  // A paraphrase that turns prose into a list may leave its items unpunctuated, as lists often are.
  if (LIST_ITEM.test(tail) && !LIST_ITEM.test(originalLast)) return undefined;
  if (TERMINAL.test(originalEnd)) return cut("no closing punctuation where the original has it");
  return undefined;
}
