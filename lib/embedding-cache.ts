import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { EmbedRole, Embedder } from "./embedders";
import { KitError } from "./errors";
import { removeStaleTemps, writeFileAtomic } from "./files";

/**
 * A content-addressed cache of embeddings on disk, shared by every process of the user (builds, searchers,
 * notebooks). Each embedder (spec and dimension) has a folder of segment files; a segment is written once, to a
 * temp file renamed into place, and never changed after, so concurrent writers need no lock and a reader never
 * sees half a segment. A segment: "KITEMB1\n", uint32 dimension, uint32 count, count 32-byte keys
 * (sha256 of spec, role and text), then count float32 vectors (little-endian, as on every platform Node runs on).
 */

const MAGIC = Buffer.from("KITEMB1\n");
const HEADER_BYTES = MAGIC.length + 8;
const KEY_BYTES = 32;
const SEGMENT = /^[\w-]+\.seg$/;
export const DEFAULT_EMBEDDING_CACHE_MAX_BYTES = 2 * 1024 ** 3;

/** $KIT_CACHE_DIR/embeddings, else $XDG_CACHE_HOME/retrieval-dataset-kit/embeddings, else ~/.cache/retrieval-dataset-kit/embeddings. */
export function embeddingCacheDir(env = process.env): string {
  const base = env.KIT_CACHE_DIR || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "retrieval-dataset-kit");
  return path.resolve(base, "embeddings");
}

/** KIT_EMBEDDING_CACHE: on (default) or off. */
export function embeddingCacheEnabled(env = process.env): boolean {
  const value = (env.KIT_EMBEDDING_CACHE ?? "").trim().toLowerCase();
  if (value === "" || value === "on") return true;
  if (value === "off") return false;
  throw new KitError(`KIT_EMBEDDING_CACHE must be "on" or "off", got "${env.KIT_EMBEDDING_CACHE}"`);
}

/** KIT_EMBEDDING_CACHE_MAX_BYTES: bytes, or a number with K, M or G (powers of 1024); 2G by default. */
export function embeddingCacheMaxBytes(env = process.env): number {
  const raw = env.KIT_EMBEDDING_CACHE_MAX_BYTES?.trim();
  if (!raw) return DEFAULT_EMBEDDING_CACHE_MAX_BYTES;
  const [, digits, unit = ""] = /^(\d+)([KMG]?)$/i.exec(raw) ?? [];
  if (!digits) throw new KitError(`KIT_EMBEDDING_CACHE_MAX_BYTES must be a byte count such as 2147483648 or 2G, got "${raw}"`);
  return Number(digits) * 1024 ** " KMG".indexOf(unit.toUpperCase() || " ");
}

/**
 * Misses handed to the embedder, and stored, at a time: a build stopped while embedding keeps every part but the
 * one under way (2,048 chunks are about two minutes of use-lite on 2 cores; the KEP corpus is 25 such parts).
 */
export const PART_TEXTS = 2048;

export interface CacheOptions {
  /** Misses a part (PART_TEXTS). */
  partSize?: number;
  /** Called before each part is embedded: how many of the call's misses came before it, and how many there are. */
  onPart?: (before: number, misses: number) => void;
}

/**
 * Wraps an embedder so that each (spec, role, text) is embedded once per cache, not once per process: hits are
 * read from disk, misses embedded by `inner` a part at a time, each part written as one new segment.
 * KIT_EMBEDDING_CACHE=off returns `inner` itself.
 */
