import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { KitError } from "../lib/errors";
import { digestFile } from "../lib/files";
import { assertEmbedder, buildIndex, loadIndex, readIndexRows, saveIndex, searchIndex, type SearchHit, type VectorIndex } from "../lib/vector-index";
import { version } from "../package.json";

const PYTHON = "/usr/bin/python3";
const HELPER = path.join(__dirname, "helpers", "faiss_check.py");
const DIM = 32;
const EMBEDDER = "test-embedder";

/** Seeded, so failures reproduce. */
function randomUnitVectors(n: number, dim: number, seed: number): Float32Array[] {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  return Array.from({ length: n }, () => {
    const v = Float32Array.from({ length: dim }, next);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

const VECTORS = randomUnitVectors(300, DIM, 1);
const IDS = VECTORS.map((_, i) => `chunk_${i + 1}`);
const QUERIES = randomUnitVectors(20, DIM, 2);

function bruteForce(query: Float32Array, k: number): SearchHit[] {
  return VECTORS.map((v, i) => ({ id: IDS[i], score: v.reduce((sum, x, j) => sum + x * query[j], 0) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "kit-vector-index-"));
}

function kitError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.instance(e, KitError);
    const message = (e as Error).message;
    assert.not.match(message, "\n", "one-line message");
    return message;
  }
  throw new assert.Assertion({ message: "expected a KitError", operator: "throws", generated: false, actual: undefined, expects: "KitError" });
}

function build(factory?: string, vectors = VECTORS, ids = IDS): VectorIndex {
  return buildIndex(vectors, ids, { factory, embedder: EMBEDDER });
}

function savedIndex(factory?: string): { dir: string; index: VectorIndex } {
  const dir = path.join(tempDir(), "index");
  const index = build(factory);
  saveIndex(index, dir);
  return { dir, index };
}

test("Flat returns the exact neighbours, best first, with inner-product scores", () => {
  const index = build();
  assert.is(index.manifest.factory, "Flat");
  const results = searchIndex(index, QUERIES, 10);
  assert.is(results.length, QUERIES.length);
  results.forEach((hits, q) => {
    const expected = bruteForce(QUERIES[q], 10);
    assert.equal(hits.map((h) => h.id), expected.map((h) => h.id));
    hits.forEach((h, r) => assert.ok(Math.abs(h.score - expected[r].score) < 1e-5, `score of rank ${r}`));
  });
});

test("one query vector gives one result list; k above the count is clamped", () => {
  const index = build("Flat", VECTORS.slice(0, 5), IDS.slice(0, 5));
  const results = searchIndex(index, QUERIES[0], 50);
  assert.is(results.length, 1);
  assert.is(results[0].length, 5);
  assert.equal(new Set(results[0].map((h) => h.id)), new Set(IDS.slice(0, 5)));
});

test("many queries (more than one faiss call) match one-by-one search", () => {
  const index = build();
  const many = randomUnitVectors(2500, DIM, 3);
  const batched = searchIndex(index, many, 3);
  assert.is(batched.length, many.length);
  for (const q of [0, 2047, 2048, 2499]) {
    const alone = searchIndex(index, many[q], 3)[0];
    assert.equal(batched[q].map((h) => h.id), alone.map((h) => h.id), `query ${q}`);
    // Batches go through BLAS, single queries not: scores agree to float precision only.
    batched[q].forEach((h, r) => assert.ok(Math.abs(h.score - alone[r].score) < 1e-5, `query ${q} rank ${r} score`));
  }
});

test("HNSW32 finds each stored vector first and nearly all exact neighbours", () => {
  const index = build("HNSW32");
  assert.is(index.faiss.ntotal(), VECTORS.length);
  const self = searchIndex(index, VECTORS.slice(0, 50), 1);
  self.forEach((hits, i) => assert.is(hits[0].id, IDS[i]));
  let found = 0;
  searchIndex(index, QUERIES, 10).forEach((hits, q) => {
    const exact = new Set(bruteForce(QUERIES[q], 10).map((h) => h.id));
    found += hits.filter((h) => exact.has(h.id)).length;
  });
  assert.ok(found / (10 * QUERIES.length) >= 0.9, `recall@10 ${found / (10 * QUERIES.length)}`);
});

test("IVF trains on the vectors and finds each stored vector first", () => {
  const index = build("IVF4,Flat");
  assert.ok(index.faiss.isTrained());
  assert.is(index.faiss.ntotal(), VECTORS.length);
  searchIndex(index, VECTORS.slice(0, 50), 1).forEach((hits, i) => {
    assert.is(hits[0].id, IDS[i]);
    assert.ok(Math.abs(hits[0].score - 1) < 1e-5);
  });
});

test("IVF with fewer vectors than lists is a KitError saying what to use", () => {
  assert.match(kitError(() => build("IVF16,Flat", VECTORS.slice(0, 10), IDS.slice(0, 10))), /IVF16,Flat needs at least 16 vectors .* got 10; use Flat$/);
  assert.match(kitError(() => build("IVF400,Flat")), /needs at least 400 vectors .* got 300; use IVF7,Flat or Flat$/);
});

test("unsupported factory strings are a one-line KitError", () => {
  for (const factory of ["PQ8", "HNSW", "HNSW1", "IVF0,Flat", "IVF16", "IVF16,PQ8", "flat", "Flat "]) {
    assert.match(kitError(() => build(factory)), `unsupported index factory "${factory}": use Flat, HNSW<M>`);
  }
});

test("bad vectors are KitErrors naming the chunk", () => {
  assert.match(kitError(() => buildIndex([], [], { embedder: EMBEDDER })), "no vectors to index");
  assert.match(kitError(() => build("Flat", VECTORS, IDS.slice(1))), "300 vectors but 299 chunk ids");
  assert.match(kitError(() => build("Flat", [VECTORS[0], VECTORS[1].map((x) => x * 2)], IDS.slice(0, 2))), /chunk_2 has L2 norm 2(\.0*\d*)?;.* L2-normalised/);
  assert.match(kitError(() => build("Flat", [VECTORS[0], VECTORS[1].map(() => NaN)], IDS.slice(0, 2))), "chunk_2 has L2 norm NaN");
  assert.match(kitError(() => build("Flat", [VECTORS[0], VECTORS[1].slice(1)], IDS.slice(0, 2))), "chunk_2 has dimension 31, the first has 32");
});

test("rows sharing an id give distinct ids, each at its best row's score", () => {
  // Three rows per chunk: the 300 vectors grouped into 100 chunks.
  const shared = IDS.map((_, i) => `chunk_${Math.floor(i / 3) + 1}`);
  const index = build("Flat", VECTORS, shared);
  for (const q of QUERIES) {
    const [hits] = searchIndex(index, q, 5);
    const expected: SearchHit[] = [];
    for (const hit of bruteForce(q, 300)) {
      const chunk = shared[IDS.indexOf(hit.id)];
      if (!expected.some((e) => e.id === chunk)) expected.push({ id: chunk, score: hit.score });
    }
    assert.equal(hits.map((h) => h.id), expected.slice(0, 5).map((e) => e.id));
    hits.forEach((h, i) => assert.ok(Math.abs(h.score - expected[i].score) < 1e-5));
  }
});

test("bad queries are KitErrors", () => {
  const index = build();
  assert.match(kitError(() => searchIndex(index, new Float32Array(8), 3)), "query vector has dimension 8 but the index (embedder test-embedder) has 32");
  assert.match(kitError(() => searchIndex(index, QUERIES, 0)), "k (results per query) must be a positive integer, got 0");
});

for (const factory of ["Flat", "HNSW32", "IVF4,Flat"]) {
  test(`save and load round trip (${factory})`, () => {
    const root = tempDir();
    const chunks = path.join(root, "chunks.jsonl");
    fs.writeFileSync(chunks, "");
    const dir = path.join(root, "index");
    const index = build(factory);
    saveIndex(index, dir, { chunks: path.relative(dir, chunks) });
    assert.equal(fs.readdirSync(dir).sort(), ["ids.json", "index.faiss", "manifest.json"]);
    assert.equal(fs.readdirSync(root).sort(), ["chunks.jsonl", "index"], "no temp folders left");
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")), {
      embedder: EMBEDDER,
      dimension: DIM,
      metric: "inner_product",
      factory,
      count: VECTORS.length,
      ids: "ids.json",
      chunks: "../chunks.jsonl",
      kit_version: version,
      checksums: { "ids.json": digestFile(path.join(dir, "ids.json")), "index.faiss": digestFile(path.join(dir, "index.faiss")) },
    });
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, "ids.json"), "utf8")), IDS);
    const loaded = loadIndex(dir);
    assert.equal(loaded.ids, IDS);
    assert.equal(loaded.manifest, JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")));
    assert.equal(searchIndex(loaded, QUERIES, 10), searchIndex(index, QUERIES, 10));
  });
}

