"""gym's "unmaintained" banner (printed by ``gym/__init__.py`` when pddlgym imports it) never
reaches a user of iterdeploy, in any command, while everything of ours still does.

The package no longer imports pddlgym (PDDL is read by our own reader, ``planning/_pddl.py``),
so nothing of ours pulls gym in; these checks keep it that way for every command, should a
dependency bring gym back. Each check runs in a fresh interpreter: in this test session gym may
long have been imported (and printed nothing more)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.simulator.conftest import REPO, ProcessRun, iterdeploy

BANNER = "Gym has been unmaintained"
"""The first words of every notice in ``gym_notices`` (gym 0.19 to 0.26)."""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_importing_pddlgym_directly_prints_the_banner() -> None:
    """The control: without our containment the banner is there, so its absence below means
    something (and a gym that stops printing it would be noticed here)."""
    pytest.importorskip("pddlgym")
    result = _python("import pddlgym")
    assert BANNER in result.stdout + result.stderr


def test_loading_a_task_through_the_planning_module_prints_nothing() -> None:
    result = _python(
        "from iterdeploy.simulator.planning import domain_path, load_task\n"
        "from iterdeploy.simulator.planning import generate_tasks\n"
        "import pathlib, tempfile\n"
        "[g] = generate_tasks('blocksworld', {'n_blocks': 3}, seed=0, n=1)\n"
        "p = pathlib.Path(tempfile.mkdtemp()) / 'p.pddl'\n"
        "p.write_text(g.problem_pddl)\n"
        "task = load_task(domain_path('blocksworld'), p)\n"
        "print('loaded', task.name)\n")
    assert result.returncode == 0, result.stderr
    assert BANNER not in result.stdout + result.stderr
    assert result.stdout.startswith("loaded "), result.stdout
    assert result.stderr == ""


def test_validate_prints_its_verdict_and_no_banner(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tasks = iterdeploy("tasks", "blocksworld", "-s", "n_blocks=3", "-n", "1", "--seed", "0",
                       "-o", str(tmp_path / "t"))
    assert tasks.returncode == 0, tasks.stderr
    plan = tmp_path / "plan.txt"
    plan.write_text("(unstack b1 b2)\n")
    problem = next(p for p in (tmp_path / "t").glob("*.pddl") if p.name != "domain.pddl")
    result = iterdeploy("validate", str(tmp_path / "t" / "domain.pddl"), str(problem), str(plan))
    assert result.returncode in (0, 1), result.stderr
    for out in (tasks, result):
        assert BANNER not in out.stdout + out.stderr
    assert result.stdout.startswith(("valid", "invalid")), result.stdout


def test_a_run_prints_ours_first_and_no_banner(process_run: ProcessRun) -> None:
    everything = process_run.stdout + process_run.stderr
    assert BANNER not in everything
    assert "gym" not in everything.lower()
    first = next(line for line in process_run.stdout.splitlines() if line.strip())
    assert first.startswith("quickstart seed 0: generation 0"), process_run.stdout[:500]
    assert "solved" in process_run.stdout  # the summary table, ours, is all there
    assert "next: iterdeploy audit" in process_run.stdout


# ------------------------------------------------------------------ every other command, really used

@pytest.fixture(scope="module")
def workspace(process_run: ProcessRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a copy of the session's tiny run (``run``, which ``audit`` and
    ``export`` may write to) and the same run as a sweep would name it (``sweep/quickstart-seed0``),
    so that a sweep of the tiny quickstart finds it complete."""
    root = tmp_path_factory.mktemp("banner")
    shutil.copytree(process_run.run_dir, root / "run")
    shutil.copytree(process_run.run_dir, root / "sweep" / "quickstart-seed0")
    tasks = iterdeploy("tasks", "blocksworld", "-s", "n_blocks=3", "-n", "1", "--seed", "0",
                       "-o", str(root / "tasks"))
    assert tasks.returncode == 0, tasks.stderr
    return root


def _tiny_sets() -> list[str]:
    from tests.conftest import TINY_OVERRIDES

    return [arg for key, value in TINY_OVERRIDES.items() for arg in ("--set", f"{key}={value}")]


def _problem(root: Path) -> str:
    return str(next(p for p in (root / "tasks").glob("*.pddl") if p.name != "domain.pddl"))


COMMANDS: list[tuple[str, Callable[[Path], list[str]], int, str]] = [
    ("help", lambda w: ["--help"], 0, "Commands"),
    ("summary", lambda w: ["summary", str(w / "run")], 0, "solved"),
    ("compare", lambda w: ["compare", str(w / "run"), "--format", "csv"], 0, "quickstart"),
    ("export", lambda w: ["export", str(w / "run"), "--out", str(w / "export")], 0, "traces"),
    ("audit", lambda w: ["audit", str(w / "run")], 0, "blackbox-reward findings stored"),
    ("dashboard", lambda w: ["dashboard", "--help"], 0, "--port"),
    ("scenario list", lambda w: ["scenario", "list"], 0, "quickstart"),
    ("scenario validate", lambda w: ["scenario", "validate", "quickstart", "length_bias"], 0, "ok"),
    ("scenario show", lambda w: ["scenario", "show", "quickstart"], 0, "name: quickstart"),
    ("plan", lambda w: ["plan", str(w / "tasks" / "domain.pddl"), _problem(w)], 0, "step(s)"),
    ("sweep", lambda w: ["sweep", "quickstart", "--serial", "--out", str(w / "sweep"), *_tiny_sets()],
     0, "complete before"),
    ("pretrain", lambda w: ["pretrain", "quickstart", *_tiny_sets(), "--set",
                            "model.embedded.pretrain_steps=5", "--out", str(w / "base")], 0, "embedded-"),
    ("calibrate", lambda w: ["calibrate", "--no-run", "--out", str(w / "none"), "--doc",
                             str(w / "calibration.md")], 2, "no finished run"),
]
"""Every top-level command in real use (``dashboard`` serves until stopped: its page is checked
below), each with its exit status and words of ours it must print, so that the banner's absence
is seen in output that is there."""


@pytest.mark.parametrize(("args", "status", "ours"), [c[1:] for c in COMMANDS], ids=[c[0] for c in COMMANDS])
def test_every_command_prints_ours_and_no_banner(
    workspace: Path, args: Callable[[Path], list[str]], status: int, ours: str
) -> None:
    result = iterdeploy(*args(workspace))
    everything = result.stdout + result.stderr
    assert result.returncode == status, everything[-2000:]
    assert ours in everything, everything[-2000:]
    assert BANNER not in everything
    assert "gym" not in everything.lower()


def test_the_dashboard_page_prints_no_banner(workspace: Path) -> None:
    """The page ``iterdeploy dashboard`` serves, run once by Streamlit's own test harness in a
    fresh interpreter (as the server runs it for each visitor)."""
    code = ("from streamlit.testing.v1 import AppTest\n"
            "import iterdeploy.dashboards.app as page\n"
            "at = AppTest.from_file(page.__file__, default_timeout=300).run()\n"
            "assert not at.exception, [e.value for e in at.exception]\n"
            "shown = [e.value for kind in (at.title, at.header, at.subheader, at.markdown, at.caption)\n"
            "         for e in kind]\n"
            "print('shown', ' '.join(map(str, shown)))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "ITERDEPLOY_RUN_DIR": str(workspace / "run")})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("shown ") and "quickstart" in result.stdout  # the run's name
    assert BANNER not in result.stdout + result.stderr
