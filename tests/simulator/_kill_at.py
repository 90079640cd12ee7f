"""Run ``iterdeploy`` and kill it with SIGKILL at one named point: the kill-point tests' launcher.

``python tests/simulator/_kill_at.py POINT_JSON ARGS...`` runs ``iterdeploy ARGS...`` in this
process after wrapping a few of the loop's and the store's internals so that the process sends
itself SIGKILL at the point ``POINT_JSON`` names. The kill is the real one (no ``finally``, no
``atexit``, no SQLite rollback, the kernel drops the writer lock), only its moment is chosen, so
each test is deterministic. The hooks live here, in the tests, so the package carries no test-only
code path. Points (``kind`` and its fields):

* ``{"kind": "progress", "phase": "gen 1: training gen 2", "at": "half"}``: in the middle of a
  phase the loop reports progress for (``at``: ``first`` after its first step, ``half`` once half
  its steps are done): sampling, evaluating, training;
* ``{"kind": "save", "adapter": "adapters/gen-2"}``: mid-adapter-save, a torn write: the adapter is
  written, then each of its files is cut to half its size, as a kill during the write leaves them;
* ``{"kind": "insert", "transaction": "commit" | "extend", "generation": 1, "table": "models"}``:
  mid-commit, inside the generation's (or the extension's) open SQLite transaction, before the rows
  of ``table`` are inserted (the rows of the tables before it are written but not committed);
* ``{"kind": "after-commit", "generation": 0}``: between generations, right after a commit.

A point that is never reached lets the command finish (exit 0), which the tests treat as a failure.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install(point: dict[str, Any]) -> None:
    import iterdeploy.simulator.loop as loop
    import iterdeploy.simulator.loop.runner as runner
    from iterdeploy.simulator.store import RunWriter

    kind = point["kind"]
    if kind == "progress":
        original_progress = loop.DeploymentLoop._progress

        def progress(self: Any, description: str, total: int) -> Callable[[int], None]:
            advance = original_progress(self, description, total)
            if description != point["phase"]:
                return advance
            done = [0]
            at = 1 if point["at"] == "first" else max(1, total // 2)

            def counted(n: int) -> None:
                advance(n)
                done[0] += n
                if done[0] >= at:
                    _die()

            return counted

        loop.DeploymentLoop._progress = progress  # type: ignore[method-assign]
    elif kind == "save":
        original_load = runner.load_planner

        def load_planner(*args: Any, **kwargs: Any) -> Any:
            planner = original_load(*args, **kwargs)
            original_save = planner.save

            def save(out_dir: str | Path) -> None:
                original_save(out_dir)
                if Path(out_dir).as_posix().endswith(point["adapter"]):
                    for file in sorted(Path(out_dir).iterdir()):
                        data = file.read_bytes()
                        file.write_bytes(data[: len(data) // 2])
                    _die()

            planner.save = save
            return planner

        runner.load_planner = load_planner
    elif kind == "insert":
        state: dict[str, Any] = {"in": None}
        original_commit, original_extend = RunWriter.commit_generation, RunWriter.extend_run
        original_insert = RunWriter._insert

        def commit_generation(self: Any, bundle: Any) -> None:
            state["in"] = ("commit", bundle.generation.generation)
            original_commit(self, bundle)
            state["in"] = None

        def extend_run(self: Any, *args: Any, **kwargs: Any) -> None:
            state["in"] = ("extend", None)
            original_extend(self, *args, **kwargs)
            state["in"] = None

        def insert(self: Any, table: str, rows: Any) -> None:
            if state["in"] == (point["transaction"], point.get("generation")) and table == point["table"]:
                _die()
            original_insert(self, table, rows)

        RunWriter.commit_generation = commit_generation  # type: ignore[method-assign]
        RunWriter.extend_run = extend_run  # type: ignore[method-assign]
        RunWriter._insert = insert  # type: ignore[method-assign]
    elif kind == "after-commit":
        original_commit = RunWriter.commit_generation

        def commit_then_die(self: Any, bundle: Any) -> None:
            original_commit(self, bundle)
            if bundle.generation.generation == point["generation"]:
                _die()

        RunWriter.commit_generation = commit_then_die  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown kill point kind {kind!r}")


if __name__ == "__main__":
    _install(json.loads(sys.argv[1]))
    sys.argv = ["iterdeploy", *sys.argv[2:]]
    from iterdeploy.simulator.cli import main

    main()
