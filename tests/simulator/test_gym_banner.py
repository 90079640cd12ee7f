"""gym's "unmaintained" banner (printed by ``gym/__init__.py`` when pddlgym imports it) never
reaches a user of iterdeploy, while everything of ours still does.

pddlgym is imported only inside ``simulator/planning/_pddl.py``'s ``_contained`` block, which
captures standard output and error for the import and the parse, so the banner, printed once per
process on the first import, goes nowhere. Each check runs in a fresh interpreter: in this test
session gym may long have been imported (and printed nothing more)."""

from __future__ import annotations

import subprocess
import sys

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
