import * as fs from "node:fs";
import * as path from "node:path";
import { INDEX_FOLDERS, readFinishedBuild } from "../pipeline/finished";
import type { BuildRecord } from "../pipeline/record";
import type { Chunk } from "../chunking";
import { type EnvManifest, type EnvRow, type Mode } from "../environment";
import { KitError } from "../errors";
import { readJsonl } from "../files";
import type { CheckedParaphrase } from "../paraphrase";
import type { Question } from "../questions";
import { loadIndex } from "../vector-index";

export { INDEX_FOLDERS } from "../pipeline/finished";

/** The kit build stage that writes each file of a dataset folder, for errors about a missing one. */
const WRITTEN_BY: Record<string, string> = {
  "chunks.jsonl": "the chunk stage",
  "chunks.pkl": "the chunk stage",
  "questions.json": "the questions stage",
  "faiss_index/index.pkl": "the index stage",
  "faiss_index": "the index stage",
  "questions.jsonl": "the questions stage",
  "paraphrases.jsonl": "the paraphrase stage",
  "env/original": "the environments stage",
  "env/paraphrased": "the environments stage",
  "env/merged": "the environments stage",
};

/** The path of `name` in a dataset folder; a one-line error naming the kit build stage that makes it when it is missing. */
export function datasetFile(dataset: string, name: string): string {
  const file = path.join(dataset, name);
  if (!fs.existsSync(file)) throw new KitError(`${dataset} has no ${name}; it is written by ${WRITTEN_BY[name]} of kit build: run kit build --out ${dataset} again`);
  return file;
}

export interface DatasetInput {
  chunks: Chunk[];
  questions: Question[];
  paraphrases: CheckedParaphrase[];
  build: BuildRecord;
  /** Each environment's manifest, in MODES order. */
  environments: EnvManifest[];
  /** Each environment's rows, by mode. */
  rows: Record<Mode, EnvRow[]>;
}

/** Reads and cross-checks a dataset folder: every file present, ids consistent, indexes made by the build's embedder. */
export function readDataset(dataset: string): DatasetInput {
  const chunksFile = datasetFile(dataset, "chunks.jsonl");
  const questionsFile = datasetFile(dataset, "questions.jsonl");
  const paraphrasesFile = datasetFile(dataset, "paraphrases.jsonl");
  for (const folder of INDEX_FOLDERS) datasetFile(dataset, folder);
  // The seed's files, which a dataset built before kit 0.3 lacks: named with the stage that writes them.
  for (const file of ["chunks.pkl", "questions.json", "faiss_index/index.pkl"]) datasetFile(dataset, file);
  const buildFile = path.join(dataset, "build.json");
  const build = readFinishedBuild(dataset);
  const embedder = build?.parameters?.embedder;
  if (typeof embedder !== "string") throw new KitError(`${buildFile} has no parameters.embedder; run kit build --out ${dataset} again`);

  const chunks = readJsonl<Chunk>(chunksFile);
  if (!chunks.length) throw new KitError(`${chunksFile} holds no chunks; run kit build --out ${dataset} again`);
  const chunkIds = new Set(chunks.map((c) => c.chunk_id));
  const questions = readJsonl<Question>(questionsFile);
  const paraphrases = readJsonl<CheckedParaphrase>(paraphrasesFile);
  const strayQuestion = questions.find((r) => !chunkIds.has(r.chunk_id));
  const strayParaphrase = paraphrases.find((r) => !chunkIds.has(r.chunk_id));
  const stray = strayQuestion ? ([questionsFile, `id ${strayQuestion.id}`, strayQuestion.chunk_id] as const) : strayParaphrase && ([paraphrasesFile, `paraphrase_id ${strayParaphrase.paraphrase_id}`, strayParaphrase.chunk_id] as const);
  if (stray) throw new KitError(`${stray[0]}: ${stray[1]} refers to chunk ${stray[2]}, which chunks.jsonl does not hold; the folder mixes two builds: run kit build --out ${dataset} again`);

  const environments: EnvManifest[] = [];
  const rows = {} as Record<Mode, EnvRow[]>;
  for (const folder of INDEX_FOLDERS) {
    const dir = path.join(dataset, folder);
    const index = loadIndex(dir);
    if (index.manifest.embedder !== embedder) {
      throw new KitError(`index ${dir} was built with embedder ${index.manifest.embedder} but build.json says ${embedder}; rebuild the dataset with kit build --out ${dataset} --embedder ${embedder}`);
    }
    const envRows = folder === "faiss_index" ? undefined : readJsonl<EnvRow>(path.join(dir, index.manifest.chunks ?? "rows.jsonl"));
    const stray = (envRows?.map((r) => r.chunk_id) ?? index.ids).find((id) => !chunkIds.has(id));
    if (stray !== undefined) throw new KitError(`index ${dir} maps a row to chunk ${stray}, which chunks.jsonl does not hold; run kit build --out ${dataset} again`);
    if (envRows) {
      const manifest = index.manifest as EnvManifest;
      environments.push(manifest);
      rows[manifest.mode] = envRows;
    }
  }
  return { chunks, questions, paraphrases, build, environments, rows };
}
