import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { exportDataset, type ExportOptions, type ExportResult } from "../lib/export";
import { buildApolloPart, keepEveryParaphrase } from "./helpers/apollo-build";
import { fillDisk } from "./helpers/full-disk";
import { kitError } from "./helpers/throws-kit";
import { type OllamaServer, startOllamaServer } from "./helpers/ollama-server";

// Issue 23 item 4: an export kept as a Hugging Face repo clone is updated in place.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-export-in-place-"));
const dataset = path.join(tmp, "dataset");
const EDITED = "README.md was edited since the last export; kept it (pass --overwrite-readme to replace it with the new card)";
const NOT_OURS = "README.md was not written by kit export; kept it (pass --overwrite-readme to replace it with the new card)";
let server: OllamaServer;

test.before(async () => {
  server = await startOllamaServer({ models: ["nomic-embed-text"] });
  await buildApolloPart(tmp, dataset, server.url, 8_000);
  keepEveryParaphrase(dataset);
});
test.after(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const exportTo = (out: string, options: Partial<ExportOptions> = {}) => exportDataset({ dataset, out, ...options });
const git = (dir: string, ...args: string[]) => execFileSync("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { encoding: "utf8" });
const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");
const marker = (out: string) => JSON.parse(fs.readFileSync(path.join(out, ".kit-export"), "utf8"));
/** The export's parquet configs' files. */
const dataFiles = (result: ExportResult) => result.configs.flatMap((c) => c.splits.flatMap((s) => s.files));

/** Every file under `dir` but .git, with its sha256. */
function snapshot(dir: string): Record<string, string> {
  const files = (fs.readdirSync(dir, { recursive: true, encoding: "utf8" }) as string[]).filter((f) => !f.startsWith(".git/") && f !== ".git" && fs.statSync(path.join(dir, f)).isFile());
  return Object.fromEntries(files.sort().map((f) => [f, sha256(path.join(dir, f))]));
}

/** A repo clone with a commit: .gitattributes, the user's notes.txt and notes/ folder. */
function cloneWithUserFiles(out: string): void {
  git(out, "init", "-q");
  fs.writeFileSync(path.join(out, ".gitattributes"), "*.parquet filter=lfs diff=lfs merge=lfs -text\n");
  fs.writeFileSync(path.join(out, "notes.txt"), "mine\n");
  fs.mkdirSync(path.join(out, "notes"));
  fs.writeFileSync(path.join(out, "notes", "todo.md"), "- upload\n");
  git(out, "add", "-A");
  git(out, "commit", "-q", "-m", "first export");
}

/** `kit export` in a child process (asynchronous: the embedder's test server lives in this one), with full-disk.ts preloaded. */
async function kitExport(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["-r", "tsx/cjs", "-r", "./test/helpers/full-disk.ts", "bin/kit.js", "export", "--dataset", dataset, ...args], { env: { ...process.env, CI: "true", ...env } });
  let [stdout, stderr] = ["", ""];
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { code, stdout, stderr };
}

test("an export kept as a git clone is updated in place: .git, .gitattributes and the user's files stay, an edited README stays with a notice, shards it no longer writes go", async () => {
  const out = path.join(tmp, "repo");
  const first = await exportTo(out, { rowsPerShard: 2 });
  assert.equal(first.notices, []);
  const written = marker(out);
  assert.is(written.written_by, "kit export");
  const { ".kit-export": _, ...files } = snapshot(out);
  assert.equal(written.files, files, "the marker lists every file but itself, with its sha256");
  assert.not.ok(fs.existsSync(path.join(out, ".kit.lock")), "the lock is gone");

  cloneWithUserFiles(out);
  const head = git(out, "rev-parse", "HEAD");
  const card = path.join(out, "README.md");
  fs.appendFileSync(card, "\nOur own notes on this dataset.\n");
  const edited = fs.readFileSync(card, "utf8");
  assert.is(await kitError(() => exportTo(out)), `${out} already exists; pass --force to replace it`);

  const second = await exportTo(out, { force: true });
  assert.equal(second.notices, [EDITED]);
  assert.is(fs.readFileSync(card, "utf8"), edited, "the user's README is kept");
  assert.is(git(out, "rev-parse", "HEAD"), head);
  assert.match(git(out, "log", "--oneline"), "first export");
  assert.is(fs.readFileSync(path.join(out, "notes.txt"), "utf8"), "mine\n");
  assert.is(fs.readFileSync(path.join(out, "notes", "todo.md"), "utf8"), "- upload\n");
  assert.is(fs.readFileSync(path.join(out, ".gitattributes"), "utf8"), "*.parquet filter=lfs diff=lfs merge=lfs -text\n");
  const gone = dataFiles(first).filter((f) => !dataFiles(second).includes(f));
  assert.ok(gone.length > 0, "one shard a split now, where there were several");
  for (const file of gone) assert.not.ok(fs.existsSync(path.join(out, file)), file);
  for (const file of dataFiles(second)) assert.ok(fs.existsSync(path.join(out, file)), file);
  // git sees the user's README edit, the marker, and the shards that changed: nothing else.
  const changed = git(out, "status", "--porcelain", "--untracked-files=all").trimEnd().split("\n").map((line) => line.slice(3));
  assert.equal(changed.sort(), [".kit-export", "README.md", ...gone, ...dataFiles(second)].sort());
  assert.is(marker(out).files["README.md"], written.files["README.md"], "the card's checksum is still the last card's, so the README stays the user's");

  const third = await exportTo(out, { force: true, overwriteReadme: true });
  assert.equal(third.notices, []);
  assert.match(fs.readFileSync(card, "utf8"), /^---\n/);
  assert.not.match(fs.readFileSync(card, "utf8"), "Our own notes");
  assert.is(marker(out).files["README.md"], sha256(card));
  assert.equal((await exportTo(out, { force: true })).notices, [], "the card written is the kit's again");
  assert.equal(fs.readdirSync(out).filter((f) => f.includes(".tmp-") || f === ".kit.lock"), []);
});

test("a fresh clone of an empty Hub repo takes an export with --force; its README is the user's; any other folder without .kit-export is refused", async () => {
  const out = path.join(tmp, "hub-clone");
  fs.mkdirSync(out);
  git(out, "init", "-q");
  fs.writeFileSync(path.join(out, ".gitattributes"), "*.parquet filter=lfs\n");
  fs.writeFileSync(path.join(out, "README.md"), "---\nlicense: mit\n---\n");
  assert.is(await kitError(() => exportTo(out)), `${out} already exists; pass --force to replace it`);
  const result = await exportTo(out, { force: true });
  assert.equal(result.notices, [NOT_OURS]);
  assert.is(fs.readFileSync(path.join(out, "README.md"), "utf8"), "---\nlicense: mit\n---\n");
  assert.not.ok("README.md" in marker(out).files);
  assert.ok(fs.existsSync(path.join(out, ".git", "HEAD")));
  assert.equal((await exportTo(out, { force: true, overwriteReadme: true })).notices, []);
  assert.match(fs.readFileSync(path.join(out, "README.md"), "utf8"), "configs:");

  const mine = path.join(tmp, "not-an-export");
  fs.mkdirSync(mine);
  git(mine, "init", "-q");
  fs.writeFileSync(path.join(mine, "keep.txt"), "mine");
  assert.is(await kitError(() => exportTo(mine, { force: true })), `${mine} is not a kit export (it has no .kit-export), so --force will not replace it; choose another --out`);
  assert.equal(fs.readdirSync(mine).sort(), [".git", "keep.txt"], "nothing written");
});

test("an export from an earlier kit (a text .kit-export): files under the names the kit writes are its own, README.md the user's", async () => {
  const out = path.join(tmp, "old-marker");
  const first = await exportTo(out, { rowsPerShard: 2 });
  fs.writeFileSync(path.join(out, ".kit-export"), "written by kit export from dataset\n");
  fs.writeFileSync(path.join(out, "notes.txt"), "mine\n");
  const card = fs.readFileSync(path.join(out, "README.md"), "utf8");
  const second = await exportTo(out, { force: true });
  assert.equal(second.notices, [NOT_OURS]);
  assert.is(fs.readFileSync(path.join(out, "README.md"), "utf8"), card);
  for (const file of dataFiles(first).filter((f) => !dataFiles(second).includes(f))) assert.not.ok(fs.existsSync(path.join(out, file)), file);
  assert.ok(fs.existsSync(path.join(out, "notes.txt")));
  assert.equal(Object.keys(marker(out).files).sort(), Object.keys(snapshot(out)).filter((f) => ![".kit-export", "notes.txt", "README.md"].includes(f)));
});

test("a second export into a folder in use fails at once, naming the PID that holds it", async () => {
  const out = path.join(tmp, "locked");
  await exportTo(out);
  const before = snapshot(out);
  // This test process is alive, so its PID in the lock stands for a running export.
  fs.writeFileSync(path.join(out, ".kit.lock"), `${process.pid}\n`);
  const r = await kitExport(["--out", out, "--force"]);
  assert.is(r.code, 1);
  assert.is(r.stderr, `kit: ${out} is in use by another kit process (PID ${process.pid}, ${path.join(out, ".kit.lock")}); wait for it to finish or choose another --out\n`);
  assert.equal(snapshot(out), { ...before, ".kit.lock": sha256(path.join(out, ".kit.lock")) }, "nothing written, the holder's lock kept");
});

test("a full disk ends the export in one line and leaves the last export as it was; an export stopped midway is completed by the next", async () => {
  const out = path.join(tmp, "full");
  const first = await exportTo(out, { rowsPerShard: 2 });
  const before = snapshot(out);
  const undo = fillDisk(out);
  try {
    assert.is(await kitError(() => exportTo(out, { force: true })), `cannot write the export ${out}: no space left on the device; free some and run again`);
  } finally {
    undo();
  }
  assert.equal(snapshot(out), before, "the last export is untouched, no temp files or lock left");

  const cli = await kitExport(["--out", out, "--force"], { KIT_FULL_DISK: out });
  assert.is(cli.code, 1);
  assert.is(cli.stderr, `kit: cannot write the export ${out}: no space left on the device; free some and run again\n`);
  assert.equal(snapshot(out), before);

  // Stopped after its third file was moved in: the next export, with other shards, removes what either wrote before.
  const realFs = require("node:fs") as { renameSync: typeof fs.renameSync };
  const rename = realFs.renameSync;
  let moves = 0;
  realFs.renameSync = (from, to) => {
    const intoOut = String(from).includes(".kit-export-new.tmp-") && !String(to).includes(".kit-export-new.tmp-");
    if (intoOut && ++moves > 3) throw Object.assign(new Error("killed"), { code: "EINTR" });
    rename(from, to);
  };
  try {
    assert.is(await kitError(() => exportTo(out, { force: true, rowsPerShard: 3 })), `cannot write the export ${out}: killed`);
  } finally {
    realFs.renameSync = rename;
  }
  assert.is(moves, 4);
  const last = await exportTo(out, { force: true, rowsPerShard: 100 });
  const files = Object.keys(snapshot(out)).filter((f) => f.startsWith("data/"));
  assert.equal(files, dataFiles(last).sort());
  assert.ok(dataFiles(first).some((f) => !files.includes(f)));

  const plain = await kitExport(["--out", out, "--force"]);
  assert.is(plain.code, 0, plain.stderr);
  assert.not.match(plain.stdout, "README.md", "no notice");
  fs.appendFileSync(path.join(out, "README.md"), "edited\n");
  const kept = await kitExport(["--out", out, "--force"]);
  assert.is(kept.code, 0, kept.stderr);
  assert.is(kept.stdout.trimEnd().split("\n")[1], EDITED);
});

test.run();
