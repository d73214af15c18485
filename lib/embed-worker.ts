// Worker thread of the use-lite embedder (started by lib/embedders.ts): loads its own copy of the model, then
// embeds one batch per message and sends the vectors back as transferred Float32Arrays.
import { parentPort } from "node:worker_threads";
import { loadUseLite } from "./embedders";

const port = parentPort!;
const message = (e: unknown) => String(e instanceof Error ? e.message : e);

loadUseLite().then(
  (embed) => {
    port.on("message", async (texts: string[]) => {
      try {
        const vectors = (await embed(texts)).map((v) => Float32Array.from(v));
        port.postMessage({ vectors }, vectors.map((v) => v.buffer));
      } catch (e) {
        port.postMessage({ error: message(e) });
      }
    });
    port.postMessage({ ready: true });
  },
  (e) => port.postMessage({ error: message(e) }),
);
