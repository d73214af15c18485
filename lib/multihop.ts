import type { Chunk } from "./chunking";
import { type GenerateRequest, type Generator, type StageRequests, stageRequests } from "./generators";
import { buildLexicalIndex, type LexicalIndex, terms } from "./lexical";
import { DIFFICULTIES, type Difficulty, isGrounded, markDuplicates, parseJsonLoosely, type Question, type QuestionOptions, questionItems, questionListFormat, validateQuestion } from "./questions";
import { defaultProgress } from "./notebook";

/**
 * Multi-hop questions (`kit build --multi-hop N`): N two-hop questions per chunk, each over the chunk and a
 * partner chunk that shares a rare term with it, so that a search agent is rewarded for a second search.
 *
 * - bridge: the question describes an entity through a fact of one chunk without naming it; the answer is a
 *   fact about that entity in the other chunk. Both chunks must name the entity.
 * - comparison: the question compares two facts, one from each chunk; the answer is one of them.
 *
 * Each hop's part must be in its chunk, and a question one chunk answers alone is rejected as single-hop.
 */

export const MULTI_HOP_PROMPT_VERSION = "multi-hop-v1";
export const HOP_TYPES = ["bridge", "comparison"] as const;
export type HopType = (typeof HOP_TYPES)[number];

/** A step of a multi-hop question: a chunk and what the question takes from it. */
export interface Hop {
  chunk_id: string;
  part: string;
}

/** A multi-hop row of questions.jsonl. `chunk_id` is the chunk holding the answer, the last of `supporting_chunk_ids`. */
export interface MultiHopQuestion extends Question {
  kind: "multi-hop";
  supporting_chunk_ids: string[];
  hop_type: HopType | "";
  /** The entity both chunks name, for a bridge question; "" for a comparison. */
  bridge: string;
  /** What each hop takes from its chunk, as the model stated it, in search order (a comparison's ends at the answer's chunk). */
  hops: Hop[];
}

export interface MultiHopOptions extends Omit<QuestionOptions, "perChunk"> {
  /** Two-hop questions wanted per chunk; 0 asks none. */
  perChunk: number;
}

// A term is rare when at most this share of the chunks (and at least RARE_FLOOR chunks) holds it: in the Apollo
// report's 352 chunks, 8 or fewer, which keeps names ("haise", "s ivb") and drops "tank" (69) or "apollo" (79).
const RARE_SHARE = 0.02;
const RARE_FLOOR = 3;
/** Shared terms named in a prompt: enough to point at the link, not a list to copy from. */
const PROMPT_TERMS = 8;

/** The corpus as the multi-hop stage searches it: BM25 over every chunk, and each term's chunk count. */
export interface Corpus {
  chunks: readonly Chunk[];
  byId: Map<string, Chunk>;
  index: LexicalIndex;
  /** Each chunk's terms (lib/lexical.ts: words and adjacent pairs), those with a letter run of three or more. */
  terms: Map<string, Set<string>>;
  /** Each chunk's terms that it writes capitalised mid-sentence: its names, roughly. */
  names: Map<string, Set<string>>;
  /** Chunks holding each term. */
  df: Map<string, number>;
  /** Most chunks a rare term is in. */
  rareCap: number;
}

// Numbers and one- or two-letter tokens ("2", "a1") link chunks by coincidence.
const meaningful = (term: string) => /\p{L}{3}/u.test(term);

export function corpusOf(chunks: readonly Chunk[]): Corpus {
  const sets = new Map(chunks.map((c) => [c.chunk_id, new Set(terms(c.text).filter(meaningful))]));
  const df = new Map<string, number>();
  for (const set of sets.values()) for (const t of set) df.set(t, (df.get(t) ?? 0) + 1);
  return {
    chunks,
    byId: new Map(chunks.map((c) => [c.chunk_id, c])),
    index: buildLexicalIndex(chunks.map((c) => ({ id: c.chunk_id, text: c.text }))),
    terms: sets,
    names: new Map(chunks.map((c) => [c.chunk_id, namesIn(c.text)])),
    df,
    rareCap: Math.max(RARE_FLOOR, Math.ceil(RARE_SHARE * chunks.length)),
  };
}

// Runs of capitalised words, not at the start of a sentence or line: "Fra Mauro", "S-IVB", "Lunar Module Pilot".
const CAPITALISED = /(?<!(?:[.!?]|^)\s*)\p{Lu}[\p{L}\p{N}'-]*(?:[ \t]+\p{Lu}[\p{L}\p{N}'-]*)*/gmu;

/** The terms of a text's capitalised runs: its named entities, roughly. */
function namesIn(text: string): Set<string> {
  return new Set([...text.matchAll(CAPITALISED)].flatMap((m) => terms(m[0])));
}

