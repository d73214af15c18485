import type { Chunk } from "./chunking";
import { type GenerateRequest, type Generator, type StageRequests, stageRequests } from "./generators";
import { groundingScore, groundsAlone, keyTerms } from "./grounding";
import { defaultProgress } from "./notebook";

/** One row of questions.jsonl; accepted rows also go to questions.json in the seed's format. */
export interface Question {
  id: string;
  /** The chunk the answer comes from (checked against the text, not just taken from the model). */
  chunk_id: string;
  question: string;
  answer: string;
  difficulty: Difficulty | "";
  /** The chunk ids the prompt showed: previous, asked-about, next. */
  window: string[];
  model: string;
  prompt_version: string;
  status: "accepted" | "rejected" | "failed";
  /** Why a row was rejected or a prompt failed; null when accepted. */
  reason: string | null;
  /** "multi-hop" rows need two chunks (lib/multihop.ts); rows of datasets built before them have no kind. */
  kind?: "single" | "multi-hop";
  /** The chunks the answer needs, in search order, the last holding the answer; [chunk_id] for a single question. */
  supporting_chunk_ids?: string[];
}

/** questions.json: exactly AutoDidact's format. */
export interface SeedQuestion {
  chunk_id: string;
  question: string;
  answer: string;
  difficulty: Difficulty;
}

export const DIFFICULTIES = ["easy", "medium", "hard"] as const;
export type Difficulty = (typeof DIFFICULTIES)[number];

export interface QuestionOptions {
  /** Questions wanted per chunk. Default 2. */
  perChunk?: number;
  /** Further tries for a chunk whose answer did not parse or gave too few valid questions. Default 2. */
  retries?: number;
  /** Base sampling seed; try n uses seed + n, so a retry is a new request. Default 42. */
  seed?: number;
  temperature?: number;
  /** Questions whose word sets overlap at least this much (Jaccard) count as duplicates. Default 0.8. */
  duplicateThreshold?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export const PROMPT_VERSION = "questions-v1";
/** Answers longer than this are explanations, not answers. */
export const MAX_ANSWER_WORDS = 20;

const SYSTEM = [
  "You write question-answer pairs for training a search agent.",
  "Each question must be answerable from a single passage, make sense on its own (never mention 'the passage', 'the text' or 'the document'), and end with a question mark.",
  "Each answer is short and factual: a number with its unit, a date, a name or a brief phrase copied from the passage. Never explain or show reasoning.",
].join(" ");

/**
 * The JSON schema of a model's answer (Ollama `format`, OpenAI `response_format`): a list of items with a question,
 * an answer and a difficulty, and the fields of one kind of question after them. The one place for both kinds'
 * schemas (single here, multi-hop in lib/multihop.ts), so they cannot drift apart.
 */
export function questionListFormat(fields: Record<string, object>): Record<string, unknown> {
  const properties = { question: { type: "string" }, answer: { type: "string" }, difficulty: { type: "string", enum: [...DIFFICULTIES] }, ...fields };
  return { type: "object", properties: { questions: { type: "array", items: { type: "object", properties, required: Object.keys(properties) } } }, required: ["questions"] };
}

/** The items of a JSON answer that follows questionListFormat (or is the bare list); throws when there is no list. */
export function questionItems(json: unknown): Record<string, unknown>[] {
  const list = Array.isArray(json) ? json : (json as { questions?: unknown })?.questions;
  if (!Array.isArray(list)) throw new Error("JSON without a questions list");
  return list.filter((x) => x && typeof x === "object");
}

const FORMAT = questionListFormat({ source: { type: "string" } });

/** The prompt for one chunk, with its neighbours as context (AutoDidact's sliding window). */
export function questionRequest(window: Chunk[], target: Chunk, count: number, attempt: number, options: QuestionOptions = {}): GenerateRequest {
  const at = window.indexOf(target);
  const passages = window.map((c, i) => `[${c.chunk_id}] (${i < at ? "previous" : i > at ? "next" : "main"})\n${c.text}`);
  const prompt = [
    "Passages, in document order:",
    "",
    passages.join("\n\n"),
    "",
    `Write ${count} different questions about passage [${target.chunk_id}]. Use a neighbouring passage only for a fact that belongs to what [${target.chunk_id}] discusses.`,
    "For each give: question; answer (short, in the passage's words); difficulty (easy, medium or hard); source (the id of the passage holding the answer, e.g. " +
      `${target.chunk_id}).`,
    'Reply with JSON only: {"questions": [{"question": "...", "answer": "...", "difficulty": "...", "source": "..."}]}',
  ].join("\n");
  return {
    system: SYSTEM,
    prompt,
    format: FORMAT,
    options: { temperature: options.temperature ?? 0.7, seed: (options.seed ?? 42) + attempt },
    task: { kind: "questions", window: window.map(({ chunk_id, text }) => ({ chunk_id, text })), target: target.chunk_id, count, attempt },
  };
}

interface Parsed {
  question: string;
  answer: string;
  difficulty: string;
  source: string;
}

/**
 * The items of a model's answer: JSON (possibly fenced or wrapped in prose), or AutoDidact-style
 * "Question: / Answer: / Difficulty:" blocks. Throws with the reason when nothing parses.
 */
export function parseQuestions(text: string): Parsed[] {
  const json = parseJsonLoosely(text);
  if (json !== undefined) {
    return questionItems(json).map((x) => ({
      question: String(x.question ?? "").trim(),
      answer: String(x.answer ?? "").trim(),
      difficulty: String(x.difficulty ?? "").trim().toLowerCase(),
      source: String(x.source ?? "").trim().replace(/^\[|\]$/g, ""),
    }));
  }
  const blocks = [...text.matchAll(/Question\s*\d*\s*[:：]\s*([\s\S]*?)\n\s*Answer\s*\d*\s*[:：]\s*([\s\S]*?)(?:\n\s*Difficulty\s*\d*\s*[:：]\s*(\w+))?(?=\n\s*(?:\d+[.)]\s*)?\**Question|\s*$)/gi)];
  if (!blocks.length) throw new Error("unparseable output: neither JSON nor Question/Answer lines");
  return blocks.map(([, q, a, d]) => ({ question: clean(q), answer: clean(a), difficulty: (d ?? "").toLowerCase(), source: "" }));
}

