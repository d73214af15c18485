import * as fs from "node:fs";
import * as path from "node:path";
import { KitError } from "./errors";

/** One loaded source file: `text` is what the chunker sees, and what chunk offsets point into. */
export interface Document {
  /** The file's path relative to the corpus root (its name, for a single-file corpus): no machine's paths leak into a dataset. */
  source: string;
  text: string;
}

const MARKDOWN = /\.(md|markdown)$/i;

/** Loads a markdown file, or every markdown file under a folder (sorted, each its own source). */
export function loadCorpus(corpusPath: string): Document[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(corpusPath);
  } catch {
    throw new KitError(`corpus ${corpusPath}: no such file or folder; pass a .md file or a folder of .md files`);
  }
  if (!stat.isDirectory()) return [{ ...loadMarkdownFile(corpusPath), source: path.basename(corpusPath) }];
  const files = listMarkdown(corpusPath);
  if (!files.length) throw new KitError(`corpus ${corpusPath} is a folder with no .md files; pass a .md file or a folder holding some`);
  return files.map((file) => ({ ...loadMarkdownFile(file), source: path.relative(corpusPath, file) }));
}

function listMarkdown(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((name) => MARKDOWN.test(name) && fs.statSync(path.join(dir, name)).isFile())
    .sort()
    .map((name) => path.join(dir, name));
}

export function loadMarkdownFile(file: string): Document {
  const bytes = fs.readFileSync(file);
  if (bytes.includes(0)) throw new KitError(`corpus ${file} holds binary data (a NUL byte); pass a UTF-8 markdown file`);
  let raw: string;
  try {
    raw = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new KitError(`corpus ${file} is not valid UTF-8; convert it (e.g. iconv -t UTF-8) and try again`);
  }
  const text = markdownToText(raw);
  if (!text.trim()) throw new KitError(`corpus ${file} is empty; pass a markdown file with text in it`);
  return { source: file, text };
}

/**
 * Markdown as text a chunker and a language model can use: HTML tables become one line per row
 * with cells joined by " | ", images and HTML comments go, headings and everything else stay.
 */
export function markdownToText(markdown: string): string {
  return markdown
    .replace(/^\uFEFF/, "")
    .replace(/\r\n?/g, "\n")
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/<table\b[\s\S]*?(<\/table>|$)/gi, tableToRows)
    .replace(/<\/?(html|body)>/gi, "")
    .replace(/!\[[^\]\n]*\]\([^)\n]*\)/g, "")
    .replace(/<img\b[^>]*>/gi, "")
    .replace(/[ \t]+$/gm, "")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

function tableToRows(table: string): string {
  const rows = [...table.matchAll(/<tr\b[^>]*>([\s\S]*?)(?=<tr\b|<\/table>|$)/gi)].map(([, row]) =>
    [...row.matchAll(/<t[dh]\b[^>]*>([\s\S]*?)(?=<t[dh]\b|<\/tr>|$)/gi)].map(([, cell]) => cellText(cell)).join(" | "),
  );
  return "\n" + rows.filter((r) => r.replace(/[ |]/g, "") !== "").join("\n") + "\n";
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " };

function cellText(cell: string): string {
  return cell
    .replace(/<[^>]*>/g, " ")
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, decodeEntity)
    .replace(/\s+/g, " ")
    .trim();
}

function decodeEntity(entity: string, name: string): string {
  if (name[0] !== "#") return ENTITIES[name.toLowerCase()] ?? entity;
  const hex = name[1] === "x" || name[1] === "X";
  const code = parseInt(name.slice(hex ? 2 : 1), hex ? 16 : 10);
  return code <= 0x10ffff ? String.fromCodePoint(code) : entity;
}
