// Generation throughput through the kit's host pool against test Ollama servers (test/helpers/ollama-server-cli.ts,
// each its own process, as Ollama is), each answering after L ms and serving at most P requests at once, as
// OLLAMA_NUM_PARALLEL=P does. N requests cannot finish in less than N·L/P on one host (N·L/(3P) on three), so
// the ratio to that bound is the pool's overhead; target <= 1.10. The baseline is a serial loop with one
// request in flight (ReZero's way), straight through the ollama client; "raw client" lines are the same load
// through the ollama client with no pool, the floor this machine allows.
// Usage: node_modules/.bin/tsx bench/generation.ts [--requests 200] [--latency 50] [--parallel 4] [--rounds 3]
import { spawn } from "node:child_process";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { Ollama } from "ollama";
import { createGenerator, type GenerateRequest } from "../lib/generators";
import { STATS_PATH } from "../test/helpers/ollama-server";

const MODEL = "qwen2.5:7b-instruct";
const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "200" },
    latency: { type: "string", default: "50" },
    parallel: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
  },
});
const [n, latencyMs, parallel, rounds] = [values.requests, values.latency, values.parallel, values.rounds].map(Number);

interface Server {
  url: string;
  peakInFlight(): Promise<number>;
  stop(): void;
}

function startServer(): Promise<Server> {
  const root = path.join(__dirname, "..");
  const child = spawn(
    path.join(root, "node_modules", ".bin", "tsx"),
    [path.join(root, "test", "helpers", "ollama-server-cli.ts"), "--models", MODEL, "--latency", String(latencyMs), "--parallel", String(parallel)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (!out.includes("\n")) return;
      const url = out.split("\n")[0];
      resolve({
        url,
        peakInFlight: async () => ((await (await fetch(`${url}${STATS_PATH}`)).json()) as { peakInFlight: number }).peakInFlight,
        stop: () => child.kill("SIGTERM"),
      });
    });
    child.on("exit", (code) => reject(new Error(`test server exited with ${code}`)));
  });
}

const request = (i: number): GenerateRequest => ({
  system: "You write exam questions.",
  prompt: `Write questions about chunk ${i}.`,
  format: { type: "object", properties: { questions: { type: "array", items: { type: "string" } } } },
  options: { temperature: 0.7, num_predict: 256, seed: i },
  task: { kind: "paraphrase", text: `chunk ${i}`, style: "plain", variant: 0, attempt: 0 },
});

async function seconds(run: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** Best wall time over `rounds` runs (the first also warms up the JIT and the connections). */
async function best(run: () => Promise<unknown>): Promise<number> {
  let min = Infinity;
  for (let round = 0; round < rounds; round++) min = Math.min(min, await seconds(run));
  return min;
}

function chat(client: Ollama, i: number) {
  const r = request(i);
  const messages = [{ role: "system", content: r.system! }, { role: "user", content: r.prompt }];
  return client.chat({ model: MODEL, messages, format: r.format, options: r.options, stream: false });
}

/** The same N requests straight through the ollama client, `parallel` workers per host: the floor for this machine. */
function raw(servers: Server[]): Promise<number> {
  return best(async () => {
    let next = 0;
    const workers = servers.flatMap((s) => Array.from({ length: parallel }, () => new Ollama({ host: s.url })));
    await Promise.all(workers.map(async (client) => {
      while (next < n) await chat(client, next++);
    }));
  });
}

/** N concurrent generate() calls through one generator over `servers`. */
async function kit(spec: string, servers: Server[], ollamaHost?: string): Promise<number> {
  const generator = await createGenerator(spec, { ollamaHost, concurrency: parallel });
  const wall = await best(() => Promise.all(Array.from({ length: n }, (_, i) => generator.generate(request(i)))));
  await generator.close();
  const peaks = await Promise.all(servers.map((s) => s.peakInFlight()));
  if (peaks.some((p) => p !== parallel)) throw new Error(`peak requests in flight ${peaks.join("/")}, expected ${parallel} on each server`);
  return wall;
}

function line(label: string, wall: number, bound: number, serial?: number): void {
  const ratio = wall / bound;
  const verdict = serial === undefined ? "" : ratio <= 1.1 ? " (ok)" : " (OVER 1.10)";
  const speedup = serial === undefined ? "" : `   serial/kit ${(serial / wall).toFixed(2)}x`;
  console.log(`${label.padEnd(36)} ${wall.toFixed(3)} s   bound ${bound.toFixed(3)} s   ratio ${ratio.toFixed(3)}${verdict}${speedup}`);
}

(async () => {
  const servers = await Promise.all([startServer(), startServer(), startServer(), startServer()]);
  try {
    console.log(`${n} requests, server latency ${latencyMs} ms, server parallelism ${parallel}, kit concurrency ${parallel} per host, best of ${rounds}`);
    const client = new Ollama({ host: servers[0].url });
    const serial = await seconds(async () => {
      for (let i = 0; i < n; i++) await chat(client, i);
    });
    line("serial loop, 1 in flight (ReZero)", serial, (n * latencyMs) / 1000);
    const bound = (n * latencyMs) / parallel / 1000;
    const one = [servers[0]];
    const three = servers.slice(1);
    line(`raw client, ${parallel} workers, 1 host`, await raw(one), bound);
    line("kit, ollama, 1 host", await kit(`ollama:${MODEL}`, one, servers[0].url), bound, serial);
    line(`raw client, ${3 * parallel} workers, 3 hosts`, await raw(three), bound / 3);
    line("kit, ollama, 3 hosts", await kit(`ollama:${MODEL}`, three, three.map((s) => s.url).join(",")), bound / 3, serial);
    line("kit, openai-compatible, 1 host", await kit(`openai:${MODEL}@${servers[0].url}/v1`, one), bound, serial);
  } finally {
    for (const s of servers) s.stop();
  }
})();
