import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { KitError } from "./errors";
import { describeFsError, forEachLine } from "./files";
import { type GenerateRequest, type Generator, GeneratorError } from "./generators";

/**
 * Every answer a generator gives, kept so that a re-run sends nothing already answered.
 *
 * Stored as JSON lines, each appended and fsync'd before the answer is used. Chosen over SQLite
 * because it needs no native module, stays readable with `head`, and a crash (even kill -9) can
 * at worst tear the last line, which loading skips: every answer before it survives.
 *
 * Opening streams the file and keeps only where each answer's line lies (LineIndex), so a cache of any size
 * opens in memory that depends on its number of answers, not their size; get() reads the line back.
 *
 * An answer a stage rejected stays: a re-run reads it back and the stage rejects it again, deterministically,
 * and goes on to its retries (new seeds, cached too), so a finished build run again sends nothing. A line
 * {"key", "rejected": reason, "seed"} records what was tried, once per answer ("discarded" in older files,
 * read the same way); a later answer to the same key replaces the answer. Blank answers are never stored,
 * and never read back from older files: a re-run asks again.
 */
export interface RequestCache {
  readonly file: string;
  get(key: string): string | undefined;
  /** Records an answer; a blank one is not stored. */
  put(key: string, answer: string): void;
  /** Records that the answer to `key`, asked with `seed`, was rejected (once); false when there is no such answer. */
  reject(key: string, reason: string, seed?: number): boolean;
  readonly size: number;
  close(): void;
}

type Entry = { key: string; answer: string } | { key: string; rejected: string; seed?: number };
type Line = Partial<Record<"key" | "answer" | "rejected" | "discarded", unknown>>;

/** The identity of a request: backend, model (and revision), prompts, output schema and sampling options. */
export function requestKey(generator: Pick<Generator, "backend" | "model" | "revision">, request: GenerateRequest): string {
  const { system, prompt, format, options } = request;
  // A revision is appended only when there is one, so an LLM's keys, and the answers cached under them, stay as they were.
  const revision = generator.revision === undefined ? [] : [generator.revision];
  return createHash("sha256")
    .update(JSON.stringify([generator.backend, generator.model, system ?? "", prompt, format ?? null, options ?? {}, ...revision]))
    .digest("hex");
}

const blank = (answer: string) => answer.trim() === "";

/** FNV-1a: a 32-bit hash of the key, enough to find its slot; the key itself is checked on the line. */
function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Where each key's answer line lies in the file: an open-addressing table (linear probing) of key hashes, line
 * offsets, line lengths and a rejected flag, 17 bytes a slot, kept between 3/8 and 3/4 full: 23 to 46 bytes an
 * answer, whatever its size. Two keys with the same hash are told apart by reading their lines back (`keyAt`).
 */
class LineIndex {
  private hashes = new Uint32Array(1024);
  private offsets = new Float64Array(1024);
  /** 0 marks an empty slot: a line is never empty. */
  private lengths = new Uint32Array(1024);
  private rejected = new Uint8Array(1024);
  size = 0;

  constructor(private readonly keyAt: (offset: number, length: number) => string | undefined) {}

