#!/usr/bin/env bash
# The retrieval-kit Jupyter kernel. Jupyter starts it in the notebook's folder: the checkout is the nearest folder
# above that holds the kit, so every checkout's notebooks run their own lib/ and write their own datasets/, and one
# registration serves them all.
dir="$PWD"
until [ -f "$dir/scripts/tslab-kernel.js" ] && grep -qs '"name": "retrieval-dataset-kit"' "$dir/package.json"; do
  if [ "$dir" = / ]; then
    echo "retrieval-kit kernel: $PWD is not inside a retrieval-dataset-kit checkout; open the notebooks under its notebooks/ folder" >&2
    exit 1
  fi
  dir="$(dirname "$dir")"
done
cd "$dir" && exec node scripts/tslab-kernel.js "$@"
