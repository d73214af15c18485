// What the commands of lib/commands/ share: the Command shape lib/cli.ts dispatches on, the options several take, and readers of option values that fail in one line naming the flag.
import * as fs from "node:fs";
import * as path from "node:path";
import { DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE } from "../chunking";
import { readFinishedBuild } from "../pipeline/finished";
import { assertMode, envDir } from "../environment";
import { DEFAULT_EMBEDDER } from "../embedders";
import { KitError } from "../errors";
import { DEFAULT_TIMEOUT_MS, requestTimeoutMs } from "../generators";
import { formatSeconds } from "../progress";
import { DEFAULT_FACTORY } from "../vector-index";

/** What a command's options parsed to: a string, true for a flag given, undefined for one not given. */
export type Values = Record<string, string | boolean | undefined>;

export interface Option {
  type: "string" | "boolean";
  help: string;
  /** Shown as the default in help; applied by the command itself. */
  default?: string;
}

export interface Command {
  /** What follows `kit` on the command line. */
  name: string;
  summary: string;
  usage: string;
  options: Record<string, Option>;
  /** Options the command cannot run without, all named at once when missing. */
  required?: string[];
  run(values: Values): Promise<void>;
}

// Options several commands share, defined once so their help reads the same everywhere.
export const OPTIONS = {
  corpus: { type: "string", help: "a .md file, or a folder of .md files" },
  dataset: { type: "string", help: "dataset folder written by kit build" },
  index: { type: "string", help: "an index folder instead (kit index, or a dataset's env/<mode>)" },
  queryEmbedder: { type: "string", help: "embedder for dense queries; must be the index's (default: the index's)" },
  chunkSize: { type: "string", help: "longest chunk in characters", default: String(DEFAULT_CHUNK_SIZE) },
  chunkOverlap: { type: "string", help: "characters shared by neighbouring chunks", default: String(DEFAULT_CHUNK_OVERLAP) },
  embedder: { type: "string", help: "use-lite | transformers:<model or folder> | ollama:<model>", default: DEFAULT_EMBEDDER },
  factory: { type: "string", help: "FAISS factory: Flat | HNSW32 | IVF<n>,Flat", default: DEFAULT_FACTORY },
  ollamaHost: { type: "string", help: "Ollama URL, or several comma-separated (else OLLAMA_HOST)" },
  requestTimeout: { type: "string", help: "seconds one LLM or Ollama embedding request may take before it is cancelled and retried (1 to 3600)", default: String(DEFAULT_TIMEOUT_MS / 1000) },
} satisfies Record<string, Option>;

/** A stage run alone into a dataset folder leaves what its build made from the file stale: say so, and what then. */
export function warnStale(dir: string, file: string): void {
  if (!fs.existsSync(path.join(dir, "build.json"))) return;
  console.log(`note: ${dir} holds a kit build, which ${file} no longer matches: kit export, serve, search and eval-retrieval refuse it until kit build runs there again`);
}

/** The folder --dataset and --mode name, or --index. */
export function searchFolder(v: Values, defaultMode: string): string {
  const dataset = str(v, "dataset");
  const index = str(v, "index");
  if (!dataset === !index) throw new KitError("give exactly one of --dataset DIR (a kit build folder) or --index DIR (an index folder)");
  if (index) {
    if (str(v, "mode")) throw new KitError("--mode picks an environment of --dataset; with --index, point at the folder itself (e.g. DIR/env/merged)");
    return index;
  }
  const mode = assertMode(str(v, "mode") ?? defaultMode);
  readFinishedBuild(dataset!);
  return envDir(dataset!, mode);
}

export function str(v: Values, name: string): string | undefined {
  const value = v[name];
  return typeof value === "string" ? value : undefined;
}

export function required(v: Values, name: string): string {
  const value = str(v, name);
  if (value === undefined || value === "") throw new KitError(`--${name} is required`);
  return value;
}

export function optionalInteger(v: Values, name: string, min: number): number | undefined {
  const value = str(v, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new KitError(`--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

/** --request-timeout in milliseconds, when given. */
export function optionalTimeout(v: Values): number | undefined {
  const seconds = str(v, "request-timeout");
  return seconds === undefined ? undefined : requestTimeoutMs(seconds);
}

export function integer(v: Values, name: string, fallback: number, min: number): number {
  return optionalInteger(v, name, min) ?? fallback;
}

export const elapsed = (started: number) => formatSeconds((Date.now() - started) / 1000);
