import { DEFAULT_DATA_SOURCE, exportDataset, formatExport } from "../export";
import { DEFAULT_BLOCK_CHUNKS } from "../export/split";
import { type Command, optionalInteger, OPTIONS, required, str } from "./command";

export default {
  name: "export",
  summary: "write a dataset folder as a Hugging Face dataset repo: parquet configs, indexes and environments, Search-R1/verl files, a dataset card",
  usage: "kit export --dataset DIR --out hf-export/NAME [--test-fraction 0.1] [--seed 42] [--name NAME] [--prompt-template FILE] [--force] [--overwrite-readme]",
  required: ["dataset", "out"],
  options: {
    dataset: OPTIONS.dataset,
    out: { type: "string", help: "folder to write, e.g. hf-export/NAME; an existing export (or a fresh clone of a Hub repo) needs --force" },
    "test-fraction": { type: "string", help: "share of chunks whose rows go to the test split", default: "0.1" },
    "block-chunks": { type: "string", help: "consecutive chunks per block of the split", default: String(DEFAULT_BLOCK_CHUNKS) },
    seed: { type: "string", help: "seed of the shuffle that picks the test blocks", default: "42" },
    "rows-per-shard": { type: "string", help: "most rows in one parquet file", default: "100000" },
    license: { type: "string", help: "Hub license id for the card (e.g. cc0-1.0); unknown makes the card ask for one", default: "unknown" },
    name: { type: "string", help: "the card's pretty_name and load_dataset id, e.g. user/apollo13 (default: the corpus's name)" },
    "prompt-template": { type: "string", help: "file with the search agent's instructions for the prompt column ({question} marks a one-message prompt)" },
    "data-source": { type: "string", help: "data_source of the search-r1/ rows (nq for Search-R1's own trainer)", default: DEFAULT_DATA_SOURCE },
    force: { type: "boolean", help: "update an existing export folder in place (keeps .git and files the kit did not write)" },
    "overwrite-readme": { type: "boolean", help: "replace a README.md edited since the last export (kept otherwise) with the new card" },
  },
  async run(v) {
    const fraction = str(v, "test-fraction");
    const result = await exportDataset({
      dataset: required(v, "dataset"),
      out: required(v, "out"),
      testFraction: fraction === undefined ? undefined : Number(fraction),
      blockChunks: optionalInteger(v, "block-chunks", 1),
      seed: optionalInteger(v, "seed", 0),
      rowsPerShard: optionalInteger(v, "rows-per-shard", 1),
      force: v.force === true,
      overwriteReadme: v["overwrite-readme"] === true,
      license: str(v, "license"),
      name: str(v, "name"),
      promptTemplate: str(v, "prompt-template"),
      dataSource: str(v, "data-source"),
    });
    console.log(formatExport(result));
  },
} satisfies Command;
