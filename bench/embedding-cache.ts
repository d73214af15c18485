// The embedding cache (lib/embedding-cache.ts) with the default offline embedder: the first Apollo chunks embedded
// twice, each time by a new embedder as a new build would make it, into a fresh cache folder. The second pass
// reads every vector from disk. Model loading is not timed (each embedder loads it before its pass).
// Usage: node_modules/.bin/tsx bench/embedding-cache.ts [--chunks 200]
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { chunkDocuments } from "../lib/chunking";
import { loadCorpus } from "../lib/corpus";
import { createEmbedder } from "../lib/embedders";
import { describeEmbeddingCache } from "../lib/embedding-cache";

const CORPUS = "datasets/corpora/apollo13_mission_report.md";
const { values } = parseArgs({ options: { chunks: { type: "string", default: "200" } } });

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-bench-embedding-cache-"));
  process.env.KIT_CACHE_DIR = dir;
  try {
    const texts = chunkDocuments(loadCorpus(CORPUS)).slice(0, Number(values.chunks)).map((c) => c.text);
    const pass = async () => {
      const embedder = await createEmbedder("use-lite");
      try {
        const started = process.hrtime.bigint();
        const vectors = await embedder.embed(texts);
        return { seconds: Number(process.hrtime.bigint() - started) / 1e9, vectors };
      } finally {
        await embedder.close?.();
      }
    };
    const first = await pass();
    const second = await pass();
    const same = first.vectors.every((v, i) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(second.vectors[i].buffer, second.vectors[i].byteOffset, second.vectors[i].byteLength)));
    const cache = describeEmbeddingCache();
    console.log(`${texts.length} chunks of ${CORPUS}, use-lite on ${os.availableParallelism()} threads, a fresh cache in ${cache.dir}`);
    console.log(`first pass (all misses):  ${first.seconds.toFixed(2)} s, ${(texts.length / first.seconds).toFixed(1)} chunks/s`);
    console.log(`second pass (all hits):   ${second.seconds.toFixed(3)} s, ${(texts.length / second.seconds).toFixed(0)} chunks/s`);
    console.log(`second / first: ${(second.seconds / first.seconds).toFixed(4)} (${(first.seconds / second.seconds).toFixed(0)}x faster); vectors byte-equal: ${same}; cache ${(cache.bytes / 2 ** 20).toFixed(2)} MiB`);
    console.log(`1-minute load average at the end: ${os.loadavg()[0].toFixed(1)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
})();