export function cachedEmbedder(inner: Embedder, options: CacheOptions = {}): Embedder {
  if (!embeddingCacheEnabled()) return inner;
  const { partSize = PART_TEXTS, onPart } = options;
  const identity = inner.identity ?? inner.spec;
  const store = openStore(embeddingCacheDir(), { spec: inner.spec, identity, dimension: inner.dimension }, embeddingCacheMaxBytes());
  return {
    spec: inner.spec,
    dimension: inner.dimension,
    prefixes: inner.prefixes,
    identity: inner.identity,
    async embed(texts, role = "passage") {
      const keys = texts.map((t) => embeddingKey(identity, role, t));
      const ids = keys.map((k) => k.toString("base64"));
      const out = store.read(keys);
      // Each distinct missing text once.
      const missing = new Map<string, number>();
      ids.forEach((id, i) => out[i] || missing.has(id) || missing.set(id, i));
      const first = [...missing.values()];
      const byId = new Map<string, Float32Array>();
      for (let from = 0; from < first.length; from += partSize) {
        const part = first.slice(from, from + partSize);
        onPart?.(from, first.length);
        const vectors = await inner.embed(part.map((i) => texts[i]), role);
        store.write(part.map((i) => keys[i]), vectors);
        part.forEach((i, j) => byId.set(ids[i], vectors[j]));
      }
      ids.forEach((id, i) => (out[i] ??= byId.get(id)));
      return out as Float32Array[];
    },
    close: async () => inner.close?.(),
  };
}

/** sha256 of the embedder's identity, the role and the text: what a vector is stored under. */
export function embeddingKey(identity: string, role: EmbedRole, text: string): Buffer {
  return createHash("sha256").update(identity).update("\0").update(role).update("\0").update(text).digest();
}

/** The folder of one embedder: a spec alone may come in several dimensions (an Ollama model replaced under its name). */
export function embedderFolder(root: string, identity: string, dimension: number): string {
  return path.join(root, createHash("sha256").update(`${identity}\n${dimension}`).digest("hex").slice(0, 16));
}

interface Segment {
  file: string;
  count: number;
  /** Set once the file is found gone (evicted or cleared by another process): its entries are misses. */
  gone?: boolean;
}

interface Store {
  /** Each key's vector, or undefined for a miss (never cached, evicted, or unreadable). */
  read(keys: Buffer[]): (Float32Array | undefined)[];
  write(keys: Buffer[], vectors: Float32Array[]): void;
}

/** What spec.json in an embedder's folder says. */
interface EmbedderAbout {
  spec: string;
  /** The vectors' key when not the spec (Embedder.identity). */
  identity: string;
  dimension: number;
}