  /** The slot holding `key`'s line, or the empty slot where it would go. */
  slot(key: string, hash = hashOf(key)): number {
    const mask = this.lengths.length - 1;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      if (this.lengths[i] === 0 || (this.hashes[i] === hash && this.keyAt(this.offsets[i], this.lengths[i]) === key)) return i;
    }
  }

  line(slot: number): { offset: number; length: number; rejected: boolean } | undefined {
    return this.lengths[slot] ? { offset: this.offsets[slot], length: this.lengths[slot], rejected: this.rejected[slot] === 1 } : undefined;
  }

  /** Points `key` at a new answer line, which is not rejected (yet). */
  set(key: string, offset: number, length: number): void {
    const hash = hashOf(key);
    let i = this.slot(key, hash);
    if (!this.lengths[i]) {
      if (++this.size > this.lengths.length * 0.75) {
        this.grow();
        i = this.slot(key, hash);
      }
      this.hashes[i] = hash;
    }
    this.offsets[i] = offset;
    this.lengths[i] = length;
    this.rejected[i] = 0;
  }

  markRejected(slot: number): void {
    this.rejected[slot] = 1;
  }

  private grow(): void {
    const [hashes, offsets, lengths, rejected] = [this.hashes, this.offsets, this.lengths, this.rejected];
    const capacity = lengths.length * 2;
    [this.hashes, this.offsets, this.lengths, this.rejected] = [new Uint32Array(capacity), new Float64Array(capacity), new Uint32Array(capacity), new Uint8Array(capacity)];
    for (let j = 0; j < lengths.length; j++) {
      if (!lengths[j]) continue;
      // Keys in the old table are distinct: the first empty slot is theirs, no line need be read.
      let i = hashes[j] & (capacity - 1);
      while (this.lengths[i]) i = (i + 1) & (capacity - 1);
      [this.hashes[i], this.offsets[i], this.lengths[i], this.rejected[i]] = [hashes[j], offsets[j], lengths[j], rejected[j]];
    }
  }
}

// The lines the kit writes begin {"key":"<64 hex digits>","answer":" or ...","rejected":.
const KEY_START = Buffer.from('{"key":"');
const KEY_END = KEY_START.length + 64;
const KINDS = ["answer", "rejected", "discarded"].map((kind) => [kind, Buffer.from(`","${kind}":`)] as const);

/**
 * A line the kit wrote, read without decoding its answer: opening a 1 GiB cache would otherwise make 1 GiB of
 * strings for the garbage collector. The answer stands in as "?" (get() reads and checks the line itself); a line
 * of any other shape returns undefined and is parsed in full.
 */
function quickParse(bytes: Buffer): Line | undefined {
  if (bytes.length <= KEY_END || bytes[bytes.length - 1] !== 0x7d || !bytes.subarray(0, KEY_START.length).equals(KEY_START)) return undefined;
  for (const [kind, marker] of KINDS) {
    if (bytes.subarray(KEY_END, KEY_END + marker.length).equals(marker)) {
      // An empty answer ("answer":"") is blank: never read back.
      const empty = kind === "answer" && bytes[KEY_END + marker.length + 1] === 0x22;
      return { key: bytes.toString("latin1", KEY_START.length, KEY_END), [kind]: empty ? "" : "?" };
    }
  }
  return undefined;
}

