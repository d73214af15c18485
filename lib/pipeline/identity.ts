import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { digestFile } from "../files";

/**
 * Who made a file: the build (its id) and a hash of the inputs that made it. A build run again with the same
 * inputs keeps its id, so a resumed build writes the same bytes as an uninterrupted one.
 */
export interface BuildStamp {
  id: string;
  inputs: string;
}

/** What build.json records of each stage: the hash of its inputs and the sha256 of every file it wrote (paths relative to the dataset). */
export interface StageRecord {
  inputs: string;
  files: Record<string, string>;
}

/** A new build's id: when it started, and a random part so two builds in one second differ. */
export function newBuildId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]|\.\d+Z$/g, "")}-${randomBytes(3).toString("hex")}`;
}

/** sha256 of values as JSON: the inputs hash of a stage. */
export function digestOf(...parts: unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

/** sha256 of each file under `root` named in `names` (a folder stands for every file in it), keyed by path relative to `root`. */
export function digestFiles(root: string, names: readonly string[]): Record<string, string> {
  const digests: Record<string, string> = {};
  for (const name of names) {
    const at = path.join(root, name);
    const files = fs.statSync(at).isDirectory() ? fs.readdirSync(at).sort().map((f) => `${name}/${f}`) : [name];
    for (const file of files) digests[file] = digestFile(path.join(root, file));
  }
  return digests;
}

/** The first recorded file whose bytes on disk are not the recorded ones (a missing file counts), if any. */
export function changedFile(root: string, digests: Record<string, string>): string | undefined {
  return Object.keys(digests).find((file) => !fs.existsSync(path.join(root, file)) || digestFile(path.join(root, file)) !== digests[file]);
}

/** A stage done before, with these inputs, whose files are still as it wrote them: the stage need not run again. */
export function reusable(root: string, previous: StageRecord | undefined, inputs: string): previous is StageRecord {
  return previous?.inputs === inputs && changedFile(root, previous.files) === undefined;
}

