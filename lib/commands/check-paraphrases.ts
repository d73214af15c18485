import * as path from "node:path";
import { createEmbedder } from "../embedders";
import { KitError } from "../errors";
import { progressReporter } from "../progress";
import { checkPairsFile } from "../quality";
import { createJudge, DEFAULT_JUDGE, JUDGE_SPECS, MINICHECK_MODEL } from "../quality/judge";
import { openCache, withCache } from "../cache";
import { type Command, elapsed, OPTIONS, required, str } from "./command";

export default {
  name: "check-paraphrases",
  summary: "check (original, paraphrase) pairs from a CSV or JSONL file for invented facts, refusals and copies",
  usage: "kit check-paraphrases --in FILE (.csv or .jsonl) --out FILE.jsonl [--original-col original] [--paraphrase-col paraphrase] [--judge auto|rules|ollama:M|openai:M@URL|transformers:M]",
  required: ["in", "out"],
  options: {
    in: { type: "string", help: "a .csv (with a header row) or .jsonl file of pairs" },
    "original-col": { type: "string", help: "column or key holding the original", default: "original" },
    "paraphrase-col": { type: "string", help: "column or key holding the paraphrase", default: "paraphrase" },
    out: { type: "string", help: 'JSONL to write: {"row", "verdict", "reasons", "scores"} per input row, in input order' },
    embedder: { type: "string", help: "also check meaning drift with this embedder (e.g. use-lite); off by default" },
    judge: { type: "string", help: `claim-by-claim judge of rows the rules pass: ${JUDGE_SPECS} (auto: ${MINICHECK_MODEL} if Ollama has it, else rules)`, default: DEFAULT_JUDGE },
    cache: { type: "string", help: "judge answers cached here, so a re-run resumes (default: OUT.judge-cache.jsonl)" },
    "ollama-host": OPTIONS.ollamaHost,
  },
  async run(v) {
    const started = Date.now();
    const out = required(v, "out");
    const input = required(v, "in");
    if (path.resolve(input) === path.resolve(out)) throw new KitError(`--out ${out} is the --in file; write the verdicts to another file`);
    const embedderSpec = str(v, "embedder");
    const ollamaHost = str(v, "ollama-host");
    const embedder = embedderSpec ? await createEmbedder(embedderSpec, { ollamaHost }) : undefined;
    const cache = openCache(str(v, "cache") ?? `${out}.judge-cache.jsonl`);
    const judge = await createJudge(str(v, "judge") ?? DEFAULT_JUDGE, { ollamaHost, wrap: (g) => withCache(g, cache), onNotice: (line) => console.log(line) });
    const bar = progressReporter("checking");
    try {
      const counts = await checkPairsFile(input, out, {
        originalCol: str(v, "original-col"),
        paraphraseCol: str(v, "paraphrase-col"),
        embedder,
        judge,
        onProgress: bar.onProgress,
      });
      bar.done();
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      console.log(`check-paraphrases: ${total} rows: ${Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ")} (judge: ${judge?.spec ?? "rules only"}) -> ${out} in ${elapsed(started)}`);
    } finally {
      await embedder?.close?.();
      await judge?.close();
      cache.close();
    }
  },
} satisfies Command;
