// Vector index build and search on every chunk of the KEP corpus: Flat (exact) vs HNSW32, and IVF<sqrt n>,Flat
// (which faiss-node can only search with FAISS's default nprobe of 1), measured in one run. Each index is
// built and searched in its own child process, so peak RSS figures are separate.
// Usage: node_modules/.bin/tsx bench/index.ts [--vectors use-lite|random] [--queries N] [--chunks N (first N only, for a quick run)]
//   use-lite (default): the kit's default embedder; vectors are cached in datasets/.cache/ because
//   embedding ~20k chunks takes ~20 minutes on 2 cores. random: seeded unit vectors, 512-d.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fork } from "node:child_process";
import { chunkDocuments } from "../lib/chunking";
import { loadCorpus } from "../lib/corpus";
import { writeFileAtomic } from "../lib/files";
import { progress } from "../lib/progress";
import { buildIndex, searchIndex } from "../lib/vector-index";

const CORPUS = "../shared/corpora/kubernetes_keps.md";
const CACHE = "datasets/.cache";
const EMBEDDER = "use-lite";
const RANDOM_DIM = 512;
const K = 10;
const SINGLE_QUERIES = 100;

interface Job {
  factory: string;
  vectors: string;
  queries: string;
  dim: number;
  embedder: string;
}

interface Measured {
  factory: string;
  buildSeconds: number;
  batchQps: number;
  singleQps: number;
  maxRssMb: number;
  top: string[][];
}

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at > 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}

function rows(buffer: Buffer, dim: number): Float32Array[] {
  const all = new Float32Array(buffer.buffer, buffer.byteOffset, buffer.byteLength / 4);
  return Array.from({ length: all.length / dim }, (_, i) => all.subarray(i * dim, (i + 1) * dim));
}

function toBuffer(vectors: readonly Float32Array[]): Buffer {
  return Buffer.concat(vectors.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)));
}

function normalise(v: Float32Array): Float32Array {
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

/** Seeded Gaussian unit vectors (Box-Muller over an LCG), so runs compare. */
function randomUnitVectors(n: number, dim: number, seed: number): Float32Array[] {
  let s = seed >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 1) / (2 ** 32 + 1);
  const gauss = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return Array.from({ length: n }, () => normalise(Float32Array.from({ length: dim }, gauss)));
}

/** Cached use-lite vectors of these chunks, embedding them (and filling the cache) when it is stale. */
async function embeddedVectors(texts: string[]): Promise<{ file: string; dim: number }> {
  const key = crypto.createHash("sha256").update(EMBEDDER).update(JSON.stringify(texts)).digest("hex").slice(0, 16);
  const file = path.join(CACHE, `kep-${EMBEDDER}-${texts.length}.f32`);
  const metaFile = path.join(CACHE, `kep-${EMBEDDER}-${texts.length}.json`);
  if (fs.existsSync(metaFile) && fs.existsSync(file)) {
    const meta = JSON.parse(fs.readFileSync(metaFile, "utf8"));
    if (meta.key === key && fs.statSync(file).size === meta.count * meta.dim * 4) {
      console.log(`vectors: using the cache ${file} (${meta.count} x ${meta.dim}, ${EMBEDDER}); delete it to re-embed`);
      return { file, dim: meta.dim };
    }
  }
  console.log(`vectors: embedding ${texts.length} chunks with ${EMBEDDER} (no valid cache in ${CACHE}); this takes a while`);
  // Imported here so that --vectors random runs without loading an embedder.
  const { createEmbedder } = await import("../lib/embedders");
  const bar = progress("embedding", texts.length);
  const embedder = await createEmbedder(EMBEDDER, { onProgress: (done) => bar.update(done) });
  const started = process.hrtime.bigint();
  try {
    const vectors = await embedder.embed(texts, "passage");
    bar.done();
    console.log(`vectors: embedded in ${seconds(started).toFixed(0)} s -> ${file}`);
    writeFileAtomic(file, toBuffer(vectors));
    writeFileAtomic(metaFile, JSON.stringify({ key, embedder: embedder.spec, count: vectors.length, dim: vectors[0].length }) + "\n");
    return { file, dim: vectors[0].length };
  } finally {
    await embedder.close?.();
  }
}

