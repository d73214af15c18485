import * as path from "node:path";
import { stringify as toYaml } from "yaml";
import type { BuildRecord } from "../pipeline/record";
import type { EnvManifest } from "../environment";
import { KEPT_VERDICTS } from "../paraphrase";
import { rulesLimits } from "../quality/claims";
import { type Bucket, GOLD_RANK_DEPTH } from "./difficulty";
import { type Columns, features } from "./parquet";
import { liftText, TIER_MEANING, type Verdict } from "../verdict";

export interface CardConfig {
  name: string;
  columns: Columns;
  splits: { name: string; rows: number; bytes: number }[];
  downloadBytes: number;
  /** What each row is, and its columns, for the card's table. */
  about: string;
}

export interface CardInput {
  name: string;
  prettyName: string;
  license: string;
  build: BuildRecord;
  configs: CardConfig[];
  chunks: number;
  split: { testChunks: number; blocks: number; testBlocks: number; blockChunks: number; seed: number; testFraction: number; dropped: number };
  environments: EnvManifest[];
  questionModels: string[];
  paraphraseModels: string[];
  verdicts: Record<string, number>;
  /** Measured difficulty (rows) by self-labelled difficulty (columns). */
  difficulty: Record<Bucket, Record<string, number>>;
  removed: Record<string, number>;
  dataSource: string;
  /** build.json's verdict, the card's first section. */
  verdict: Verdict;
  /** Configs left out: recovery and paraphrases when no paraphrase was kept. */
  skipped: string[];
}

const SIZE_CATEGORIES: [number, string][] = [[1e3, "n<1K"], [1e4, "1K<n<10K"], [1e5, "10K<n<100K"], [1e6, "100K<n<1M"], [1e7, "1M<n<10M"]];
const sizeCategory = (n: number) => SIZE_CATEGORIES.find(([limit]) => n < limit)?.[1] ?? "n>10M";

/** Markdown-safe text from the corpus, a model or the user: no table breaks, no HTML, one line. */
export const md = (text: string) => text.replace(/[\\`*_<>|[\]]/g, (c) => `\\${c}`).replace(/\s+/g, " ");
/** The same as a code span, where backslash escapes would show: no backticks, pipes or line breaks inside. */
export const code = (text: string) => `\`${text.replace(/[`|]/g, "'").replace(/\s+/g, " ")}\``;

/** How a generator is named in the card; the builtin one is not a language model and says so. */
const describeModel = (model: string) => (model === "builtin" ? "builtin (rule-based, no LLM)" : `${code(model)}`);

