import { createEmbedder } from "./embedders";
import { type EnvRow, envDir, type Mode, MODES } from "./environment";
import { KitError } from "./errors";
import { DEFAULT_RETRIEVER, openEnvironment, type SearchOptions, type SearchResult, type Searcher } from "./search";
import { seededRandom, shuffle } from "./seeded";
import { readIndexRows } from "./vector-index";

/**
 * The environments one server holds: a dataset's three modes (or one folder's rows alone), each searched on its own.
 * A request may name a mode, or a noise level mixing the original and paraphrased environments; one naming neither
 * gets `fallback`, the environment the server was started on.
 */
export interface Environments {
  /** The mode a request naming none gets (null for an index folder, which holds one environment). */
  mode: Mode | null;
  fallback: Searcher;
  byMode: Partial<Record<Mode, Searcher>>;
  close(): Promise<void>;
}

/** What a request may ask beside its queries. */
export interface Selection {
  mode?: Mode;
  /** Share of each answer's hits taken from paraphrase rows, 0 to 1; the rest are original rows. */
  noise?: number;
}

/** One folder's environment alone (kit serve --index, or a searcher made in memory). */
export function singleEnvironment(searcher: Searcher): Environments {
  return { mode: null, fallback: searcher, byMode: {}, close: () => searcher.close() };
}

/**
 * Opens every mode of a dataset folder, `mode` answering requests that name none. Each mode keeps its own rows and
 * BM25 index (and FAISS index, for dense and hybrid), so a server holds about three times one mode's memory; dense
 * queries share one embedder.
 */
export async function openEnvironments(dataset: string, mode: Mode, options: SearchOptions = {}): Promise<Environments> {
  // Every mode's index is made by the build's one embedder: the first mode's manifest names it.
  const spec = (options.retriever ?? DEFAULT_RETRIEVER) === "bm25" ? undefined : (options.embedder ?? readIndexRows(envDir(dataset, mode)).manifest.embedder);
  const embedder = spec ? await createEmbedder(spec, { ollamaHost: options.ollamaHost, cache: options.cache, timeoutMs: options.requestTimeoutMs }) : undefined;
  const byMode: Partial<Record<Mode, Searcher>> = {};
  // Searchers opened on a shared embedder close nothing of it: the embedder is closed here, once.
  const close = async () => {
    await Promise.all(Object.values(byMode).map((s) => s.close()));
    await embedder?.close?.();
  };
  try {
    for (const m of MODES) byMode[m] = await openEnvironment(dataset, m, { ...options, shared: embedder });
  } catch (err) {
    await close();
    throw err;
  }
  return { mode, fallback: byMode[mode]!, byMode, close };
}

/** The environment a request names, or the server's own when it names none. */
export function environmentOf(environments: Environments, mode?: Mode): Searcher {
  if (!mode) return environments.fallback;
  const searcher = environments.byMode[mode];
  if (!searcher) throw new KitError(`this server holds one environment (${environments.mode ?? "an index folder"}): start it with kit serve --dataset DIR to pick "mode" or "noise" per request`);
  return searcher;
}

/** Top-k hits per query from the environment a selection names: its mode, a noise mix, or the server's own. */
export async function searchEnvironments(environments: Environments, queries: readonly string[], k: number, selection: Selection = {}): Promise<SearchResult[][]> {
  if (selection.noise === undefined) return environmentOf(environments, selection.mode).search(queries, k);
  return searchNoisy(environmentOf(environments, "original"), environmentOf(environments, "paraphrased"), queries, k, selection.noise);
}

// Each environment's first row per chunk, made on the first chunk id opened: rows never change once loaded.
const firstRows = new WeakMap<ReadonlyMap<string, EnvRow>, Map<string, EnvRow>>();

/**
 * Rows by id as an environment holds them: a row id gives its row; a chunk id gives the chunk as the environment shows
 * it (its own text where it has it, else its first paraphrase, so opening a hit never reveals text the paraphrased
 * environment hides). null for an id the environment does not know.
 */
export function openRows(searcher: Pick<Searcher, "rows">, ids: readonly string[]): (EnvRow | null)[] {
  const { rows } = searcher;
  const byChunk = () => {
    let first = firstRows.get(rows);
    if (!first) {
      first = new Map();
      for (const row of rows.values()) if (!first.has(row.chunk_id)) first.set(row.chunk_id, row);
      firstRows.set(rows, first);
    }
    return first;
  };
  return ids.map((id) => rows.get(id) ?? byChunk().get(id) ?? null);
}

// The paraphrased environment is searched this many times deeper than k, since its hits that fall back to a
// chunk's original (no paraphrase kept) are skipped.
const NOISE_DEPTH = 4;

/**
 * ZeroSearch's noise curriculum with paraphrases as the noise: of each answer's k hits, noise x k come from the
 * paraphrase rows (the paraphrased environment's ranking) and the rest from the original environment's, each chunk
 * once. A fractional count rounds up with its fraction's chance, and which ranks hold paraphrases is drawn too, both
 * from a seed hashing the query and the noise: the same request always gets the same answer. A slot one side cannot
 * fill (too few of its rows match) takes the other side's next hit. Each hit keeps its own environment's score.
 */
export async function searchNoisy(original: Searcher, paraphrased: Searcher, queries: readonly string[], k: number, noise: number): Promise<SearchResult[][]> {
  if (!(noise >= 0 && noise <= 1)) throw new KitError(`noise must be a number from 0 to 1, got ${noise}`);
  // An original taken may be a chunk a paraphrase already holds: 2k originals always leave k distinct ones.
  const [originals, paraphrases] = await Promise.all([original.search(queries, 2 * k), paraphrased.search(queries, NOISE_DEPTH * k)]);
  return queries.map((query, i) => {
    const random = seededRandom(`${noise}\u0000${query}`);
    const whole = Math.floor(noise * k);
    const noisy = new Set(shuffle(Array.from({ length: k }, (_, rank) => rank), random).slice(0, whole + (random() < noise * k - whole ? 1 : 0)));
    // Paraphrases are the scarce side: they pick their chunks first, the originals take the others.
    const picked = distinctChunks(paraphrases[i].filter((h) => h.kind === "paraphrase"), noisy.size, new Set());
    const rest = distinctChunks(originals[i], k - picked.length, new Set(picked.map((h) => h.chunk_id)));
    const hits: SearchResult[] = [];
    for (let rank = 0; rank < k; rank++) {
      const hit = noisy.has(rank) ? (picked.shift() ?? rest.shift()) : (rest.shift() ?? picked.shift());
      if (!hit) break;
      hits.push(hit);
    }
    return hits;
  });
}

/** The first `n` hits of a ranking whose chunks are not yet taken, each chunk once. */
function distinctChunks(ranking: readonly SearchResult[], n: number, taken: Set<string>): SearchResult[] {
  const out: SearchResult[] = [];
  for (const hit of ranking) {
    if (out.length === n) break;
    if (taken.has(hit.chunk_id)) continue;
    taken.add(hit.chunk_id);
    out.push(hit);
  }
  return out;
}
