import * as fs from "node:fs";
import * as path from "node:path";
import { digestFiles } from "../../lib/pipeline/identity";

/**
 * Records a dataset's files, as they now are, in its build.json: for a test that edits a built dataset's files on
 * purpose (verdicts changed, rows removed) and reads it as if a build had written them.
 */
export function restamp(dataset: string): void {
  const file = path.join(dataset, "build.json");
  const record = JSON.parse(fs.readFileSync(file, "utf8"));
  for (const stage of Object.values(record.stages) as { files: Record<string, string> }[]) {
    const present = Object.keys(stage.files).filter((f) => fs.existsSync(path.join(dataset, f)));
    stage.files = digestFiles(dataset, present);
  }
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + "\n");
}
