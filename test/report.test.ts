import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Chunk } from "../lib/chunking";
import { checkParaphrase } from "../lib/quality";
import type { Question } from "../lib/questions";
import { qualityReport } from "../lib/report";

const CHROMIUM = "/usr/bin/chromium";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-report-"));
const HOSTILE = `Oxygen tank 2 failed at 55:54:53. <script>document.title = "pwned"; document.body.insertAdjacentHTML("beforeend", "<p id=pwned>ran</p>")</script> <img src=x onerror="document.title='pwned'">`;

async function report(): Promise<string> {
  const chunks: Chunk[] = [{ chunk_id: "chunk_1", text: HOSTILE, source: "a.md", start: 0, end: HOSTILE.length }];
  const texts = ["At 55:54:53 oxygen tank 2 failed. <script>alert(1)</script>", "Please provide the text you want rewritten.", "Tank 2 failed at 61:10:00 because of a short. <b>bold</b>"];
  const paraphrases = texts.map((text, i) => ({ paraphrase_id: `chunk_1_s_${i + 1}`, chunk_id: "chunk_1", paragraph_index: null, style: ["reworded", "reordered", "condensed"][i], text, model: "test" }));
  const checks = texts.map((t) => checkParaphrase(HOSTILE, t));
  const questions: Question[] = [{ id: "chunk_1_q1", chunk_id: "chunk_1", question: "When did <i>it</i> fail?", answer: "55:54:53", difficulty: "easy", window: ["chunk_1"], model: "test", prompt_version: "v", status: "rejected", reason: "<script>x</script>" }];
  return qualityReport({ title: "Quality <report>", generator: "test", chunks, questions, paraphrases, checks, originals: texts.map(() => HOSTILE), environments: { paraphrased: { rows: 1, chunks: 1, covered: 1, by_paraphrase: 1, by_original_only: 0 } } });
}

test("corpus and model text is escaped, and the charts are inline SVG", async () => {
  const html = await report();
  assert.not.match(html, /<script/i);
  assert.not.match(html, /<img/i);
  assert.match(html, /&#60;script&#62;document\.title/);
  assert.ok((html.match(/<svg/g) ?? []).length >= 2, "charts");
  assert.match(html, /Content-Security-Policy/);
});

test("in headless Chromium no script from the corpus runs, and the page renders", async () => {
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`  skipped: ${CHROMIUM} is not installed (scripts/setup.sh installs Debian's chromium)`);
    return;
  }
  const file = path.join(tmp, "report.html");
  fs.writeFileSync(file, await report());
  const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--user-data-dir=${path.join(tmp, "profile")}`];
  const dom = spawnSync(CHROMIUM, [...flags, "--dump-dom", `file://${file}`], { encoding: "utf8", timeout: 60_000 });
  assert.is(dom.status, 0, dom.stderr);
  assert.match(dom.stdout, /<title>Quality &lt;report&gt;<\/title>/, "the title no script changed");
  assert.not.match(dom.stdout, /id="pwned"/);
  assert.match(dom.stdout, /&lt;script&gt;document\.title = "pwned"/, "the script shows as text");
  const png = path.join(tmp, "report.png");
  const shot = spawnSync(CHROMIUM, [...flags, `--screenshot=${png}`, "--window-size=1200,2000", `file://${file}`], { encoding: "utf8", timeout: 60_000 });
  assert.is(shot.status, 0, shot.stderr);
  assert.ok(fs.statSync(png).size > 10_000, "a screenshot with something on it");
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
