import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..");

test("the README's layout names every file and folder of lib/, and nothing that is not there", () => {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const block = /## Layout\n[\s\S]*?```\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, "a ## Layout section with a tree");
  const named = new Set(block!.match(/[\w.-]+\.(?:ts|py|md)\b|[\w-]+\/(?=\s)/g));
  const missing = fs.readdirSync(path.join(ROOT, "lib"), { withFileTypes: true })
    .filter((e) => e.isDirectory() || e.name.endsWith(".ts"))
    .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
    .filter((name) => !named.has(name));
  assert.equal(missing, [], "lib/ entries the layout does not name");
  const everything = new Set(fs.readdirSync(path.join(ROOT, "lib"), { recursive: true }).map((f) => path.basename(String(f))));
  const gone = [...named].filter((name) => name.endsWith(".ts") && !everything.has(name));
  assert.equal(gone, [], "files the layout names that lib/ does not hold");
});

test.run();
