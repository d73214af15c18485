import { clearEmbeddingCache, describeEmbeddingCache, formatClearedCache, formatEmbeddingCache } from "../embedding-cache";
import type { Command } from "./command";

export default {
  name: "cache",
  summary: "show the embedding cache shared by builds, searchers and notebooks (where, size, vectors per embedder), or clear it",
  usage: "kit cache [--clear]",
  options: {
    clear: { type: "boolean", help: "remove every cached embedding (they are embedded again when next needed)" },
  },
  async run(v) {
    console.log(v.clear ? formatClearedCache(clearEmbeddingCache()) : formatEmbeddingCache(describeEmbeddingCache()));
  },
} satisfies Command;
