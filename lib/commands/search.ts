import * as path from "node:path";
import { MODES } from "../environment";
import { KitError } from "../errors";
import { readJsonl, writeJsonlAtomic } from "../files";
import { progress } from "../progress";
import { assertRetriever, DEFAULT_RETRIEVER, matchedPassage, openSearch, RETRIEVERS, type SearchResult } from "../search";
import { type Command, elapsed, integer, OPTIONS, searchFolder, str } from "./command";

export default {
  name: "search",
  summary: "search a dataset's environment, or an index folder, for one query or a file of queries",
  usage: "kit search (--dataset DIR [--mode paraphrased] | --index DIR) (--query TEXT | --queries FILE.jsonl --out FILE.jsonl) [--k 5] [--retriever bm25|dense|hybrid]",
  options: {
    dataset: OPTIONS.dataset,
    mode: { type: "string", help: `environment of --dataset to search: ${MODES.join(" | ")} (as kit serve)`, default: "paraphrased" },
    index: OPTIONS.index,
    query: { type: "string", help: "one query; prints the hits" },
    queries: { type: "string", help: 'JSONL of {"id": ..., "text": ...} (other keys ignored)' },
    out: { type: "string", help: 'JSONL to write, one {"id", "hits": [{row_id, chunk_id, kind, score, text, ...}]} per query, in input order' },
    k: { type: "string", help: "hits per query, each from a different chunk", default: "5" },
    retriever: { type: "string", help: `${RETRIEVERS.join(" | ")}; bm25 measures best with the offline embedder`, default: DEFAULT_RETRIEVER },
    hybrid: { type: "boolean", help: "short for --retriever hybrid" },
    embedder: OPTIONS.queryEmbedder,
    "ollama-host": OPTIONS.ollamaHost,
  },
  async run(v) {
    const started = Date.now();
    const query = str(v, "query");
    const queriesFile = str(v, "queries");
    if (!query === !queriesFile) throw new KitError("search needs exactly one of --query TEXT or --queries FILE.jsonl");
    const out = str(v, "out");
    if (queriesFile && !out) throw new KitError("--queries needs --out FILE.jsonl for the results");
    if (queriesFile && path.resolve(queriesFile) === path.resolve(out!)) throw new KitError(`--out ${out} is the --queries file; write the hits to another file`);
    const queries = query ? [{ id: "query", text: query }] : readQueries(queriesFile!);
    const k = integer(v, "k", 5, 1);
    const searcher = await openSearch(searchFolder(v, "paraphrased"), {
      retriever: assertRetriever(v.hybrid ? "hybrid" : (str(v, "retriever") ?? DEFAULT_RETRIEVER)),
      embedder: str(v, "embedder"),
      ollamaHost: str(v, "ollama-host"),
    });
    try {
      const bar = progress("searching", queries.length);
      const results: SearchResult[][] = [];
      for (let i = 0; i < queries.length; i += 256) {
        const batch = queries.slice(i, i + 256);
        results.push(...(await searcher.search(batch.map((q) => q.text), k)));
        bar.tick(batch.length);
      }
      bar.done();
      if (query) {
        results[0].forEach((hit, rank) => {
          const what = hit.kind === "paraphrase" ? `paraphrase ${hit.row_id} (${hit.style})` : "original";
          console.log(`${rank + 1}. ${hit.chunk_id}  score ${hit.score.toFixed(4)}  ${what}`);
          console.log(indent(matchedPassage(hit.text, query)));
        });
      } else {
        writeJsonlAtomic(out!, queries.map((q, i) => ({ id: q.id, hits: results[i] })));
      }
      console.log(`search: ${queries.length} ${queries.length === 1 ? "query" : "queries"}, top ${k} by ${searcher.retriever}${out ? ` -> ${out}` : ""} in ${elapsed(started)}`);
    } finally {
      await searcher.close();
    }
  },
} satisfies Command;

function readQueries(file: string): { id: unknown; text: string }[] {
  // An empty file, or a blank "text", is answered with no hits, as kit serve answers an empty batch or query.
  return readJsonl<{ id?: unknown; text?: unknown }>(file).map((r, i) => {
    if (typeof r?.text !== "string") throw new KitError(`${file}:${i + 1}: each line needs a "text" string`);
    return { id: r.id ?? i + 1, text: r.text };
  });
}

const indent = (text: string) => text.replace(/^/gm, "     ");