/** Queries near chunks, as questions about them are: cosine 0.8 to an evenly spaced chunk, the rest noise. */
function nearbyQueries(vectors: readonly Float32Array[], n: number): Float32Array[] {
  const noise = randomUnitVectors(n, vectors[0].length, 7);
  return noise.map((u, i) => {
    const v = vectors[Math.floor((i * vectors.length) / n)];
    // Remove u's component along v so the mix has exactly the intended cosine.
    const along = v.reduce((sum, x, j) => sum + x * u[j], 0);
    const ortho = normalise(u.map((x, j) => x - along * v[j]));
    return normalise(v.map((x, j) => 0.8 * x + 0.6 * ortho[j]));
  });
}

function measure(job: Job): Measured {
  const vectors = rows(fs.readFileSync(job.vectors), job.dim);
  const queries = rows(fs.readFileSync(job.queries), job.dim);
  const ids = vectors.map((_, i) => `chunk_${i + 1}`);
  let t = process.hrtime.bigint();
  const index = buildIndex(vectors, ids, { factory: job.factory, embedder: job.embedder });
  const buildSeconds = seconds(t);
  t = process.hrtime.bigint();
  const results = searchIndex(index, queries, K);
  const batchQps = queries.length / seconds(t);
  t = process.hrtime.bigint();
  for (const q of queries.slice(0, SINGLE_QUERIES)) searchIndex(index, q, K);
  const singleQps = SINGLE_QUERIES / seconds(t);
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  return { factory: job.factory, buildSeconds, batchQps, singleQps, maxRssMb, top: results.map((hits) => hits.map((h) => h.id)) };
}

function inChild(job: Job): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ["--child"]);
    child.once("message", (m) => resolve(m as Measured));
    child.once("error", reject);
    child.once("exit", (code) => code === 0 || reject(new Error(`${job.factory} child exited with ${code}`)));
    child.send(job);
  });
}

async function main() {
  const mode = arg("--vectors", EMBEDDER);
  if (mode !== EMBEDDER && mode !== "random") throw new Error(`--vectors must be ${EMBEDDER} or random, got ${mode}`);
  const nQueries = Number(arg("--queries", "1000"));
  const all = chunkDocuments(loadCorpus(CORPUS));
  const chunks = all.slice(0, Number(arg("--chunks", String(all.length))));
  console.log(`corpus ${CORPUS}: ${chunks.length} of ${all.length} chunks (default chunking); ${os.cpus().length} CPUs`);

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "kit-bench-index-"));
  try {
    let source: { file: string; dim: number };
    if (mode === "random") {
      console.log(`vectors: random unit vectors, ${RANDOM_DIM}-d (no embedder)`);
      source = { file: path.join(scratch, "vectors.f32"), dim: RANDOM_DIM };
      fs.writeFileSync(source.file, toBuffer(randomUnitVectors(chunks.length, RANDOM_DIM, 1)));
    } else {
      source = await embeddedVectors(chunks.map((c) => c.text));
    }
    const queriesFile = path.join(scratch, "queries.f32");
    fs.writeFileSync(queriesFile, toBuffer(nearbyQueries(rows(fs.readFileSync(source.file), source.dim), nQueries)));
    console.log(`queries: ${nQueries}, each at cosine 0.8 to an evenly spaced chunk; top ${K}; batch = one searchIndex call, single = ${SINGLE_QUERIES} calls of one query`);

    const measured: Measured[] = [];
    for (const factory of ["Flat", "HNSW32", `IVF${Math.round(Math.sqrt(chunks.length))},Flat`]) {
      const m = await inChild({ factory, vectors: source.file, queries: queriesFile, dim: source.dim, embedder: mode });
      measured.push(m);
      console.log(
        `${factory.padEnd(10)} build ${m.buildSeconds.toFixed(2)} s | batch ${m.batchQps.toFixed(0)} q/s | single ${m.singleQps.toFixed(0)} q/s | peak RSS ${m.maxRssMb.toFixed(0)} MB`,
      );
    }
    const [flat, ...approximate] = measured;
    for (const m of approximate) {
      let found = 0;
      m.top.forEach((top, q) => {
        const exact = new Set(flat.top[q]);
        found += top.filter((id) => exact.has(id)).length;
      });
      console.log(
        `${m.factory} vs Flat: build time ${(m.buildSeconds / flat.buildSeconds).toFixed(1)}x | batch q/s ${(m.batchQps / flat.batchQps).toFixed(2)}x | ` +
          `single q/s ${(m.singleQps / flat.singleQps).toFixed(2)}x | recall@${K} ${(found / (K * flat.top.length)).toFixed(3)}`,
      );
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv.includes("--child")) {
  process.once("message", (job) => {
    process.send!(measure(job as Job), () => process.exit(0));
  });
} else {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
