import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { KitError } from "./errors";

/**
 * Writes through a temp file and a rename, so a crash never leaves a half-written file behind; a failed
 * write (a full disk, say) removes its temp file and is a one-line error naming the file.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  ensureDir(path.dirname(file));
  const tmp = `${file}${TEMP_MARK}${process.pid}`;
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new KitError(`cannot write ${file}: ${describeFsError(err)}`);
  }
}

/** What temp files and folders carry in their name (and the writer's PID), so a later run can remove them. */
export const TEMP_MARK = ".tmp-";
const TEMP_NAME = /\.tmp-(\d+)$/;

/** A file-system error as the end of a one-line message: what happened and what to do. */
export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const hint: Record<string, string> = {
    ENOSPC: "no space left on the device; free some and run again",
    EDQUOT: "disk quota exceeded; free some space and run again",
    EACCES: "permission denied; choose a folder you can write to",
    EPERM: "not permitted; choose a folder you can write to",
    EROFS: "the file system is read-only; choose another folder",
    ENOENT: "no such file or folder (was it removed meanwhile?)",
    ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    EISDIR: "it is a folder; give a file path",
  };
  return (code && hint[code]) ?? (err as Error).message.split("\n")[0];
}

/**
 * Makes a folder and its missing parents one level at a time: Node's recursive mkdir spins forever under
 * /proc and similar file systems, and a file in the way deserves a clear error. `what` names the option.
 */
