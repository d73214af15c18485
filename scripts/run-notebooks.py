#!/usr/bin/python3
"""Executes the notebooks headless with the tslab kernel, in order, and fails on any error output.

usage: /usr/bin/python3 scripts/run-notebooks.py [--no-write] [--allow-stderr] [--timings] [--timeout SECONDS] [NOTEBOOK ...]

Default: every notebooks/NN-*.ipynb, in name order (each builds on the previous ones' dataset folder), written
back in place with their new outputs. --no-write executes without saving (CI). The kernel is the registered
`retrieval-kit` one (scripts/install-kernel.sh), which starts at the root of the checkout holding the notebook, so their paths are
repo-relative. KIT_LLM and KIT_OLLAMA_HOST pass through to the notebooks.

Outputs are kept reproducible: no execution timestamps are recorded, and each notebook's run time is printed here,
not saved. Exit status: 0 when every notebook ran without an error output, 1 otherwise (the first failing
notebook is saved with its error, unless --no-write, and the ones after it are not run). Output on stderr counts as
an error too, unless --allow-stderr: tslab reports some failures of its own (a compile error in an imported file,
its file watcher tripping) only there, and the cells after them then run silently without output.

Cells run with nbclient's allow_errors, which asks the kernel not to stop on an error (stop_on_error false). tslab
itself ignores that and aborts every cell sent in the 200 ms after a failed one; the kernel this repo registers
(scripts/tslab-kernel.js) honours it. With another tslab kernel, a cell left unrun that way is reported here by
number ("not run: the kernel aborted it"), after the first error, so the report still points at the cause.

--timings prints each cell's run time and the kernel's start-up time (on the terminal only): the figures the
notebooks README gives for the first cell that imports lib/.
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

KERNEL = "retrieval-kit"  # scripts/install-kernel.sh

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


def unrun_cells(nb):
    """Indexes of code cells with source but no execution count: aborted by the kernel (or never reached)."""
    return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and cell.source.strip() and cell.get("execution_count") is None]


def run(path, write, timeout, allow_stderr, timings):
    nb = nbformat.read(path, as_version=4)
    started_at = {}
    seconds_of = {}

    def on_cell_execute(cell, cell_index):
        started_at[cell_index] = time.monotonic()

    def on_cell_executed(cell, cell_index, execute_reply):
        seconds_of[cell_index] = time.monotonic() - started_at.get(cell_index, time.monotonic())

    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=timeout,
        record_timing=False,  # timestamps in cell metadata would change every run
        allow_errors=True,  # keep going to record the error output in the notebook, then fail below
        resources={"metadata": {"path": ROOT}},
        on_cell_execute=on_cell_execute,
        on_cell_executed=on_cell_executed,
    )
    started = time.monotonic()
    failure = None
    try:
        client.execute()
    except Exception as e:  # a timeout or a dead kernel: no error output is recorded for these
        failure = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    seconds = time.monotonic() - started
    errors = error_outputs(nb, allow_stderr)
    if not failure:
        errors += [(i, "not run: the kernel aborted it after an earlier error (see the notebooks README, tslab's quirks)") for i in unrun_cells(nb)]
    if timings:
        first = min(started_at.values(), default=started)
        print(f"  kernel start and connection: {first - started:.1f}s", flush=True)
        for i in sorted(seconds_of):
            print(f"  cell {i + 1}: {seconds_of[i]:.1f}s", flush=True)
    if write:
        nbformat.write(nb, path)
    return seconds, errors, failure


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/[0-9][0-9]-*.ipynb in name order")
    parser.add_argument("--no-write", action="store_true", help="execute without saving the outputs")
    parser.add_argument("--allow-stderr", action="store_true", help="do not count output on stderr as an error")
    parser.add_argument("--timings", action="store_true", help="print each cell's run time (not saved)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds a cell may run (0: no limit); default 1800")
    args = parser.parse_args()
    paths = args.notebooks or sorted(glob.glob(os.path.join(ROOT, "notebooks", "[0-9][0-9]-*.ipynb")))
    if not paths:
        sys.exit("run-notebooks: no notebooks found under notebooks/")
    for path in paths:
        if not os.path.isfile(path):
            sys.exit(f"run-notebooks: {path} does not exist")
    if KERNEL not in KernelSpecManager().find_kernel_specs():
        sys.exit(f"run-notebooks: no {KERNEL} Jupyter kernel is registered; run bash scripts/setup.sh, which registers it")
    for path in paths:
        name = os.path.relpath(path, ROOT)
        print(f"{name} ...", flush=True)
        seconds, errors, failure = run(path, not args.no_write, args.timeout or None, args.allow_stderr, args.timings)
        print(f"{name}: {seconds:.0f}s, {'failed' if errors or failure else 'ok'}", flush=True)
        if errors or failure:
            for cell, message in sorted(errors):
                print(f"  cell {cell + 1}: {message}", file=sys.stderr)
            if failure:
                print(f"  {failure}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
