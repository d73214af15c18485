import * as path from "node:path";
import { MODES } from "../environment";
import { serveMcp } from "../mcp";
import { assertRetriever, DEFAULT_RETRIEVER, openSearch, RETRIEVERS } from "../search";
import { type Command, optionalTimeout, OPTIONS, searchFolder, str } from "./command";

export default {
  name: "mcp",
  summary: "serve a dataset's environment to an MCP client over stdio: search(query, k) and open(id) tools, the manifest as a resource",
  usage: "kit mcp (--dataset DIR [--mode paraphrased] | --index DIR) [--retriever bm25|dense|hybrid]",
  options: {
    dataset: OPTIONS.dataset,
    mode: { type: "string", help: `environment to serve: ${MODES.join(" | ")}`, default: "paraphrased" },
    index: OPTIONS.index,
    retriever: { type: "string", help: RETRIEVERS.join(" | "), default: DEFAULT_RETRIEVER },
    embedder: OPTIONS.queryEmbedder,
    "ollama-host": OPTIONS.ollamaHost,
    "request-timeout": OPTIONS.requestTimeout,
  },
  async run(v) {
    // stdout carries the protocol alone: a library's notice there (an embedder's loading) would break the client.
    console.log = console.error;
    const folder = searchFolder(v, "paraphrased");
    const dataset = str(v, "dataset");
    const retriever = assertRetriever(str(v, "retriever") ?? DEFAULT_RETRIEVER);
    const searcher = await openSearch(folder, { retriever, embedder: str(v, "embedder"), ollamaHost: str(v, "ollama-host"), cache: false, requestTimeoutMs: optionalTimeout(v) });
    const name = dataset ? `${path.basename(path.resolve(dataset))} (${str(v, "mode") ?? "paraphrased"})` : path.basename(path.resolve(folder));
    await serveMcp(searcher, folder, name);
  },
} satisfies Command;
