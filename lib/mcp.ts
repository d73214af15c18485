import * as fs from "node:fs";
import * as path from "node:path";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";
import { version as KIT_VERSION } from "../package.json";
import type { EnvRow } from "./environment";
import { openRows } from "./environments";
import type { Searcher } from "./search";
import { SERVE_LIMITS } from "./serve";

// One environment as MCP tools, for agent frameworks and tool-using models (bm25s ships an MCP `retrieve` server;
// NeMo Data Designer's search recipes call `search` and `open`):
//   search(query, k): the top k hits, each {row_id, chunk_id, kind, style, text, score}, one per chunk;
//   open(id): a whole row by row id, or a chunk as the environment shows it by chunk id (as kit serve's /access);
//   the environment's manifest.json as a resource.

/** Hits a search returns when the agent names no k (kit search's default). */
const DEFAULT_MCP_K = 5;

const row = { row_id: z.string(), chunk_id: z.string(), kind: z.enum(["original", "paraphrase"]), style: z.string().nullable(), text: z.string() };

/** What an agent reads of a row: no paraphrase_id (the row_id of a paraphrase is that id). */
const shown = (r: EnvRow) => ({ row_id: r.row_id, chunk_id: r.chunk_id, kind: r.kind, style: r.style, text: r.text });

/** Tool results carry the object twice: as structured content, and as its JSON for clients that read text only. */
const result = <T extends Record<string, unknown>>(value: T) => ({ content: [{ type: "text" as const, text: JSON.stringify(value) }], structuredContent: value });

/** An MCP server over one environment folder (a dataset's env/<mode>, or an index folder); not yet connected. */
export function mcpServer(searcher: Searcher, folder: string, name: string): McpServer {
  const server = new McpServer({ name: "retrieval-dataset-kit", version: KIT_VERSION });
  server.registerTool(
    "search",
    {
      title: `Search ${name}`,
      description: `Searches the ${name} document collection; returns the best passages, one per chunk, best first. Cite a passage by its chunk_id; open(id) reads a whole row.`,
      inputSchema: { query: z.string().describe("what to look for, in a few words"), k: z.number().int().min(1).max(SERVE_LIMITS.maxTopk).default(DEFAULT_MCP_K).describe("passages to return") },
      outputSchema: { hits: z.array(z.object({ ...row, score: z.number() })) },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ query, k }) => {
      const [hits] = await searcher.search([query], k);
      return result({ hits: hits.map((h) => ({ ...shown(h), score: h.score })) });
    },
  );
  server.registerTool(
    "open",
    {
      title: `Open a ${name} row`,
      description: "Returns a whole row by its row_id, or a chunk by its chunk_id (as this collection shows it).",
      inputSchema: { id: z.string().describe("a row_id or chunk_id from search") },
      outputSchema: row,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ id }) => {
      const [found] = openRows(searcher, [id]);
      if (!found) return { content: [{ type: "text", text: `no row or chunk ${JSON.stringify(id)} in ${name}; ids come from search` }], isError: true };
      return result(shown(found));
    },
  );
  const manifest = path.join(folder, "manifest.json");
  server.registerResource("manifest", `kit://environment/${encodeURIComponent(name)}/manifest.json`, { title: `${name} manifest`, description: "the environment's manifest.json: embedder, rows, coverage", mimeType: "application/json" }, (uri) => ({
    contents: [{ uri: uri.href, mimeType: "application/json", text: fs.readFileSync(manifest, "utf8") }],
  }));
  return server;
}

/** Serves one environment over stdio until the client closes it; stdout is the protocol's, so nothing else writes there. */
export async function serveMcp(searcher: Searcher, folder: string, name: string): Promise<void> {
  const server = mcpServer(searcher, folder, name);
  const closed = new Promise<void>((resolve) => (server.server.onclose = resolve));
  await server.connect(new StdioServerTransport());
  // The transport does not close on the end of stdin (a client that closes its pipe rather than killing the server).
  process.stdin.once("end", () => void server.close());
  await closed;
  await searcher.close();
}