/** The card's "Train with ..." sections: each layout of the export, and the command that trains on it. */
function trainWith(loadFrom: string, dataSource: string): string[] {
  const serve = "npx kit serve --dataset DIR --mode paraphrased --port 8000   # DIR: the kit build folder; leave it running";
  return [
    "## Train with TRL",
    "",
    "The `questions` config's `prompt` is a system message (search with the search tool, answer between `<answer>` and `</answer>`) and the question; `environment.py` (standard library only) gives GRPOTrainer the search tool, calling `kit serve` at `KIT_SEARCH_URL` (default `http://127.0.0.1:8000/retrieve`), and owns the retrieval reward (`get_reward`: 1 when every gold chunk was retrieved). Without `environment_factory` the same rows train a plain GRPO run on `answer_reward`.",
    "",
    "```python",
    "from datasets import load_dataset",
    "from trl import GRPOConfig, GRPOTrainer",
    "from environment import SearchEnvironment  # environment.py and rewards.py, beside this card",
    "from rewards import answer_reward",
    "",
    `questions = load_dataset(${loadFrom}, "questions")  # a local path to this folder, or the Hub repo id`,
    'trainer = GRPOTrainer(model="Qwen/Qwen3-0.6B", train_dataset=questions["train"], reward_funcs=[answer_reward],',
    '                      environment_factory=SearchEnvironment, args=GRPOConfig(output_dir="out"))',
    "trainer.train()",
    "```",
    "",
    "## Train with Search-R1",
    "",
    `\`search-r1/train.parquet\` and \`test.parquet\` are laid out as its \`scripts/data_process/nq_search.py\` writes them: one user message holding its tag protocol (\`<search>\`, \`<information>\`, \`<answer>\`) and the question, \`data_source\` ${code(dataSource)} (its exact-match reward), \`reward_model.ground_truth.target\` = the answer, \`extra_info\` {split, index}, and \`metadata\` with the gold chunk ids. \`search-r1/corpus-<mode>.jsonl\` holds each environment as \`{id, contents}\` plus \`chunk_id\` and \`kind\`. In a Search-R1 checkout:`,
    "",
    "```bash",
    serve,
    "mkdir -p data/nq_search && cp EXPORT/search-r1/train.parquet EXPORT/search-r1/test.parquet data/nq_search/",
    "bash train_ppo.sh   # or train_grpo.sh; both read data/nq_search and retriever.url http://127.0.0.1:8000/retrieve",
    "```",
    "",
    "## Train with verl",
    "",
    `\`verl/\` is laid out as verl's \`examples/data_preprocess/preprocess_search_r1_dataset.py\` writes it: \`data_source\` ${code(dataSource.startsWith("searchR1_") ? dataSource : `searchR1_${dataSource}`)}, the tool-calling prompt, \`extra_info.need_tools_kwargs\` and \`tools_kwargs.search.create_kwargs\`; \`verl/search_tool_config.yaml\` points its search tool at \`kit serve\`. In a verl checkout:`,
    "",
    "```bash",
    serve,
    "mkdir -p ~/data/searchR1_processed_direct && cp EXPORT/verl/train.parquet EXPORT/verl/test.parquet ~/data/searchR1_processed_direct/",
    "cp EXPORT/verl/search_tool_config.yaml examples/sglang_multiturn/config/tool_config/search_tool_config.yaml",
    "bash examples/sglang_multiturn/search_r1_like/run_qwen2.5-3b_instruct_search_multiturn.sh",
    "```",
    "",
    "## Train with AutoDidact",
    "",
    "`autodidact/` holds the seed's three outputs at AutoDidact's own paths: `saved_data/chunks.pkl` (LangChain Documents, metadata `chunk_id` and `source`), `saved_data/questions.json` (`{chunk_id, question, answer, difficulty}`) and `faiss_index/` (`index.faiss` and LangChain's `index.pkl`). Its search embeds queries with its own model, so build with that model's vectors (`kit build --embedder transformers:<model>`; see the kit's README). In an AutoDidact checkout:",
    "",
    "```bash",
    "cp -r EXPORT/autodidact/saved_data EXPORT/autodidact/faiss_index .",
    "jupyter notebook autodidact.ipynb   # search_module.py loads faiss_index/ and saved_data/ as they are",
    "```",
    "",
    "## Train with ReZero",
    "",
    "`rezero/` is ReZero's `data/` folder: `index.faiss` and `index.pkl` (LangChain FAISS over the chunks), `questions.jsonl` `{id, question, answer, supporting_paragraphs}` (accepted questions only, plus `chunk_id` and `supporting_chunk_ids`), `chunks.csv` and `paragraphs_noise.csv` (each kept paraphrase beside the text it rewords). ReZero embeds with `intfloat/e5-base-v2`: build with `--embedder transformers:intfloat/e5-base-v2`. In a ReZero checkout:",
    "",
    "```bash",
    "cp EXPORT/rezero/* data/",
    "python train_grpo.py",
    "```",
    "",
  ];
}

