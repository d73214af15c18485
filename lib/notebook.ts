/**
 * What lib/ does differently inside a tslab notebook kernel: progress lines that redraw in place, and rich
 * outputs (a PNG with its size and alt text, an HTML table). Nothing here loads tslab outside a kernel: the CLI,
 * the tests and the report never pay for it.
 */

interface DisplayData {
  data: Record<string, string>;
  metadata: Record<string, unknown>;
  transient: { display_id?: string };
}
type Writer = (data: DisplayData, update: boolean) => void;

/** tslab's module that holds the current cell's output writer, if a tslab kernel loaded it. */
function tslabJupyter(): { lastWriteDisplayData: Writer | null } | undefined {
  try {
    return require.cache[require.resolve("tslab/dist/jupyter.js")]?.exports;
  } catch {
    return undefined;
  }
}

/** True inside a tslab kernel that is running (or has run) a cell. */
export function inNotebook(): boolean {
  return Boolean(tslabJupyter()?.lastWriteDisplayData);
}

// Required on use: outside a notebook nothing loads tslab.
const tslab = () => require("tslab") as typeof import("tslab");

/**
 * Sends one output of several representations to the running cell, e.g. a PNG with a text/plain alt and the
 * PNG's display size in its metadata (tslab's own display sends one representation and no metadata). With
 * `id`, a later call with the same id replaces it in place.
 */
export function displayBundle(data: Record<string, string | Uint8Array>, metadata: Record<string, unknown> = {}, id?: string): void {
  const write = tslabJupyter()?.lastWriteDisplayData;
  if (!write) throw new Error("displayBundle: not in a tslab notebook kernel");
  const encoded = Object.fromEntries(Object.entries(data).map(([type, value]) => [type, typeof value === "string" ? value : Buffer.from(value).toString("base64")]));
  write({ data: encoded, metadata, transient: id ? { display_id: id } : {} }, false);
}

export interface NotebookProgress {
  onProgress(done: number, total: number): void;
  /** Starts a new line for the next phase of the same callback (one embedder, used twice), in the cell running when it first reports. */
  next(label: string): void;
}

/**
 * A progress line in a tslab notebook, overwritten in place: updated each tenth of the way and at the end, so the
 * saved output (the last state) does not depend on timing.
 */
export function notebookProgress(label: string): NotebookProgress {
  let display: ReturnType<ReturnType<typeof tslab>["newDisplay"]> | undefined;
  let shown = -1;
  return {
    onProgress(done: number, total: number) {
      const tenth = total ? Math.floor((10 * done) / total) : 10;
      if (tenth === shown) return;
      shown = tenth;
      display ??= tslab().newDisplay();
      display.text(`${label}: ${done}/${total}`);
    },
    next(nextLabel: string) {
      label = nextLabel;
      display = undefined;
      shown = -1;
    },
  };
}

/**
 * The progress callback a lib function uses when its caller passed none: a notebook progress line inside a tslab
 * kernel, nothing elsewhere (the CLI draws its own bars). lib/embedders.ts, questions.ts, multihop.ts,
 * paraphrase.ts, quality/batch.ts and evaluate.ts call it, so a notebook shows progress without asking.
 */
export function defaultProgress(label: string): ((done: number, total: number) => void) | undefined {
  return inNotebook() ? notebookProgress(label).onProgress : undefined;
}