function openStore(root: string, about: EmbedderAbout, maxBytes: number): Store {
  const { identity, dimension } = about;
  const folder = embedderFolder(root, identity, dimension);
  const vectorBytes = dimension * 4;
  // Only the keys are held, each pointing at its segment and slot; vectors are read from disk when asked for.
  const index = new Map<string, { segment: Segment; slot: number }>();
  const indexed = new Set<string>();
  let warned = false;
  removeStaleTemps(folder);

  const add = (segment: Segment, keys: Buffer) => {
    for (let slot = 0; slot < segment.count; slot++) {
      index.set(keys.toString("base64", slot * KEY_BYTES, (slot + 1) * KEY_BYTES), { segment, slot });
    }
  };
  // Indexes segments written since the last look, by this process or another; anything not a whole segment
  // of this dimension (a stray file, a truncated copy) is skipped.
  const refresh = () => {
    let names: string[];
    try {
      names = fs.readdirSync(folder);
    } catch {
      return; // not written yet, or cleared
    }
    for (const name of names) {
      if (!SEGMENT.test(name) || indexed.has(name)) continue;
      indexed.add(name);
      const file = path.join(folder, name);
      const header = readSegmentHeader(file);
      if (!header || header.dimension !== dimension) continue;
      const keys = Buffer.alloc(header.count * KEY_BYTES);
      if (readAt(file, keys, HEADER_BYTES) === keys.length) add({ file, count: header.count }, keys);
    }
  };

  return {
    read(keys) {
      const out = new Array<Float32Array | undefined>(keys.length).fill(undefined);
      if (!keys.length) return out;
      refresh();
      // Grouped by segment, so each file is opened once a call.
      const bySegment = new Map<Segment, Array<{ i: number; slot: number }>>();
      keys.forEach((key, i) => {
        const entry = index.get(key.toString("base64"));
        if (!entry || entry.segment.gone) return;
        const wanted = bySegment.get(entry.segment) ?? bySegment.set(entry.segment, []).get(entry.segment)!;
        wanted.push({ i, slot: entry.slot });
      });
      for (const [segment, wanted] of bySegment) {
        let fd: number;
        try {
          fd = fs.openSync(segment.file, "r");
        } catch {
          segment.gone = true;
          continue;
        }
        try {
          const vectors = HEADER_BYTES + segment.count * KEY_BYTES;
          for (const { i, slot } of wanted) {
            const v = new Float32Array(dimension);
            // A vector cut short or not finite (a disk fault, a hand edit) is a miss, embedded again.
            if (fs.readSync(fd, v, 0, vectorBytes, vectors + slot * vectorBytes) === vectorBytes && v.every(Number.isFinite)) out[i] = v;
          }
        } finally {
          fs.closeSync(fd);
        }
        // Eviction goes by file time: a hit renews its segment, so what is used stays.
        touch(segment.file);
      }
      return out;
    },

    write(keys, vectors) {
      // Vectors of another size or not finite are returned to the caller but never stored.
      const keep = vectors.flatMap((v, i) => (v.length === dimension && v.every(Number.isFinite) ? [i] : []));
      if (!keep.length) return;
      const data = Buffer.alloc(HEADER_BYTES + keep.length * (KEY_BYTES + vectorBytes));
      MAGIC.copy(data);
      data.writeUInt32LE(dimension, MAGIC.length);
      data.writeUInt32LE(keep.length, MAGIC.length + 4);
      const vectorsAt = HEADER_BYTES + keep.length * KEY_BYTES;
      keep.forEach((i, slot) => {
        keys[i].copy(data, HEADER_BYTES + slot * KEY_BYTES);
        Buffer.from(vectors[i].buffer, vectors[i].byteOffset, vectorBytes).copy(data, vectorsAt + slot * vectorBytes);
      });
      const name = `${Date.now().toString(36)}-${process.pid}-${randomBytes(4).toString("hex")}.seg`;
      try {
        const info = path.join(folder, "spec.json");
        if (!fs.existsSync(info)) writeFileAtomic(info, JSON.stringify(about, null, 2) + "\n");
        writeFileAtomic(path.join(folder, name), data);
        evict(root, maxBytes);
      } catch (err) {
        // The vectors are already computed: a cache that cannot be written (a full disk, a read-only home) slows
        // later runs down, it does not stop this one.
        if (!(err instanceof KitError)) throw err;
        if (!warned) console.error(`embedding cache: ${err.message}; going on without storing new vectors (KIT_EMBEDDING_CACHE=off silences this)`);
        warned = true;
        return;
      }
      indexed.add(name);
      add({ file: path.join(folder, name), count: keep.length }, data.subarray(HEADER_BYTES, vectorsAt));
    },
  };
}

function readSegmentHeader(file: string): { dimension: number; count: number } | undefined {
  const header = Buffer.alloc(HEADER_BYTES);
  if (readAt(file, header, 0) !== HEADER_BYTES || !header.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const dimension = header.readUInt32LE(MAGIC.length);
  const count = header.readUInt32LE(MAGIC.length + 4);
  const size = fileSize(file);
  return size === HEADER_BYTES + count * (KEY_BYTES + dimension * 4) ? { dimension, count } : undefined;
}

/** Reads into `into` from `position`; the bytes read, 0 for a file gone. */
function readAt(file: string, into: Uint8Array, position: number): number {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch {
    return 0;
  }
  try {
    return fs.readSync(fd, into, 0, into.length, position);
  } finally {
    fs.closeSync(fd);
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return -1;
  }
}

function touch(file: string): void {
  const now = new Date();
  try {
    fs.utimesSync(file, now, now);
  } catch {
    // gone, or a cache shared read-only: the renewal is only a hint for eviction
  }
}

interface SegmentFile {
  file: string;
  bytes: number;
  mtimeMs: number;
}

/** Every segment under the cache root, by embedder folder. */
function listSegments(root: string): Map<string, SegmentFile[]> {
  const out = new Map<string, SegmentFile[]>();
  const folders = fs.existsSync(root) ? fs.readdirSync(root) : [];
  for (const folder of folders) {
    const dir = path.join(root, folder);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue; // a stray file, or removed meanwhile
    }
    const segments: SegmentFile[] = [];
    for (const name of names.filter((n) => SEGMENT.test(n))) {
      try {
        const stat = fs.statSync(path.join(dir, name));
        segments.push({ file: path.join(dir, name), bytes: stat.size, mtimeMs: stat.mtimeMs });
      } catch {
        // evicted by another process meanwhile
      }
    }
    out.set(dir, segments);
  }
  return out;
}