/** README.md: Hub front matter (configs, features, split sizes) and how the data was made and is used. */
export function datasetCard(c: CardInput): string {
  const { build } = c;
  const p = build.parameters;
  const questions = c.configs.find((x) => x.name === "questions")!;
  const total = (config: CardConfig) => config.splits.reduce((n, s) => n + s.rows, 0);
  const frontMatter = {
    pretty_name: c.prettyName,
    license: c.license,
    language: ["en"],
    annotations_creators: ["machine-generated"],
    language_creators: ["found"],
    size_categories: [sizeCategory(total(questions))],
    source_datasets: ["original"],
    task_categories: ["question-answering", "text-retrieval"],
    task_ids: ["open-domain-qa", "document-retrieval"],
    tags: ["grpo", "retrieval", "search-agent", "synthetic"],
    configs: c.configs.map((config) => ({
      config_name: config.name,
      ...(config.name === "questions" ? { default: true } : {}),
      data_files: config.splits.map((s) => ({ split: s.name, path: `data/${config.name}/${s.name}-*` })),
    })),
    dataset_info: c.configs.map((config) => ({
      config_name: config.name,
      features: features(config.columns),
      splits: config.splits.map((s) => ({ name: s.name, num_bytes: s.bytes, num_examples: s.rows })),
      download_size: config.downloadBytes,
      dataset_size: config.splits.reduce((n, s) => n + s.bytes, 0),
    })),
  };
  const rows = (config: CardConfig) => config.splits.map((s) => `${s.rows} ${s.name}`).join(", ");
  const loadFrom = JSON.stringify(c.name.includes("/") ? c.name : `path/to/${c.name}`);
  const licenseNote =
    c.license === "unknown"
      ? "The license is not set (`license: unknown`): set it in the front matter to the corpus's license before publishing (the questions and paraphrases derive from the corpus)."
      : `License: ${code(c.license)}.`;
  const s = c.split;
  const envNote = (e: EnvManifest) => {
    const what = {
      original: "the chunks",
      paraphrased: `each chunk through its kept paraphrases; the ${e.coverage.by_original_only} chunks with none through their original text`,
      merged: "the chunks, plus every kept paraphrase as a distractor",
    }[e.mode];
    return `- \`env/${e.mode}\`: ${e.rows} rows, ${what}; ${e.coverage.by_paraphrase} of ${e.coverage.chunks} chunks appear through a kept paraphrase.`;
  };
  const order = ["easy", "medium", "hard"];
  const rank = (l: string) => (order.includes(l) ? order.indexOf(l) : order.length);
  const labels = [...new Set(Object.values(c.difficulty).flatMap((row) => Object.keys(row)))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const thresholds = (p.thresholds ?? {}) as Record<string, number>;

  const verdict = c.verdict;
  const prose = [
    `# ${md(c.prettyName)}`,
    "",
    `A dataset for training search agents with reinforcement learning (GRPO): questions whose short answers are in one chunk of a corpus, with a chat \`prompt\` ready for TRL; ${c.skipped.length ? "the chunks" : "the seed's recovery task (find the chunk a paraphrase was made from); the chunks and their kept paraphrases"}; search environments with FAISS indexes; and each trainer's own layout (TRL, Search-R1, verl, AutoDidact, ReZero; see "Train with ..." below). Made with retrieval-dataset-kit ${build.kit_version} (\`kit build\`, then \`kit export\`).`,
    "",
    licenseNote,
    "",
    "## Can I train on this?",
    "",
    `**${md(verdict.tier.charAt(0).toUpperCase() + verdict.tier.slice(1))}**: ${md(TIER_MEANING[verdict.tier])}. The build's verdict, from the floors of the kit's \`lib/verdict.ts\`; each floor missed names what would lift it:`,
    "",
    ...verdict.reasons.map((f) => `- Warning: ${md(f.text)}. To lift: ${md(liftText(f))}.`),
    ...verdict.passed.map((f) => `- OK: ${md(f.text)}.`),
    "",
    ...(c.skipped.length
      ? [`No paraphrase was judged faithful, so this export has no ${c.skipped.map((name) => `\`${name}\``).join(" or ")} config and \`rezero/paragraphs_noise.csv\` holds no rows; a build with an LLM generator (\`--llm ollama:<model>\`) has them.`, ""]
      : []),
    "## Configs",
    "",
    "| config | rows | what |",
    "|---|---|---|",
    ...c.configs.map((config) => `| \`${config.name}\`${config.name === "questions" ? " (default)" : ""} | ${rows(config)} | ${config.about} |`),
    "",
    `Splits are by contiguous blocks of ${s.blockChunks} chunks in document order: ${s.testBlocks} of ${s.blocks} blocks, picked by a shuffle with seed ${s.seed} (test fraction ${s.testFraction}), hold the ${s.testChunks} test chunks of ${c.chunks}, and every question, paraphrase and recovery row of a test chunk is in \`test\`. A question's prompt showed its chunk's neighbours, so the ${s.dropped} questions that were shown a chunk of the other split (at block edges) are dropped: no test question saw a train chunk, and no train question a test chunk. \`chunks\` holds every chunk in \`train\`: it is the corpus the agent searches.`,
    "",
    "## Measured difficulty",
    "",
    `\`gold_rank_<mode>\` is the rank of a question's chunk (for a multi-hop question, of the last of its supporting chunks) when the question itself is searched with the default retriever (\`${"bm25"}\`) in that environment (null past the top ${GOLD_RANK_DEPTH}); \`measured_difficulty\` buckets the paraphrased environment's rank: easy (first), medium (2-5), hard (lower, or not found). Beside the generator's own \`difficulty\` label, for a curriculum:`,
    "",
    `| measured \\ labelled | ${labels.join(" | ")} |`,
    `|---|${labels.map(() => "---|").join("")}`,
    ...(order as Bucket[]).map((b) => `| ${b} | ${labels.map((l) => c.difficulty[b]?.[l] ?? 0).join(" | ")} |`),
    "",
    "## How it was made",
    "",
    "| step | how |",
    "|---|---|",
    `| corpus | ${code(path.basename(build.corpus))}, ${c.chunks} chunks of at most ${p.chunk_size} characters, ${p.chunk_overlap} overlap (recursive markdown splitter: headings, paragraphs, sentences) |`,
    `| embedder | ${code(String(p.embedder))}; FAISS ${code(String(p.factory))} over L2-normalised vectors, inner product (cosine) |`,
    `| questions | ${c.questionModels.map(describeModel).join(", ")}, ${p.questions_per_chunk} per chunk, each prompt showing the chunk and its neighbours; every answer found in its chunk |`,
    ...(Number(p.multi_hop) ? [`| multi-hop questions | ${p.multi_hop} per chunk (${build.counts.questions_multi_hop} accepted), each over the chunk and a partner sharing a rare term with it (BM25 over the whole corpus): \`kind\` multi-hop, \`supporting_chunk_ids\` in search order; each hop's part found in its chunk; a question one chunk answers alone is rejected |`] : []),
    `| paraphrases | ${c.paraphraseModels.map(describeModel).join(", ")}; styles ${md(String(p.styles))}; ${p.paraphrases_per_style} per style and ${p.by_paragraph ? "paragraph" : "chunk"}; ${p.coverage_rounds ?? 0} further rounds for chunks left with none |`,
    `| judge | ${md(String(build.judge ?? "rules only (no LLM judge)"))} |`,
    `| thresholds | ${Object.entries(thresholds).map(([k, v]) => `${k} ${v}`).join(", ") || "the kit's defaults"} |`,
    `| verdicts | ${Object.entries(c.verdicts).map(([v, n]) => `${n} ${v}`).join(", ")}; only ${KEPT_VERDICTS.join(" or ")} rows are kept |`,
    "",
    ...(build.judge === "rules" ? [rulesLimits(code), ""] : []),
    "Rows not kept, by filter:",
    "",
    "| filter | rows |",
    "|---|---|",
    ...(Object.keys(c.removed).length ? Object.entries(c.removed).sort((a, b) => b[1] - a[1]).map(([reason, n]) => `| ${md(reason)} | ${n} |`) : ["| (none) | 0 |"]),
    "",
    ...trainWith(loadFrom, c.dataSource),
    "## Rewards",
    "",
    "`rewards.py` (beside this card) has the kit's rewards with the same semantics as its `lib/reward.ts`:",
    "",
    "```python",
    'retrieval_reward(target, retrieved, k=None, discount="none")  # 1 if the first result is the target chunk id; k: a hit in the top k; discount "reciprocal" (1/rank) or "log2"',
    "exact_answer_reward(predicted, gold)  # 1 if equal after lower-casing and dropping punctuation, articles, thousands separators",
    "answer_reward(completions, answer, **kwargs)  # TRL: exact_answer_reward of the last <answer> the model wrote in each completion",
    "search_reward(completions, chunk_id, supporting_chunk_ids=None, environments=None, **kwargs)  # TRL: 1 when the rollout's searches retrieved every gold chunk",
    'all_chunks_reward(targets, retrieved, k=None, discount="none")  # 1 if every target chunk id (a multi-hop question\'s supporting_chunk_ids) is in the top k, default k: as many as targets; discounts by the rank of the last one',
    "```",
    "",
    "## Indexes and environments",
    "",
    `The indexes are standard FAISS files over vectors of ${code(String(p.embedder))} (queries must use the same embedder, L2-normalised); \`ids.json\` maps each FAISS row to an id, \`manifest.json\` names the embedder. \`faiss_index/index.pkl\` is LangChain's docstore, so \`FAISS.load_local("faiss_index", embeddings, allow_dangerous_deserialization=True)\` reads the folder.`,
    "",
    `- \`faiss_index\`: one row per chunk (${c.chunks} rows), ids are chunk ids.`,
    ...c.environments.map(envNote),
    "",
    "In each `env/<mode>/`, `rows.jsonl` line i is FAISS row i: its `row_id` (a chunk id, or the `paraphrase_id` of the `paraphrases` config), the `chunk_id` a reward checks, `kind` (original or paraphrase), `paraphrase_id`, `style` and the `text` the agent reads.",
    "",
  ];
  // No YAML anchors: the Hub's card parser and readers of the front matter expect every entry spelled out.
  return `---\n${toYaml(frontMatter, { aliasDuplicateObjects: false })}---\n\n${prose.join("\n")}`;
}
