"""Fixtures of the simulator's tests that need a real run written by a real ``iterdeploy`` process."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ProcessRun:
    """A tiny quickstart run made by ``iterdeploy run`` in a child process."""

    run_dir: Path
    stdout: str
    stderr: str


def iterdeploy(*args: str, cwd: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``iterdeploy ARGS`` in a fresh interpreter (``python -m iterdeploy.simulator.cli``), so that what it
    prints on its own standard output and error, import-time output included, is seen as a user
    sees it."""
    return subprocess.run([sys.executable, "-m", "iterdeploy.simulator.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def process_run(tmp_path_factory: pytest.TempPathFactory) -> ProcessRun:
    """The tiny quickstart (``TINY_OVERRIDES``: one fine-tuned generation) run once per session
    by a real ``iterdeploy run`` process; tests must not write to it (copy it first)."""
    from tests.conftest import TINY_OVERRIDES

    out = tmp_path_factory.mktemp("process-run") / "run"
    args = ["run", "scenarios/quickstart.yaml", "--out", str(out)]
    for key, value in TINY_OVERRIDES.items():
        args += ["--set", f"{key}={value}"]
    result = iterdeploy(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return ProcessRun(out, result.stdout, result.stderr)
