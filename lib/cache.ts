import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { GenerateRequest, Generator } from "./generators";

/**
 * Every answer a generator gives, kept so that a re-run sends nothing already answered.
 *
 * Stored as JSON lines, each appended and fsync'd before the answer is used. Chosen over SQLite
 * because it needs no native module, stays readable with `head`, and a crash (even kill -9) can
 * at worst tear the last line, which loading skips: every answer before it survives.
 */
export interface RequestCache {
  readonly file: string;
  get(key: string): string | undefined;
  put(key: string, answer: string): void;
  readonly size: number;
  close(): void;
}

interface Entry {
  key: string;
  answer: string;
}

/** The identity of a request: backend, model, prompts, output schema and sampling options. */
export function requestKey(generator: Pick<Generator, "backend" | "model">, request: GenerateRequest): string {
  const { system, prompt, format, options } = request;
  return createHash("sha256")
    .update(JSON.stringify([generator.backend, generator.model, system ?? "", prompt, format ?? null, options ?? {}]))
    .digest("hex");
}

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
    try {
      const entry = JSON.parse(line) as Entry;
      answers.set(entry.key, entry.answer);
    } catch {
      // A line torn by a crash mid-append; its request is simply asked again.
    }
  }
  const fd = fs.openSync(file, "a");
  // Start on a fresh line if the last write was torn.
  if (text && !text.endsWith("\n")) fs.writeSync(fd, "\n");
  return {
    file,
    get: (key) => answers.get(key),
    put(key, answer) {
      fs.writeSync(fd, JSON.stringify({ key, answer } satisfies Entry) + "\n");
      fs.fsyncSync(fd);
      answers.set(key, answer);
    },
    get size() {
      return answers.size;
    },
    close: () => fs.closeSync(fd),
  };
}

/** The generator, answering from the cache where it can and recording every new answer. */
export function withCache(generator: Generator, cache: RequestCache): Generator & { hits: number; misses: number } {
  const wrapped = {
    ...generator,
    hits: 0,
    misses: 0,
    async generate(request: GenerateRequest, signal?: AbortSignal) {
      const key = requestKey(generator, request);
      const known = cache.get(key);
      if (known !== undefined) {
        wrapped.hits++;
        return known;
      }
      const answer = await generator.generate(request, signal);
      cache.put(key, answer);
      wrapped.misses++;
      return answer;
    },
  };
  return wrapped;
}
