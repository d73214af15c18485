import * as fs from "node:fs";
import * as path from "node:path";
import { Index, MetricType } from "faiss-node";
import { version as KIT_VERSION } from "../package.json";
import type { BuildStamp } from "./pipeline/identity";
import { KitError } from "./errors";
import { assertFreeSpace, digestFile, ensureDir, TEMP_MARK, writeFileAtomic, writeJsonlAtomic } from "./files";

/** manifest.json of a saved index folder. */
export interface IndexManifest {
  /** Spec string of the embedder that made the vectors; queries must use the same one. */
  embedder: string;
  /**
   * Text the embedder put before each query and each passage (e5's "query: " / "passage: "), so a reader that
   * embeds queries with its own code (LangChain, AutoDidact, ReZero) can do the same. Absent: none.
   */
  prefixes?: { query: string; passage: string };
  dimension: number;
  metric: "inner_product";
  /** FAISS factory string: Flat, HNSW<M> or IVF<n>,Flat. */
  factory: string;
  count: number;
  /** File (in the index folder) holding the id of each row: a chunk id, or an environment's row id. */
  ids: string;
  /** The JSONL of the rows' texts (chunks.jsonl or an environment's rows.jsonl), relative to the index folder. */
  chunks?: string;
  kit_version: string;
  /** The build that wrote the folder (absent for `kit index`). */
  build?: BuildStamp;
  /** sha256 of each other file of the folder, checked when it is read: an index changed on disk is refused, not searched. */
  checksums?: Record<string, string>;
}

export interface VectorIndex {
  faiss: Index;
  /** Row -> id. Rows sharing an id count as one hit. */
  ids: string[];
  manifest: IndexManifest;
  /** Most rows any one id has; search asks FAISS for this many times k to return k distinct ids. */
  rowsPerChunk: number;
}

/** A row of the index: its id (a chunk id, or an environment's row id) and its inner product with the query. */
export interface SearchHit {
  id: string;
  score: number;
}

export interface BuildOptions {
  /** Default "Flat" (exact). */
  factory?: string;
  /** The embedder the vectors were made with (its prefixes go in the manifest), or its spec string. */
  embedder: string | { spec: string; prefixes?: { query: string; passage: string } };
}

export const DEFAULT_FACTORY = "Flat";
const INDEX_FILE = "index.faiss";
const IDS_FILE = "ids.json";
const MANIFEST_FILE = "manifest.json";
const INDEX_FILES = [INDEX_FILE, IDS_FILE, MANIFEST_FILE];
// HNSW's efSearch cannot be set through faiss-node, but FAISS explores max(efSearch, k) candidates,
// so asking HNSW for at least this many neighbours buys recall (FAISS's default efSearch is 16).
const HNSW_MIN_K = 64;
// Bounds the plain JS arrays faiss-node takes (8 bytes a number) while keeping BLAS-sized batches.
const ROWS_PER_CALL = 2048;
const NORM_TOLERANCE = 1e-3;
// An index file's size over its raw vectors': HNSW's graph adds links per vector; Flat and IVF add little.
const INDEX_SIZE_FACTOR = 1.5;

type Factory = { kind: "flat" } | { kind: "hnsw" } | { kind: "ivf"; lists: number };

/** Checks a factory string before any work is done on it. */
export const assertFactory = (factory: string): void => void parseFactory(factory);

function parseFactory(factory: string): Factory {
  if (factory === "Flat") return { kind: "flat" };
  const hnsw = /^HNSW([1-9][0-9]*)$/.exec(factory);
  if (hnsw && Number(hnsw[1]) >= 2) return { kind: "hnsw" };
  const ivf = /^IVF([1-9][0-9]*),Flat$/.exec(factory);
  if (ivf) return { kind: "ivf", lists: Number(ivf[1]) };
  throw new KitError(`unsupported index factory "${factory}": use Flat, HNSW<M> (e.g. HNSW32) or IVF<n>,Flat (e.g. IVF256,Flat)`);
}

