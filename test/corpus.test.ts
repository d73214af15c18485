import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describeSkipped, loadCorpus, markdownToText, type SkippedLink } from "../lib/corpus";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-corpus-"));
const write = (name: string, data: string | Buffer) => {
  const file = path.join(tmp, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
  return file;
};

test("HTML tables become rows of cells, images go, headings stay", () => {
  const md = [
    "# Power",
    "",
    "![](images/a.jpg)",
    '<html><body><table><tr><td>Battery</td><td colspan="2">Ampere-hours &amp; <b>state</b></td></tr><tr><td>A</td><td>99</td><td></td></tr></table></body></html>',
    "Text with <img src=x.png> inline.<!-- note -->",
  ].join("\n");
  assert.is(markdownToText(md), "# Power\n\nBattery | Ampere-hours & state\nA | 99 |\n\nText with  inline.");
});

test("loads a file as one source and a folder as one source per markdown file, in order", () => {
  const file = write("one.md", "# One\r\n\r\nBody.");
  assert.equal(loadCorpus(file), [{ source: path.basename(file), text: "# One\n\nBody." }]);
  write("dir/b.md", "B");
  write("dir/sub/a.markdown", "A");
  write("dir/notes.txt", "ignored");
  assert.equal(loadCorpus(path.join(tmp, "dir")).map((d) => [d.source, d.text]), [["b.md", "B"], ["sub/a.markdown", "A"]]);
});

test("bad input gives one-line errors naming the file", () => {
  const cases: [string, RegExp][] = [
    [path.join(tmp, "missing.md"), /missing\.md: no such file or folder/],
    [path.dirname(write("empty-dir/x.txt", "x")), /empty-dir is a folder with no \.md files/],
    [write("empty.md", " \n\n"), /empty\.md is empty/],
    [write("binary.md", Buffer.from([0x23, 0x00, 0x41])), /binary\.md holds binary data/],
    [write("latin1.md", Buffer.from([0x63, 0x61, 0x66, 0xe9])), /latin1\.md is not valid UTF-8/],
    [(fs.symlinkSync("itself.md", path.join(tmp, "itself.md")), path.join(tmp, "itself.md")), /itself\.md is a symlink loop/],
  ];
  for (const [file, message] of cases) {
    try {
      loadCorpus(file);
      assert.unreachable(`${file} loaded`);
    } catch (err) {
      assert.instance(err, Error);
      assert.match((err as Error).message, message);
      assert.not.match((err as Error).message, /\n/);
      assert.is((err as Error).name, "KitError");
    }
  }
});

const link = (name: string, target: string) => {
  const file = path.join(tmp, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.symlinkSync(target, file);
};

/** Loads a folder, returning its sources and the symlinks skipped. */
function load(dir: string): { sources: string[]; skipped: SkippedLink[] } {
  const skipped: SkippedLink[] = [];
  const sources = loadCorpus(path.join(tmp, dir), { onSkip: (s) => skipped.push(s) }).map((d) => d.source);
  return { sources, skipped };
}

test("symlink loops in a corpus folder are detected: each file is read once", () => {
  // One loop per folder: two in one made the old code's walk exponential, a hang rather than a failure.
  write("loop/a.md", "A");
  link("loop/again", ".");
  link("loop/self.md", "self.md");
  assert.equal(load("loop"), { sources: ["a.md"], skipped: [{ source: "again", reason: "loop" }, { source: "self.md", reason: "loop" }] });
  write("loop-up/sub/b.md", "B");
  link("loop-up/sub/up", "..");
  assert.equal(load("loop-up"), { sources: ["sub/b.md"], skipped: [{ source: "sub/up", reason: "loop" }] });
});

test("symlinks leading out of a corpus folder are not followed", () => {
  write("outside/secret.md", "not part of the corpus");
  write("out/a.md", "A");
  link("out/shared", path.join(tmp, "outside"));
  link("out/secret.md", "../outside/secret.md");
  assert.equal(load("out"), {
    sources: ["a.md"],
    skipped: [{ source: "secret.md", reason: "outside" }, { source: "shared", reason: "outside" }],
  });
});

test("a dangling .md symlink is skipped, not a stack trace", () => {
  write("dangling/a.md", "A");
  link("dangling/gone.md", "nowhere.md");
  assert.equal(load("dangling"), { sources: ["a.md"], skipped: [{ source: "gone.md", reason: "dangling" }] });
});

test("a symlink inside the folder is read once, and only if its file is not read anyway", () => {
  write("inside/a.md", "A");
  write("inside/notes.txt", "Notes");
  write("inside/docs/b.md", "B");
  link("inside/alias.md", "a.md");
  link("inside/notes.md", "notes.txt");
  link("inside/notes2.md", "notes.txt");
  link("inside/more", "docs");
  const docs = loadCorpus(path.join(tmp, "inside"));
  assert.equal(docs.map((d) => [d.source, d.text]), [["a.md", "A"], ["docs/b.md", "B"], ["notes.md", "Notes"]]);
  assert.equal(load("inside").skipped, [
    { source: "alias.md", reason: "duplicate" },
    { source: "more", reason: "duplicate" },
    { source: "notes2.md", reason: "duplicate" },
  ]);
});

test("skipped symlinks are counted by reason, for the summary", () => {
  assert.is(describeSkipped([]), "");
  const skipped: SkippedLink[] = [{ source: "a", reason: "outside" }, { source: "b", reason: "loop" }, { source: "c", reason: "outside" }];
  assert.is(describeSkipped(skipped), "3 symlinks skipped (2 outside the folder, 1 loop)");
  assert.is(describeSkipped(skipped.slice(1, 2)), "1 symlink skipped (1 loop)");
});

test("a UTF-16 file is called UTF-16, with the iconv command that converts it", () => {
  const text = "# Title\n\nSome text in UTF-16.";
  const be = Buffer.from(text, "utf16le").swap16();
  const cases: [string, Buffer, string][] = [
    ["le-bom.md", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]), "UTF-16"],
    ["be-bom.md", Buffer.concat([Buffer.from([0xfe, 0xff]), be]), "UTF-16"],
    ["le.md", Buffer.from(text, "utf16le"), "UTF-16LE"],
    ["be.md", be, "UTF-16BE"],
  ];
  for (const [name, bytes, encoding] of cases) {
    const file = write(`utf16/${name}`, bytes);
    assert.throws(() => loadCorpus(file), (err: Error) => err.name === "KitError" && err.message === `corpus ${file} is ${encoding}, not UTF-8; convert it: iconv -f ${encoding} -t UTF-8 "${file}" > "${file}.utf8" && mv "${file}.utf8" "${file}"`);
  }
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
