import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../files";
import { copyLangChainIndex } from "./rezero";

/**
 * AutoDidact's own paths (generate_data.py writes them; search_module.py reads them): saved_data/chunks.pkl,
 * saved_data/questions.json and faiss_index/, copied from the build folder, which holds the same three files.
 * Returns the files written, relative to `dir`.
 */
export function writeAutoDidact(dir: string, dataset: string): string[] {
  copyLangChainIndex(path.join(dataset, "faiss_index"), path.join(dir, "faiss_index"));
  for (const file of ["chunks.pkl", "questions.json"]) writeFileAtomic(path.join(dir, "saved_data", file), fs.readFileSync(path.join(dataset, file)));
  return ["saved_data/chunks.pkl", "saved_data/questions.json", "faiss_index/index.faiss", "faiss_index/index.pkl"];
}
