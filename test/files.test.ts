import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KitError } from "../lib/errors";
import { readJsonl, writeJsonlAtomic } from "../lib/files";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-files-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const kitError = (run: () => unknown): string => {
  try {
    run();
  } catch (e) {
    assert.instance(e, KitError);
    return (e as Error).message;
  }
  throw new Error("expected a KitError");
};

test("JSON lines round-trip across read blocks, multi-byte characters split between blocks included", () => {
  const file = path.join(tmp, "big.jsonl");
  // 3 MB rows of 1-4 byte characters: lines and characters straddle the 8 MB blocks the reader takes.
  const text = "aé€😀".repeat(300_000);
  const rows = Array.from({ length: 12 }, (_, i) => ({ i, text: i % 2 ? text : text.slice(1) }));
  writeJsonlAtomic(file, rows);
  assert.ok(fs.statSync(file).size > 3 * 8 * 2 ** 20, "spans several blocks");
  assert.equal(readJsonl(file), rows);
  assert.equal(fs.readdirSync(tmp), ["big.jsonl"], "no temp file left");
});

test("readJsonl keeps only the rows `keep` accepts, skips blank lines, and reads a last line with no newline", () => {
  const file = path.join(tmp, "keep.jsonl");
  fs.writeFileSync(file, '{"n":1}\n\n{"n":2}\r\n{"n":3}');
  assert.equal(readJsonl<{ n: number }>(file, (r) => r.n !== 2), [{ n: 1 }, { n: 3 }]);
  assert.equal(readJsonl(file).length, 3);
});

test("a bad line is an error naming the file and its line; a missing file names the file", () => {
  const file = path.join(tmp, "bad.jsonl");
  fs.writeFileSync(file, '{"n":1}\n\n{"n":\n');
  assert.is(kitError(() => readJsonl(file)), `${file}:3: not valid JSON; each line must be one JSON object`);
  assert.is(kitError(() => readJsonl(path.join(tmp, "nope.jsonl"))), `${path.join(tmp, "nope.jsonl")}: cannot read it (missing or not a file)`);
  assert.is(kitError(() => readJsonl(tmp)), `${tmp}: cannot read it (missing or not a file)`);
});

test("a write that fails part way leaves the previous file whole and no temp file", () => {
  const file = path.join(tmp, "keep-old.jsonl");
  writeJsonlAtomic(file, [{ old: true }]);
  function* rows() {
    yield { n: 1 };
    yield { n: 2n }; // JSON.stringify throws on a BigInt
  }
  assert.match(kitError(() => writeJsonlAtomic(file, rows())), `cannot write ${file}: `);
  assert.equal(readJsonl(file), [{ old: true }]);
  assert.equal(fs.readdirSync(tmp).filter((f) => f.startsWith("keep-old")), ["keep-old.jsonl"]);
  assert.match(kitError(() => writeJsonlAtomic(path.join(file, "x.jsonl"), [])), "is a file, not a folder");
});

test.run();
