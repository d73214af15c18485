import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createEmbedder, type Embedder } from "../lib/embedders";
import { cachedEmbedder, describeEmbeddingCache, PART_TEXTS, embedderFolder, embeddingCacheDir, embeddingCacheMaxBytes } from "../lib/embedding-cache";
import { KitError } from "../lib/errors";
import { FAKE_DIMENSION, fakeEmbedder, fakeVector } from "./helpers/embedding-cache-writer";
import { startOllamaServer } from "./helpers/ollama-server";

const saved = { ...process.env };
let tmp = "";

// Every test gets a cache folder of its own; the settings are put back after.
test.before.each(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-embedding-cache-"));
  process.env.KIT_CACHE_DIR = tmp;
  delete process.env.KIT_EMBEDDING_CACHE;
  delete process.env.KIT_EMBEDDING_CACHE_MAX_BYTES;
});
test.after.each(() => {
  for (const name of ["KIT_CACHE_DIR", "KIT_EMBEDDING_CACHE", "KIT_EMBEDDING_CACHE_MAX_BYTES"]) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

const texts = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `text-${from + i}`);
const bytesOf = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
const segments = (spec = "fake") => {
  const folder = embedderFolder(embeddingCacheDir(), spec, FAKE_DIMENSION);
  return fs.existsSync(folder) ? fs.readdirSync(folder).filter((f) => f.endsWith(".seg")).map((f) => path.join(folder, f)) : [];
};

function assertVectors(actual: Float32Array[], names: string[], role: "query" | "passage" = "passage") {
  assert.is(actual.length, names.length);
  actual.forEach((v, i) => assert.ok(bytesOf(v).equals(bytesOf(fakeVector(names[i], role))), `vector of ${names[i]}`));
}

test("where it lives: KIT_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache; settings are checked", () => {
  assert.is(embeddingCacheDir({ KIT_CACHE_DIR: "/x" }), "/x/embeddings");
  assert.is(embeddingCacheDir({ XDG_CACHE_HOME: "/y" }), "/y/retrieval-dataset-kit/embeddings");
  assert.is(embeddingCacheDir({}), path.join(os.homedir(), ".cache", "retrieval-dataset-kit", "embeddings"));
  assert.is(embeddingCacheMaxBytes({}), 2 * 1024 ** 3);
  assert.is(embeddingCacheMaxBytes({ KIT_EMBEDDING_CACHE_MAX_BYTES: "512M" }), 512 * 1024 ** 2);
  assert.is(embeddingCacheMaxBytes({ KIT_EMBEDDING_CACHE_MAX_BYTES: "1000" }), 1000);
  assert.throws(() => embeddingCacheMaxBytes({ KIT_EMBEDDING_CACHE_MAX_BYTES: "lots" }), (e: Error) => e instanceof KitError && /KIT_EMBEDDING_CACHE_MAX_BYTES must be/.test(e.message));
  process.env.KIT_EMBEDDING_CACHE = "maybe";
  assert.throws(() => cachedEmbedder(fakeEmbedder()), (e: Error) => e instanceof KitError && /KIT_EMBEDDING_CACHE must be "on" or "off"/.test(e.message));
});

test("a miss is embedded once and written; a later cache (another process) reads it back byte for byte", async () => {
  const inner = fakeEmbedder();
  const first = cachedEmbedder(inner);
  assertVectors(await first.embed(["text-0", "text-1", "text-0"]), ["text-0", "text-1", "text-0"]);
  assert.equal(inner.calls, [["passage:text-0", "passage:text-1"]], "each distinct miss once, in one call");
  assert.is(segments().length, 1);
  const about = JSON.parse(fs.readFileSync(path.join(path.dirname(segments()[0]), "spec.json"), "utf8"));
  assert.equal(about, { spec: "fake", identity: "fake", dimension: FAKE_DIMENSION });

  const again = fakeEmbedder();
  const second = cachedEmbedder(again);
  assertVectors(await second.embed(["text-1", "text-2", "text-0"]), ["text-1", "text-2", "text-0"]);
  assert.equal(again.calls, [["passage:text-2"]], "only the new text is embedded");
  assert.is(segments().length, 2, "one new segment per call with misses");
  assert.equal(await second.embed([]), []);
});

test("role and spec are part of the key", async () => {
  await cachedEmbedder(fakeEmbedder()).embed(["same"]);
  const inner = fakeEmbedder();
  assertVectors(await cachedEmbedder(inner).embed(["same"], "query"), ["same"], "query");
  const other = fakeEmbedder("other-spec");
  await cachedEmbedder(other).embed(["same"]);
  assert.equal([inner.calls, other.calls], [[["query:same"]], [["passage:same"]]]);
  const specs = describeEmbeddingCache().embedders.map((e) => `${e.spec}: ${e.vectors}`).sort();
  assert.equal(specs, ["fake: 2", "other-spec: 1"]);
});

test("createEmbedder caches by default; cache: false and KIT_EMBEDDING_CACHE=off write nothing", async () => {
  const server = await startOllamaServer({ models: ["nomic-embed-text"] });
  const embeds = () => server.requests["/api/embed"];
  try {
    for (let run = 0; run < 2; run++) {
      const e = await createEmbedder("ollama:nomic-embed-text", { ollamaHost: server.url });
      await e.embed(["roll back a deployment", "pods"], "query");
    }
    assert.is(embeds(), 2 + 1, "two probes, and the texts embedded once");
    const uncached = await createEmbedder("ollama:nomic-embed-text", { ollamaHost: server.url, cache: false });
    await uncached.embed(["pods"], "query");
    assert.is(embeds(), 3 + 2);
  } finally {
    await server.close();
  }
  process.env.KIT_EMBEDDING_CACHE = "off";
  fs.rmSync(tmp, { recursive: true });
  const inner = fakeEmbedder();
  const off = cachedEmbedder(inner);
  assert.is(off, inner, "off: the embedder itself");
  await off.embed(texts(3));
  await off.embed(texts(3));
  assert.is(inner.calls.length, 2);
  assert.not.ok(fs.existsSync(tmp), "nothing written");
});

test("misses go to the embedder a part at a time, each part stored: a call stopped partway keeps the parts before", async () => {
  let parts = 0;
  const failing: Embedder = { ...fakeEmbedder(), embed: async (t, role) => (++parts === 3 ? Promise.reject(new Error("killed")) : fakeEmbedder().embed(t, role)) };
  const seen: Array<[number, number]> = [];
  const stopped = await cachedEmbedder(failing, { partSize: 4, onPart: (before, misses) => seen.push([before, misses]) })
    .embed(texts(10))
    .catch((e: Error) => e.message);
  assert.is(stopped, "killed");
  assert.equal(seen, [[0, 10], [4, 10], [8, 10]]);
  assert.is(segments().length, 2, "the two parts embedded before the failure");
  const again = fakeEmbedder();
  assertVectors(await cachedEmbedder(again, { partSize: 4 }).embed(texts(10)), texts(10));
  assert.equal(again.calls, [["passage:text-8", "passage:text-9"]], "only the part that failed is embedded again");
});

test("createEmbedder reports one call's progress across the cache's parts", async () => {
  const server = await startOllamaServer({ models: ["nomic-embed-text"] });
  try {
    const progress: Array<[number, number]> = [];
    const e = await createEmbedder("ollama:nomic-embed-text", { ollamaHost: server.url, batchSize: 512, onProgress: (done, total) => progress.push([done, total]) });
    await e.embed(texts(PART_TEXTS + 100));
    assert.ok(progress.every(([, total]) => total === PART_TEXTS + 100), "one total");
    assert.ok(progress.every(([done], i) => i === 0 || done > progress[i - 1][0]), "counts up across parts");
    assert.equal(progress.at(-1), [PART_TEXTS + 100, PART_TEXTS + 100]);
    const segs = fs.readdirSync(embeddingCacheDir(), { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".seg"));
    assert.is(segs.length, 2, "a segment a part");

    // With the cache off the backend reports its own progress, as before.
    process.env.KIT_EMBEDDING_CACHE = "off";
    progress.length = 0;
    const off = await createEmbedder("ollama:nomic-embed-text", { ollamaHost: server.url, batchSize: 512, onProgress: (done, total) => progress.push([done, total]) });
    await off.embed(texts(600));
    assert.equal(progress, [[512, 600], [600, 600]]);
  } finally {
    await server.close();
  }
});

test("two writer processes at once leave a whole, readable cache; a reader meanwhile never gets a torn vector", async () => {
  const count = 600;
  const writer = path.join(__dirname, "helpers", "embedding-cache-writer.ts");
  const tsx = path.join(__dirname, "..", "node_modules", ".bin", "tsx");
  const run = (start: number) =>
    new Promise<number | null>((resolve) => spawn(tsx, [writer, String(count), String(start), "7"], { stdio: "inherit" }).on("exit", resolve));
  const writers = [run(0), run(count / 3)];
  let done = false;
  void Promise.all(writers).then(() => (done = true));
  let reads = 0;
  while (!done) {
    // A fresh reader each time, as a new process would be: it indexes whatever segments exist now.
    const reader = fakeEmbedder();
    const names = texts(50, (reads * 37) % (count - 50));
    assertVectors(await cachedEmbedder(reader).embed(names), names);
    reads++;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(await Promise.all(writers), [0, 0]);
  const reader = fakeEmbedder();
  assertVectors(await cachedEmbedder(reader).embed(texts(count)), texts(count));
  // The reads above stored what they missed too; after the writers, nothing is missing.
  assert.equal(reader.calls, [], `all ${count} texts cached (${reads} reads during the writes)`);
});

test("a killed writer's temp file and a truncated segment are ignored; a stale temp is removed", async () => {
  await cachedEmbedder(fakeEmbedder()).embed(texts(4));
  const [segment] = segments();
  const folder = path.dirname(segment);
  const gone = spawnSync(process.execPath, ["-e", ""]).pid!;
  const temp = path.join(folder, `zzz.seg.tmp-${gone}`);
  fs.writeFileSync(temp, fs.readFileSync(segment).subarray(0, 40));
  fs.writeFileSync(path.join(folder, "zzz-cut.seg"), fs.readFileSync(segment).subarray(0, 100));
  const inner = fakeEmbedder();
  assertVectors(await cachedEmbedder(inner).embed(texts(5)), texts(5));
  assert.equal(inner.calls, [["passage:text-4"]]);
  assert.not.ok(fs.existsSync(temp), "the dead writer's temp file is removed when a cache opens");
});

test("non-finite stored vectors and a segment of another dimension are misses, embedded again", async () => {
  await cachedEmbedder(fakeEmbedder()).embed(texts(3));
  const [segment] = segments();
  const data = fs.readFileSync(segment);
  // The second vector's third value becomes NaN: header 16 bytes, 3 keys of 32, vectors of 8 float32s.
  data.writeFloatLE(NaN, 16 + 3 * 32 + FAKE_DIMENSION * 4 + 2 * 4);
  fs.writeFileSync(segment, data);
  const inner = fakeEmbedder();
  assertVectors(await cachedEmbedder(inner).embed(texts(3)), texts(3));
  assert.equal(inner.calls, [["passage:text-1"]]);

  // A header that claims another dimension (its size then fits no segment of ours) is skipped whole.
  fs.rmSync(path.dirname(segment), { recursive: true });
  await cachedEmbedder(fakeEmbedder()).embed(texts(2));
  const [other] = segments();
  const bad = fs.readFileSync(other);
  bad.writeUInt32LE(4, 8);
  bad.writeUInt32LE(4, 12);
  fs.writeFileSync(other, bad);
  const again = fakeEmbedder();
  await cachedEmbedder(again).embed(texts(2));
  assert.equal(again.calls, [["passage:text-0", "passage:text-1"]]);
  // Nor are non-finite vectors from an embedder ever stored.
  const nan = { ...fakeEmbedder("nan"), embed: async (t: string[]) => t.map(() => new Float32Array(FAKE_DIMENSION).fill(NaN)) };
  await cachedEmbedder(nan).embed(["x"]);
  assert.equal(segments("nan"), []);
});

test("over the byte bound, the least recently written or read segments go first", async () => {
  const segmentBytes = 16 + 10 * (32 + FAKE_DIMENSION * 4);
  process.env.KIT_EMBEDDING_CACHE_MAX_BYTES = String(3 * segmentBytes);
  const cache = cachedEmbedder(fakeEmbedder());
  for (let k = 0; k < 3; k++) {
    const before = segments();
    await cache.embed(texts(10, 10 * k));
    const [written] = segments().filter((f) => !before.includes(f));
    // File times a second apart, oldest first, whatever the file system's resolution.
    const when = new Date(Date.now() - (10 - k) * 1000);
    fs.utimesSync(written, when, when);
  }
  assert.is(segments().length, 3);
  // Reading the oldest renews it; the next write then evicts the second.
  await cachedEmbedder(fakeEmbedder()).embed(texts(1, 0));
  await cache.embed(texts(10, 30));
  assert.is(segments().length, 3);
  const inner = fakeEmbedder();
  await cachedEmbedder(inner).embed(texts(40));
  assert.equal(inner.calls, [texts(10, 10).map((t) => `passage:${t}`)], "the second batch was evicted");
  assert.ok(describeEmbeddingCache().bytes <= 3 * segmentBytes);
});

test("kit cache shows the cache and kit cache --clear empties it", async () => {
  await cachedEmbedder(fakeEmbedder()).embed(texts(5));
  const kit = (...args: string[]) => spawnSync(process.execPath, ["bin/kit.js", "cache", ...args], { encoding: "utf8", env: { ...process.env, KIT_CACHE_DIR: tmp } });
  const shown = kit();
  assert.is(shown.status, 0, shown.stderr);
  assert.match(shown.stdout, `embedding cache: ${path.join(tmp, "embeddings")}`);
  assert.match(shown.stdout, /fake \(8-d\): 5 vectors in 1 segments/);
  const cleared = kit("--clear");
  assert.is(cleared.status, 0, cleared.stderr);
  assert.match(cleared.stdout, /removed .* \(5 vectors/);
  assert.not.ok(fs.existsSync(embeddingCacheDir()));
  assert.match(kit().stdout, /empty/);
  const inner = fakeEmbedder();
  await cachedEmbedder(inner).embed(texts(5));
  assert.is(inner.calls.length, 1, "cleared: embedded again");
});

test.run();
