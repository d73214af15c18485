import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { type GenerateRequest, type Generator, GeneratorError } from "./generators";

/**
 * Every answer a generator gives, kept so that a re-run sends nothing already answered.
 *
 * Stored as JSON lines, each appended and fsync'd before the answer is used. Chosen over SQLite
 * because it needs no native module, stays readable with `head`, and a crash (even kill -9) can
 * at worst tear the last line, which loading skips: every answer before it survives.
 *
 * An answer the stage rejected is forgotten by appending a tombstone line ({"key", "discarded": reason})
 * after it, so the discard survives a restart too; a later answer to the same key counts again. A torn
 * tombstone only means the rejected answer is read back once more, and rejected again. Blank answers are
 * never stored, and never read back from older files: a re-run asks again.
 */
export interface RequestCache {
  readonly file: string;
  get(key: string): string | undefined;
  /** Records an answer; a blank one is not stored. */
  put(key: string, answer: string): void;
  /** Forgets the answer to `key`, if it has one, so that it is asked again. */
  discard(key: string, reason: string): void;
  readonly size: number;
  close(): void;
}

type Entry = { key: string; answer: string } | { key: string; discarded: string };

/** The identity of a request: backend, model, prompts, output schema and sampling options. */
export function requestKey(generator: Pick<Generator, "backend" | "model">, request: GenerateRequest): string {
  const { system, prompt, format, options } = request;
  return createHash("sha256")
    .update(JSON.stringify([generator.backend, generator.model, system ?? "", prompt, format ?? null, options ?? {}]))
    .digest("hex");
}

const blank = (answer: string) => answer.trim() === "";

export function openCache(file: string): RequestCache {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const answers = new Map<string, string>();
  let text = "";
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  for (const line of text.split("\n")) {
    if (!line) continue;
    let entry: Partial<Record<string, unknown>>;
    try {
      entry = JSON.parse(line);
    } catch {
      // A line torn by a crash mid-append; its request is simply asked again.
      continue;
    }
    if (typeof entry?.key !== "string") continue;
    if (typeof entry.answer === "string" && !blank(entry.answer)) answers.set(entry.key, entry.answer);
    else answers.delete(entry.key);
  }
  const fd = fs.openSync(file, "a");
  // Start on a fresh line if the last write was torn.
  if (text && !text.endsWith("\n")) fs.writeSync(fd, "\n");
  const append = (entry: Entry) => {
    fs.writeSync(fd, JSON.stringify(entry) + "\n");
    fs.fsyncSync(fd);
  };
  return {
    file,
    get: (key) => answers.get(key),
    put(key, answer) {
      if (blank(answer)) return;
      append({ key, answer });
      answers.set(key, answer);
    },
    discard(key, reason) {
      if (!answers.has(key)) return;
      append({ key, discarded: reason });
      answers.delete(key);
    },
    get size() {
      return answers.size;
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
  /** Answers a stage rejected, dropped from the cache so that a re-run asks again. */
  discarded: number;
  discard(request: GenerateRequest, reason: string): void;
}

/** The generator, answering from the cache where it can, recording every new answer and forgetting rejected ones. */
export function withCache(generator: Generator, cache: RequestCache): CachedGenerator {
  const wrapped: CachedGenerator = {
    ...generator,
    hits: 0,
    misses: 0,
    failed: {},
    discarded: 0,
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
      cache.put(key, answer);
      wrapped.misses++;
      return answer;
    },
    discard(request, reason) {
      const key = requestKey(generator, request);
      if (cache.get(key) !== undefined) {
        cache.discard(key, reason);
        wrapped.discarded++;
      }
      generator.discard?.(request, reason);
    },
  };
  return wrapped;
}
