// What the LLM and embedder clients do about a host's faults beyond its status code: the waits Retry-After asks
// for, answers too large to hold, and how many tries a request gets. Both clients share it, so both behave alike.

/** Longest wait one Retry-After gets: a host asking for more is asked again after this. */
export const RETRY_AFTER_CAP_MS = 60_000;
/** Most time one request spends waiting between its tries, Retry-After waits included. */
export const RETRY_BUDGET_MS = 300_000;
/**
 * Default cap on an LLM answer's body (--max-answer-bytes): the longest answer a stage asks for is a few KiB, and a
 * model's whole context window is under 1 MiB of text, so only an answer that never ends gets there.
 */
export const DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024;
/** Longest delay of the exponential backoff, Retry-After aside. */
const BACKOFF_CAP_MS = 30_000;

/** An answer that is not what the API promises: a 200 without the message or vectors asked for. */
export class MalformedAnswer extends Error {}

/** A duration for messages: "50 ms", "300 s". */
export function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}

/** Exponential backoff with jitter: the n-th wait (from 1) is uniform in [d/2, d], d = base·2^(n-1) capped at 30 s. */
export function backoff(n: number, base: number): number {
  const d = Math.min(BACKOFF_CAP_MS, base * 2 ** (n - 1));
  return d / 2 + (Math.random() * d) / 2;
}

/** A Retry-After header (delay seconds or an HTTP date) as a wait from `now`, within 0 .. RETRY_AFTER_CAP_MS; undefined if absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  const ms = /^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isNaN(ms) ? undefined : Math.min(RETRY_AFTER_CAP_MS, Math.max(0, ms));
}

/**
 * One request's retries. next() gives the wait before the next try, or undefined when the request has had its
 * tries: `retries` after faults (backoff from `baseMs`), while a host's Retry-After waits are not counted against
 * them (the host said when to come back), only against RETRY_BUDGET_MS. A Retry-After wait is never shorter than
 * the backoff, so "Retry-After: 0" cannot turn the budget into a busy loop.
 */
export function retryPolicy(retries: number, baseMs: number): { next(retryAfter?: number): number | undefined } {
  let tries = 0;
  let counted = 0;
  let waited = 0;
  return {
    next(retryAfter) {
      tries++;
      if (retryAfter === undefined && ++counted > retries) return undefined;
      const wait = Math.max(retryAfter ?? 0, backoff(tries, baseMs));
      if (waited + wait > RETRY_BUDGET_MS) return undefined;
      waited += wait;
      return wait;
    },
  };
}

export interface GuardedFetch {
  /** A fetch for a client (ollama's `fetch` option, openai's withOptions): aborted with `signal`, its answer capped. */
  fetch: typeof fetch;
  /** The wait the last answer's Retry-After asked for (error answers only). */
  retryAfterMs?: number;
  /** The answer passed `maxBytes`, and was cut off there. */
  tooLarge: boolean;
}

/**
 * A fetch whose answer is read through a counter: past `maxBytes` the request is aborted, so an answer that never
 * ends costs `maxBytes` of memory rather than all of it. The clients parse the body themselves; whatever error
 * they make of the cut, `tooLarge` says what happened.
 */
export function guardFetch(signal: AbortSignal, maxBytes: number): GuardedFetch {
  const guard: GuardedFetch = {
    tooLarge: false,
    async fetch(input, init) {
      const cut = new AbortController();
      const signals = [signal, cut.signal, ...(init?.signal ? [init.signal] : [])];
      const response = await fetch(input, { ...init, signal: AbortSignal.any(signals) });
      if (!response.ok) guard.retryAfterMs = retryAfterMs(response.headers.get("retry-after"));
      const tooLarge = () => {
        guard.tooLarge = true;
        cut.abort();
        return new Error(`answer larger than ${maxBytes} bytes`);
      };
      if (Number(response.headers.get("content-length")) > maxBytes) throw tooLarge();
      if (!response.body) return response;
      let seen = 0;
      const counted = response.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            seen += chunk.byteLength;
            if (seen > maxBytes) controller.error(tooLarge());
            else controller.enqueue(chunk);
          },
        }),
      );
      return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
    },
  };
  return guard;
}
