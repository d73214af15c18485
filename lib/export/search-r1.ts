import * as path from "node:path";
import { type EnvRow, type Mode } from "../environment";
import { writeFileAtomic, writeJsonlAtomic } from "../files";
import { searchR1Document } from "../serve";
import { arrowTable, bool, type Columns, int32, list, messages, string, struct, toParquet } from "./parquet";
import type { Message } from "./prompts";

/**
 * Search-R1's training layout (scripts/data_process/nq_search.py), which verl's search-tool recipe also
 * reads (examples/data_preprocess/preprocess_search_r1_dataset.py): the trainer picks its reward by
 * `data_source`, scores the answer against `reward_model.ground_truth.target`, and hands
 * `extra_info.tools_kwargs` to its search tool.
 */
const groundTruth = struct({ target: list(string) });
export const SEARCH_R1_COLUMNS: Columns = {
  data_source: string,
  prompt: messages,
  ability: string,
  reward_model: struct({ style: string, ground_truth: groundTruth }),
  extra_info: struct({
    index: int32(),
    split: string,
    question: string,
    id: string,
    gold_chunk_ids: list(string),
    need_tools_kwargs: bool,
    tools_kwargs: struct({ search: struct({ create_kwargs: struct({ ground_truth: groundTruth, question: string, data_source: string }) }) }),
  }),
};

export interface SearchR1Question {
  id: string;
  question: string;
  answer: string;
  chunk_id: string;
  /** Every chunk the answer needs: [chunk_id] for a single question, two for a multi-hop one. */
  supporting_chunk_ids: string[];
  prompt: Message[];
}

/** One row of train.parquet or test.parquet. */
export function searchR1Row(q: SearchR1Question, index: number, split: string, dataSource: string) {
  const ground_truth = { target: [q.answer] };
  return {
    data_source: dataSource,
    prompt: q.prompt,
    ability: "fact-reasoning",
    reward_model: { style: "rule", ground_truth },
    extra_info: {
      index,
      split,
      question: q.question,
      id: q.id,
      gold_chunk_ids: q.supporting_chunk_ids,
      need_tools_kwargs: true,
      tools_kwargs: { search: { create_kwargs: { ground_truth, question: q.question, data_source: dataSource } } },
    },
  };
}

/**
 * Writes `dir`/train.parquet and test.parquet, and corpus-<mode>.jsonl per environment: `{id, contents}`
 * as Search-R1's retriever reads a corpus (contents: a quoted title line, then the text), plus the
 * chunk_id a reward checks and the row's kind. Returns the files written, relative to `dir`.
 */
export function writeSearchR1(dir: string, splits: Record<"train" | "test", readonly SearchR1Question[]>, rows: Record<Mode, readonly EnvRow[]>, dataSource: string): string[] {
  const files: string[] = [];
  for (const [split, questions] of Object.entries(splits)) {
    if (!questions.length) continue;
    const table = arrowTable(SEARCH_R1_COLUMNS, questions.map((q, i) => searchR1Row(q, i, split, dataSource)), (r) => `search-r1 ${split} row ${(r.extra_info as { id: string }).id}`);
    writeFileAtomic(path.join(dir, `${split}.parquet`), toParquet(table));
    files.push(`${split}.parquet`);
  }
  for (const [mode, modeRows] of Object.entries(rows)) {
    // The served documents, so a trainer's corpus file and `kit serve`'s answers hold the same rows.
    writeJsonlAtomic(path.join(dir, `corpus-${mode}.jsonl`), modeRows.map(searchR1Document));
    files.push(`corpus-${mode}.jsonl`);
  }
  return files;
}
