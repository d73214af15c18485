# Builds faiss-node's own C++ source against Debian's libfaiss-dev, for machines
# where its prebuilt binary cannot be downloaded (see scripts/setup.sh).
{
  "targets": [{
    "target_name": "faiss-node",
    "sources": ["../../node_modules/faiss-node/src/faiss.cc"],
    "include_dirs": ["../../node_modules/node-addon-api"],
    "defines": ["NAPI_VERSION=6", "NAPI_CPP_EXCEPTIONS"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-include", "<(module_root_dir)/idx_t-shim.h"],
    # FAISS's write_index dynamic_casts the index, so the addon needs RTTI (node-gyp turns it off).
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "libraries": ["-lfaiss", "-lopenblas", "-lgomp"],
    "ldflags": ["-fopenmp"]
  }]
}
