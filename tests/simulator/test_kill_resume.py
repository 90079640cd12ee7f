"""A run killed with SIGKILL at any point resumes and ends as an uninterrupted run would.

Every case compares the whole result: every row of every table of the store (all columns but
timestamps and durations) and every file of every adapter (the safetensors bytes; the adapter's
config as JSON, since peft writes its set of target modules in hash order), against the same
scenario run without interruption.

Kill points are named and reached deterministically: ``tests/simulator/_kill_at.py`` runs the real
``iterdeploy run`` in a child process that sends itself SIGKILL at the chosen point (mid-sampling,
mid-training, mid-adapter-save, mid-commit, between generations, in the fresh and the chained
training modes and while a finished run is extended with ``--generations``). Two points run by
default (with ``test_sigkill_then_resume_matches_uninterrupted``, which kills at a moment read off
the store); all of them with ``-m slow``. Figures: ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
KILL_AT = Path(__file__).with_name("_kill_at.py")
VOLATILE_SUFFIXES = ("_at", "_time_s", "run_id")
"""Columns that differ between two runs of one scenario: when (``created_at``, ``committed_at``),
how long (``wall_time_s``, ``train_time_s``) and the run's random UUID (``runs.run_id``, which a
resumed run keeps: checked on its own)."""


def _cmd(out: Path, overrides: dict[str, object], *extra: str) -> list[str]:
    cmd = ["run", str(REPO / "scenarios" / "quickstart.yaml"), "--out", str(out), *extra]
    for key, value in overrides.items():
        cmd += ["--set", f"{key}={value}"]
    return cmd


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _iterdeploy(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "iterdeploy.simulator.cli", *args], env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _committed(run_dir: Path) -> int:
    db = run_dir / "run.sqlite"
    if not db.exists():
        return -1
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            value = conn.execute("SELECT MAX(generation) FROM generations").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return -1
    return -1 if value is None else int(value)


def _run_id(run_dir: Path) -> str | None:
    conn = sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT run_id FROM runs").fetchone()
    except sqlite3.Error:  # killed before the tables were made
        return None
    finally:
        conn.close()
    return None if row is None else str(row[0])


def _dump(run_dir: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, sorted, without the columns that record when or how long."""
    conn = sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True)
    try:
        tables = sorted(r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"))
        out = {}
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")
                       if not r[1].endswith(VOLATILE_SUFFIXES)]
            rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        conn.close()


def _adapters(run_dir: Path) -> dict[str, object]:
    """Every file under ``adapters/``: bytes, or parsed JSON for the adapter's config."""
    out: dict[str, object] = {}
    for file in sorted((run_dir / "adapters").rglob("*")):
        if not file.is_file():
            continue
        key = file.relative_to(run_dir).as_posix()
        if file.name == "adapter_config.json":
            config = json.loads(file.read_text())
            if isinstance(config.get("target_modules"), list):  # a set, written in hash order
                config["target_modules"] = sorted(config["target_modules"])
            out[key] = config
        else:
            out[key] = file.read_bytes()
    return out


def _tensor_differences(a: Path, b: Path) -> list[str]:
    """The tensors two safetensors files disagree on (for the failure message)."""
    from safetensors.torch import load_file

    try:
        ta, tb = load_file(a), load_file(b)
    except Exception as exc:  # a torn file left behind: say so
        return [f"unreadable: {exc}"]
    names = sorted(set(ta) | set(tb))
    return [n for n in names if n not in ta or n not in tb or not bool((ta[n] == tb[n]).all())]


def _assert_same_run(run_dir: Path, reference: Path) -> None:
    got, want = _dump(run_dir), _dump(reference)
    assert sorted(got) == sorted(want)
    for table in want:
        assert got[table] == want[table], f"table {table} differs from the uninterrupted run"
    assert got["runs"][0] == want["runs"][0] and "completed" in got["runs"][0]
    got_files, want_files = _adapters(run_dir), _adapters(reference)
    assert sorted(got_files) == sorted(want_files), "adapter files differ"
    for key, value in want_files.items():
        if key.endswith(".safetensors") and got_files[key] != value:
            pytest.fail(f"{key} differs: tensors {_tensor_differences(run_dir / key, reference / key)}")
        assert got_files[key] == value, f"{key} differs"
    assert any(k.endswith(".safetensors") for k in want_files), "the run trained no adapter"