/** Builds an inner-product index over L2-normalised vectors (so scores are cosine similarities). */
export function buildIndex(vectors: readonly Float32Array[], ids: readonly string[], options: BuildOptions): VectorIndex {
  const factory = options.factory ?? DEFAULT_FACTORY;
  const kind = parseFactory(factory);
  const embedder = typeof options.embedder === "string" ? options.embedder : options.embedder?.spec;
  if (!embedder) throw new KitError("building an index needs the embedder (or its spec) the vectors were made with");
  if (vectors.length !== ids.length) throw new KitError(`got ${vectors.length} vectors but ${ids.length} chunk ids; they must pair up`);
  if (vectors.length === 0) throw new KitError("no vectors to index: the corpus produced no chunks");
  const dimension = vectors[0].length;
  vectors.forEach((v, i) => {
    if (v.length !== dimension) throw new KitError(`vector of chunk ${ids[i]} has dimension ${v.length}, the first has ${dimension}`);
    let sq = 0;
    for (let j = 0; j < v.length; j++) sq += v[j] * v[j];
    // Also catches NaN, which would otherwise poison FAISS silently.
    if (!(Math.abs(Math.sqrt(sq) - 1) <= NORM_TOLERANCE)) {
      throw new KitError(`vector of chunk ${ids[i]} has L2 norm ${Math.sqrt(sq)}; the index scores by inner product, so embeddings must be L2-normalised`);
    }
  });
  // FAISS aborts the whole process (not a JS error) when k-means gets fewer points than lists.
  if (kind.kind === "ivf" && vectors.length < kind.lists) {
    const fit = Math.floor(vectors.length / 39); // FAISS wants 39 training points a list
    const use = fit >= 1 ? `IVF${fit},Flat or Flat` : "Flat";
    throw new KitError(`index factory ${factory} needs at least ${kind.lists} vectors to train ${kind.lists} lists, got ${vectors.length}; use ${use}`);
  }

  const faiss = Index.fromFactory(dimension, factory, MetricType.METRIC_INNER_PRODUCT);
  if (kind.kind === "ivf") faiss.train(trainingSample(vectors, kind.lists));
  for (let at = 0; at < vectors.length; at += ROWS_PER_CALL) {
    faiss.add(flatten(vectors, at, Math.min(at + ROWS_PER_CALL, vectors.length)));
  }
  const manifest: IndexManifest = {
    embedder,
    ...(typeof options.embedder === "object" && options.embedder.prefixes && { prefixes: options.embedder.prefixes }),
    dimension,
    metric: "inner_product",
    factory,
    count: vectors.length,
    ids: IDS_FILE,
    kit_version: KIT_VERSION,
  };
  return { faiss, ids: [...ids], manifest, rowsPerChunk: mostRowsPerChunk(ids) };
}

// faiss-node holds a JS handle per number until a call returns (about 37 bytes a number measured:
// training IVF152 on all 23k 512-d vectors peaked at 720 MB), and train() cannot be split into batches,
// so k-means gets an evenly spaced sample of at most 64 points a list (FAISS asks for at least 39).
const TRAINING_POINTS_PER_LIST = 64;

function trainingSample(vectors: readonly Float32Array[], lists: number): number[] {
  const max = TRAINING_POINTS_PER_LIST * lists;
  if (vectors.length <= max) return flatten(vectors, 0, vectors.length);
  const step = vectors.length / max;
  return flatten(Array.from({ length: max }, (_, i) => vectors[Math.floor(i * step)]), 0, max);
}

function flatten(vectors: readonly Float32Array[], from: number, to: number): number[] {
  const dim = vectors[from].length;
  const out = new Array<number>((to - from) * dim);
  let o = 0;
  for (let i = from; i < to; i++) {
    const v = vectors[i];
    for (let j = 0; j < dim; j++) out[o++] = v[j];
  }
  return out;
}

/**
 * Writes index.faiss, ids.json, manifest.json and any `jsonl` files (name -> rows) into a temp folder next to
 * `dir` and then swaps it in, so `dir` holds either the previous complete folder or the new one, never a mix.
 * `chunks` is the path of the JSONL the ids refer to, relative to `dir` (so the two can move together);
 * it may be one of `jsonl`. `files` are other files of the folder (a LangChain docstore, say), written as they are.
 */
