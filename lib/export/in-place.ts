import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { version as KIT_VERSION } from "../../package.json";
import { KitError } from "../errors";
import { ensureDir, TEMP_MARK, writeFileAtomic } from "../files";

/**
 * An export is updated in place, so a folder kept as a Hugging Face repo clone keeps its `.git`, its
 * `.gitattributes` and the files the user added: the export is written into a staging folder inside `out`,
 * then moved in file by file, and only files an earlier export wrote (listed in its marker) are removed.
 */

// Only an export folder carries this file, so --force never writes into any other folder. It lists the
// files the export wrote and each one's sha256, which tells a README.md the user edited from the card.
export const MARKER = ".kit-export";
const README = "README.md";
const LOCK = ".kit.lock";
// What a fresh `git clone` of an empty Hugging Face dataset repo holds (the Hub may add a README.md).
const CLONE_FILES = new Set([".git", ".gitattributes", README]);

interface Marker {
  written_by: "kit export";
  kit_version: string;
  dataset: string;
  /** File (relative, "/"-separated) -> its sha256; null: an earlier kit's export wrote it, unhashed. */
  files: Record<string, string | null>;
}

/** The staging folder of this process's export. */
export const stagingDir = (out: string) => path.join(out, `${MARKER}-new${TEMP_MARK}${process.pid}`);
// The staging folders and marker temp files of interrupted exports.
const isLeftover = (name: string) => name.startsWith(MARKER) && name.includes(TEMP_MARK);

/**
 * Refuses an `out` the export may not write into: an existing folder without --force, or one that is
 * neither an export nor a fresh repo clone. The lock and the staging folder of an interrupted export
 * do not count, so a re-run completes it.
 */
export function checkOut(out: string, label: string, force: boolean): void {
  if (!fs.existsSync(out)) return;
  const entries = fs.statSync(out).isDirectory() ? fs.readdirSync(out).filter((name) => name !== LOCK && !isLeftover(name)) : [label];
  if (!entries.length) return;
  if (!force) throw new KitError(`${label} already exists; pass --force to replace it`);
  if (!entries.includes(MARKER) && !entries.every((name) => CLONE_FILES.has(name))) {
    throw new KitError(`${label} is not a kit export (it has no ${MARKER}), so --force will not replace it; choose another --out`);
  }
}

/** Removes what interrupted exports left in `out` (the caller holds its lock, so none is live). */
export function removeLeftovers(out: string): void {
  for (const name of fs.readdirSync(out)) if (isLeftover(name)) fs.rmSync(path.join(out, name), { recursive: true, force: true });
}

/**
 * Moves the staged export into `out`, file by file, and removes what the last export wrote that this one
 * does not. A README.md that is not the last export's card is kept unless `overwriteReadme`; the new card
 * is then dropped. Returns notices for the user.
 */
export function installExport(staging: string, out: string, dataset: string, overwriteReadme: boolean): string[] {
  const notices: string[] = [];
  const written = Object.fromEntries(listFiles(staging).sort().map((file) => [file, sha256(path.join(staging, file))]));
  const previous = previousFiles(out, new Set(Object.keys(written).map((file) => file.split("/")[0])));
  const marker = (files: Marker["files"]) => writeFileAtomic(path.join(out, MARKER), JSON.stringify({ written_by: "kit export", kit_version: KIT_VERSION, dataset: path.basename(dataset), files } satisfies Marker, null, 2) + "\n");
  const { [README]: card, ...data } = written;
  const recorded = previous[README];
  // Listed first, so an export interrupted below leaves a marker that names every file it may have moved in.
  marker({ ...previous, ...data });
  for (const file of Object.keys(data)) moveIn(staging, out, file);
  for (const file of Object.keys(previous)) if (!(file in written)) removeWritten(out, file);

  const onDisk = path.join(out, README);
  // A README equal to the new card is the one an interrupted run moved in before writing its marker.
  const ours = !fs.existsSync(onDisk) || overwriteReadme || [recorded, card].includes(sha256(onDisk));
  if (ours) moveIn(staging, out, README);
  else notices.push(`${README} ${recorded ? "was edited since the last export" : "was not written by kit export"}; kept it (pass --overwrite-readme to replace it with the new card)`);
  marker({ ...data, ...(ours ? { [README]: card } : recorded ? { [README]: recorded } : {}) });
  return notices;
}

/**
 * The files the last export into `out` wrote, from its marker. An earlier kit's marker is text, without a
 * list: every file under the names this export writes at the top level counts as the kit's, except
 * README.md, which has no checksum to tell an edit by and so is the user's.
 */
function previousFiles(out: string, topLevel: Set<string>): Marker["files"] {
  const file = path.join(out, MARKER);
  if (!fs.existsSync(file)) return {};
  const text = fs.readFileSync(file, "utf8");
  try {
    const marker = JSON.parse(text) as Marker;
    if (marker.files && typeof marker.files === "object") return marker.files;
  } catch {
    // the text marker of an earlier kit
  }
  const files = [...topLevel].filter((name) => name !== README).flatMap((name) => listFiles(out, name));
  return Object.fromEntries(files.map((f) => [f, null]));
}

function moveIn(staging: string, out: string, file: string): void {
  const target = path.join(out, file);
  ensureDir(path.dirname(target), "--out");
  fs.renameSync(path.join(staging, file), target);
}

/** Removes a file an earlier export wrote, then its folders if that left them empty. Never outside `out` or in `.git`. */
function removeWritten(out: string, file: string): void {
  const target = path.resolve(out, file);
  const relative = path.relative(out, target);
  if (relative.startsWith("..") || path.isAbsolute(relative) || relative.split(path.sep)[0] === ".git") return;
  if (!fs.lstatSync(target, { throwIfNoEntry: false })?.isFile()) return;
  fs.rmSync(target);
  for (let dir = path.dirname(target); dir !== out && !fs.readdirSync(dir).length; dir = path.dirname(dir)) fs.rmdirSync(dir);
}

/** Files under `dir` (or only under its entry `under`), relative and "/"-separated. */
function listFiles(dir: string, under = ""): string[] {
  const stat = fs.lstatSync(path.join(dir, under), { throwIfNoEntry: false });
  if (stat?.isFile()) return [under];
  if (!stat?.isDirectory()) return [];
  return fs.readdirSync(path.join(dir, under)).flatMap((name) => listFiles(dir, under ? `${under}/${name}` : name));
}

/** A file's sha256, read a block at a time (an index runs to gigabytes). */
function sha256(file: string): string {
  const hash = createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const block = Buffer.alloc(1 << 20);
    for (let read; (read = fs.readSync(fd, block)) > 0; ) hash.update(block.subarray(0, read));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest("hex");
}
