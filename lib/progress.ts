/** Progress of one stage: a redrawn bar with ETA on a terminal, sparse plain lines elsewhere (CI, logs). */
export interface Progress {
  /** Adds `n` finished items. */
  tick(n?: number): void;
  /** Sets the number of finished items, for callbacks that report a running total. */
  update(done: number): void;
  done(): void;
}

export interface ProgressOptions {
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Nothing is shown for work that ends sooner than this. */
  quietMs?: number;
  now?: () => number;
}

const PLAIN_EVERY_MS = 10_000;

export function progress(label: string, total: number, options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const quietMs = options.quietMs ?? 2000;
  const started = now();
  let count = 0;
  let shown = false;
  let lastDraw = 0;

  const line = () => {
    const elapsed = (now() - started) / 1000;
    const rate = count / Math.max(elapsed, 1e-9);
    const eta = rate > 0 ? (total - count) / rate : Infinity;
    const pct = total ? Math.floor((100 * count) / total) : 100;
    return { elapsed, rate, eta, pct, text: `${label} ${count}/${total} (${pct}%) ${rate.toFixed(1)}/s` };
  };
  const draw = (final: boolean) => {
    const t = now();
    if (!final && (t - started < quietMs || t - lastDraw < (stream.isTTY ? 100 : PLAIN_EVERY_MS))) return;
    lastDraw = t;
    shown = true;
    const { elapsed, eta, pct, text } = line();
    if (stream.isTTY) {
      const width = 24;
      const filled = Math.round((width * pct) / 100);
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      const tail = final ? `in ${formatSeconds(elapsed)}` : `ETA ${formatSeconds(eta)}`;
      stream.write(`\r\x1b[K${bar} ${text} ${tail}${final ? "\n" : ""}`);
    } else {
      stream.write(`${text}${final ? ` done in ${formatSeconds(elapsed)}` : `, ETA ${formatSeconds(eta)}`}\n`);
    }
  };
  return {
    tick(n = 1) {
      count += n;
      draw(false);
    },
    update(done) {
      count = done;
      draw(false);
    },
    done() {
      if (shown) draw(true);
    },
  };
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 59.5) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const whole = Math.round(s);
  const m = Math.floor(whole / 60);
  return m < 60 ? `${m}m${String(whole % 60).padStart(2, "0")}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** A progress display for callbacks that report (done, total): the bar starts at the first report. */
export function progressReporter(label: string, options: ProgressOptions = {}) {
  let bar: Progress | undefined;
  return {
    onProgress(done: number, total: number) {
      bar ??= progress(label, total, options);
      bar.update(done);
    },
    done: () => bar?.done(),
  };
}
