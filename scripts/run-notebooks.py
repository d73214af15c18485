#!/usr/bin/python3
"""Executes the notebooks headless with the tslab kernel, in order, and fails on any error output.

usage: /usr/bin/python3 scripts/run-notebooks.py [--no-write] [--allow-stderr] [--timeout SECONDS] [NOTEBOOK ...]

Default: every notebooks/NN-*.ipynb, in name order (each builds on the previous ones' dataset folder), written
back in place with their new outputs. --no-write executes without saving (CI). The kernel is the registered
`tslab` one, which starts at the repository root (scripts/tslab-kernel.sh), so the notebooks' paths are
repo-relative. KIT_LLM and KIT_OLLAMA_HOST pass through to the notebooks.

Outputs are kept reproducible: no execution timestamps are recorded, and each notebook's run time is printed here,
not saved. Exit status: 0 when every notebook ran without an error output, 1 otherwise (the first failing
notebook is saved with its error, unless --no-write, and the ones after it are not run). Output on stderr counts as
an error too, unless --allow-stderr: tslab reports some failures of its own (a compile error in an imported file,
its file watcher tripping) only there, and the cells after them then run silently without output.
"""
import argparse
import glob
import os
import re
import sys
import time

import nbclient
import nbformat
from jupyter_client.kernelspec import KernelSpecManager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def error_outputs(nb, allow_stderr):
    """(cell index, message) of every error output, and of every stderr output unless allowed."""
    found = []
    for i, cell in enumerate(nb.cells):
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if o.get("output_type") == "error":
                found.append((i, f"{o.get('ename')}: {o.get('evalue')}"))
            elif o.get("output_type") == "stream" and o.get("name") == "stderr" and not allow_stderr:
                # tslab reports a thrown error as a stack on stderr: its "...Error: message" line says most.
                lines = [line.strip() for line in o.get("text", "").splitlines() if line.strip()] or [""]
                message = next((line for line in lines if re.match(r"(\w+: )?\w*Error\b", line)), lines[0])
                found.append((i, "stderr: " + message[:300]))
    return found


def run(path, write, timeout, allow_stderr):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="tslab",
        timeout=timeout,
        record_timing=False,  # timestamps in cell metadata would change every run
        allow_errors=True,  # keep going to record the error output in the notebook, then fail below
        resources={"metadata": {"path": ROOT}},
    )
    started = time.monotonic()
    failure = None
    try:
        client.execute()
    except Exception as e:  # a timeout or a dead kernel: no error output is recorded for these
        failure = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    seconds = time.monotonic() - started
    errors = error_outputs(nb, allow_stderr)
    if write:
        nbformat.write(nb, path)
    return seconds, errors, failure


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/[0-9][0-9]-*.ipynb in name order")
    parser.add_argument("--no-write", action="store_true", help="execute without saving the outputs")
    parser.add_argument("--allow-stderr", action="store_true", help="do not count output on stderr as an error")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds a cell may run (0: no limit); default 1800")
    args = parser.parse_args()
    paths = args.notebooks or sorted(glob.glob(os.path.join(ROOT, "notebooks", "[0-9][0-9]-*.ipynb")))
    if not paths:
        sys.exit("run-notebooks: no notebooks found under notebooks/")
    for path in paths:
        if not os.path.isfile(path):
            sys.exit(f"run-notebooks: {path} does not exist")
    if "tslab" not in KernelSpecManager().find_kernel_specs():
        sys.exit("run-notebooks: no tslab Jupyter kernel is registered; run bash scripts/setup.sh, which registers it")
    for path in paths:
        name = os.path.relpath(path, ROOT)
        print(f"{name} ...", flush=True)
        seconds, errors, failure = run(path, not args.no_write, args.timeout or None, args.allow_stderr)
        print(f"{name}: {seconds:.0f}s, {'failed' if errors or failure else 'ok'}", flush=True)
        if errors or failure:
            for cell, message in errors:
                print(f"  cell {cell + 1}: {message}", file=sys.stderr)
            if failure:
                print(f"  {failure}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
