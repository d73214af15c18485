import * as path from "node:path";
import { chunkDocuments, DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE } from "../chunking";
import { describeSkipped, loadCorpus, type SkippedLink } from "../corpus";
import { writeChunks } from "../langchain";
import { type Command, elapsed, integer, OPTIONS, required, warnStale } from "./command";

export default {
  name: "chunk",
  summary: "split a markdown corpus into chunks (chunks.jsonl, and chunks.pkl as AutoDidact pickles them)",
  usage: "kit chunk --corpus PATH --out DIR [--chunk-size N] [--chunk-overlap N]",
  required: ["corpus", "out"],
  options: {
    corpus: OPTIONS.corpus,
    out: { type: "string", help: "folder to write chunks.jsonl into" },
    "chunk-size": OPTIONS.chunkSize,
    "chunk-overlap": OPTIONS.chunkOverlap,
  },
  async run(v) {
    const started = Date.now();
    const skipped: SkippedLink[] = [];
    const docs = loadCorpus(required(v, "corpus"), { onSkip: (link) => skipped.push(link) });
    const chunks = chunkDocuments(docs, {
      chunkSize: integer(v, "chunk-size", DEFAULT_CHUNK_SIZE, 1),
      chunkOverlap: integer(v, "chunk-overlap", DEFAULT_CHUNK_OVERLAP, 0),
    });
    const out = path.join(required(v, "out"), "chunks.jsonl");
    writeChunks(out, chunks);
    warnStale(required(v, "out"), "chunks.jsonl");
    const mean = chunks.reduce((n, c) => n + c.text.length, 0) / Math.max(chunks.length, 1);
    console.log(`chunk: ${chunks.length} chunks (mean ${Math.round(mean)} chars) from ${docs.length} source(s)${skipped.length ? `; ${describeSkipped(skipped)}` : ""} -> ${out} in ${elapsed(started)}`);
  },
} satisfies Command;
