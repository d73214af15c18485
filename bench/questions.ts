// The questions stage alone, on one thread: the builtin's questions (3 a chunk) for the Apollo report and the first
// 400,000 bytes of the KEP corpus (cut back to a line end), with the seconds each took and a hash of the rows, so a
// change meant to be only faster (answer grounding, say) can show the same hash in less time.
// Usage: node_modules/.bin/tsx bench/questions.ts
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chunkDocuments } from "../lib/chunking";
import { loadCorpus } from "../lib/corpus";
import { createBuiltinGenerator } from "../lib/generators/builtin";
import { generateQuestions } from "../lib/questions";

const APOLLO = "datasets/corpora/apollo13_mission_report.md";
const KEP = "../shared/corpora/kubernetes_keps.md";
const SLICE_BYTES = 400_000;

async function main() {
  const corpora = [APOLLO];
  if (fs.existsSync(KEP)) {
    const text = fs.readFileSync(KEP, "utf8").slice(0, SLICE_BYTES);
    const slice = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "kit-bench-questions-")), "kep-slice.md");
    fs.writeFileSync(slice, text.slice(0, text.lastIndexOf("\n") + 1));
    corpora.push(slice);
  }
  console.log(`questions bench: builtin, 3 a chunk, one thread, load average ${os.loadavg()[0].toFixed(1)} at the start`);
  for (const corpus of corpora) {
    const chunks = chunkDocuments(loadCorpus(corpus));
    const generator = createBuiltinGenerator({ threads: 1 });
    const started = Date.now();
    const rows = await generateQuestions(chunks, generator, { perChunk: 3, onProgress: () => {} });
    const seconds = (Date.now() - started) / 1000;
    await generator.close();
    const hash = createHash("sha256").update(JSON.stringify(rows)).digest("hex").slice(0, 16);
    console.log(`  ${corpus === APOLLO ? "Apollo" : `KEP, first ${SLICE_BYTES} bytes`}: ${chunks.length} chunks, ${rows.length} rows (sha256 ${hash}), ${seconds.toFixed(1)} s`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