export function saveIndex(
  index: VectorIndex,
  dir: string,
  options: { chunks?: string; jsonl?: Record<string, readonly unknown[]>; files?: Record<string, Uint8Array>; stamp?: BuildStamp } = {},
): void {
  const target = path.resolve(dir);
  const files = { ...options.jsonl, ...options.files };
  if (fs.existsSync(target)) {
    if (!fs.statSync(target).isDirectory()) throw new KitError(`cannot save the index to ${dir}: it is a file; choose a folder path`);
    const foreign = fs.readdirSync(target).filter((f) => !INDEX_FILES.includes(f) && !(f in files));
    // Replacing the folder would delete these, so refuse rather than guess.
    if (foreign.length) throw new KitError(`cannot save the index to ${dir}: it holds other files (${foreign.slice(0, 3).join(", ")}); give the index its own folder`);
  }
  const manifest: IndexManifest = { ...index.manifest, ...(options.stamp && { build: options.stamp }) };
  delete manifest.chunks;
  if (options.chunks !== undefined) {
    if (!(options.chunks in files) && !fs.existsSync(path.resolve(target, options.chunks))) {
      throw new KitError(`chunks file ${options.chunks} (relative to the index folder ${dir}) does not exist; pass the chunks.jsonl the index was built from`);
    }
    manifest.chunks = options.chunks;
  }

  ensureDir(path.dirname(target));
  // FAISS aborts the whole process when its write fails, so a full disk is caught before it writes.
  assertFreeSpace(path.dirname(target), index.faiss.ntotal() * index.manifest.dimension * 4 * INDEX_SIZE_FACTOR, `the index ${dir}`);
  const tmp = `${target}${TEMP_MARK}${process.pid}`;
  const old = `${target}.old${TEMP_MARK}${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    fs.mkdirSync(tmp);
    try {
      index.faiss.write(path.join(tmp, INDEX_FILE));
    } catch (err) {
      throw new KitError(`cannot write the index ${dir}: ${(err as Error).message.split("\n")[0]}`);
    }
    writeFileAtomic(path.join(tmp, IDS_FILE), JSON.stringify(index.ids));
    for (const [name, rows] of Object.entries(options.jsonl ?? {})) writeJsonlAtomic(path.join(tmp, name), rows);
    for (const [name, data] of Object.entries(options.files ?? {})) writeFileAtomic(path.join(tmp, name), data);
    manifest.checksums = Object.fromEntries(fs.readdirSync(tmp).sort().map((f) => [f, digestFile(path.join(tmp, f))]));
    writeFileAtomic(path.join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
    const replacing = fs.existsSync(target);
    if (replacing) fs.renameSync(target, old);
    try {
      fs.renameSync(tmp, target);
    } catch (e) {
      if (replacing) fs.renameSync(old, target);
      throw e;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  fs.rmSync(old, { recursive: true, force: true });
}

/** An index folder's manifest and row ids, checked, without the FAISS file: all BM25 needs of it. */
export function readIndexRows(dir: string): { manifest: IndexManifest; ids: string[] } {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new KitError(`index folder ${dir} does not exist; build the index first`);
  if (!fs.existsSync(path.join(dir, MANIFEST_FILE))) throw new KitError(`index folder ${dir} has no ${MANIFEST_FILE}; rebuild the index`);
  const manifest = readJson(dir, MANIFEST_FILE) as IndexManifest;
  const fields: [keyof IndexManifest, string][] = [["embedder", "string"], ["dimension", "number"], ["factory", "string"], ["count", "number"], ["ids", "string"]];
  for (const [key, type] of fields) {
    if (typeof manifest?.[key] !== type) throw new KitError(`index folder ${dir}: manifest.json has no ${type} "${key}"; rebuild the index`);
  }
  try {
    parseFactory(manifest.factory);
  } catch (e) {
    throw new KitError(`index folder ${dir}: manifest.json has an ${(e as Error).message}; rebuild the index`);
  }
  if (manifest.metric !== "inner_product") throw new KitError(`index folder ${dir}: manifest.json metric is ${JSON.stringify(manifest.metric)}, the kit only reads "inner_product"; rebuild the index`);
  if (!fs.existsSync(path.join(dir, manifest.ids))) throw new KitError(`index folder ${dir} has no ${manifest.ids}; rebuild the index`);
  assertChecksum(dir, manifest, manifest.ids);
  const ids = readJson(dir, manifest.ids);
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string")) throw new KitError(`index folder ${dir}: ${manifest.ids} is not an array of ids; rebuild the index`);
  if (ids.length !== manifest.count) throw new KitError(`index folder ${dir}: ${manifest.ids} has ${ids.length} ids but manifest.json says ${manifest.count}; rebuild the index`);
  return { manifest, ids };
}

/** Loads an index folder written by saveIndex, checking its three files agree. */
export function loadIndex(dir: string): VectorIndex {
  const { manifest, ids } = readIndexRows(dir);
  if (!fs.existsSync(path.join(dir, INDEX_FILE))) throw new KitError(`index folder ${dir} has no ${INDEX_FILE}; rebuild the index`);
  assertChecksum(dir, manifest, INDEX_FILE);
  let faiss: Index;
  try {
    faiss = Index.read(path.join(dir, INDEX_FILE));
  } catch (e) {
    throw new KitError(`index folder ${dir}: ${INDEX_FILE} is not a FAISS index (${(e as Error).message.split("\n")[0]}); rebuild the index`);
  }
  if (faiss.ntotal() !== manifest.count || faiss.getDimension() !== manifest.dimension) {
    throw new KitError(`index folder ${dir}: ${INDEX_FILE} holds ${faiss.ntotal()} vectors of dimension ${faiss.getDimension()} but manifest.json says ${manifest.count} of ${manifest.dimension}; rebuild the index`);
  }
  return { faiss, ids, manifest, rowsPerChunk: mostRowsPerChunk(ids) };
}

/** Throws unless `file` of an index folder has the sha256 its manifest records (folders written before kit 0.3 record none). */
export function assertChecksum(dir: string, manifest: IndexManifest, file: string): void {
  const recorded = manifest.checksums?.[file];
  if (recorded !== undefined && digestFile(path.join(dir, file)) !== recorded) {
    throw new KitError(`index folder ${dir}: ${file} is not the file its manifest.json records (changed after it was written); rebuild the index`);
  }
}

function mostRowsPerChunk(ids: readonly string[]): number {
  const rows = new Map<string, number>();
  for (const id of ids) rows.set(id, (rows.get(id) ?? 0) + 1);
  return Math.max(1, ...rows.values());
}

function readJson(dir: string, file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
  } catch (e) {
    throw new KitError(`index folder ${dir}: ${file} is not valid JSON (${(e as Error).message}); rebuild the index`);
  }
}

/** Throws unless queries are embedded with the embedder the index was built with. */
export function assertEmbedder(manifest: IndexManifest, spec: string, dir: string): void {
  if (manifest.embedder !== spec) {
    throw new KitError(`index ${dir} was built with embedder ${manifest.embedder}; you searched with ${spec}; use --embedder ${manifest.embedder} or rebuild the index`);
  }
}

/** Top-k distinct ids (best first, score = inner product of the best row) for each query; k is clamped to the index size. */
export function searchIndex(index: VectorIndex, queries: Float32Array | readonly Float32Array[], k: number): SearchHit[][] {
  if (!Number.isInteger(k) || k < 1) throw new KitError(`k (results per query) must be a positive integer, got ${k}`);
  const list = queries instanceof Float32Array ? [queries] : queries;
  const { dimension, embedder, factory } = index.manifest;
  for (const q of list) {
    if (q.length !== dimension) throw new KitError(`query vector has dimension ${q.length} but the index (embedder ${embedder}) has ${dimension}`);
  }
  const count = index.faiss.ntotal();
  const keep = Math.min(k, count);
  const wanted = keep * index.rowsPerChunk;
  const ask = Math.min(parseFactory(factory).kind === "hnsw" ? Math.max(wanted, HNSW_MIN_K) : wanted, count);
  const results: SearchHit[][] = [];
  for (let at = 0; at < list.length; at += ROWS_PER_CALL) {
    const { distances, labels } = index.faiss.search(flatten(list, at, Math.min(at + ROWS_PER_CALL, list.length)), ask);
    for (let q = 0; q * ask < labels.length; q++) {
      const hits: SearchHit[] = [];
      const seen = new Set<string>();
      // FAISS pads with -1 when an approximate index finds fewer than `ask` neighbours.
      for (let r = q * ask; r < (q + 1) * ask && hits.length < keep; r++) {
        const id = index.ids[labels[r]];
        if (labels[r] < 0 || seen.has(id)) continue;
        seen.add(id);
        hits.push({ id, score: distances[r] });
      }
      results.push(hits);
    }
  }
  return results;
}
