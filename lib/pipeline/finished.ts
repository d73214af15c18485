import * as fs from "node:fs";
import * as path from "node:path";
import { nearest } from "../edit-distance";
import { MODES } from "../environment";
import { KitError } from "../errors";
import { lockHolder } from "../files";
import { changedFile } from "./identity";
import type { BuildRecord } from "./record";
/**
 * A dataset folder's build.json, once its build has finished and every file it records is as the build wrote it:
 * what `kit export`, `kit serve`, `kit search` and `kit eval-retrieval` read. Anything else is one line naming
 * the stale file and the command that finishes (or redoes) the build.
 */
export function readFinishedBuild(dataset: string): BuildRecord {
  if (!fs.existsSync(dataset)) {
    const parent = path.dirname(dataset);
    const siblings = fs.existsSync(parent) ? fs.readdirSync(parent, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : [];
    const guess = nearest(path.basename(dataset), siblings, 2);
    throw new KitError(`dataset folder ${dataset} does not exist${guess ? `; did you mean ${path.join(parent, guess)}?` : ""}; a dataset folder is what kit build --out writes`);
  }
  const holder = lockHolder(dataset);
  if (holder) throw new KitError(`${dataset} is being built right now (kit process ${holder} holds ${path.join(dataset, ".kit.lock")}); wait for that build to finish, then run this again`);
  const file = path.join(dataset, "build.json");
  if (!fs.existsSync(file)) {
    throw new KitError(`${dataset} has no build.json: it is not a dataset folder, or its first build never finished; run kit build --corpus CORPUS --out ${dataset}`);
  }
  let record: BuildRecord;
  try {
    record = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    throw new KitError(`${file} is not valid JSON; run kit build --corpus CORPUS --out ${dataset} again`);
  }
  const redo = record?.command ?? `kit build --corpus ${record?.corpus ?? "CORPUS"} --out ${dataset}`;
  if (!record?.build?.id) throw new KitError(`${file} was written by kit ${record?.kit_version ?? "0.2"}, whose builds carry no identity to check its files by; run ${redo} again (cached answers are reused)`);
  const { id, status } = record.build;
  if (status !== "finished") {
    const done = Object.keys(record.stages ?? {});
    const stale = INDEX_FOLDERS.map((folder) => [folder, stampOf(dataset, folder)]).find(([, other]) => other && other !== id);
    const what = stale ? `; ${stale[0]}/ is still from build ${stale[1]}` : "";
    const where = done.length ? `stopped after its ${done.at(-1)} stage` : "stopped before its first stage was done";
    throw new KitError(`${dataset}: build ${id} is unfinished (${where}${what}); run ${redo} to finish it`);
  }
  for (const [stage, { files }] of Object.entries(record.stages ?? {})) {
    // kit eval-retrieval rewrites eval.json (and the report reads it); nothing downstream reads either.
    if (stage === "evaluation" || stage === "report") continue;
    const changed = changedFile(dataset, files);
    if (!changed) continue;
    const file = path.join(dataset, changed);
    const what = fs.existsSync(file) ? `is not the file build ${id} wrote in its ${stage} stage (it changed since, e.g. by kit chunk or kit index)` : `is missing (build ${id} wrote it in its ${stage} stage)`;
    throw new KitError(`${file} ${what}, so the dataset is not that build any more; run ${redo} to bring it up to date`);
  }
  return record;
}

/** The index folders of a dataset: the chunk index and one environment per mode. */
export const INDEX_FOLDERS = ["faiss_index", ...MODES.map((mode) => `env/${mode}`)];

/** The build id an index folder's manifest carries, if it has one. */
function stampOf(dataset: string, folder: string): string | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataset, folder, "manifest.json"), "utf8"))?.build?.id;
  } catch {
    return undefined;
  }
}
