#!/usr/bin/env bash
# Installs what the kit needs, and only what is missing, so a second run costs a few seconds.
# Needs Debian/Ubuntu with apt and root (or passwordless sudo) for the system packages.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*"; }

# 1. Debian packages: FAISS (and BLAS) for faiss-node, a C++ toolchain to build it, Jupyter for the
#    notebooks, python3-faiss and python3-onnx for the tests that cross-check files with Python.
APT_PACKAGES=(libfaiss-dev libopenblas-dev g++ make patchelf cmake python3-faiss python3-onnx python3-numpy
  jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel chromium)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  command -v apt-get >/dev/null || { echo "setup: apt-get not found; install ${missing[*]} by hand (Debian/Ubuntu names)" >&2; exit 1; }
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. npm packages, exactly as locked. Install scripts are skipped because faiss-node's downloads from
#    GitHub; nothing else the kit uses needs one (sharp and onnxruntime ship their binaries as packages).
stamp=node_modules/.kit-setup-stamp
lock_sum=$(sha256sum package-lock.json package.json | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  say "npm ci"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > "$stamp"
fi

# 3. faiss-node's native addon: its prebuilt binary where it can be downloaded, else built from its own
#    source against Debian's libfaiss (1.7.3, hence the idx_t shim). A build of ours records what it was
#    built from, so a change to the recipe rebuilds it.
addon=node_modules/faiss-node/build/Release
recipe=$(cat scripts/faiss-node/* | sha256sum | cut -c1-16)
build_faiss_node() {
  say "faiss-node: building against the system FAISS"
  local build=node_modules/.kit-faiss-build
  rm -rf "$build" && mkdir -p "$build"
  sed "s#../../node_modules/#../#g" scripts/faiss-node/binding.gyp > "$build/binding.gyp"
  cp scripts/faiss-node/idx_t-shim.h "$build/"
  local gyp nodedir=()
  gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  [ -f /usr/include/node/node_api.h ] && nodedir=(--nodedir=/usr)
  (cd "$build" && node "$gyp" rebuild "${nodedir[@]}" >build.log 2>&1) || { tail -20 "$build/build.log" >&2; exit 1; }
  mkdir -p "$addon"
  cp "$build/build/Release/faiss-node.node" "$addon/"
  echo "$recipe" > "$addon/.kit-recipe"
  rm -rf "$build"
  node -e "require('faiss-node')"
}
if [ -f "$addon/.kit-recipe" ]; then
  [ "$(cat "$addon/.kit-recipe")" = "$recipe" ] || build_faiss_node
elif ! node -e "require('faiss-node')" 2>/dev/null; then
  say "faiss-node: trying its prebuilt binary"
  (cd node_modules/faiss-node && timeout 60 ../.bin/prebuild-install --runtime napi >/dev/null 2>&1) \
    && node -e "require('faiss-node')" 2>/dev/null || build_faiss_node
fi

# 4. The notebooks' Jupyter kernel, `retrieval-kit`, for this user (scripts/install-kernel.sh): it finds the checkout
#    from the notebook's folder, so it names none, and it is not tslab's machine-wide `tslab`, which stays as it is.
bash scripts/install-kernel.sh
