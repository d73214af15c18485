import { DEFAULT_KS, evaluateRetrieval, formatEvaluation, parseKs, parseRetrievers } from "../evaluate";
import { progressReporter } from "../progress";
import { type Command, OPTIONS, required, str } from "./command";

export default {
  name: "eval-retrieval",
  summary: "recall@k and MRR of dense, BM25 and hybrid retrieval in every environment mode, for a dataset's questions and paraphrases (eval.json)",
  usage: "kit eval-retrieval --dataset DIR [--k 1,5,10] [--retrievers dense,bm25,hybrid]",
  required: ["dataset"],
  options: {
    dataset: OPTIONS.dataset,
    k: { type: "string", help: "cut-offs for recall@k, comma-separated; MRR counts hits within the largest", default: DEFAULT_KS.join(",") },
    retrievers: { type: "string", help: "retrievers to score, comma-separated", default: "dense,bm25,hybrid" },
    "ollama-host": OPTIONS.ollamaHost,
  },
  async run(v) {
    const bar = progressReporter("evaluating");
    const result = await evaluateRetrieval({
      dataset: required(v, "dataset"),
      ks: parseKs(str(v, "k") ?? DEFAULT_KS.join(",")),
      retrievers: parseRetrievers(str(v, "retrievers") ?? "dense,bm25,hybrid"),
      ollamaHost: str(v, "ollama-host"),
      onProgress: bar.onProgress,
    });
    bar.done();
    console.log(formatEvaluation(result));
  },
} satisfies Command;
