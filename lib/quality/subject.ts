import * as path from "node:path";

/**
 * The corpus's subject: what every chunk is about without saying it (the Apollo 13 report's pages say "the
 * mission", not "Apollo 13"). A rewrite that names it brings no new name: kit build passes the corpus's file or
 * folder name and its first heading as CheckOptions.subject.
 */

/** The subject of a corpus: its file or folder name ("apollo13_mission_report.md" -> "apollo 13 mission report") and its first markdown heading. */
export function corpusSubject(corpusPath: string, documents: readonly { text: string }[]): string[] {
  const name = path.basename(corpusPath).replace(/\.(?:md|markdown)$/i, "");
  const heading = documents.map((d) => /^#{1,6}\s+(.+)$/m.exec(d.text)?.[1]).find(Boolean);
  return [name.replace(/[_\-.]+/g, " "), ...(heading ? [heading.trim()] : [])];
}

/** The subject's words, lower case, letters apart from digits ("apollo13" -> "apollo", "13"). */
export function subjectWords(subject: readonly string[]): Set<string> {
  return new Set(subject.flatMap((s) => s.toLowerCase().match(/\p{L}+|\d+/gu) ?? []));
}

/**
 * The text without the subject's numbers where they follow one of its words ("Apollo 13" -> "Apollo"): the number
 * is part of the name. Elsewhere ("13 minutes") it is a number like any other.
 */
export function withoutSubjectNumbers(text: string, words: ReadonlySet<string>): string {
  return text.replace(/(\p{L}+)([\s-]*)(\d+)\b/gu, (all, word: string, _gap: string, digits: string) =>
    words.has(word.toLowerCase()) && words.has(String(Number(digits))) ? word : all,
  );
}
