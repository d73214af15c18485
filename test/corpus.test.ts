import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadCorpus, markdownToText } from "../lib/corpus";

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

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
