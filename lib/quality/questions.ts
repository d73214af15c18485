import { type Difficulty, DIFFICULTIES, isGrounded, markDuplicates, type Question, validateQuestion } from "../questions";

/** Question checks: thin over lib/questions.ts (grounding, standing alone, no reasoning, duplicates). */

export interface QuestionInput {
  question: string;
  answer: string;
  difficulty?: string;
}

/** Why a question is not usable against its chunk (empty when it is): lib/questions.ts's rules plus grounding. */
export function checkQuestion(q: QuestionInput, chunkText: string): string[] {
  const reasons: string[] = [];
  const invalid = validateQuestion({ question: q.question.trim(), answer: q.answer.trim(), difficulty: (q.difficulty ?? "").trim().toLowerCase(), source: "" });
  if (invalid) reasons.push(invalid);
  if (q.answer.trim() && !isGrounded(q.answer, chunkText, q.question)) reasons.push("answer not found in its chunk (ungrounded)");
  return reasons;
}

export interface QuestionRow extends QuestionInput {
  chunk_id: string;
}

/**
 * checkQuestion for every row against its chunk, then near-duplicates among the rows that passed
 * (lib/questions.ts markDuplicates: word-set Jaccard >= threshold). Results are in input order.
 */
export function checkQuestions(rows: readonly QuestionRow[], chunkText: (chunkId: string) => string | undefined, duplicateThreshold = 0.8): { row: number; reasons: string[] }[] {
  const results = rows.map((q, i) => {
    const text = chunkText(q.chunk_id);
    return { row: i + 1, reasons: text === undefined ? [`chunk ${q.chunk_id} not found`] : checkQuestion(q, text) };
  });
  const asQuestions: Question[] = rows.map((q, i) => ({
    id: `row ${i + 1}`,
    chunk_id: q.chunk_id,
    question: q.question,
    answer: q.answer,
    difficulty: "",
    window: [],
    model: "",
    prompt_version: "",
    status: results[i].reasons.length ? "rejected" : "accepted",
    reason: null,
  }));
  markDuplicates(asQuestions, duplicateThreshold).forEach((q, i) => {
    if (q.status === "rejected" && q.reason) results[i].reasons.push(q.reason);
  });
  return results;
}

/** How many questions of each difficulty; anything else counts as "other". */
export function difficultyMix(questions: readonly { difficulty?: string }[]): Record<Difficulty | "other", number> {
  const mix = { easy: 0, medium: 0, hard: 0, other: 0 };
  for (const q of questions) {
    const d = (q.difficulty ?? "").toLowerCase() as Difficulty;
    if ((DIFFICULTIES as readonly string[]).includes(d)) mix[d]++;
    else mix.other++;
  }
  return mix;
}
