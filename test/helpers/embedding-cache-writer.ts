// A fake embedder for the embedding cache's tests, and, run as a script, a writer process: it embeds the texts
// `text-0` .. `text-<count - 1>` through the cache in batches of `batch`, starting at `start` and wrapping round,
// so two writers started at once write overlapping texts into $KIT_CACHE_DIR.
//   node_modules/.bin/tsx test/helpers/embedding-cache-writer.ts <count> <start> <batch>
import { createHash } from "node:crypto";
import type { Embedder, EmbedRole } from "../../lib/embedders";
import { cachedEmbedder } from "../../lib/embedding-cache";

export const FAKE_DIMENSION = 8;

/** A vector that depends on role and text only, so any process can tell a right one from a torn one. */
export function fakeVector(text: string, role: EmbedRole = "passage", dimension = FAKE_DIMENSION): Float32Array {
  const bytes = createHash("sha256").update(`${role}:${text}`).digest();
  return Float32Array.from({ length: dimension }, (_, i) => bytes[i % bytes.length] / 255 - 0.5);
}

/** An embedder that records each call's texts (role-prefixed). */
export function fakeEmbedder(spec = "fake", dimension = FAKE_DIMENSION): Embedder & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    spec,
    dimension,
    calls,
    embed: async (texts, role = "passage") => {
      calls.push(texts.map((t) => `${role}:${t}`));
      return texts.map((t) => fakeVector(t, role, dimension));
    },
  };
}

if (require.main === module) {
  const [count, start, batch] = process.argv.slice(2).map(Number);
  const cache = cachedEmbedder(fakeEmbedder());
  (async () => {
    for (let at = 0; at < count; at += batch) {
      const texts = Array.from({ length: batch }, (_, i) => `text-${(start + at + i) % count}`);
      await cache.embed(texts);
    }
  })();
}