const isRare = (corpus: Corpus, term: string) => (corpus.df.get(term) ?? 0) <= corpus.rareCap;

export interface Partner {
  chunk: Chunk;
  /** Rare terms both chunks hold: names first, then rarest first, pairs before words on a tie. */
  shared: string[];
}

/**
 * Up to `max` partners per chunk, best first. Candidates are the chunks BM25 ranks highest over the whole corpus
 * for a query of the chunk's rare words that share a rare term (word or pair) with it; those sharing a name come
 * first, since a shared entity ("Fra Mauro", "S-IVB") is what a bridge question is made of. Its neighbours in the
 * same source are left out: its single-chunk questions were already shown them (and with an overlap they share text).
 */
export function findPartners(corpus: Corpus, max: number): Map<string, Partner[]> {
  const { chunks } = corpus;
  const out = new Map<string, Partner[]>();
  chunks.forEach((chunk, i) => {
    const rare = [...corpus.terms.get(chunk.chunk_id)!].filter((t) => isRare(corpus, t));
    const neighbours = new Set([chunks[i - 1], chunks[i + 1]].filter((c) => c?.source === chunk.source).map((c) => c!.chunk_id));
    const named: Partner[] = [];
    const others: Partner[] = [];
    // Words only: pairs joined into one query would make pairs of their own, and cost ten times as much.
    const query = rare.filter((t) => !t.includes(" ")).join(" ");
    for (const hit of query ? corpus.index.search(query, chunks.length) : []) {
      if (named.length >= max) break;
      if (hit.id === chunk.chunk_id || neighbours.has(hit.id)) continue;
      const theirs = corpus.terms.get(hit.id)!;
      const shared = rare.filter((t) => theirs.has(t));
      if (!shared.length) continue;
      const isName = (t: string) => corpus.names.get(chunk.chunk_id)!.has(t) || corpus.names.get(hit.id)!.has(t);
      const order = (t: string) => [isName(t) ? 0 : 1, corpus.df.get(t)!, t.includes(" ") ? 0 : 1];
      shared.sort((a, b) => {
        const [x, y] = [order(a), order(b)];
        return x[0] - y[0] || x[1] - y[1] || x[2] - y[2] || (a < b ? -1 : 1);
      });
      (isName(shared[0]) ? named : others).push({ chunk: corpus.byId.get(hit.id)!, shared });
    }
    out.set(chunk.chunk_id, [...named, ...others].slice(0, max));
  });
  return out;
}

/**
 * The chunk that answers a question alone, if one does: BM25 over the corpus (the default retriever) ranks it
 * first for the question, it holds the answer, and it holds every key term of the question (the question's rare
 * terms that a supporting chunk holds; words neither chunk has, like the question's own frame, say nothing).
 */
export function answeringChunk(question: string, answer: string, supporting: readonly string[], corpus: Corpus): string | undefined {
  const top = corpus.index.search(question, 1)[0];
  const chunk = top && corpus.byId.get(top.id);
  if (!chunk || !isGrounded(answer, chunk.text, question)) return undefined;
  const key = terms(question).filter((t) => isRare(corpus, t) && supporting.some((id) => corpus.terms.get(id)?.has(t)));
  const held = corpus.terms.get(chunk.chunk_id)!;
  return key.every((t) => held.has(t)) ? chunk.chunk_id : undefined;
}

const SYSTEM = [
  "You write two-hop question-answer pairs for training a search agent that has to search twice.",
  "Each question needs a fact from each of two passages: neither passage alone answers it. It makes sense on its own (never mention 'the passage', 'the text' or 'the document') and ends with a question mark.",
  "Each answer is short and factual, copied from a passage. Never explain or show reasoning.",
].join(" ");

const FORMAT = questionListFormat({
  type: { type: "string", enum: [...HOP_TYPES] },
  bridge: { type: "string" },
  hops: { type: "array", items: { type: "object", properties: { source: { type: "string" }, part: { type: "string" } }, required: ["source", "part"] } },
});

