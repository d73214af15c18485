/**
 * A resource (a pool of worker threads) started on first use and ended once no call has used it for `idleMs`;
 * the next use starts it again. Worker threads hold hundreds of MB each (model copies, caches, and garbage an idle
 * V8 does not collect), and a build's stages take turns: the generator's threads sit idle through the checks and
 * the embedder's through generation, so ending the idle pool is what keeps a whole-corpus build's peak down.
 */
export interface OnDemand<R> {
  use<T>(run: (resource: R) => Promise<T>): Promise<T>;
  /** Ends the resource now; a later use() starts it again. */
  release(): Promise<void>;
}

/**
 * How long an unused resource stays: longer than a small corpus's stages, since starting again costs seconds (on
 * Apollo, 2 s made the checks stage 2.5 s longer, loading use-lite again), and far shorter than a large corpus's.
 */
export const DEFAULT_IDLE_MS = 30_000;

export function onDemand<R extends { close(): Promise<void> }>(start: () => Promise<R>, idleMs = DEFAULT_IDLE_MS): OnDemand<R> {
  let current: Promise<R> | undefined;
  let users = 0;
  let timer: NodeJS.Timeout | undefined;
  const release = async () => {
    clearTimeout(timer);
    const ending = current;
    current = undefined;
    await (await ending?.catch(() => undefined))?.close();
  };
  return {
    async use(run) {
      clearTimeout(timer);
      users++;
      try {
        if (!current) {
          const started = start();
          current = started;
          // A start that failed is not kept: the next use tries again.
          started.catch(() => current === started && (current = undefined));
        }
        return await run(await current);
      } finally {
        if (--users === 0) timer = setTimeout(release, idleMs).unref();
      }
    },
    release,
  };
}
