import { createHash } from "node:crypto";

/** Chunks in one block of the split; small enough to mix topics, large enough that few questions straddle two blocks. */
export const DEFAULT_BLOCK_CHUNKS = 16;

export interface Split {
  test: Set<string>;
  blocks: number;
  testBlocks: number;
}

/**
 * Test chunks as whole blocks of consecutive chunks in document order, the blocks picked by a hash of
 * (seed, first chunk id) until round(testFraction * n) chunks are in (the last block picked may be cut).
 * A question's prompt shows its chunk's neighbours, so whole blocks leave only block edges where a
 * question could see a chunk of the other split; exportDataset drops those rows and counts them.
 */
export function blockSplit(chunkIds: readonly string[], testFraction: number, seed: number, blockChunks = DEFAULT_BLOCK_CHUNKS): Split {
  const ids = [...new Set(chunkIds)];
  const blocks: string[][] = [];
  for (let at = 0; at < ids.length; at += blockChunks) blocks.push(ids.slice(at, at + blockChunks));
  const key = (block: string[]) => createHash("sha256").update(`${seed}\u0000${block[0]}`).digest("hex");
  const order = blocks.map((block) => ({ block, key: key(block) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const wanted = Math.round(testFraction * ids.length);
  const test = new Set<string>();
  let testBlocks = 0;
  for (const { block } of order) {
    if (test.size >= wanted) break;
    testBlocks++;
    for (const id of block.slice(0, wanted - test.size)) test.add(id);
  }
  return { test, blocks: blocks.length, testBlocks };
}
