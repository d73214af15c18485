import type { GenerateRequest, Generator } from "../../lib/generators";

/** A model whose answer to each request is `reply(request, n)` (n counts from 1); it records every request. */
export function scriptedGenerator(reply: (request: GenerateRequest, n: number) => string): Generator & { requests: GenerateRequest[] } {
  const requests: GenerateRequest[] = [];
  return {
    spec: "test",
    backend: "ollama",
    model: "test-model",
    requests,
    async generate(request) {
      requests.push(request);
      return reply(request, requests.length);
    },
    async close() {},
  };
}
