// Chunking throughput on the KEP corpus: the kit's splitter vs @langchain/textsplitters,
// same text and parameters, measured in one run. Usage: npx tsx bench/chunking.ts [--rounds N]
import * as fs from "node:fs";
import { RecursiveCharacterTextSplitter } from "@langchain/textsplitters";
import { chunkText } from "../lib/chunking";
import { markdownToText } from "../lib/corpus";

const CORPUS = "../shared/corpora/kubernetes_keps.md";
const rounds = Number(process.argv[process.argv.indexOf("--rounds") + 1]) || 3;

async function best(run: () => Promise<number>): Promise<{ seconds: number; chunks: number }> {
  let seconds = Infinity;
  let chunks = 0;
  for (let i = 0; i < rounds; i++) {
    const t = process.hrtime.bigint();
    chunks = await run();
    seconds = Math.min(seconds, Number(process.hrtime.bigint() - t) / 1e9);
  }
  return { seconds, chunks };
}

(async () => {
  const text = markdownToText(fs.readFileSync(CORPUS, "utf8"));
  const mb = Buffer.byteLength(text) / 1e6;
  console.log(`corpus ${CORPUS}: ${mb.toFixed(1)} MB of loaded text; best of ${rounds} rounds`);
  for (const [size, overlap] of [[1000, 0], [500, 100]]) {
    const kit = await best(async () => chunkText(text, { chunkSize: size, chunkOverlap: overlap }).length);
    const splitter = new RecursiveCharacterTextSplitter({ chunkSize: size, chunkOverlap: overlap });
    const lc = await best(async () => (await splitter.splitText(text)).length);
    if (kit.chunks !== lc.chunks) throw new Error(`chunk counts differ: kit ${kit.chunks}, langchain ${lc.chunks}`);
    console.log(
      `size ${size} overlap ${overlap}: ${kit.chunks} chunks | kit ${(mb / kit.seconds).toFixed(1)} MB/s | ` +
        `langchain ${(mb / lc.seconds).toFixed(1)} MB/s | kit/langchain speed ratio ${(lc.seconds / kit.seconds).toFixed(1)}x`,
    );
  }
})();