test("saving over an index replaces it whole", () => {
  const { dir } = savedIndex();
  saveIndex(build("Flat", VECTORS.slice(0, 7), IDS.slice(0, 7)), dir);
  const loaded = loadIndex(dir);
  assert.is(loaded.manifest.count, 7);
  assert.is(loaded.manifest.chunks, undefined);
  assert.is(loaded.faiss.ntotal(), 7);
  assert.equal(fs.readdirSync(path.dirname(dir)), ["index"]);
});

test("a save that fails midway leaves the previous index (or nothing) and no temp folder", () => {
  const failing = (index: VectorIndex): VectorIndex => {
    const faiss = new Proxy(index.faiss, {
      get(target, prop) {
        if (prop === "write") {
          return (file: string) => {
            fs.writeFileSync(file, "half an index");
            throw new Error("disk full");
          };
        }
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    return { ...index, faiss };
  };
  const { dir } = savedIndex();
  assert.throws(() => saveIndex(failing(build("Flat", VECTORS.slice(0, 7), IDS.slice(0, 7))), dir), /disk full/);
  assert.is(loadIndex(dir).manifest.count, VECTORS.length);
  assert.equal(fs.readdirSync(path.dirname(dir)), ["index"]);

  const fresh = path.join(tempDir(), "index");
  assert.throws(() => saveIndex(failing(build()), fresh), /disk full/);
  assert.equal(fs.readdirSync(path.dirname(fresh)), []);
});

test("saving refuses a folder holding other files, and a missing chunks file", () => {
  const root = tempDir();
  fs.writeFileSync(path.join(root, "chunks.jsonl"), "{}\n");
  assert.match(kitError(() => saveIndex(build(), root)), `cannot save the index to ${root}: it holds other files (chunks.jsonl); give the index its own folder`);
  assert.equal(fs.readdirSync(root), ["chunks.jsonl"]);
  const dir = path.join(root, "index");
  fs.writeFileSync(path.join(root, "nope.jsonl"), "");
  assert.match(kitError(() => saveIndex(build(), dir, { chunks: "nope.jsonl" })), `chunks file nope.jsonl (relative to the index folder ${dir}) does not exist`);
  assert.not.ok(fs.existsSync(dir));
});

test("loading names the folder and what is wrong", () => {
  assert.match(kitError(() => loadIndex("/nonexistent/index")), "index folder /nonexistent/index does not exist");
  for (const file of ["index.faiss", "manifest.json", "ids.json"]) {
    const { dir } = savedIndex();
    fs.rmSync(path.join(dir, file));
    assert.match(kitError(() => loadIndex(dir)), `index folder ${dir} has no ${file}; rebuild the index`);
  }

  let { dir } = savedIndex();
  // Folders of kit 0.2 record no checksums: the files are checked against each other.
  const legacy = (folder: string) => {
    const file = path.join(folder, "manifest.json");
    const { checksums, ...manifest } = JSON.parse(fs.readFileSync(file, "utf8"));
    fs.writeFileSync(file, JSON.stringify(manifest));
  };
  legacy(dir);
  fs.writeFileSync(path.join(dir, "ids.json"), JSON.stringify(IDS.slice(1)));
  assert.match(kitError(() => loadIndex(dir)), `index folder ${dir}: ids.json has 299 ids but manifest.json says 300`);

  ({ dir } = savedIndex());
  legacy(dir);
  const manifestFile = path.join(dir, "manifest.json");
  const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8"));
  fs.writeFileSync(path.join(dir, "ids.json"), JSON.stringify([...IDS, "extra"]));
  fs.writeFileSync(manifestFile, JSON.stringify({ ...manifest, count: 301 }));
  assert.match(kitError(() => loadIndex(dir)), `index folder ${dir}: index.faiss holds 300 vectors of dimension 32 but manifest.json says 301 of 32`);

  fs.writeFileSync(manifestFile, "{");
  assert.match(kitError(() => loadIndex(dir)), `index folder ${dir}: manifest.json is not valid JSON`);
  fs.writeFileSync(manifestFile, JSON.stringify({ ...manifest, dimension: "32" }));
  assert.match(kitError(() => loadIndex(dir)), `manifest.json has no number "dimension"`);
  fs.writeFileSync(manifestFile, JSON.stringify({ ...manifest, factory: "PQ8" }));
  assert.match(kitError(() => loadIndex(dir)), `index folder ${dir}: manifest.json has an unsupported index factory "PQ8"`);
  fs.writeFileSync(manifestFile, JSON.stringify({ ...manifest, metric: "l2" }));
  assert.match(kitError(() => loadIndex(dir)), `manifest.json metric is "l2"`);

  ({ dir } = savedIndex());
  legacy(dir);
  fs.writeFileSync(path.join(dir, "index.faiss"), "not faiss");
  assert.match(kitError(() => loadIndex(dir)), `index folder ${dir}: index.faiss is not a FAISS index`);
});

test("an index file changed after it was written (vectors overwritten with NaN) is refused on load, by its checksum; NaN is refused at write", () => {
  const { dir } = savedIndex();
  const file = path.join(dir, "index.faiss");
  const bytes = fs.readFileSync(file);
  // The last vector's floats: Flat keeps the raw vectors at the end of the file.
  for (let at = bytes.length - DIM * 4; at < bytes.length; at += 4) bytes.writeFloatLE(NaN, at);
  fs.writeFileSync(file, bytes);
  assert.is(kitError(() => loadIndex(dir)), `index folder ${dir}: index.faiss is not the file its manifest.json records (changed after it was written); rebuild the index`);
  fs.writeFileSync(path.join(dir, "ids.json"), JSON.stringify([...IDS].reverse()));
  assert.match(kitError(() => readIndexRows(dir)), `index folder ${dir}: ids.json is not the file its manifest.json records`);
  const poisoned = VECTORS.map((v, i) => (i === 7 ? new Float32Array(DIM).fill(NaN) : v));
  assert.match(kitError(() => buildIndex(poisoned, IDS, { embedder: EMBEDDER })), `vector of chunk ${IDS[7]} has L2 norm NaN`);
});

test("assertEmbedder passes the same spec and names both specs otherwise", () => {
  const { manifest } = build();
  assertEmbedder(manifest, EMBEDDER, "datasets/k8s/index");
  assert.is(
    kitError(() => assertEmbedder(manifest, "ollama:nomic-embed-text", "datasets/k8s/index")),
    "index datasets/k8s/index was built with embedder test-embedder; you searched with ollama:nomic-embed-text; use --embedder test-embedder or rebuild the index",
  );
});

const pythonFaiss = spawnSync(PYTHON, ["-c", "import faiss"], { encoding: "utf8" });
const noPythonFaiss = pythonFaiss.error?.message ?? (pythonFaiss.status !== 0 ? pythonFaiss.stderr.trim().split("\n").pop() || `exit status ${pythonFaiss.status}` : undefined);
if (noPythonFaiss) console.log(`skipping the python3-faiss cross-check: ${PYTHON} cannot import faiss (${noPythonFaiss})`);

// k = 64 so HNSW gets no more candidates from the kit than from Python (the kit asks HNSW for at least 64).
for (const [factory, pythonClass] of [["Flat", "IndexFlat"], ["HNSW32", "IndexHNSWFlat"], ["IVF4,Flat", "IndexIVFFlat"]]) {
  (noPythonFaiss ? test.skip : test)(`python3-faiss reads the ${factory} index.faiss and finds the same neighbours`, () => {
    const { dir } = savedIndex(factory);
    const loaded = loadIndex(dir);
    const queriesFile = path.join(dir, "..", "queries.json");
    fs.writeFileSync(queriesFile, JSON.stringify(QUERIES.map((q) => Array.from(q))));
    const run = spawnSync(PYTHON, [HELPER, path.join(dir, "index.faiss"), queriesFile, "64"], { encoding: "utf8" });
    assert.is(run.status, 0, run.stderr);
    const python = JSON.parse(run.stdout);
    assert.equal([python.class, python.ntotal, python.d, python.metric_type], [pythonClass, VECTORS.length, DIM, 0]);
    searchIndex(loaded, QUERIES, 64).forEach((hits, q) => {
      const rows = (python.labels[q] as number[]).map((label, r) => ({ label, score: python.distances[q][r] as number })).filter((r) => r.label >= 0);
      assert.equal(hits.map((h) => h.id), rows.map((r) => IDS[r.label]), `query ${q}`);
      hits.forEach((h, r) => assert.ok(Math.abs(h.score - rows[r].score) < 1e-5, `query ${q} rank ${r} score`));
    });
  });
}

test("buildIndex takes the embedder itself as well as its spec", () => {
  const index = buildIndex(VECTORS.slice(0, 10), IDS.slice(0, 10), { embedder: { spec: "test-embedder" } });
  assert.is(index.manifest.embedder, "test-embedder");
});

test.run();
