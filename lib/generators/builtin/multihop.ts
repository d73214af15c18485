import { terms } from "../../lexical";
// Types only: answer.ts imports this file, and passes the cloze generator in.
import type { BuiltinQuestion, Difficulty, QuestionsTask, Task } from "../types";

export type MultiHopTask = Extract<Task, { kind: "multi-hop" }>;

/** An item of the builtin generator's multi-hop answer, in the format lib/multihop.ts asks a model for. */
export interface BuiltinMultiHop extends Omit<BuiltinQuestion, "source"> {
  type: "bridge";
  bridge: string;
  hops: { source: string; part: string }[];
}

interface Cloze {
  /** What the blank is: value, date, name or term. */
  asked: string;
  /** The quoted statement, its answer blanked as ___. */
  quote: string;
  answer: string;
  difficulty: Difficulty;
}

// The cloze questions (questions.ts) about a statement (table rows left out: their quotes are cells, not statements).
const CLOZE = /^Which (\w+) fills the blank in this statement[^:]*: "(.*)"\?$/s;
const HARDER: Record<Difficulty, Difficulty> = { easy: "medium", medium: "hard", hard: "hard" };
/** Stands in the second statement for the bridge the first statement's blank hides. */
const PLACEHOLDER = "[N]";
/** Blanks that can be a bridge: an entity's name, or a technical term ("descent engine"); not a value or date. */
const BRIDGEABLE = new Set(["name", "term"]);

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** A name or term as whole words (not "Tank 2" in "Tank 21"). */
const mention = (name: string, flags = "") => new RegExp(`(?<![\\w-])${escape(name)}(?![\\w-])`, flags);

/**
 * Labelled bridge questions from two cloze facts that share a named term: a statement of one chunk whose blank
 * is a name or term (the bridge) that the task's shared rare terms cover, and a statement of the other chunk that
 * mentions it. The question asks the second statement's blank, the bridge in it replaced by a pointer to the first
 * statement, so the answer needs both chunks: "Which value fills the blank in "The resultant landing would have
 * been at ___ in the [N]", where [N] is the name that fills the blank in "... moved the earth landing point from
 * the ___ to the South Pacific"?". Bridges come in the order of the shared terms (names first, then the rarest);
 * `task.attempt` rotates where picking starts. `cloze` is questions.ts's cloze question generator.
 */
export function builtinMultiHop(task: MultiHopTask, cloze: (task: QuestionsTask) => BuiltinQuestion[]): BuiltinMultiHop[] {
  const facts = (chunk: { chunk_id: string; text: string }): Cloze[] =>
    cloze({ kind: "questions", window: [chunk], target: chunk.chunk_id, count: Number.MAX_SAFE_INTEGER, attempt: 0 }).flatMap((q) => {
      const m = CLOZE.exec(q.question);
      return m ? [{ asked: m[1], quote: m[2], answer: q.answer, difficulty: q.difficulty }] : [];
    });
  const [a, b] = task.chunks;
  const [factsA, factsB] = [facts(a), facts(b)];
  const found = [...bridges(a, factsA, b, factsB, task.shared), ...bridges(b, factsB, a, factsA, task.shared)].sort((x, y) => x.rank - y.rank);
  const shift = found.length ? (task.attempt * Math.max(1, task.count)) % found.length : 0;
  const out: BuiltinMultiHop[] = [];
  for (const { item } of [...found.slice(shift), ...found.slice(0, shift)]) {
    if (out.length >= task.count) break;
    if (!out.some((o) => o.answer === item.answer)) out.push(item);
  }
  return out;
}

/** Bridge questions whose first hop is `first`: its name and term facts, each with the `second` chunk's facts that mention it. */
function bridges(first: { chunk_id: string; text: string }, firstFacts: Cloze[], second: { chunk_id: string; text: string }, secondFacts: Cloze[], shared: string[]) {
  const out: { rank: number; item: BuiltinMultiHop }[] = [];
  for (const f1 of firstFacts) {
    const name = f1.answer;
    const own = new Set(terms(name));
    const rank = shared.findIndex((t) => own.has(t));
    // A name or term the chunks do not share as a rare term is a common one ("Apollo 13"): no link worth a search.
    if (!BRIDGEABLE.has(f1.asked) || rank < 0 || !mention(name).test(second.text)) continue;
    for (const f2 of secondFacts) {
      // The answer must be the second chunk's: not the bridge itself, and not also in the first chunk.
      if (!mention(name).test(f2.quote) || f2.answer.includes(name) || name.includes(f2.answer) || mention(f2.answer).test(first.text)) continue;
      const statement = f2.quote.replace(mention(name, "g"), PLACEHOLDER);
      out.push({
        rank,
        item: {
          question: `Which ${f2.asked} fills the blank in "${statement}", where ${PLACEHOLDER} is the ${f1.asked} that fills the blank in "${f1.quote}"?`,
          answer: f2.answer,
          difficulty: HARDER[f2.difficulty],
          type: "bridge",
          bridge: name,
          hops: [
            { source: first.chunk_id, part: name },
            { source: second.chunk_id, part: f2.answer },
          ],
        },
      });
    }
  }
  return out;
}
