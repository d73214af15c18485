import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { sharedApolloDataset } from "./helpers/apollo-build";

// kit mcp as an MCP client runs it: the SDK's own client, spawning the command over stdio.
const AMPERE_QUESTION = "How many ampere-hours remained in the entry batteries when the command module was powered down?";
let dataset: string;
let client: Client;
let stderr = "";

test.before(async () => {
  dataset = await sharedApolloDataset();
  const transport = new StdioClientTransport({ command: process.execPath, args: ["bin/kit.js", "mcp", "--dataset", dataset, "--mode", "original"], env: { ...process.env, CI: "true" } as Record<string, string>, stderr: "pipe" });
  transport.stderr?.on("data", (d) => (stderr += d));
  client = new Client({ name: "kit-test", version: "0" });
  await client.connect(transport);
});
test.after(async () => {
  await client?.close();
});

test("an MCP client lists the two tools and finds the 99 ampere-hours chunk with search; open returns its whole row", async () => {
  const { tools } = await client.listTools();
  assert.equal(tools.map((t) => t.name).sort(), ["open", "search"]);
  const search = tools.find((t) => t.name === "search")!;
  assert.equal(Object.keys(search.inputSchema.properties ?? {}).sort(), ["k", "query"]);
  assert.equal(search.inputSchema.required, ["query"], "k has a default");

  const found = await client.callTool({ name: "search", arguments: { query: AMPERE_QUESTION, k: 3 } });
  const hits = (found.structuredContent as { hits: { row_id: string; chunk_id: string; kind: string; text: string; score: number }[] }).hits;
  assert.is(hits.length, 3);
  assert.equal(Object.keys(hits[0]), ["row_id", "chunk_id", "kind", "style", "text", "score"]);
  assert.match(hits[0].text, "99 ampere-hours remained in the three entry batteries");
  assert.equal(JSON.parse((found.content as { text: string }[])[0].text), found.structuredContent, "the same hits as text, for clients that read text only");
  // The whole report holds the battery figures twice: the summary (chunk_5) and section 7.1.6 (chunk_128).
  assert.ok(hits.some((h) => h.chunk_id === "chunk_128"), JSON.stringify(hits.map((h) => h.chunk_id)));

  const opened = await client.callTool({ name: "open", arguments: { id: "chunk_128" } });
  const row = opened.structuredContent as { row_id: string; chunk_id: string; kind: string; text: string };
  assert.equal([row.row_id, row.chunk_id, row.kind], ["chunk_128", "chunk_128", "original"]);
  assert.equal(row.text, hits.find((h) => h.chunk_id === "chunk_128")!.text);
});

test("open of an unknown id is a tool error naming the id; a bad k is refused by the schema", async () => {
  const missing = await client.callTool({ name: "open", arguments: { id: "chunk_99999" } });
  assert.is(missing.isError, true);
  assert.match((missing.content as { text: string }[])[0].text, /no row or chunk "chunk_99999"/);
  const bad = await client.callTool({ name: "search", arguments: { query: "oxygen", k: 0 } });
  assert.is(bad.isError, true);
  assert.match((bad.content as { text: string }[])[0].text, /k/);
});

test("the manifest is a resource: the environment's manifest.json", async () => {
  const { resources } = await client.listResources();
  assert.is(resources.length, 1);
  const { contents } = await client.readResource({ uri: resources[0].uri });
  const manifest = JSON.parse((contents[0] as { text: string }).text);
  assert.is(manifest.mode, "original");
  assert.is(manifest.rows, manifest.original_rows);
  assert.is(contents[0].mimeType, "application/json");
  assert.is(stderr, "", "nothing on stderr");
});

test("kit mcp on bad input: a one-line error, exit 1, nothing on stdout (the protocol's)", () => {
  for (const [args, message] of [
    [[], /give exactly one of --dataset DIR/],
    [["--dataset", dataset, "--mode", "noisy"], /--mode "noisy" is not a mode/],
    [["--dataset", dataset, "--retriever", "magic"], /unknown retriever "magic"/],
  ] as const) {
    const r = spawnSync(process.execPath, ["bin/kit.js", "mcp", ...args], { encoding: "utf8", input: "", env: { ...process.env, CI: "true" } });
    assert.is(r.status, 1, args.join(" "));
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.is(r.stdout, "");
  }
});

test.run();
