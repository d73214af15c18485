import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

// Issue 25.1: the notebooks' kernel is the user's own `retrieval-kit`, named after no checkout.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-kernel-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const install = (dataDir: string) => spawnSync("bash", ["scripts/install-kernel.sh"], { encoding: "utf8", env: { ...process.env, JUPYTER_DATA_DIR: dataDir } });

test("setup registers retrieval-kit under JUPYTER_DATA_DIR only, naming no checkout; again, it changes nothing", () => {
  const machineWide = "/usr/local/share/jupyter/kernels/tslab/kernel.json";
  const before = fs.existsSync(machineWide) ? fs.statSync(machineWide).mtimeMs : undefined;
  const dataDir = path.join(tmp, "jupyter");
  const first = install(dataDir);
  assert.is(first.status, 0, first.stderr);
  assert.match(first.stdout, `registering the retrieval-kit Jupyter kernel in ${dataDir}/kernels/retrieval-kit`);
  assert.equal(fs.readdirSync(path.join(dataDir, "kernels")), ["retrieval-kit"]);
  const spec = JSON.parse(fs.readFileSync(path.join(dataDir, "kernels", "retrieval-kit", "kernel.json"), "utf8"));
  assert.equal(spec.argv.slice(0, 2), ["bash", "{resource_dir}/launch.sh"]);
  assert.not.match(JSON.stringify(spec), process.cwd(), "no checkout's path in it");
  const again = install(dataDir);
  assert.is(again.status, 0);
  assert.is(again.stdout, "", "already registered: nothing written");
  assert.is(fs.existsSync(machineWide) ? fs.statSync(machineWide).mtimeMs : undefined, before, "tslab's own kernel untouched");
});

test("the kernel started outside a checkout says where to open the notebooks, in one line", () => {
  const launcher = path.join(tmp, "jupyter", "kernels", "retrieval-kit", "launch.sh");
  const r = spawnSync("bash", [launcher, "kernel"], { cwd: tmp, encoding: "utf8" });
  assert.is(r.status, 1);
  assert.is(r.stderr.trim(), `retrieval-kit kernel: ${fs.realpathSync(tmp)} is not inside a retrieval-dataset-kit checkout; open the notebooks under its notebooks/ folder`);
});

test("nbconvert shows numbered cells and a failed cell's error by name and message", () => {
  // In notebooks/, where the kernel finds this checkout; removed after.
  const notebook = path.join("notebooks", `.kernel-test-${process.pid}.ipynb`);
  const cell = (source: string) => ({ cell_type: "code", execution_count: null, metadata: {}, outputs: [], source: [source] });
  const kernelspec = { display_name: "TypeScript (retrieval kit)", language: "typescript", name: "retrieval-kit" };
  fs.writeFileSync(notebook, JSON.stringify({ cells: [cell("const a: number = 1;\nconsole.log(a);"), cell('throw new TypeError("boom here");')], metadata: { kernelspec }, nbformat: 4, nbformat_minor: 5 }));
  const nbconvert = (...args: string[]) => spawnSync("/usr/bin/python3", ["-m", "jupyter", "nbconvert", "--to", "html", "--execute", ...args, notebook, "--output-dir", tmp], { encoding: "utf8", timeout: 240_000 });
  try {
    const shown = nbconvert("--allow-errors");
    assert.is(shown.status, 0, shown.stderr);
    const html = fs.readFileSync(path.join(tmp, `.kernel-test-${process.pid}.html`), "utf8");
    assert.equal(html.match(/In&nbsp;\[[^\]]*\]/g), ["In&nbsp;[1]", "In&nbsp;[2]"]);
    const failed = nbconvert();
    assert.is.not(failed.status, 0);
    assert.match(failed.stderr, /CellExecutionError[\s\S]*TypeError: boom here/);
  } finally {
    fs.rmSync(notebook, { force: true });
  }
});

test.run();
