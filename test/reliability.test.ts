import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { loadMarkdownFile } from "../lib/corpus";
import { KitError } from "../lib/errors";
import { exportDataset } from "../lib/export";
import { acquireLock, readJsonl, writeFileAtomic } from "../lib/files";
import { buildIndex, saveIndex } from "../lib/vector-index";
import { type OllamaServer, startOllamaServer } from "./helpers/ollama-server";
import { throwsKit } from "./helpers/throws-kit";

// Issue 13's cases that live in the build, the CLI and the files it writes.
// The module object itself (an import's namespace only has getters), so a test can stand in for a full disk.
const realFs = require("node:fs") as { writeFileSync: typeof fs.writeFileSync; statfsSync: typeof fs.statfsSync };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-reliability-"));
const corpus = path.join(tmp, "apollo-part.md");
fs.writeFileSync(corpus, fs.readFileSync("datasets/corpora/apollo13_mission_report.md", "utf8").slice(0, 6_000));
let server: OllamaServer;
test.before(async () => {
  server = await startOllamaServer({ models: ["nomic-embed-text"] });
});
test.after(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const kitSync = (...args: string[]) => spawnSync(process.execPath, ["bin/kit.js", ...args], { encoding: "utf8", timeout: 60_000 });

/** A build of `from` through the test server's embedder, in a child process. */
const buildChild = (out: string, from: string, ...extra: string[]) =>
  spawn(process.execPath, ["bin/kit.js", "build", "--corpus", from, "--out", out, "--llm", "builtin", "--embedder", "ollama:nomic-embed-text", "--ollama-host", server.url, ...extra]);

/** A build through the test server's embedder; asynchronous, because that server lives in this process. */
async function build(out: string, ...extra: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return finished(buildChild(out, corpus, ...extra));
}

async function finished(child: ReturnType<typeof spawn>): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { code, stdout, stderr, ms: Date.now() - started };
}

/** One line on stderr, starting "kit: ", with no stack trace. */
function oneLineError(stderr: string): string {
  const lines = stderr.trim().split("\n");
  assert.is(lines.length, 1, stderr);
  assert.match(lines[0], /^kit: /);
  return lines[0];
}

test("1. --out under /proc fails at once with a one-line error instead of spinning", async () => {
  const r = await build("/proc/kitout");
  assert.is(r.code, 1);
  assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
  assert.match(oneLineError(r.stderr), "cannot create /proc/kitout");
});

test("2. a second build into a folder in use fails at once, naming the PID that holds it", async () => {
  const out = path.join(tmp, "locked");
  fs.mkdirSync(out);
  // This test process is alive, so its PID in the lock stands for a running build.
  fs.writeFileSync(path.join(out, ".kit.lock"), `${process.pid}\n`);
  const r = await build(out);
  assert.is(r.code, 1);
  assert.match(oneLineError(r.stderr), `is in use by another kit process (PID ${process.pid}`);
  assert.equal(fs.readdirSync(out), [".kit.lock"], "nothing written");
});

test("6. temp files of a dead run are removed by the next good run; a failed JSON write leaves none and says why", async () => {
  const out = path.join(tmp, "stale");
  fs.mkdirSync(out);
  // PID 2^22 + 1 is above Linux's pid_max, so no live process owns it.
  const stale = path.join(out, `chunks.jsonl.tmp-${2 ** 22 + 1}`);
  fs.writeFileSync(stale, "half a file");
  const r = await build(out, "--coverage-rounds", "0");
  assert.is(r.code, 0, r.stderr);
  assert.not.ok(fs.existsSync(stale));
  assert.equal((fs.readdirSync(out, { recursive: true }) as string[]).filter((f) => f.includes(".tmp-") || f === ".kit.lock"), []);

  const file = path.join(tmp, "full", "out.json");
  const write = realFs.writeFileSync;
  realFs.writeFileSync = (target, data, options) => {
    if (String(target).includes(".tmp-")) {
      write(target, String(data).slice(0, 3), options);
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    }
    return write(target, data, options);
  };
  try {
    assert.throws(() => writeFileAtomic(file, "{}"), (e: Error) => e instanceof KitError && e.message === `cannot write ${file}: no space left on the device; free some and run again`);
  } finally {
    realFs.writeFileSync = write;
  }
  assert.equal(fs.readdirSync(path.dirname(file)), [], "the temp file is gone");
});