/** The prompt for two-hop questions over a chunk and its partner; both are shown whole. */
export function multiHopRequest(target: Chunk, partner: Partner, count: number, attempt: number, options: Pick<QuestionOptions, "seed" | "temperature"> = {}): GenerateRequest {
  const pair = [target, partner.chunk];
  const shared = partner.shared.slice(0, PROMPT_TERMS);
  const prompt = [
    `Two passages from one corpus. Both mention: ${shared.join("; ")}`,
    "",
    pair.map((c, i) => `[${c.chunk_id}] (${i ? "second" : "first"})\n${c.text}`).join("\n\n"),
    "",
    `Write ${count} different two-hop questions, each needing both passages. Two types:`,
    '- bridge: the question describes an entity by what one passage says about it, without naming it; the answer is a fact about that entity from the other passage. "bridge" is the entity, as both passages name it.',
    '- comparison: the question compares two facts, one from each passage (which is earlier, larger, longer ...); the answer is one of the compared things, copied from its passage. "bridge" is "".',
    "For each give: question; answer (short, copied from a passage); difficulty (easy, medium or hard); type (bridge or comparison); bridge; hops: both passages in the order a searcher needs them, each with source (the passage id) and part (the words copied from that passage that the hop needs: the bridge entity, a compared value, the answer). The last hop's passage holds the answer.",
    'Reply with JSON only: {"questions": [{"question": "...", "answer": "...", "difficulty": "...", "type": "...", "bridge": "...", "hops": [{"source": "...", "part": "..."}, {"source": "...", "part": "..."}]}]}',
  ].join("\n");
  return {
    system: SYSTEM,
    prompt,
    format: FORMAT,
    options: { temperature: options.temperature ?? 0.7, seed: (options.seed ?? 42) + attempt },
    task: { kind: "multi-hop", chunks: pair.map(({ chunk_id, text }) => ({ chunk_id, text })), shared, count, attempt },
  };
}

interface ParsedMultiHop {
  question: string;
  answer: string;
  difficulty: string;
  type: string;
  bridge: string;
  hops: { source: string; part: string }[];
}

/** The items of a model's JSON answer (possibly fenced or wrapped in prose); throws with the reason when none parse. */
export function parseMultiHop(text: string): ParsedMultiHop[] {
  const json = parseJsonLoosely(text);
  if (json === undefined) throw new Error("unparseable output: not JSON");
  const str = (x: unknown) => (typeof x === "string" || typeof x === "number" ? String(x).trim() : "");
  return questionItems(json).map((x) => ({
    question: str(x.question),
    answer: str(x.answer),
    difficulty: str(x.difficulty).toLowerCase(),
    type: str(x.type).toLowerCase(),
    bridge: str(x.bridge),
    hops: (Array.isArray(x.hops) ? x.hops : []).filter((h) => h && typeof h === "object").map((h: Record<string, unknown>) => ({ source: str(h.source).replace(/^\[|\]$/g, ""), part: str(h.part) })),
  }));
}

/**
 * Why a two-hop item is refused (a reason counted in the build summary), or its hops in search order with the
 * answer's chunk last. `shown` are the two chunks its prompt showed.
 */
export function checkMultiHop(item: ParsedMultiHop, shown: readonly [Chunk, Chunk], corpus: Corpus): { reason: string } | { hops: Hop[] } {
  const invalid = validateQuestion({ ...item, source: "" });
  if (invalid) return { reason: invalid };
  if (!(HOP_TYPES as readonly string[]).includes(item.type)) return { reason: `type "${item.type}" is not bridge or comparison` };
  const chunkOf = (id: string) => shown.find((c) => c.chunk_id === id);
  if (item.hops.length !== 2 || !item.hops.every((h) => chunkOf(h.source)) || item.hops[0].source === item.hops[1].source) {
    return { reason: "hops are not one in each passage" };
  }
  let hops: Hop[] = item.hops.map((h) => ({ chunk_id: h.source, part: h.part }));
  if (!hops.every((h) => isGrounded(h.part, chunkOf(h.chunk_id)!.text))) return { reason: "a hop's part is not in its chunk" };
  if (item.type === "bridge") {
    if (!shown.every((c) => isGrounded(item.bridge, c.text))) return { reason: "bridge entity is not in both chunks" };
    if (isGrounded(item.answer, item.bridge)) return { reason: "answer is the bridge entity" };
  }
  const holds = (hop: Hop) => isGrounded(item.answer, chunkOf(hop.chunk_id)!.text, item.question);
  // A comparison's two facts can be looked up in either order; a bridge's cannot.
  if (!holds(hops[1]) && item.type === "comparison" && holds(hops[0])) hops = [hops[1], hops[0]];
  if (!holds(hops[1])) return { reason: "answer is not in its chunk (the last hop's)" };
  if (answeringChunk(item.question, item.answer, hops.map((h) => h.chunk_id), corpus)) {
    return { reason: "single-hop: one chunk holds the answer and every key term, and BM25 ranks it first" };
  }
  return { hops };
}

/**
 * The build's question rows with multi-hop rows added: single rows labelled (kind "single", supporting_chunk_ids
 * [chunk_id]), then `perChunk` two-hop questions asked for every chunk with a partner (findPartners; a retry asks
 * with the next partner), and every accepted row de-duplicated against those before it. A chunk left short gets
 * a "failed" row, and the answers that gave it nothing are reported rejected to the generator, as for single
 * questions. Reasons start with "multi-hop: ", so the build summary counts them apart.
 */