function clean(s: string): string {
  return s.replace(/\*\*/g, "").trim();
}

export function parseJsonLoosely(text: string): unknown {
  const candidates = [text, /```(?:json)?\s*([\s\S]*?)```/.exec(text)?.[1], text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1)];
  for (const c of candidates) {
    if (!c || !c.trim()) continue;
    try {
      return JSON.parse(c);
    } catch {
      // try the next reading
    }
  }
  return undefined;
}

const REASONING = /\b(because|therefore|thus|hence|step by step|let'?s|this means|which means|we can|we know|so the answer|in order to determine)\b/i;
// "the passage", "this section" point at what the model was shown; "the section "Oxygen"" names a place, and
// 'the document titled "X"' names a document: such questions stand alone.
const NAMED = String.raw`(?!\s+(?:titled|entitled|called|named)\b|\s*[:,]?\s*["“'])`;
const SELF_REFERENCE = new RegExp(String.raw`\b(the|this|that|above|given) (passage|text|document|excerpt|chunk|context)\b${NAMED}|\b(this|above|given) section\b${NAMED}`, "i");

/** Why an item is not a usable question, or null when it is. */
export function validateQuestion(item: Parsed): string | null {
  if (!item.question) return "empty question";
  if (!item.answer) return "empty answer";
  if (!item.question.endsWith("?")) return "not a question (no question mark)";
  if (SELF_REFERENCE.test(item.question)) return "question refers to the passage instead of standing alone";
  if (item.answer.split(/\s+/).length > MAX_ANSWER_WORDS) return `answer longer than ${MAX_ANSWER_WORDS} words`;
  if (REASONING.test(item.answer)) return "answer narrates reasoning";
  if (!(DIFFICULTIES as readonly string[]).includes(item.difficulty)) return `difficulty "${item.difficulty}" is not easy, medium or hard`;
  return null;
}

// Lower case, no thousands separators, punctuation as spaces (but decimal points kept).
const normalise = (s: string) =>
  s
    .toLowerCase()
    .replace(/(\d),(?=\d{3}\b)/g, "$1")
    .replace(/[^\p{L}\p{N}.]+|\.(?!\d)|(?<!\d)\./gu, " ")
    .replace(/\s+/g, " ")
    .trim();
const words = (s: string) => normalise(s).split(" ").filter((w) => w.length > 1 || /\d/.test(w));

/**
 * Whether a chunk supports an answer (lib/grounding.ts). With the question, a bare number, a single word or a
 * yes/no answer also needs the question's key terms beside it; without, the answer is matched on its own terms.
 */
export function isGrounded(answer: string, text: string, question?: string): boolean {
  return question === undefined ? groundsAlone(answer, text) : groundingScore(answer, keyTerms(question, answer), text) > 0;
}

/**
 * The window's chunk that holds the answer: of the chunks that ground it, the one that also holds most of the
 * question's key terms; the model's claim, then the target, wins a tie. Undefined when none grounds it.
 */
export function answerSource(question: string, answer: string, claimed: string, window: readonly Chunk[], target: Chunk): Chunk | undefined {
  const key = keyTerms(question, answer, window.map((c) => c.text));
  const byId = window.find((c) => c.chunk_id === claimed);
  const order = [...(byId ? [byId] : []), target, ...window.filter((c) => c !== target && c !== byId)];
  let best: { chunk: Chunk; score: number } | undefined;
  for (const chunk of new Set(order)) {
    const score = groundingScore(answer, key, chunk.text);
    if (score > (best?.score ?? 0)) best = { chunk, score };
  }
  return best?.chunk;
}

/**
 * Generates, validates and de-duplicates questions for every chunk (first and last included). A chunk left
 * short after all tries gets a "failed" row, and the answers that gave it no question are reported rejected to the
 * generator (Generator.reject): they stay cached, so a re-run gives the same rows. Throws one KitError, instead of returning
 * rows, when the model or server is lost (the other requests are cancelled) or when every request failed.
 */
export async function generateQuestions(chunks: readonly Chunk[], generator: Generator, options: QuestionOptions = {}): Promise<Question[]> {
  const perChunk = options.perChunk ?? 2;
  const retries = options.retries ?? 2;
  const requests = stageRequests("questions", generator, options.signal);
  let done = 0;
  const onProgress = options.onProgress ?? defaultProgress("chunks asked for questions");
  const perChunkRows = await requests.finish(
    Promise.all(
      chunks.map(async (target, i) => {
        const window = chunks.slice(Math.max(0, i - 1), i + 2).filter((c) => c.source === target.source);
        const rows = await questionsForChunk(window, target, perChunk, retries, generator, requests, options);
        onProgress?.(++done, chunks.length);
        return rows;
      }),
    ),
  );
  return markDuplicates(perChunkRows.flat(), options.duplicateThreshold ?? 0.8);
}

async function questionsForChunk(
  window: Chunk[],
  target: Chunk,
  perChunk: number,
  retries: number,
  generator: Generator,
  requests: StageRequests,
  options: QuestionOptions,
): Promise<Question[]> {
  const rows: Question[] = [];
  const base = { window: window.map((c) => c.chunk_id), model: generator.model, prompt_version: PROMPT_VERSION };
  const accepted = () => rows.filter((r) => r.status === "accepted").length;
  /** The requests answered so far, with how many questions each gave. */
  const answered: { request: GenerateRequest; accepted: number }[] = [];
  let lastFailure = "";
  for (let attempt = 0; attempt <= retries && accepted() < perChunk; attempt++) {
    const wanted = perChunk - accepted();
    const request = questionRequest(window, target, wanted, attempt, options);
    let answer: string;
    try {
      answer = await requests.ask(request);
    } catch (err) {
      if (requests.signal.aborted) throw err;
      lastFailure = (err as Error).message;
      continue;
    }
    const tried = { request, accepted: 0 };
    answered.push(tried);
    let items: Parsed[];
    try {
      items = parseQuestions(answer);
    } catch (err) {
      lastFailure = (err as Error).message;
      continue;
    }
    if (!items.length) lastFailure = "the model returned no questions";
    for (const item of items) {
      let reason = validateQuestion(item);
      const source = reason ? undefined : answerSource(item.question, item.answer, item.source, window, target);
      if (!reason && !source) reason = "answer not found in the passages (ungrounded)";
      if (!reason && rows.some((r) => r.status === "accepted" && normalise(r.question) === normalise(item.question))) reason = "repeats a question for this chunk";
      if (!reason && accepted() >= perChunk) reason = "more questions than asked for";
      rows.push({
        ...base,
        id: `${target.chunk_id}_q${rows.length + 1}`,
        chunk_id: source?.chunk_id ?? target.chunk_id,
        question: item.question,
        answer: item.answer,
        difficulty: (DIFFICULTIES as readonly string[]).includes(item.difficulty) ? (item.difficulty as Difficulty) : "",
        status: reason ? "rejected" : "accepted",
        reason,
      });
      if (!reason) tried.accepted++;
    }
  }
  if (accepted() < perChunk) {
    const why = lastFailure || "too few valid questions";
    const reason = `${accepted()} of ${perChunk} questions after ${retries + 1} tries: ${why}`;
    rows.push({ ...base, id: `${target.chunk_id}_failed`, chunk_id: target.chunk_id, question: "", answer: "", difficulty: "", status: "failed", reason });
    // Answers that gave a kept question are not rejected; the others are recorded as tried.
    for (const t of answered) if (t.accepted === 0) generator.reject?.(t.request, reason);
  }
  return rows;
}

/** A row's status and reason with question ids generalised, so near-duplicates count as one reason. */
export function reasonLabel(row: Pick<Question, "status" | "reason">): string {
  return `question ${row.status}: ${(row.reason ?? "").replace(/chunk_\d+_(?:q|mh)\d+/, "another question")}`;
}

/**
 * Rejects every accepted question whose word set overlaps an earlier accepted one's by at least
 * `threshold` (Jaccard). Prefix filtering keeps it near-linear: two sets that similar must share
 * one of the first |A| - ceil(threshold * |A|) + 1 words of each in a fixed order.
 */
export function markDuplicates(rows: Question[], threshold: number): Question[] {
  const accepted = rows.filter((r) => r.status === "accepted").map((row) => ({ row, words: [...new Set(words(row.question))] }));
  // Rarest words first: the prefixes then hold words few questions share, so each question meets few candidates.
  const frequency = new Map<string, number>();
  for (const { words } of accepted) for (const w of words) frequency.set(w, (frequency.get(w) ?? 0) + 1);
  const order = (a: string, b: string) => frequency.get(a)! - frequency.get(b)! || (a < b ? -1 : a > b ? 1 : 0);
  const kept: { id: string; words: Set<string> }[] = [];
  const byWord = new Map<string, number[]>();
  for (const { row, words } of accepted) {
    const sorted = words.sort(order);
    const prefix = sorted.slice(0, sorted.length - Math.ceil(threshold * sorted.length) + 1);
    const mine = new Set(sorted);
    const candidates = new Set(prefix.flatMap((w) => byWord.get(w) ?? []));
    const twin = [...candidates].sort((a, b) => a - b).find((k) => jaccard(kept[k].words, mine) >= threshold);
    if (twin !== undefined) {
      row.status = "rejected";
      row.reason = `near-duplicate of ${kept[twin].id}`;
      continue;
    }
    for (const w of prefix) {
      if (!byWord.has(w)) byWord.set(w, []);
      byWord.get(w)!.push(kept.length);
    }
    kept.push({ id: row.id, words: mine });
  }
  return rows;
}

function jaccard(a: Set<string>, b: Set<string>): number {
  let both = 0;
  for (const x of a) if (b.has(x)) both++;
  return both / (a.size + b.size - both || 1);
}

/** questions.json rows: accepted questions only, in the seed's four fields. */
export function seedFormat(rows: readonly Question[]): SeedQuestion[] {
  return rows
    .filter((r) => r.status === "accepted")
    .map((r) => ({ chunk_id: r.chunk_id, question: r.question, answer: r.answer, difficulty: r.difficulty as Difficulty }));
}
