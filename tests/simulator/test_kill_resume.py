"""A run killed with SIGKILL in the middle resumes and ends as an uninterrupted run would."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from simulator.store import RunReader, summarize

REPO = Path(__file__).resolve().parents[2]


def _cmd(out: Path, overrides: dict[str, object]) -> list[str]:
    cmd = [sys.executable, "-m", "simulator.cli", "run", str(REPO / "scenarios" / "quickstart.yaml"),
           "--out", str(out)]
    for key, value in overrides.items():
        cmd += ["--set", f"{key}={value}"]
    return cmd


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


def _fingerprint(run_dir: Path) -> list[tuple[object, ...]]:
    with RunReader(run_dir) as reader:
        return [(t.trace_id, t.completion, t.status) for t in reader.traces()] + [
            (r.generation, r.solved, r.train_size, r.longest_plan_length) for r in summarize(reader)
        ]


def test_sigkill_then_resume_matches_uninterrupted(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    overrides = {**tiny_overrides, "generations": 2}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(_cmd(tmp_path / "full", overrides), env=env, check=True, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(killed, overrides), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while _committed(killed) < 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _committed(killed) < 2, "the run finished before it could be killed"
    resumed = subprocess.run(_cmd(killed, overrides), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert _fingerprint(killed) == _fingerprint(tmp_path / "full")
