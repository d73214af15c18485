// The kit's BM25 over every chunk of the KEP corpus (default chunking): build time, heap the index retains, and
// milliseconds a query, one query at a time. Queries are each sampled chunk's first 12 words, as a question
// about a chunk shares its words. Usage: node --expose-gc --import tsx bench/lexical.ts [--queries N]
import { chunkDocuments } from "../lib/chunking";
import { loadCorpus } from "../lib/corpus";
import { buildLexicalIndex } from "../lib/lexical";

const CORPUS = "../shared/corpora/kubernetes_keps.md";
const count = Number(process.argv[process.argv.indexOf("--queries") + 1]) || 2000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("bench/lexical.ts: run it with node --expose-gc (see the usage line) to measure retained heap");

const chunks = chunkDocuments(loadCorpus(CORPUS));
const docs = chunks.map((c) => ({ id: c.chunk_id, text: c.text }));
const sampled = Array.from({ length: count }, (_, i) => chunks[Math.floor((i * chunks.length) / count)]);
const queries = sampled.map((c) => c.text.split(/\s+/).slice(0, 12).join(" "));

gc();
const heapBefore = process.memoryUsage().heapUsed;
let started = performance.now();
const index = buildLexicalIndex(docs);
const buildSeconds = (performance.now() - started) / 1000;
gc();
const retained = process.memoryUsage().heapUsed - heapBefore;

started = performance.now();
let found = 0;
for (const [i, query] of queries.entries()) {
  if (index.search(query, 10)[0]?.id === sampled[i].chunk_id) found++;
}
const perQuery = (performance.now() - started) / queries.length;

console.log(`BM25 over ${chunks.length} KEP chunks: built in ${buildSeconds.toFixed(1)} s, ${(retained / 1024 ** 2).toFixed(0)} MB retained`);
console.log(`${queries.length} queries one at a time: ${perQuery.toFixed(2)} ms a query; the sampled chunk first for ${found} (a sanity check)`);