# -- the scenarios and their uninterrupted runs ---------------------------------------------------


def _overrides(tiny: dict[str, object], config: str) -> dict[str, object]:
    """Two fine-tuned generations (so a resume must reload a trained adapter), one example per
    batch (four training steps, so there is a middle to kill in)."""
    out = {**tiny, "generations": 2, "training.batch_size": 1}
    if config == "chained":
        out["training.mode"] = "chained"  # generation 2 trains on top of generation 1's adapter
    if config == "extension":
        out["generations"] = 1  # finished first, then extended with --generations 2
    return out


@dataclass(frozen=True)
class Config:
    """How to start, kill and resume one scenario, and its uninterrupted result."""

    name: str
    overrides: dict[str, object]
    reference: Path
    finished_base: Path | None
    """For ``extension``: the finished one-generation run each case extends (a copy of it)."""

    def args(self, out: Path) -> list[str]:
        extra = ("--generations", "2") if self.name == "extension" else ()
        return _cmd(out, self.overrides, *extra)

    def start(self, out: Path) -> None:
        if self.finished_base is not None:
            shutil.copytree(self.finished_base, out)


@pytest.fixture(scope="module")
def configs(
    tmp_path_factory: pytest.TempPathFactory, tiny_overrides: dict[str, object]
) -> Callable[[str], Config]:
    """Each scenario's uninterrupted run, made the first time a test asks for it."""
    root = tmp_path_factory.mktemp("kill-references")
    made: dict[str, Config] = {}

    def get(name: str) -> Config:
        if name not in made:
            overrides = _overrides(tiny_overrides, name)
            base = None
            if name == "extension":
                base = root / "extension-base"
                _iterdeploy(_cmd(base, overrides))
            config = Config(name, overrides, root / name, base)
            config.start(config.reference)
            _iterdeploy(config.args(config.reference))
            made[name] = config
        return made[name]

    return get


@pytest.fixture(scope="module")
def tiny_overrides() -> dict[str, object]:
    """The session's tiny scenario (module scope, for the module's reference runs)."""
    from tests.conftest import TINY_OVERRIDES

    return dict(TINY_OVERRIDES)


# -- named kill points ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KillPoint:
    config: str
    point: dict[str, Any]
    committed: int
    """The last generation committed when the kill comes (checks the kill came where named)."""


def _phase(phase: str, at: str = "first") -> dict[str, Any]:
    return {"kind": "progress", "phase": phase, "at": at}


def _insert(transaction: str, generation: int | None, table: str) -> dict[str, Any]:
    return {"kind": "insert", "transaction": transaction, "generation": generation, "table": table}


