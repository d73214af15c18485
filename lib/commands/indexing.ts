import * as path from "node:path";
import { type Chunk } from "../chunking";
import { embedAndIndex } from "../pipeline";
import { createEmbedder, DEFAULT_EMBEDDER } from "../embedders";
import { KitError } from "../errors";
import { readJsonl } from "../files";
import { progressReporter } from "../progress";
import { type Command, elapsed, OPTIONS, required, str, warnStale } from "./command";

export default {
  name: "index",
  summary: "embed chunks and build a FAISS index folder",
  usage: "kit index --chunks FILE --out DIR [--embedder SPEC] [--factory STR]",
  required: ["chunks", "out"],
  options: {
    chunks: { type: "string", help: "chunks.jsonl written by kit chunk" },
    out: { type: "string", help: "index folder to write (index.faiss, ids.json, manifest.json)" },
    embedder: OPTIONS.embedder,
    factory: OPTIONS.factory,
    "ollama-host": OPTIONS.ollamaHost,
  },
  async run(v) {
    const started = Date.now();
    const chunksFile = required(v, "chunks");
    const chunks = readChunks(chunksFile);
    const out = required(v, "out");
    const bar = progressReporter("embedding");
    const embedder = await createEmbedder(str(v, "embedder") ?? DEFAULT_EMBEDDER, { ollamaHost: str(v, "ollama-host"), onProgress: bar.onProgress });
    let m;
    try {
      m = await embedAndIndex(embedder, chunks, { out, chunksFile, factory: str(v, "factory") });
      bar.done();
    } finally {
      await embedder.close?.();
    }
    warnStale(path.dirname(path.resolve(out)), path.basename(out));
    console.log(`index: ${m.count} chunks, ${m.embedder} (${m.dimension}-d), ${m.factory} -> ${out} in ${elapsed(started)}`);
  },
} satisfies Command;

function readChunks(file: string): Chunk[] {
  const chunks = readJsonl<Chunk>(file);
  if (!chunks.length) throw new KitError(`${file} holds no chunks; run kit chunk first`);
  chunks.forEach((c, i) => {
    if (typeof c?.chunk_id !== "string" || typeof c.text !== "string") {
      throw new KitError(`${file}:${i + 1}: a chunk needs string chunk_id and text; write the file with kit chunk`);
    }
  });
  return chunks;
}