export async function withMultiHop(chunks: readonly Chunk[], singles: readonly Question[], generator: Generator, options: MultiHopOptions): Promise<Question[]> {
  const labelled: Question[] = singles.map((q) => ({ ...q, kind: "single", supporting_chunk_ids: [q.chunk_id] }));
  if (!options.perChunk) return labelled;
  const retries = options.retries ?? 2;
  const corpus = corpusOf(chunks);
  const partners = findPartners(corpus, retries + 1);
  const requests = stageRequests("multi-hop questions", generator, options.signal);
  let done = 0;
  const onProgress = options.onProgress ?? defaultProgress("chunks asked for multi-hop questions");
  const rows = await requests.finish(
    Promise.all(
      chunks.map(async (target) => {
        const mine = await multiHopForChunk(target, partners.get(target.chunk_id)!, corpus, generator, requests, { ...options, retries });
        onProgress?.(++done, chunks.length);
        return mine;
      }),
    ),
  );
  return markDuplicates([...labelled, ...rows.flat()], options.duplicateThreshold ?? 0.8);
}

async function multiHopForChunk(
  target: Chunk,
  partners: readonly Partner[],
  corpus: Corpus,
  generator: Generator,
  requests: StageRequests,
  options: MultiHopOptions & { retries: number },
): Promise<MultiHopQuestion[]> {
  const { perChunk, retries } = options;
  const rows: MultiHopQuestion[] = [];
  const row = (fields: Partial<MultiHopQuestion> & Pick<MultiHopQuestion, "window" | "status" | "reason">): MultiHopQuestion => ({
    id: `${target.chunk_id}_mh${rows.length + 1}`,
    chunk_id: target.chunk_id,
    question: "",
    answer: "",
    difficulty: "",
    model: generator.model,
    prompt_version: MULTI_HOP_PROMPT_VERSION,
    kind: "multi-hop",
    supporting_chunk_ids: fields.window,
    hop_type: "",
    bridge: "",
    hops: [],
    ...fields,
    reason: fields.reason && `multi-hop: ${fields.reason}`,
  });
  if (!partners.length) return [row({ id: `${target.chunk_id}_mh_failed`, window: [target.chunk_id], status: "failed", reason: "no other chunk shares a rare term with this one" })];
  const accepted = () => rows.filter((r) => r.status === "accepted").length;
  const answered: { request: GenerateRequest; accepted: number }[] = [];
  let lastFailure = "";
  for (let attempt = 0; attempt <= retries && accepted() < perChunk; attempt++) {
    const partner = partners[attempt % partners.length];
    const shown = [target, partner.chunk] as const;
    const window = shown.map((c) => c.chunk_id);
    const request = multiHopRequest(target, partner, perChunk - accepted(), attempt, options);
    let items: ParsedMultiHop[];
    const tried = { request, accepted: 0 };
    try {
      const answer = await requests.ask(request);
      answered.push(tried);
      items = parseMultiHop(answer);
    } catch (err) {
      if (requests.signal.aborted) throw err;
      lastFailure = (err as Error).message;
      continue;
    }
    if (!items.length) lastFailure = "the model returned no questions";
    for (const item of items) {
      const checked = checkMultiHop(item, shown, corpus);
      let reason = "reason" in checked ? checked.reason : null;
      const repeat = (r: MultiHopQuestion) => r.status === "accepted" && r.question.toLowerCase() === item.question.toLowerCase();
      if (!reason && rows.some(repeat)) reason = "repeats a question for this chunk";
      if (!reason && accepted() >= perChunk) reason = "more questions than asked for";
      const hops = "hops" in checked ? checked.hops : [];
      rows.push(
        row({
          window,
          chunk_id: hops.at(-1)?.chunk_id ?? target.chunk_id,
          supporting_chunk_ids: hops.length ? hops.map((h) => h.chunk_id) : window,
          question: item.question,
          answer: item.answer,
          difficulty: (DIFFICULTIES as readonly string[]).includes(item.difficulty) ? (item.difficulty as Difficulty) : "",
          hop_type: (HOP_TYPES as readonly string[]).includes(item.type) ? (item.type as HopType) : "",
          bridge: item.type === "bridge" ? item.bridge : "",
          hops,
          status: reason ? "rejected" : "accepted",
          reason,
        }),
      );
      if (!reason) tried.accepted++;
    }
  }
  if (accepted() < perChunk) {
    const reason = `${accepted()} of ${perChunk} questions after ${retries + 1} tries: ${lastFailure || "too few valid questions"}`;
    rows.push(row({ id: `${target.chunk_id}_mh_failed`, window: [target.chunk_id], status: "failed", reason }));
    for (const t of answered) if (t.accepted === 0) generator.reject?.(t.request, `multi-hop: ${reason}`);
  }
  return rows;
}
