#!/usr/bin/env bash
# Registers the `retrieval-kit` Jupyter kernel for this user (under JUPYTER_DATA_DIR when set): scripts/kernel/,
# whose launcher finds the checkout from the notebook's folder. It names no checkout, so registering it again from
# another checkout changes nothing, and it never touches another kernel (tslab's own `tslab` and `jslab` included).
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(/usr/bin/python3 -c 'from jupyter_core.paths import jupyter_data_dir; print(jupyter_data_dir())')/kernels/retrieval-kit"
if ! diff -rq scripts/kernel "$target" >/dev/null 2>&1; then
  echo "setup: registering the retrieval-kit Jupyter kernel in $target"
  /usr/bin/python3 -c 'import sys; from jupyter_client.kernelspec import KernelSpecManager
KernelSpecManager().install_kernel_spec(sys.argv[1], "retrieval-kit", user=True)' scripts/kernel
fi
