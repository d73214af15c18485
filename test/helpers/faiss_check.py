"""Searches a kit-written index.faiss with Debian's python3-faiss, for the cross-check in
test/vector-index.test.ts.

Usage: /usr/bin/python3 faiss_check.py INDEX_FAISS QUERIES_JSON K
QUERIES_JSON holds a list of query vectors. Prints one JSON object: the index's class, size,
dimension and metric, and the labels and distances FAISS returns (one list per query).
"""
import json
import sys

import faiss
import numpy as np


def main() -> None:
    index_file, queries_file, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    index = faiss.read_index(index_file)
    with open(queries_file) as f:
        queries = np.asarray(json.load(f), dtype="float32")
    distances, labels = index.search(queries, k)
    json.dump(
        {
            "class": type(index).__name__,
            "ntotal": index.ntotal,
            "d": index.d,
            "metric_type": index.metric_type,
            "labels": labels.tolist(),
            "distances": distances.tolist(),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