/** Removes the least recently written or read segments, across all embedders, until the cache is within `maxBytes`. */
function evict(root: string, maxBytes: number): void {
  const segments = [...listSegments(root).values()].flat();
  let total = segments.reduce((n, s) => n + s.bytes, 0);
  for (const segment of segments.sort((a, b) => a.mtimeMs - b.mtimeMs)) {
    if (total <= maxBytes) break;
    fs.rmSync(segment.file, { force: true });
    total -= segment.bytes;
  }
}

export interface EmbeddingCacheSummary {
  dir: string;
  enabled: boolean;
  maxBytes: number;
  bytes: number;
  embedders: Array<EmbedderAbout & { folder: string; segments: number; vectors: number; bytes: number }>;
}

/** What `kit cache` shows: where the cache is, its size and bound, and each embedder's share. */
export function describeEmbeddingCache(): EmbeddingCacheSummary {
  const dir = embeddingCacheDir();
  const embedders = [...listSegments(dir)].map(([folder, segments]) => {
    const about = readSpec(path.join(folder, "spec.json"));
    const vectors = segments.reduce((n, s) => n + (readSegmentHeader(s.file)?.count ?? 0), 0);
    return { ...about, folder, segments: segments.length, vectors, bytes: segments.reduce((n, s) => n + s.bytes, 0) };
  });
  return { dir, enabled: embeddingCacheEnabled(), maxBytes: embeddingCacheMaxBytes(), bytes: embedders.reduce((n, e) => n + e.bytes, 0), embedders };
}

function readSpec(file: string): EmbedderAbout {
  try {
    const { spec, identity, dimension } = JSON.parse(fs.readFileSync(file, "utf8")) as EmbedderAbout;
    return { spec: String(spec), identity: String(identity ?? spec), dimension: Number(dimension) };
  } catch {
    return { spec: "(unknown: spec.json missing)", identity: "", dimension: 0 };
  }
}

export function formatEmbeddingCache(s: EmbeddingCacheSummary): string {
  const state = s.enabled ? "" : " (off: KIT_EMBEDDING_CACHE=off)";
  const lines = [`embedding cache: ${s.dir}${state}, ${mib(s.bytes)} of ${mib(s.maxBytes)} (KIT_EMBEDDING_CACHE_MAX_BYTES)`];
  for (const e of s.embedders) lines.push(`  ${e.spec}${e.identity === e.spec ? "" : ` [${e.identity}]`} (${e.dimension}-d): ${e.vectors} vectors in ${e.segments} segments, ${mib(e.bytes)}`);
  if (!s.embedders.length) lines.push("  empty");
  return lines.join("\n");
}

/** Removes the whole cache folder; a process writing meanwhile starts it again. */
export function clearEmbeddingCache(): EmbeddingCacheSummary {
  const before = describeEmbeddingCache();
  fs.rmSync(before.dir, { recursive: true, force: true });
  return before;
}

export function formatClearedCache(s: EmbeddingCacheSummary): string {
  return `embedding cache: removed ${s.dir} (${s.embedders.reduce((n, e) => n + e.vectors, 0)} vectors, ${mib(s.bytes)})`;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