test("6. a full disk is caught before FAISS writes (FAISS would abort the process)", () => {
  const vectors = [Float32Array.of(1, 0), Float32Array.of(0, 1)];
  const index = buildIndex(vectors, ["a", "b"], { embedder: "test" });
  const statfs = realFs.statfsSync;
  realFs.statfsSync = ((p: string) => ({ ...statfs(p), bavail: 1, bsize: 4096 })) as typeof fs.statfsSync;
  const dir = path.join(tmp, "index-full");
  try {
    assert.throws(() => saveIndex(index, dir), (e: Error) => e instanceof KitError && /^not enough space for the index .* MiB free; free some space and run again$/.test(e.message));
  } finally {
    realFs.statfsSync = statfs;
  }
  assert.not.ok(fs.existsSync(dir));
  assert.equal(fs.readdirSync(tmp).filter((f) => f.includes(".tmp-")), []);
});

test("7. search --queries F --out F and check-paraphrases --in F --out F refuse to overwrite their input; an empty queries file, or a blank query, is answered with no hits, as kit serve answers them", () => {
  const queries = path.join(tmp, "queries.jsonl");
  fs.writeFileSync(queries, '{"id": 1, "text": "oxygen tank"}\n');
  const same = kitSync("search", "--index", path.join(tmp, "stale", "faiss_index"), "--queries", queries, "--out", queries);
  assert.is(same.status, 1);
  assert.match(oneLineError(same.stderr), "is the --queries file");
  assert.is(fs.readFileSync(queries, "utf8"), '{"id": 1, "text": "oxygen tank"}\n');
  const empty = path.join(tmp, "empty.jsonl");
  fs.writeFileSync(empty, "");
  const hits = path.join(tmp, "hits.jsonl");
  fs.writeFileSync(hits, "earlier results\n");
  const r = kitSync("search", "--index", path.join(tmp, "stale", "faiss_index"), "--queries", empty, "--out", hits);
  assert.is(r.status, 0, r.stderr);
  assert.is(fs.readFileSync(hits, "utf8"), "");
  fs.writeFileSync(empty, '{"id": "a", "text": "  "}\n{"id": "b", "text": ""}\n');
  assert.is(kitSync("search", "--index", path.join(tmp, "stale", "faiss_index"), "--queries", empty, "--out", hits).status, 0);
  assert.equal(readJsonl(hits), [{ id: "a", hits: [] }, { id: "b", hits: [] }]);
});

test("10. weak messages: --chunk-size -5, --out at a file, an unknown --factory before any embedding, an ids.json row with no text", async () => {
  const negative = kitSync("chunk", "--corpus", corpus, "--out", path.join(tmp, "neg"), "--chunk-size", "-5");
  assert.match(oneLineError(negative.stderr), '--chunk-size must be an integer >= 1, got "-5"');

  const file = path.join(tmp, "a-file");
  fs.writeFileSync(file, "x");
  const atFile = await build(path.join(file, "out"));
  assert.match(oneLineError(atFile.stderr), `is a file, not a folder`);

  const factory = await build(path.join(tmp, "bad-factory"), "--factory", "PQ8");
  assert.match(oneLineError(factory.stderr), 'unsupported index factory "PQ8"');
  assert.not.ok(fs.existsSync(path.join(tmp, "bad-factory")), "nothing written, not even the folder");
  assert.is(server.received.filter((r) => r.path === "/api/embed" && JSON.stringify(r.body).includes("bad-factory")).length, 0);

  const index = path.join(tmp, "stray-ids");
  fs.cpSync(path.join(tmp, "stale", "faiss_index"), index, { recursive: true });
  fs.cpSync(path.join(tmp, "stale", "chunks.jsonl"), path.join(tmp, "chunks.jsonl"));
  // As a folder of kit 0.2, whose manifest records no checksums (else they catch the edit first).
  const { checksums, ...legacy } = JSON.parse(fs.readFileSync(path.join(index, "manifest.json"), "utf8"));
  fs.writeFileSync(path.join(index, "manifest.json"), JSON.stringify(legacy));
  const ids = JSON.parse(fs.readFileSync(path.join(index, "ids.json"), "utf8"));
  ids[0] = "chunk_999";
  fs.writeFileSync(path.join(index, "ids.json"), JSON.stringify(ids));
  const stray = kitSync("search", "--index", index, "--query", "oxygen");
  assert.match(oneLineError(stray.stderr), "row chunk_999 of ids.json is not in");
});

test("10. a failed build leaves no cache folder behind", async () => {
  const out = path.join(tmp, "no-model");
  const r = await build(out, "--llm", "ollama:no-such-model");
  assert.is(r.code, 1);
  assert.match(oneLineError(r.stderr), 'has no model "no-such-model"');
  assert.not.ok(fs.existsSync(path.join(out, "cache")));
  assert.not.ok(fs.existsSync(path.join(out, ".kit.lock")));
});