/** Opens (or creates) a cache file; `blockBytes` is how much of it loading reads at a time. */
export function openCache(file: string, options: { blockBytes?: number } = {}): RequestCache {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, "a+");
  const parse = (text: string): Line | undefined => {
    try {
      const line = JSON.parse(text);
      return typeof line?.key === "string" ? line : undefined;
    } catch {
      // A line torn by a crash mid-append, or garbage; its request is simply asked again.
      return undefined;
    }
  };
  const lineAt = (offset: number, length: number): Line | undefined => {
    const bytes = Buffer.alloc(length);
    fs.readSync(fd, bytes, 0, length, offset);
    return parse(bytes.toString("utf8"));
  };
  const index = new LineIndex((offset, length) => lineAt(offset, length)?.key as string | undefined);
  const record = (line: Line, offset: number, length: number) => {
    const key = line.key as string;
    if (typeof line.answer === "string") {
      if (!blank(line.answer)) index.set(key, offset, length);
      return;
    }
    const slot = index.slot(key);
    if ((typeof line.rejected === "string" || typeof line.discarded === "string") && index.line(slot)) index.markRejected(slot);
  };
  let endsClean: boolean;
  try {
    endsClean = forEachLine(
      fd,
      (bytes, offset) => {
        const line = quickParse(bytes) ?? parse(bytes.toString("utf8"));
        if (line) record(line, offset, bytes.length);
      },
      options.blockBytes,
    );
  } catch (err) {
    fs.closeSync(fd);
    throw new KitError(`cannot read ${file}: ${describeFsError(err)}`);
  }
  let end = fs.fstatSync(fd).size;
  /** Appends an entry's line, after a newline if the last line was torn; returns where the line lies. */
  const append = (entry: Entry): { offset: number; length: number } => {
    const text = JSON.stringify(entry);
    const bytes = Buffer.from(`${endsClean ? "" : "\n"}${text}\n`);
    try {
      for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done);
      fs.fsyncSync(fd);
    } catch (err) {
      // Whatever part was written is a torn line; a later append (space freed meanwhile) starts a fresh one.
      [end, endsClean] = [fs.fstatSync(fd).size, false];
      throw new KitError(`cannot append to ${file}: ${describeFsError(err)}; the answers so far are kept, and a re-run resumes from them`);
    }
    const length = Buffer.byteLength(text);
    const offset = end + bytes.length - length - 1;
    [end, endsClean] = [end + bytes.length, true];
    return { offset, length };
  };
  return {
    file,
    get(key) {
      const line = index.line(index.slot(key));
      const answer = line && lineAt(line.offset, line.length)?.answer;
      // A line torn inside its answer can look whole to quickParse: then it does not parse here, and is asked again.
      return typeof answer === "string" && !blank(answer) ? answer : undefined;
    },
    put(key, answer) {
      if (blank(answer)) return;
      const { offset, length } = append({ key, answer });
      index.set(key, offset, length);
    },
    reject(key, reason, seed) {
      const slot = index.slot(key);
      const line = index.line(slot);
      if (!line) return false;
      if (!line.rejected) {
        append({ key, rejected: reason, seed });
        index.markRejected(slot);
      }
      return true;
    },
    get size() {
      return index.size;
    },
    close: () => fs.closeSync(fd),
  };
}

/** A generator answering from a cache; what build.json's llm_requests reports. */
export interface CachedGenerator extends Generator {
  /** Answers read from the cache. */
  hits: number;
  /** Answers the generator gave (requests sent and answered). */
  misses: number;
  /** Requests that failed for good (after the generator's own retries), by reason: "HTTP 500", "no answer within 300 s", ... */
  failed: Record<string, number>;
  /** Answers a stage rejected in this run (new or read back); they stay cached, so a re-run rejects them again. */
  rejected: number;
  reject(request: GenerateRequest, reason: string): void;
}

/** The generator, answering from the cache where it can, recording every new answer and what a stage rejected. */
export function withCache(generator: Generator, cache: RequestCache): CachedGenerator {
  const wrapped: CachedGenerator = {
    ...generator,
    hits: 0,
    misses: 0,
    failed: {},
    rejected: 0,
    async generate(request: GenerateRequest, signal?: AbortSignal) {
      const key = requestKey(generator, request);
      const known = cache.get(key);
      if (known !== undefined) {
        wrapped.hits++;
        return known;
      }
      let answer: string;
      try {
        answer = await generator.generate(request, signal);
      } catch (e) {
        if ((e as { name?: unknown })?.name !== "AbortError") {
          const reason = e instanceof GeneratorError ? e.reason : String(e instanceof Error ? e.message : e).split("\n")[0];
          wrapped.failed[reason] = (wrapped.failed[reason] ?? 0) + 1;
        }
        throw e;
      }
      try {
        cache.put(key, answer);
      } catch (e) {
        // A full disk: no later answer could be kept either, so the stage stops at once (a lost GeneratorError).
        throw new GeneratorError((e as Error).message, "storage", "cache not writable", true);
      }
      wrapped.misses++;
      return answer;
    },
    reject(request, reason) {
      if (cache.reject(requestKey(generator, request), reason, request.options?.seed)) wrapped.rejected++;
      generator.reject?.(request, reason);
    },
  };
  return wrapped;
}
