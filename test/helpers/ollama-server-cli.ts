// The test Ollama server (ollama-server.ts) as a process of its own, for tests that run the kit in a child process
// and kill it (kill -9), where the server must outlive the kit.
//
//   node_modules/.bin/tsx test/helpers/ollama-server-cli.ts [--port 0] [--models qwen2.5:7b-instruct,nomic-embed-text]
//     [--latency ms] [--parallel P] [--options module.ts]
//
// Prints the server's URL as its first line of stdout, then serves until SIGTERM or SIGINT. GET <url>/_test/stats
// (STATS_PATH) answers { requests, peakInFlight, disconnected }. `--options` names a module whose default export
// (OllamaServerOptions) is merged over the flags, e.g. to script `reply`.
import * as path from "node:path";
import { parseArgs } from "node:util";
import { startOllamaServer, type OllamaServerOptions } from "./ollama-server";

(async () => {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "0" },
      models: { type: "string" },
      latency: { type: "string" },
      parallel: { type: "string" },
      options: { type: "string" },
    },
  });
  const extra: OllamaServerOptions = values.options ? require(path.resolve(values.options)).default : {};
  const server = await startOllamaServer({
    port: Number(values.port),
    models: values.models?.split(","),
    latencyMs: values.latency ? Number(values.latency) : undefined,
    maxParallel: values.parallel ? Number(values.parallel) : undefined,
    ...extra,
  });
  process.stdout.write(`${server.url}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
})();