test("8. the card escapes failure reasons and refuses a --name that is not a name", async () => {
  const dataset = path.join(tmp, "stale");
  const buildFile = path.join(dataset, "build.json");
  const record = JSON.parse(fs.readFileSync(buildFile, "utf8"));
  record.failures = { "question failed: server said <script>alert(1)</script> | `x`": 2 };
  fs.writeFileSync(buildFile, JSON.stringify(record));
  const out = path.join(tmp, "hf");
  await exportDataset({ dataset, out });
  const card = fs.readFileSync(path.join(out, "README.md"), "utf8");
  assert.not.match(card, "<script>");
  assert.match(card, "server said \\<script\\>alert(1)\\</script\\> \\| \\`x\\`");
  const bad = await exportDataset({ dataset, out: path.join(tmp, "hf2"), name: "x\n<img src=x onerror=alert(1)>" }).catch((e: Error) => e.message);
  assert.match(String(bad), /^--name ".*" must be letters, digits, spaces and _ \. \/ -/s);
});

// Issue 23: one build, one dataset.
const readers = (dataset: string) => ({
  export: kitSync("export", "--dataset", dataset, "--out", path.join(tmp, `hf-${path.basename(dataset)}`)),
  serve: kitSync("serve", "--dataset", dataset, "--port", "0"),
  search: kitSync("search", "--dataset", dataset, "--query", "oxygen tank"),
  "eval-retrieval": kitSync("eval-retrieval", "--dataset", dataset),
});

test("23.1 a rebuild on an edited corpus, killed after its questions, cannot be exported, served, searched or evaluated; finishing it makes them work", async () => {
  // Embedding requests wait while `hold` is set: the rebuild is killed once its questions are written, before the
  // checks' embeddings are answered, whatever the machine's speed.
  let hold = false;
  const gated = await startOllamaServer({ models: ["nomic-embed-text"], latencyMs: () => (hold ? 120_000 : 0) });
  const env = { ...process.env, KIT_EMBEDDING_CACHE: "off" };
  const kit = (out: string, from: string) =>
    spawn(process.execPath, ["bin/kit.js", "build", "--corpus", from, "--out", out, "--llm", "builtin", "--embedder", "ollama:nomic-embed-text", "--ollama-host", gated.url, "--coverage-rounds", "0"], { env });
  try {
    const out = path.join(tmp, "edited");
    assert.is((await finished(kit(out, corpus))).code, 0);
    const first = JSON.parse(fs.readFileSync(path.join(out, "build.json"), "utf8")).build.id;
    const edited = path.join(tmp, "apollo-edited.md");
    fs.writeFileSync(edited, fs.readFileSync("datasets/corpora/apollo13_mission_report.md", "utf8").slice(3_000, 20_000)); // large enough for a kept paraphrase, which export needs
    const child = kit(out, edited);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    // The rebuild's stages so far (the finished build's build.json is there until the rebuild starts).
    const stages = () => {
      try {
        const state = JSON.parse(fs.readFileSync(path.join(out, "build.json"), "utf8"));
        return state.build.status === "running" ? state.stages : {};
      } catch {
        return {};
      }
    };
    for (let waited = 0; !stages().questions; waited += 10) {
      assert.ok(waited < 60_000, "the rebuild never finished its questions");
      if (stages().index) hold = true;
      await sleep(10);
    }
    child.kill("SIGKILL"); // a crash: no handler runs
    await exited;
    hold = false;
    const state = JSON.parse(fs.readFileSync(path.join(out, "build.json"), "utf8"));
    assert.is(state.build.status, "running");
    assert.is.not(state.build.id, first, "another corpus, another build");
    for (const [command, r] of Object.entries(readers(out))) {
      assert.is(r.status, 1, `${command}: ${r.stdout}`);
      const line = oneLineError(r.stderr);
      assert.match(line, `kit: ${out}: build ${state.build.id} is unfinished (stopped after its questions stage; env/original/ is still from build ${first}); `, `${command}: ${line}`);
      assert.match(line, `run kit build --corpus ${edited} --out ${out} --llm builtin --ollama-host ${gated.url} --coverage-rounds 0 --embedder ollama:nomic-embed-text to finish it`, command);
    }

    assert.is((await finished(kit(out, edited))).code, 0);
    const search = kitSync("search", "--dataset", out, "--query", "oxygen tank");
    assert.is(search.status, 0, search.stderr);
    const exported = kitSync("export", "--dataset", out, "--out", path.join(tmp, "hf-edited-done"));
    assert.is(exported.status, 0, exported.stderr);
  } finally {
    await gated.close();
  }
});