KILL_POINTS: dict[str, KillPoint] = {
    # fresh training mode (each generation trains a new adapter on the base)
    "gen0-evaluating": KillPoint("fresh", _phase("gen 0: evaluating"), -1),
    "gen0-commit": KillPoint("fresh", _insert("commit", 0, "models"), -1),
    "between-generations": KillPoint("fresh", {"kind": "after-commit", "generation": 0}, 0),
    "gen0-mid-training": KillPoint("fresh", _phase("gen 0: training gen 1", "half"), -1),
    "gen1-evaluating": KillPoint("fresh", _phase("gen 1: evaluating"), 0),
    "gen1-mid-sampling": KillPoint("fresh", _phase("gen 1: sampling + validating"), 0),
    "gen1-mid-training": KillPoint("fresh", _phase("gen 1: training gen 2", "half"), 0),
    "gen1-mid-adapter-save": KillPoint("fresh", {"kind": "save", "adapter": "adapters/gen-2"}, 0),
    "gen1-mid-commit": KillPoint("fresh", _insert("commit", 1, "models"), 0),
    "gen1-commit-last-table": KillPoint("fresh", _insert("commit", 1, "generations"), 0),
    "gen2-mid-commit": KillPoint("fresh", _insert("commit", 2, "evaluations"), 1),
    # chained mode: generation 2 trains on generation 1's adapter, reloaded from disk on resume
    "chained-gen1-mid-sampling": KillPoint("chained", _phase("gen 1: sampling + validating"), 0),
    "chained-gen1-mid-training": KillPoint("chained", _phase("gen 1: training gen 2", "half"), 0),
    "chained-gen1-mid-adapter-save": KillPoint(
        "chained", {"kind": "save", "adapter": "adapters/gen-2"}, 0),
    "chained-gen1-mid-commit": KillPoint("chained", _insert("commit", 1, "models"), 0),
    # a finished one-generation run extended with --generations 2: generation 1's model is
    # trained now, the extension is committed in one transaction, then generation 2 runs
    "extension-mid-training": KillPoint("extension", _phase("gen 1: training gen 2", "half"), 1),
    "extension-mid-adapter-save": KillPoint(
        "extension", {"kind": "save", "adapter": "adapters/gen-2"}, 1),
    "extension-mid-commit": KillPoint("extension", _insert("extend", None, "models"), 1),
    "extension-gen2-mid-sampling": KillPoint("extension", _phase("gen 2: sampling + validating"), 1),
    "extension-gen2-mid-commit": KillPoint("extension", _insert("commit", 2, "models"), 1),
}
DEFAULT_POINTS = ("gen1-mid-adapter-save", "gen1-mid-commit")
"""The points the default suite runs (two runs each, a few seconds); ``-m slow`` runs all."""


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=() if name in DEFAULT_POINTS else pytest.mark.slow)
    for name in KILL_POINTS
])
def test_kill_point_then_resume_matches_uninterrupted(
    tmp_path: Path, configs: Callable[[str], Config], name: str
) -> None:
    kill = KILL_POINTS[name]
    config = configs(kill.config)
    run_dir = tmp_path / "run"
    config.start(run_dir)
    killed = subprocess.run(
        [sys.executable, str(KILL_AT), json.dumps(kill.point), *config.args(run_dir)],
        env=_env(), capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, (
        f"the kill point was not reached (exit {killed.returncode}): {killed.stderr[-2000:]}")
    assert _committed(run_dir) == kill.committed
    run_id = _run_id(run_dir) if (run_dir / "run.sqlite").exists() else None
    _iterdeploy(config.args(run_dir))
    _assert_same_run(run_dir, config.reference)
    if run_id is not None:  # the run row was committed before the kill: the resume kept it
        assert _run_id(run_dir) == run_id


def test_sigkill_then_resume_matches_uninterrupted(
    tmp_path: Path, configs: Callable[[str], Config]
) -> None:
    """A kill from outside, at a moment read off the store (generation 0 committed), as a user
    or an out-of-memory killer would."""
    config = configs("fresh")
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "iterdeploy.simulator.cli", *config.args(killed)],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while _committed(killed) < 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _committed(killed) < 2, "the run finished before it could be killed"
    _iterdeploy(config.args(killed))
    _assert_same_run(killed, config.reference)


def test_kill_points_cover_what_the_issue_names() -> None:
    """Mid-sampling, mid-training, mid-adapter-save, mid-commit, extension and chained mode each
    have at least one point, and the default suite runs some but not all."""
    names = " ".join(KILL_POINTS)
    for needed in ("mid-sampling", "mid-training", "mid-adapter-save", "mid-commit",
                   "extension-", "chained-", "between-generations"):
        assert needed in names, needed
    assert set(DEFAULT_POINTS) < set(KILL_POINTS) and 1 <= len(DEFAULT_POINTS) <= 3
