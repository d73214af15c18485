/**
 * Stands in for a full disk: every file copy to a path holding `match` fails with ENOSPC. The module object
 * itself is patched (an import's namespace only has getters), so the kit's own `fs` calls see it. Preloaded
 * into a kit process (`node -r tsx/cjs -r ./test/helpers/full-disk.ts bin/kit.js ...`) it reads `match` from
 * KIT_FULL_DISK. Returns the undo.
 */
export function fillDisk(match: string): () => void {
  const fs = require("node:fs") as { copyFileSync: (src: string, dest: string, mode?: number) => void };
  const copy = fs.copyFileSync;
  fs.copyFileSync = (src, dest, mode) => {
    if (String(dest).includes(match)) throw Object.assign(new Error(`ENOSPC: no space left on device, copyfile '${src}' -> '${dest}'`), { code: "ENOSPC" });
    copy(src, dest, mode);
  };
  return () => (fs.copyFileSync = copy);
}

if (process.env.KIT_FULL_DISK) fillDisk(process.env.KIT_FULL_DISK);
