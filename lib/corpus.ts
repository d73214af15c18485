import * as fs from "node:fs";
import * as path from "node:path";
import { KitError } from "./errors";
import { describeFsError } from "./files";

/** One loaded source file: `text` is what the chunker sees, and what chunk offsets point into. */
export interface Document {
  /** The file's path relative to the corpus root (its name, for a single-file corpus): no machine's paths leak into a dataset. */
  source: string;
  text: string;
}

const MARKDOWN = /\.(md|markdown)$/i;

/** A symbolic link in a corpus folder that was not read, and why. */
export interface SkippedLink {
  /** The link's path relative to the corpus root. */
  source: string;
  /** outside: it leads out of the folder; loop: to itself or a folder holding it; dangling: to nothing; duplicate: to a file or folder read anyway. */
  reason: "outside" | "loop" | "dangling" | "duplicate";
}

export interface LoadOptions {
  /** Told of each symlink not followed, in path order; a build counts them in its summary. */
  onSkip?: (link: SkippedLink) => void;
}

const REASONS: Record<SkippedLink["reason"], string> = {
  outside: "outside the folder",
  loop: "loop",
  dangling: "dangling",
  duplicate: "duplicate",
};

/** "3 symlinks skipped (2 outside the folder, 1 loop)", or "" for none: for a summary line. */
export function describeSkipped(skipped: readonly SkippedLink[]): string {
  if (!skipped.length) return "";
  const counts = new Map<string, number>();
  for (const s of skipped) counts.set(REASONS[s.reason], (counts.get(REASONS[s.reason]) ?? 0) + 1);
  const parts = [...counts].map(([reason, n]) => `${n} ${reason}`).join(", ");
  return `${skipped.length} symlink${skipped.length === 1 ? "" : "s"} skipped (${parts})`;
}

/**
 * Loads a markdown file, or every markdown file under a folder (sorted, each its own source). In a
 * folder, symlinks are followed only to files inside it that are not read otherwise, each once:
 * a corpus is what the folder holds, and all of it goes to the LLM.
 */
export function loadCorpus(corpusPath: string, options: LoadOptions = {}): Document[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(corpusPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw new KitError(`corpus ${corpusPath} is a symlink loop; pass a .md file or a folder of .md files`);
    throw new KitError(`corpus ${corpusPath}: no such file or folder; pass a .md file or a folder of .md files`);
  }
  if (stat.isFile()) return [{ ...loadMarkdownFile(corpusPath), source: path.basename(corpusPath) }];
  // A FIFO or a device would block the read forever (or never end): only files and folders are corpora.
  if (!stat.isDirectory()) throw new KitError(`corpus ${corpusPath} is not a regular file or a folder (a pipe or a device?); pass a .md file or a folder of .md files`);
  const sources = listMarkdown(corpusPath, options.onSkip ?? (() => {}));
  if (!sources.length) throw new KitError(`corpus ${corpusPath} is a folder with no .md files; pass a .md file or a folder holding some`);
  return sources.map((source) => ({ ...loadMarkdownFile(path.join(corpusPath, source)), source }));
}

/** The markdown files under `root`, as sorted paths relative to it. */
function listMarkdown(root: string, onSkip: (link: SkippedLink) => void): string[] {
  const files: string[] = [];
  const links: string[] = [];
  // Symlinked folders are never entered: that is what keeps a link loop from reading files forever.
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const name = path.join(dir, entry.name);
      if (entry.isSymbolicLink()) links.push(name);
      else if (entry.isDirectory()) walk(name);
      else if (entry.isFile() && MARKDOWN.test(name)) files.push(name);
    }
  };
  walk("");
  const rootReal = fs.realpathSync(root);
  // Real paths of what is read: reaching a file took no link, so its real path is the root's plus its own.
  const read = new Set(files.map((f) => path.join(rootReal, f)));
  for (const link of links.sort()) {
    let real: string;
    let stat: fs.Stats;
    try {
      real = fs.realpathSync(path.join(root, link));
      stat = fs.statSync(real);
    } catch (err) {
      if (MARKDOWN.test(link)) onSkip({ source: link, reason: (err as NodeJS.ErrnoException).code === "ELOOP" ? "loop" : "dangling" });
      continue;
    }
    if (stat.isDirectory()) {
      // Whatever a link to a folder inside the corpus leads to is read anyway, from its real place.
      const reason = !within(rootReal, real) ? "outside" : within(real, path.join(rootReal, path.dirname(link))) ? "loop" : "duplicate";
      onSkip({ source: link, reason });
    } else if (stat.isFile() && MARKDOWN.test(link)) {
      if (!within(rootReal, real)) onSkip({ source: link, reason: "outside" });
      else if (read.has(real)) onSkip({ source: link, reason: "duplicate" });
      else {
        read.add(real);
        files.push(link);
      }
    }
  }
  return files.sort();
}

/** Whether `file` is `dir` or under it (both real paths). */
function within(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== ".." && !rel.startsWith(".." + path.sep) && !path.isAbsolute(rel);
}

export function loadMarkdownFile(file: string): Document {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    // A file removed (or made unreadable) between listing the folder and reading it.
    throw new KitError(`corpus ${file}: cannot read it (${describeFsError(err)}); check the corpus is not changing and run again`);
  }
  const utf16 = utf16Encoding(bytes);
  if (utf16) {
    throw new KitError(`corpus ${file} is ${utf16}, not UTF-8; convert it: iconv -f ${utf16} -t UTF-8 "${file}" > "${file}.utf8" && mv "${file}.utf8" "${file}"`);
  }
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
 * The encoding to name to iconv if `bytes` are UTF-16: "UTF-16" after a byte order mark (iconv reads
 * the order from it), else "UTF-16LE" or "UTF-16BE" when NULs fill every other byte of the first KB,
 * as they do in UTF-16 Latin text and in nothing that is binary or UTF-8 (8 pairs at least: fewer
 * bytes prove nothing).
 */
function utf16Encoding(bytes: Buffer): string | undefined {
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) return "UTF-16";
  const pairs = Math.min(bytes.length, 1024) >> 1;
  if (pairs < 8) return undefined;
  const nuls = [0, 0]; // NULs at even and at odd offsets
  for (let i = 0; i < pairs * 2; i++) if (bytes[i] === 0) nuls[i & 1]++;
  if (nuls[1] >= pairs / 2 && nuls[0] <= nuls[1] / 10) return "UTF-16LE";
  if (nuls[0] >= pairs / 2 && nuls[1] <= nuls[0] / 10) return "UTF-16BE";
  return undefined;
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
