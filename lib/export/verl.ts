import * as path from "node:path";
import { writeFileAtomic } from "../files";
import { bool, type Columns, int64, messages, string, struct } from "./parquet";
import type { Message } from "./prompts";
import { chunkMetadata, groundTruth, type Splits, type TrainerQuestion, writeSplits } from "./search-r1";

/**
 * verl's search-tool recipe (examples/data_preprocess/preprocess_search_r1_dataset.py, run by
 * examples/sglang_multiturn/search_r1_like/run_qwen2.5-3b_instruct_search_multiturn.sh): data_source
 * "searchR1_<source>" selects verl's exact-match reward, the prompt is a system and a user message, and
 * extra_info.tools_kwargs hands each rollout's search tool its create_kwargs.
 */
export const VERL_COLUMNS: Columns = {
  data_source: string,
  prompt: messages,
  ability: string,
  reward_model: struct({ style: string, ground_truth: groundTruth }),
  extra_info: struct({
    index: int64,
    need_tools_kwargs: bool,
    question: string,
    split: string,
    tools_kwargs: struct({ search: struct({ create_kwargs: struct({ ground_truth: groundTruth, question: string, data_source: string }) }) }),
  }),
  metadata: chunkMetadata,
};

/** verl's data_source for a Search-R1 source: the recipe prefixes it. */
export const verlDataSource = (dataSource: string) => (dataSource.startsWith("searchR1_") ? dataSource : `searchR1_${dataSource}`);

export function verlRow(q: TrainerQuestion & { prompt: Message[] }, index: number, split: string, dataSource: string) {
  const ground_truth = { target: [q.answer] };
  return {
    data_source: dataSource,
    prompt: q.prompt,
    ability: "fact-reasoning",
    reward_model: { style: "rule", ground_truth },
    extra_info: { index, need_tools_kwargs: true, question: q.question, split, tools_kwargs: { search: { create_kwargs: { ground_truth, question: q.question, data_source: dataSource } } } },
    metadata: { chunk_id: q.chunk_id, supporting_chunk_ids: q.supporting_chunk_ids },
  };
}

/**
 * The tool config verl's recipe reads (examples/sglang_multiturn/config/tool_config/search_tool_config.yaml),
 * pointing at kit serve: the tool's schema is the recipe's own, so the model sees the tool it was prompted for.
 */
export function searchToolConfig(url: string): string {
  return `# verl's search tool, calling kit serve (npx kit serve --dataset DIR --mode paraphrased --port 8000).
tools:
  - class_name: verl.tools.search_tool.SearchTool
    config:
      retrieval_service_url: ${url}
      topk: 3
      num_workers: 120
      rate_limit: 120
      timeout: 30
      type: native
    tool_schema:
      type: function
      function:
        name: search
        description: Searches a document collection for passages relevant to the given queries.
        parameters:
          type: object
          properties:
            query_list:
              type: array
              item:
                type: string
              description: A list of fully-formed queries. The tool returns search results for each query.
          required:
            - query_list
`;
}

export const DEFAULT_SEARCH_URL = "http://127.0.0.1:8000/retrieve";

/** Writes `dir`/train.parquet, test.parquet and search_tool_config.yaml; returns the files written, relative to `dir`. */
export function writeVerl(dir: string, splits: Splits<TrainerQuestion & { prompt: Message[] }>, dataSource: string): string[] {
  const source = verlDataSource(dataSource);
  const files = writeSplits(dir, VERL_COLUMNS, splits, (q, i, split) => verlRow(q, i, split, source), "verl");
  writeFileAtomic(path.join(dir, "search_tool_config.yaml"), searchToolConfig(DEFAULT_SEARCH_URL));
  return [...files, "search_tool_config.yaml"];
}