export function ensureDir(dir: string, what = "folder"): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  while (!fs.existsSync(at)) {
    missing.unshift(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  if (fs.existsSync(at) && !fs.statSync(at).isDirectory()) throw new KitError(`${what} ${dir}: ${at} is a file, not a folder; choose another path`);
  for (const folder of missing) {
    try {
      fs.mkdirSync(folder);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST" && fs.statSync(folder).isDirectory()) continue;
      throw new KitError(`${what} ${dir}: cannot create ${folder}: ${describeFsError(err)}`);
    }
  }
}

/** Checks a folder can take `bytes` more (with a margin), before a write that cannot fail cleanly (FAISS aborts the process). */
export function assertFreeSpace(dir: string, bytes: number, what: string): void {
  const stats = fs.statfsSync(dir);
  const free = stats.bavail * stats.bsize;
  // Twice the size: the new file is written beside the one it replaces.
  if (free < 2 * bytes + (1 << 20)) throw new KitError(`not enough space for ${what} in ${dir}: ${Math.ceil(bytes / 2 ** 20)} MiB needed, ${Math.floor(free / 2 ** 20)} MiB free; free some space and run again`);
}

/**
 * Removes the temp files and folders that an interrupted kit run left in `dir`: those with the mark of a process
 * that is gone and, given `names` (paths relative to `dir`, e.g. "chunks.jsonl" or "env/merged"), named after one
 * of them. In a folder the user shares with the kit, any other `*.tmp-<digits>` is someone else's and stays; leave
 * `names` out only for a folder the kit alone writes (a cache).
 */
export function removeStaleTemps(dir: string, names?: readonly string[]): void {
  if (!fs.existsSync(dir)) return;
  const ours = names && new Set(names);
  for (const name of fs.readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    const match = TEMP_NAME.exec(name);
    if (!match || isAlive(Number(match[1]))) continue;
    if (!ours || ours.has(name.slice(0, -match[0].length).replace(/\.old$/, ""))) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** When a process started, in clock ticks since boot (Linux's /proc/<pid>/stat field 22); undefined where unknown. */
function startTime(pid: number): string | undefined {
  try {
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

const LOCK_FILE = ".kit.lock";

/**
 * The PID of the live kit process holding `dir`'s lock, if any. A lock records its holder's PID and start time,
 * so a PID the system has since given to another program (a reboot, a long-dead build) is not taken for the kit.
 */
export function lockHolder(dir: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, LOCK_FILE), "utf8");
  } catch {
    return undefined;
  }
  const [pid, started] = text.split("\n").map((s) => s.trim());
  const holder = Number(pid);
  if (!Number.isInteger(holder) || holder <= 0 || !isAlive(holder)) return undefined;
  if (started) return startTime(holder) === started ? holder : undefined;
  // A lock of kit 0.2 has no start time: a holder that is not Node is another program that got the PID.
  try {
    return fs.readFileSync(`/proc/${holder}/cmdline`, "utf8").includes("node") ? holder : undefined;
  } catch {
    return holder;
  }
}

/**
 * Takes `dir`'s lock file for this process, so a second run into the same folder fails at once naming
 * the process that holds it. A stale lock (its process gone, or its PID now another program's) is taken over,
 * with a notice. Returns the release.
 */
export function acquireLock(dir: string, what: string, notice: (line: string) => void): () => void {
  ensureDir(dir, what);
  const file = path.join(dir, LOCK_FILE);
  for (;;) {
    try {
      fs.writeFileSync(file, `${process.pid}\n${startTime(process.pid) ?? ""}\n`, { flag: "wx" });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new KitError(`${what} ${dir}: cannot take its lock: ${describeFsError(err)}`);
      const holder = lockHolder(dir);
      if (holder && holder !== process.pid) {
        throw new KitError(`${dir} is in use by another kit process (PID ${holder}, ${file}); wait for it to finish or choose another ${what}`);
      }
      const recorded = Number(fs.readFileSync(file, "utf8").split("\n")[0]) || "?";
      notice(`${dir}: taking over the lock of process ${recorded}, which is gone${isAlive(Number(recorded)) ? " (its PID now belongs to another program)" : ""}`);
      fs.rmSync(file, { force: true });
    }
  }
  return () => fs.rmSync(file, { force: true });
}

// JSON-lines files are read and written this many bytes at a time: a build's paraphrases.jsonl runs to hundreds of
// megabytes, which as one string (and its lines as another array) would double a whole-corpus build's peak memory.
const JSONL_BLOCK = 8 << 20;

/**
 * Reads a JSON-lines file block by block, keeping the rows `keep` accepts (all by default), so a caller wanting a
 * few rows of a large file never holds the rest; a bad line is a one-line error naming the file and line.
 */
export function readJsonl<T>(file: string, keep: (row: T) => boolean = () => true): T[] {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
    if (!fs.fstatSync(fd).isFile()) throw new Error();
  } catch {
    throw new KitError(`${file}: cannot read it (missing or not a file)`);
  }
  const rows: T[] = [];
  let lineNumber = 0;
  const parse = (line: string) => {
    lineNumber++;
    if (line.trim() === "") return;
    let row: T;
    try {
      row = JSON.parse(line) as T;
    } catch {
      throw new KitError(`${file}:${lineNumber}: not valid JSON; each line must be one JSON object`);
    }
    if (keep(row)) rows.push(row);
  };
  try {
    forEachLine(fd, (line) => parse(line.toString("utf8")));
  } finally {
    fs.closeSync(fd);
  }
  return rows;
}

/**
 * Calls `onLine` with each line of an open file (without its newline) and the line's byte offset, reading `blockBytes`
 * at a time; the line it is given is only valid during the call. Returns whether the file ends with a newline (or is
 * empty): a last line without one was torn by a crash, or written by hand.
 */
export function forEachLine(fd: number, onLine: (line: Buffer, offset: number) => void, blockBytes = JSONL_BLOCK): boolean {
  const block = Buffer.alloc(blockBytes);
  let rest = Buffer.alloc(0); // a line begun in the previous block
  let position = 0;
  for (let read; (read = fs.readSync(fd, block, 0, block.length, position)) > 0; position += read) {
    const bytes = rest.length ? Buffer.concat([rest, block.subarray(0, read)]) : block.subarray(0, read);
    const base = position - rest.length;
    let start = 0;
    for (let end; (end = bytes.indexOf(0x0a, start)) >= 0; start = end + 1) onLine(bytes.subarray(start, end), base + start);
    // Copied, since the next read overwrites `block`.
    rest = Buffer.from(bytes.subarray(start));
  }
  if (rest.length) onLine(rest, position - rest.length);
  return rest.length === 0;
}

/** Writes rows as JSON lines through a temp file and a rename (as writeFileAtomic), a block at a time. */
export function writeJsonlAtomic(file: string, rows: Iterable<unknown>): void {
  ensureDir(path.dirname(file));
  const tmp = `${file}${TEMP_MARK}${process.pid}`;
  try {
    const fd = fs.openSync(tmp, "w");
    try {
      let pending: string[] = [];
      let size = 0;
      const flush = () => {
        fs.writeSync(fd, pending.join(""));
        [pending, size] = [[], 0];
      };
      for (const row of rows) {
        const line = JSON.stringify(row) + "\n";
        pending.push(line);
        if ((size += line.length) >= JSONL_BLOCK) flush();
      }
      flush();
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new KitError(`cannot write ${file}: ${describeFsError(err)}`);
  }
}

// Files are hashed this many bytes at a time, so an index of any size is checked in constant memory.
const HASH_BLOCK = 4 << 20;

/** sha256 of a file's bytes, read block by block. */
export function digestFile(file: string): string {
  const hash = createHash("sha256");
  const block = Buffer.alloc(HASH_BLOCK);
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (err) {
    throw new KitError(`cannot read ${file}: ${describeFsError(err)}`);
  }
  try {
    for (let read; (read = fs.readSync(fd, block, 0, HASH_BLOCK, null)) > 0; ) hash.update(block.subarray(0, read));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest("hex");
}
