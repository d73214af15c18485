import * as path from "node:path";
import { type EnvRow, type Mode } from "../environment";
import { writeFileAtomic, writeJsonlAtomic } from "../files";
import { searchR1Document } from "../serve";
import { arrowTable, type Columns, int64, list, messages, string, struct, toParquet } from "./parquet";
import { chatPrompt, type Message } from "./prompts";

/** A question as the trainer layouts take it. */
export interface TrainerQuestion {
  id: string;
  question: string;
  answer: string;
  chunk_id: string;
  /** Every chunk the answer needs: [chunk_id] for a single question, two for a multi-hop one. */
  supporting_chunk_ids: string[];
}

export type Splits<T> = Record<"train" | "test", readonly T[]>;

/** Search-R1 picks its exact-match reward for these data sources (verl/trainer/main_ppo.py, _select_rm_score_fn). */
export const DEFAULT_DATA_SOURCE = "nq";

export const groundTruth = struct({ target: list(string) });
/** Where a row's chunks go in both trainer layouts: neither trainer reads it, a retrieval reward can. */
export const chunkMetadata = struct({ chunk_id: string, supporting_chunk_ids: list(string) });

/**
 * Search-R1's training rows as scripts/data_process/nq_search.py writes them: the FlashRAG columns it keeps (id,
 * question, golden_answers, metadata), then data_source, one user message holding the instructions and the question
 * (its trainer feeds the first message alone when the model has no chat template), ability, reward_model and
 * extra_info {split, index}.
 */
export const SEARCH_R1_COLUMNS: Columns = {
  id: string,
  question: string,
  golden_answers: list(string),
  metadata: chunkMetadata,
  data_source: string,
  prompt: messages,
  ability: string,
  reward_model: struct({ style: string, ground_truth: groundTruth }),
  extra_info: struct({ split: string, index: int64 }),
};

export function searchR1Row(q: TrainerQuestion, template: string, index: number, split: string, dataSource: string) {
  return {
    id: q.id,
    question: q.question,
    golden_answers: [q.answer],
    metadata: { chunk_id: q.chunk_id, supporting_chunk_ids: q.supporting_chunk_ids },
    data_source: dataSource,
    prompt: oneUserMessage(template, q.question),
    ability: "fact-reasoning",
    reward_model: { style: "rule", ground_truth: { target: [q.answer] } },
    extra_info: { split, index },
  };
}

/** The template with the question in its place, as one user message (a template without {question} gets it appended). */
function oneUserMessage(template: string, question: string): Message[] {
  return chatPrompt(template.includes("{question}") ? template : `${template} Question: {question}`, question);
}

/**
 * Writes `dir`/train.parquet and test.parquet, and corpus-<mode>.jsonl per environment: `{id, contents}` as
 * Search-R1's retriever reads a corpus (contents: a quoted title line, then the text), plus the chunk_id a reward
 * checks and the row's kind. Returns the files written, relative to `dir`.
 */
export function writeSearchR1(dir: string, splits: Splits<TrainerQuestion>, template: string, rows: Record<Mode, readonly EnvRow[]>, dataSource: string): string[] {
  const files = writeSplits(dir, SEARCH_R1_COLUMNS, splits, (q, i, split) => searchR1Row(q, template, i, split, dataSource), "search-r1");
  for (const [mode, modeRows] of Object.entries(rows)) {
    // The served documents, so a trainer's corpus file and `kit serve`'s answers hold the same rows.
    writeJsonlAtomic(path.join(dir, `corpus-${mode}.jsonl`), modeRows.map(searchR1Document));
    files.push(`corpus-${mode}.jsonl`);
  }
  return files;
}

/** Writes train.parquet and test.parquet (a split with no rows is left out) of `columns`; returns the files written. */
export function writeSplits<T extends TrainerQuestion>(dir: string, columns: Columns, splits: Splits<T>, row: (q: T, index: number, split: string) => object, layout: string): string[] {
  const files: string[] = [];
  for (const [split, questions] of Object.entries(splits)) {
    if (!questions.length) continue;
    const table = arrowTable(columns, questions.map((q, i) => row(q, i, split)), (r) => `${layout} ${split} row ${questions[(r as { extra_info: { index: number } }).extra_info.index].id}`);
    writeFileAtomic(path.join(dir, `${split}.parquet`), toParquet(table));
    files.push(`${split}.parquet`);
  }
  return files;
}
