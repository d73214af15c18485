#!/usr/bin/python3
"""Executes the notebooks headless with the tslab kernel, in order, and fails on any error output.

usage: /usr/bin/python3 scripts/run-notebooks.py [--no-write | --check] [--allow-stderr] [--timings] [--timeout SECONDS] [NOTEBOOK ...]

Default: every notebooks/NN-*.ipynb, in name order (each builds on the previous ones' dataset folder), written
back in place with their new outputs. --no-write executes without saving. --check (CI, scripts/test.sh) executes
without saving and fails unless each notebook, as it would be saved, is byte for byte the committed file: it names
the first cell that differs and how, so a run-dependent output (a timing, a path, an id, a float printed with every
digit, an unsorted listing) fails the tests instead of rewriting a committed notebook on the next run. The kernel is the registered
`retrieval-kit` one (scripts/install-kernel.sh), which starts at the root of the checkout holding the notebook, so their paths are
repo-relative. KIT_LLM and KIT_OLLAMA_HOST pass through to the notebooks.

A run from notebook 01 (the default) starts from fresh dataset folders, as on a fresh clone: the folders they write (datasets/notebook-apollo,
datasets/notebook-apollo-hf) are set aside first, under datasets/.notebooks-set-aside/, and put back when the run ends,
so answers an earlier run cached there (an LLM's, or a builtin generator's from older code) neither change the outputs
nor are lost. Outputs are kept reproducible: no execution timestamps are recorded, each notebook's run time is printed here,
not saved, and the kernel embeds without the embedding cache (KIT_EMBEDDING_CACHE=off unless set): a notebook's
progress lines count the texts it embeds, which would otherwise depend on what earlier runs left in the cache. Exit status: 0 when every notebook ran without an error output, 1 otherwise (the first failing
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
import contextlib
import glob
import os
import re
import shutil
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


def first_difference(old, new):
    """Where two notebooks differ, in words: the first differing cell and output, or None when they are the same."""
    if len(old.cells) != len(new.cells):
        return f"{len(new.cells)} cells, the committed notebook has {len(old.cells)}"
    for i, (a, b) in enumerate(zip(old.cells, new.cells)):
        if a == b:
            continue
        where = f"cell {i + 1}"
        if a.get("source") != b.get("source"):
            return f"{where}: its source differs"
        if a.get("execution_count") != b.get("execution_count"):
            return f"{where}: execution count {b.get('execution_count')}, committed {a.get('execution_count')}"
        outs_a, outs_b = a.get("outputs", []), b.get("outputs", [])
        if len(outs_a) != len(outs_b):
            return f"{where}: {len(outs_b)} outputs, committed {len(outs_a)}"
        for j, (x, y) in enumerate(zip(outs_a, outs_b)):
            if x == y:
                continue
            for key in sorted(set(x.get("data", {})) | set(y.get("data", {}))) or [None]:
                u = x.get("text", "") if key is None else x.get("data", {}).get(key, "")
                v = y.get("text", "") if key is None else y.get("data", {}).get(key, "")
                if u == v:
                    continue
                kind = key or x.get("output_type")
                if key == "image/png":
                    return f"{where}, output {j + 1}: the {kind} image differs"
                u, v = "".join(u).splitlines(), "".join(v).splitlines()
                line = next((k for k in range(max(len(u), len(v))) if k >= len(u) or k >= len(v) or u[k] != v[k]), 0)
                show = lambda lines: repr(lines[line][:200]) if line < len(lines) else "(none)"
                return f"{where}, output {j + 1} ({kind}), line {line + 1}: now {show(v)}, committed {show(u)}"
            return f"{where}, output {j + 1}: its metadata or type differs"
        return f"{where}: its metadata differs"
    return "the notebook's metadata differs"


def run(path, write, timeout, allow_stderr, timings, check=False):
    nb = nbformat.read(path, as_version=4)
    committed = open(path, encoding="utf-8").read() if check else None
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
    difference = None
    if check and not failure and not errors and nbformat.writes(nb) + "\n" != committed:
        # nbformat.write writes writes() and a newline: these are the bytes a run without --no-write would save.
        difference = first_difference(nbformat.reads(committed, as_version=4), nb) or "in its bytes (formatting)"
    return seconds, errors, failure, difference


# The folders the notebooks write: notebook 01 starts the first, 06 exports into the second.
NOTEBOOK_DATASETS = ["notebook-apollo", "notebook-apollo-hf"]


@contextlib.contextmanager
def fresh_datasets():
    """Sets the notebooks' dataset folders aside for the run and puts them back after, replacing what the run wrote."""
    datasets = os.path.join(ROOT, "datasets")
    aside = os.path.join(datasets, ".notebooks-set-aside")
    if os.path.exists(aside):
        sys.exit(f"run-notebooks: {aside} holds folders an interrupted run set aside; move them back into datasets/ (or remove them), then run again")
    moved = [name for name in NOTEBOOK_DATASETS if os.path.exists(os.path.join(datasets, name))]
    if moved:
        os.makedirs(aside)
    for name in moved:
        os.rename(os.path.join(datasets, name), os.path.join(aside, name))
    try:
        yield
    finally:
        for name in NOTEBOOK_DATASETS:
            shutil.rmtree(os.path.join(datasets, name), ignore_errors=True)
        for name in moved:
            os.rename(os.path.join(aside, name), os.path.join(datasets, name))
        if moved:
            os.rmdir(aside)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/[0-9][0-9]-*.ipynb in name order")
    parser.add_argument("--no-write", action="store_true", help="execute without saving the outputs")
    parser.add_argument("--check", action="store_true", help="execute without saving, and fail unless the outputs are the committed ones, byte for byte")
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
    # The kernel inherits this: progress lines then count what each notebook embeds, not what the cache lacked.
    os.environ.setdefault("KIT_EMBEDDING_CACHE", "off")
    if KERNEL not in KernelSpecManager().find_kernel_specs():
        sys.exit(f"run-notebooks: no {KERNEL} Jupyter kernel is registered; run bash scripts/setup.sh, which registers it")
    # A run from notebook 01 builds the folders from nothing; one from a later notebook reads what 01-05 left.
    starts_fresh = os.path.basename(paths[0]).startswith("01-")
    with fresh_datasets() if starts_fresh else contextlib.nullcontext():
        differed = run_all(paths, args)
    if differed:
        print(f"run-notebooks: {len(differed)} notebook(s) differ from the committed ones: {', '.join(differed)}; if the change is meant, run them without --check and commit them", file=sys.stderr)
        sys.exit(1)


def run_all(paths, args):
    """Runs the notebooks in order; exits on the first that fails, and returns those whose outputs differ (--check)."""
    differed = []
    for path in paths:
        name = os.path.relpath(path, ROOT)
        print(f"{name} ...", flush=True)
        seconds, errors, failure, difference = run(path, not (args.no_write or args.check), args.timeout or None, args.allow_stderr, args.timings, args.check)
        print(f"{name}: {seconds:.0f}s, {'failed' if errors or failure or difference else 'ok'}", flush=True)
        if difference:
            # The dataset folder is still right for the next notebooks: go on, to report every notebook that differs.
            print(f"  differs from the committed notebook: {difference}", file=sys.stderr, flush=True)
            differed.append(name)
        if errors or failure:
            for cell, message in sorted(errors):
                print(f"  cell {cell + 1}: {message}", file=sys.stderr)
            if failure:
                print(f"  {failure}", file=sys.stderr)
            sys.exit(1)
    return differed


if __name__ == "__main__":
    main()
