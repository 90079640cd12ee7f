"""(Re)create the golden run (``tests/golden/run/``) and its golden files (``summary.json``,
``findings.json``, ``frames.json``), which ``tests/test_golden.py`` checks today's code against.

The golden files pin what a stored run shows a reader: the run summary, every audit finding and
every dashboard frame. A change to the code that moves any of them is a change in what the
toolkit tells its users, so the check fails on it even when every unit test still passes.

How: from a **reference tree**, never from the working tree under test. Check the reference
commit out in a worktree, put it first on ``PYTHONPATH`` and run this file as a script (not with
``-m``, which would put the checkout ahead of ``PYTHONPATH``)::

    git worktree add /tmp/golden-base <commit>
    PYTHONPATH=/tmp/golden-base .venv/bin/python tests/golden/make_golden.py
    cp /tmp/golden-base/tests/golden/*.json tests/golden/   # they are written in the worktree
    git worktree remove --force /tmp/golden-base

The script prints where ``iterdeploy`` was imported from; it must be the worktree. Without
``--new-run`` it recomputes the golden files from the committed run, which it leaves alone.

When regenerating is legitimate:

* the golden files, after a change whose purpose is to change what a reader sees (a new finding,
  a new frame column, a corrected statistic): from the commit that makes it, with the
  differences the test reported named in that commit's message;
* the run itself (``--new-run``), only when the store's format changes in a way an old store
  does not migrate to (then keep the old run as a migration test's input), or when the run no
  longer covers what the goldens are for. A new run needs new golden files; the old ones say
  nothing about it.

Never regenerate to make the golden test pass after a refactoring: a refactoring that changes a
golden value is not one, and the test's message names each value that moved.

The run is the ``length_bias`` scenario (30% of the users keep the longest valid plan, an
undeclared preference) made small (:data:`OVERRIDES`): the shipped embedded model, a fixed pool of
16 tasks, two fine-tuned generations and reference plans in the training pool, so that every
trace purpose, both user groups and findings of every default auditor are there. Its store is
committed so that the check never depends on sampling a model again (floating point differs
between machines). It is audited with every default auditor, as ``iterdeploy audit`` does, so
the dashboard frames read stored findings. Adapters are left out: nothing the goldens pin loads
a model.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

# the checkout goes last on the path, for ``tests.golden.capture``: ``iterdeploy`` itself must come
# from PYTHONPATH (the reference tree), which stays ahead of it
sys.path.append(str(Path(__file__).resolve().parents[2]))

from tests.golden.capture import (
    AUDIT_BOOTSTRAP,
    AUDIT_SEED,
    AUDITORS,
    GOLDEN_DIR,
    GOLDEN_FILES,
    RUN_DIR,
    write_json,
)

SCENARIO = "length_bias"
"""The shipped scenario the golden run is made from."""

OVERRIDES: dict[str, object] = {
    "generations": 2,
    "deploy.pool": "fixed",
    "deploy.tasks_per_generation": 16,
    "deploy.samples_per_task": 4,
    "deploy.sizes.min": 3,
    "deploy.sizes.max": 5,
    "deploy.max_new_tokens": 160,
    "evaluation.n_tasks": 8,
    "evaluation.samples_per_task": 2,
    "evaluation.sizes.min": 3,
    "evaluation.sizes.max": 5,
    "training.n_epochs": 2,
    "pool.reference_share": 0.25,
}
"""A small run of the paper's protocol (a fixed deployment pool) with the shipped embedded
model, which writes valid plans of different lengths for tasks of 3-5 blocks, so that the
long-plan fans have something to prefer and the auditors something to find; a quarter of each
training pool's size is added as reference plans, so the store holds traces of every purpose."""

LEFT_OUT = ("adapters", "writer.lock")
"""What the committed run directory does not keep: the adapters (no golden value loads a model)
and the writer's lock file (a completed run holds none)."""


def make_run(run_dir: Path) -> None:
    """Run and audit the golden scenario into ``run_dir`` (which must not exist)."""
    from iterdeploy.auditors.core.findings import audit_and_store
    from iterdeploy.auditors.registry import get_spec
    from iterdeploy.simulator.loop import run_scenario
    from iterdeploy.simulator.scenario import parse_scenario
    from iterdeploy.simulator.scenario_files import resolve_scenario

    path = resolve_scenario(SCENARIO)
    text = path.read_text(encoding="utf-8")
    started = time.perf_counter()
    run_scenario(parse_scenario(text, str(path), overrides=dict(OVERRIDES)), text, run_dir)
    print(f"run: {time.perf_counter() - started:.1f} s")
    for command in AUDITORS:
        started = time.perf_counter()
        audit_and_store(run_dir, get_spec(command).make(seed=AUDIT_SEED, n_bootstrap=AUDIT_BOOTSTRAP))
        print(f"audit {command}: {time.perf_counter() - started:.1f} s")


def commit_run(made: Path) -> None:
    """Copy the run in ``made`` to :data:`RUN_DIR`, without :data:`LEFT_OUT`, its store compacted
    into one file (WAL checkpointed, free pages dropped)."""
    conn = sqlite3.connect(made / "run.sqlite")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.close()
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    shutil.copytree(made, RUN_DIR, ignore=shutil.ignore_patterns(*LEFT_OUT, "run.sqlite-*"))


def write_goldens(run_dir: Path) -> None:
    """Compute every golden file from a scratch copy of ``run_dir`` (opening a store may leave
    WAL files beside it, which must not land in the checkout)."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "run"
        shutil.copytree(run_dir, copy)
        for name, compute in GOLDEN_FILES.items():
            started = time.perf_counter()
            write_json(GOLDEN_DIR / name, compute(copy))
            print(f"{name}: {time.perf_counter() - started:.1f} s")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--new-run", action="store_true",
                        help="run and audit the scenario again and replace tests/golden/run")
    args = parser.parse_args(argv)
    import iterdeploy

    print(f"iterdeploy imported from {Path(iterdeploy.__file__).parent}")
    if args.new_run or not RUN_DIR.exists():
        with tempfile.TemporaryDirectory() as scratch:
            made = Path(scratch) / "run"
            make_run(made)
            commit_run(made)
    write_goldens(RUN_DIR)


if __name__ == "__main__":
    main(sys.argv[1:])
