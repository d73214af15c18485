// Chunking throughput: the kit's splitter vs @langchain/textsplitters, same text and parameters,
// measured in one run. On the KEP corpus, then on long lines with no spaces (the shape that was
// quadratic: every over-long line searched the rest of the text for a space), at two sizes, so the
// growth shows. Usage: npx tsx bench/chunking.ts [--rounds N]
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

async function compare(label: string, text: string, size: number, overlap: number) {
  const mb = Buffer.byteLength(text) / 1e6;
  const kit = await best(async () => chunkText(text, { chunkSize: size, chunkOverlap: overlap }).length);
  const splitter = new RecursiveCharacterTextSplitter({ chunkSize: size, chunkOverlap: overlap });
  const lc = await best(async () => (await splitter.splitText(text)).length);
  if (kit.chunks !== lc.chunks) throw new Error(`${label}: chunk counts differ: kit ${kit.chunks}, langchain ${lc.chunks}`);
  console.log(
    `${label}, size ${size} overlap ${overlap}: ${kit.chunks} chunks | kit ${kit.seconds.toFixed(2)} s, ${(mb / kit.seconds).toFixed(1)} MB/s | ` +
      `langchain ${lc.seconds.toFixed(2)} s, ${(mb / lc.seconds).toFixed(1)} MB/s | kit/langchain time ratio ${(kit.seconds / lc.seconds).toFixed(2)}`,
  );
}

/** Lines of 1,100 characters (over the default chunk size) with no space; an em dash in each makes it a two-byte string, as most real text is. */
function longLines(characters: number): string {
  const line = "x".repeat(1099) + "\u2014";
  return Array.from({ length: Math.round(characters / (line.length + 1)) }, () => line).join("\n");
}

(async () => {
  const text = markdownToText(fs.readFileSync(CORPUS, "utf8"));
  console.log(`corpus ${CORPUS}: ${(Buffer.byteLength(text) / 1e6).toFixed(1)} MB of loaded text; best of ${rounds} rounds`);
  for (const [size, overlap] of [[1000, 0], [500, 100]]) await compare("KEPs", text, size, overlap);
  for (const characters of [3.85e6, 7.7e6]) {
    const lines = longLines(characters);
    await compare(`${(lines.length / 1e6).toFixed(2)} M characters in lines of 1,100 with no spaces`, lines, 1000, 0);
  }
})();