test("23.1 a dataset whose build is running, or whose chunks a lone kit chunk rewrote, is refused in one line naming what to do", async () => {
  const out = path.join(tmp, "stale");
  const release = acquireLock(out, "--out", () => {});
  try {
    for (const [command, r] of Object.entries(readers(out))) {
      assert.is(r.status, 1, command);
      assert.match(oneLineError(r.stderr), `${out} is being built right now (kit process ${process.pid} holds ${path.join(out, ".kit.lock")}); wait for that build to finish`, command);
    }
  } finally {
    release();
  }
  const copy = path.join(tmp, "rechunked");
  fs.cpSync(out, copy, { recursive: true });
  fs.writeFileSync(path.join(copy, "build.json"), fs.readFileSync(path.join(copy, "build.json"), "utf8").replaceAll(out, copy));
  const rechunk = kitSync("chunk", "--corpus", corpus, "--out", copy, "--chunk-size", "500");
  assert.is(rechunk.status, 0);
  assert.match(rechunk.stdout, `note: ${copy} holds a kit build, which chunks.jsonl no longer matches: kit export, serve, search and eval-retrieval refuse it until kit build runs there again`);
  const r = kitSync("search", "--dataset", copy, "--query", "oxygen tank");
  assert.match(oneLineError(r.stderr), `${path.join(copy, "chunks.jsonl")} is not the file build `);
  assert.match(oneLineError(r.stderr), `in its chunk stage (it changed since, e.g. by kit chunk or kit index), so the dataset is not that build any more; run kit build --corpus ${corpus} --out ${copy}`);
});

test("23.5 vectors overwritten with NaN are refused on load: by the build's digests, and by the index's own checksums", () => {
  const dataset = path.join(tmp, "poisoned");
  fs.cpSync(path.join(tmp, "stale"), dataset, { recursive: true });
  const file = path.join(dataset, "env", "original", "index.faiss");
  const bytes = fs.readFileSync(file);
  for (let at = bytes.length - 64; at < bytes.length; at += 4) bytes.writeFloatLE(NaN, at);
  fs.writeFileSync(file, bytes);
  const viaDataset = kitSync("search", "--dataset", dataset, "--retriever", "dense", "--query", "oxygen tank", "--ollama-host", server.url);
  assert.match(oneLineError(viaDataset.stderr), `${file} is not the file build `);
  const viaIndex = kitSync("search", "--index", path.dirname(file), "--retriever", "dense", "--query", "oxygen tank", "--ollama-host", server.url);
  assert.match(oneLineError(viaIndex.stderr), `index folder ${path.dirname(file)}: index.faiss is not the file its manifest.json records`);
});

test("23.5 a build deletes nothing it did not write; a lock whose PID another program now has is taken over", async () => {
  const out = path.join(tmp, "foreign");
  fs.mkdirSync(path.join(out, "faiss_index_paraphrased"), { recursive: true });
  fs.writeFileSync(path.join(out, "faiss_index_paraphrased", "mine.txt"), "the user's");
  const dead = 2 ** 22 + 1;
  fs.writeFileSync(path.join(out, `notes.txt.tmp-${dead}`), "the user's");
  fs.writeFileSync(path.join(out, `chunks.jsonl.tmp-${dead}`), "the kit's, half written");
  // PID 1 is alive, but it did not start at that tick: another program holds the PID now.
  fs.writeFileSync(path.join(out, ".kit.lock"), "1\n999999999\n");
  const r = await build(out, "--coverage-rounds", "0");
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr + r.stdout, "taking over the lock of process 1, which is gone (its PID now belongs to another program)");
  assert.ok(fs.existsSync(path.join(out, "faiss_index_paraphrased", "mine.txt")));
  assert.ok(fs.existsSync(path.join(out, `notes.txt.tmp-${dead}`)));
  assert.not.ok(fs.existsSync(path.join(out, `chunks.jsonl.tmp-${dead}`)));
});

test("23.5 a FIFO as --corpus fails at once; a corpus file removed while loading is one line", () => {
  const fifo = path.join(tmp, "corpus.fifo");
  spawnSync("mkfifo", [fifo]);
  const started = Date.now();
  const r = kitSync("chunk", "--corpus", fifo, "--out", path.join(tmp, "fifo-out"));
  assert.ok(Date.now() - started < 20_000);
  assert.match(oneLineError(r.stderr), `corpus ${fifo} is not a regular file or a folder (a pipe or a device?)`);
  throwsKit(() => loadMarkdownFile(path.join(tmp, "gone.md")), /^corpus .*gone\.md: cannot read it \(no such file or folder \(was it removed meanwhile\?\)\)/);
});

test.run();
