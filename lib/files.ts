import * as fs from "node:fs";
import * as path from "node:path";
import { KitError } from "./errors";

/** Writes through a temp file and a rename, so a crash never leaves a half-written file behind. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** Reads a JSON-lines file; a bad line is a one-line error naming the file and line. */
export function readJsonl<T>(file: string): T[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new KitError(`${file}: cannot read it (missing or not a file)`);
  }
  const rows: T[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      rows.push(JSON.parse(line) as T);
    } catch {
      throw new KitError(`${file}:${i + 1}: not valid JSON; each line must be one JSON object`);
    }
  });
  return rows;
}

export function toJsonl(rows: readonly unknown[]): string {
  return rows.map((r) => JSON.stringify(r)).join("\n") + (rows.length ? "\n" : "");
}
