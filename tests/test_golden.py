"""Golden run: what a stored run shows a reader does not change unless a change means it to.

``tests/golden/run/`` is a small audited run of the ``length_bias`` scenario, committed with its
store so that no model is sampled here (floating point differs between machines). The golden
files beside it were computed from that run by a reference tree (``tests/golden/make_golden.py``
says how, and when regenerating them is legitimate): the run summary ``iterdeploy summary``
prints and returns, every finding the default auditors write, and every frame the dashboard's
pages compute. Today's code must reproduce each of them; a failure names every value that moved.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from iterdeploy.simulator.store import SCHEMA_VERSION, RunReader
from tests.golden.capture import (
    GOLDEN_DIR,
    RUN_DIR,
    audit_findings,
    dashboard_frames,
    differences,
    read_json,
    summary_capture,
)

SHOWN = 40
"""Differences listed in a failure's message (the rest are counted)."""


@pytest.fixture(scope="module")
def run_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy of the committed run: opening a store may leave WAL files beside it, and
    nothing here may write into the checkout."""
    copy = tmp_path_factory.mktemp("golden") / "run"
    shutil.copytree(RUN_DIR, copy)
    return copy


def _assert_same(name: str, actual: Any) -> None:
    """``actual`` equals the golden file ``name``, or fail listing where it departs."""
    found = list(differences(read_json(GOLDEN_DIR / name), actual))
    if found:
        shown = "\n  ".join(found[:SHOWN])
        more = f"\n  ... and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        pytest.fail(f"{len(found)} difference(s) from tests/golden/{name}:\n  {shown}{more}",
                    pytrace=False)


def test_the_committed_store_opens_with_todays_reader(run_copy: Path) -> None:
    conn = sqlite3.connect(run_copy / "run.sqlite")
    try:
        [(stored,)] = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchall()
    finally:
        conn.close()
    assert int(stored) <= SCHEMA_VERSION  # an older one is migrated on opening, as users' runs are
    with RunReader(run_copy) as reader:  # every row read back through its row model
        assert reader.run_status() == "completed"
        assert [g.generation for g in reader.generations()] == [0, 1, 2]
        counts = (len(reader.tasks()), len(reader.traces()), len(reader.decisions()),
                  len(reader.populations()), len(reader.models()), len(reader.evaluations()),
                  len(reader.findings()), sum(len(reader.training_set(g)) for g in (1, 2)))
    assert all(counts)


def test_the_run_summary_is_the_golden_one(run_copy: Path) -> None:
    _assert_same("summary.json", summary_capture(run_copy))


def test_every_audit_finding_is_the_golden_one(run_copy: Path) -> None:
    _assert_same("findings.json", audit_findings(run_copy))


def test_every_dashboard_frame_is_the_golden_one(run_copy: Path) -> None:
    _assert_same("frames.json", dashboard_frames(run_copy))
