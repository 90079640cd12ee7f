"""The reference planner: Fast Downward in a subprocess, limited, validated, never raising.

Tests that need the planner skip with a clear reason when ``up-fast-downward`` is not installed;
the failure modes (missing planner, wall-clock kill, exit codes, an invalid plan) are tested with
small fake drivers, so they run everywhere.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from iterdeploy.simulator.errors import PddlError
from iterdeploy.simulator.planning import (
    breadth_first_plan,
    domain_path,
    fast_downward_plan,
    find_fast_downward,
    generate,
    optimal_length,
    plan_task,
    problem_to_pddl,
    tag_optimal_length,
    validate_plan,
)

FD = find_fast_downward()
needs_fd = pytest.mark.skipif(FD is None, reason="Fast Downward not installed (pip install up-fast-downward)")


def fake_driver(tmp_path: Path, body: str) -> Path:
    """A stand-in for fast-downward.py: ``sys.argv`` as the real driver gets it, then ``body``."""
    path = tmp_path / "fake-downward.py"
    path.write_text("import sys, pathlib, time\nargs = sys.argv[1:]\n"
                    "plan = pathlib.Path(args[args.index('--plan-file') + 1])\n" + body)
    return path


@pytest.fixture
def ferry_files(tmp_path: Path) -> tuple[Path, Path]:
    generated = generate("ferry", {"n_cars": 2}, np.random.default_rng(0))
    problem = tmp_path / "ferry.pddl"
    problem.write_text(generated.problem_pddl)
    return domain_path("ferry"), problem


@needs_fd
@pytest.mark.parametrize(("domain", "params"), [
    ("blocksworld", {"n_blocks": 4}), ("childsnack", {"n_children": 2}), ("ferry", {"n_cars": 2}),
    ("floortile", {"n_rows": 2, "n_columns": 2}), ("miconic", {"n_passengers": 2}),
    ("rovers", {"n_waypoints": 2, "n_objectives": 1}), ("satellite", {"n_satellites": 1}),
    ("sokoban", {"n_boxes": 1, "grid_size": 6}), ("spanner", {"n_nuts": 2}),
    ("transport", {"n_packages": 2}),
])
def test_optimal_length_equals_breadth_first_search(domain: str, params: dict[str, int]) -> None:
    generated = generate(domain, params, np.random.default_rng(1))
    result = plan_task(generated.task, generated.domain_file, optimal=True, time_limit_s=20)
    assert result.status == "solved" and result.optimal, result.message
    bfs = breadth_first_plan(generated.task, max_nodes=200_000)
    assert bfs is not None
    assert result.plan_length == len(bfs)
    assert validate_plan(generated.task, "\n".join(result.plan)).is_valid
    assert result.config == "seq-opt-lmcut" and result.wall_s > 0


@needs_fd
def test_satisficing_plans_for_medium_tasks_of_every_domain() -> None:
    medium = {"blocksworld": {"n_blocks": 12}, "childsnack": {"n_children": 8}, "ferry": {"n_cars": 8},
              "floortile": {"n_rows": 3, "n_columns": 4, "n_robots": 2}, "miconic": {"n_passengers": 8},
              "rovers": {"n_waypoints": 6}, "satellite": {"n_satellites": 3}, "sokoban": {"n_boxes": 2},
              "spanner": {"n_nuts": 4}, "transport": {"n_packages": 6}}
    for domain, params in medium.items():
        generated = generate(domain, params, np.random.default_rng(2))
        result = plan_task(generated.task, generated.domain_file, time_limit_s=20)
        assert result.solved and not result.optimal, (domain, result.message)
        assert result.config == "lama-first"
        assert validate_plan(generated.task, "\n".join(result.plan)).is_valid


@needs_fd
def test_a_timeout_is_a_result_not_an_exception() -> None:
    # optimal Childsnack with 8 children takes LM-cut far longer than a second (symmetries)
    generated = generate("childsnack", {"n_children": 8}, np.random.default_rng(0))
    start = time.perf_counter()
    result = plan_task(generated.task, generated.domain_file, optimal=True, time_limit_s=1.0)
    elapsed = time.perf_counter() - start
    assert result.status == "timed_out", result.message
    assert result.plan == () and result.plan_length is None and not result.solved
    assert elapsed < 6.0


@needs_fd
def test_planner_files_are_cleaned_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      ferry_files: tuple[Path, Path]) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    result = fast_downward_plan(*ferry_files, time_limit_s=20)
    assert result.solved
    assert list(scratch.iterdir()) == []


@needs_fd
def test_optimal_length_and_tagging() -> None:
    tiny = generate("ferry", {"n_cars": 1}, np.random.default_rng(0))
    assert optimal_length(tiny.task, tiny.domain_file) == len(breadth_first_plan(tiny.task) or [])
    # too big for the small breadth-first budget: Fast Downward proves it
    bigger = generate("transport", {"n_packages": 3}, np.random.default_rng(0))
    tagged = tag_optimal_length(bigger, time_limit_s=20)
    assert tagged.optimal_length is not None
    assert tagged.optimal_length <= len(bigger.witness_plan)
    assert tagged.problem_pddl == bigger.problem_pddl and bigger.optimal_length is None
    # a timeout leaves the task untagged
    hard = generate("childsnack", {"n_children": 8}, np.random.default_rng(0))
    assert tag_optimal_length(hard, time_limit_s=0.5) is not None
    assert tag_optimal_length(hard, time_limit_s=0.5).optimal_length is None


@needs_fd
def test_an_expansion_budget_stops_the_search_and_the_count_is_the_same_every_time() -> None:
    # optimal Childsnack with 8 children expands far more than 200 states (see the timeout test)
    hard = generate("childsnack", {"n_children": 8}, np.random.default_rng(0))
    start = time.perf_counter()
    stopped = plan_task(hard.task, hard.domain_file, optimal=True, time_limit_s=60, max_expansions=200)
    assert stopped.status == "over_budget" and not stopped.solved, stopped.message
    assert "200 expanded states" in stopped.message
    assert stopped.expanded is not None and stopped.expanded > 200
    assert time.perf_counter() - start < 30.0  # stopped at a progress line, not at the 60 s net
    # a search is deterministic: the closing count of a solved task repeats exactly
    task = generate("rovers", {"n_waypoints": 4}, np.random.default_rng(3))
    counts = {plan_task(task.task, task.domain_file, optimal=True, time_limit_s=30).expanded
              for _ in range(3)}
    assert len(counts) == 1 and None not in counts


@needs_fd
def test_optimal_length_counts_only_within_the_budget() -> None:
    generated = generate("rovers", {"n_waypoints": 4}, np.random.default_rng(3))
    result = plan_task(generated.task, generated.domain_file, optimal=True, time_limit_s=30)
    assert result.solved and result.optimal and result.expanded is not None and result.expanded > 1
    proven = optimal_length(generated.task, generated.domain_file, time_limit_s=30, bfs_nodes=0,
                            max_expansions=result.expanded)
    assert proven == result.plan_length
    assert optimal_length(generated.task, generated.domain_file, time_limit_s=30, bfs_nodes=0,
                          max_expansions=result.expanded - 1) is None


# --------------------------------------------------------------------------- failure modes, no planner needed


def test_missing_planner_is_a_clear_result(ferry_files: tuple[Path, Path], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    result = fast_downward_plan(*ferry_files, driver=tmp_path / "nowhere" / "fast-downward.py")
    assert result.status == "unavailable"
    assert "pip install up-fast-downward" in result.message and "does not exist" in result.message
    monkeypatch.setenv("ITERDEPLOY_FAST_DOWNWARD", str(tmp_path / "missing.py"))
    assert find_fast_downward() == tmp_path / "missing.py"
    assert fast_downward_plan(*ferry_files).status == "unavailable"


def test_the_wall_clock_limit_kills_the_planner(ferry_files: tuple[Path, Path], tmp_path: Path) -> None:
    driver = fake_driver(tmp_path, "time.sleep(60)\n")
    start = time.perf_counter()
    result = fast_downward_plan(*ferry_files, driver=driver, time_limit_s=0.3)
    assert result.status == "timed_out"
    assert time.perf_counter() - start < 5.0


def test_a_budget_stops_a_planner_at_its_first_progress_line_past_it(
    ferry_files: tuple[Path, Path], tmp_path: Path
) -> None:
    driver = fake_driver(tmp_path, "print('[t=0.1s, 9 KB] f = 7, 12 evaluated, 9 expanded', flush=True)\n"
                                   "print('[t=0.2s, 9 KB] f = 8, 900 evaluated, 501 expanded', flush=True)\n"
                                   "time.sleep(60)\n")
    start = time.perf_counter()
    result = fast_downward_plan(*ferry_files, driver=driver, optimal=True, time_limit_s=30,
                                max_expansions=500)
    assert result.status == "over_budget" and result.expanded == 501
    assert time.perf_counter() - start < 10.0
    # without a budget the same planner runs to its time limit
    assert fast_downward_plan(*ferry_files, driver=driver, time_limit_s=0.5).status == "timed_out"


def test_the_planner_runs_with_a_fixed_hash_seed(ferry_files: tuple[Path, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONHASHSEED", "random")
    driver = fake_driver(tmp_path, "import os\nprint('hash seed ' + os.environ.get('PYTHONHASHSEED', '-'))\n"
                                   "sys.exit(32)\n")
    assert "hash seed 0" in fast_downward_plan(*ferry_files, driver=driver).message


@pytest.mark.parametrize(("code", "status"), [
    (10, "unsolvable"), (11, "unsolvable"), (12, "not_found"), (22, "out_of_memory"),
    (20, "out_of_memory"), (23, "timed_out"), (21, "timed_out"), (32, "error"), (0, "error"),
])
def test_exit_codes_map_to_statuses(code: int, status: str, ferry_files: tuple[Path, Path],
                                    tmp_path: Path) -> None:
    driver = fake_driver(tmp_path, f"print('fake planner output')\nsys.exit({code})\n")
    result = fast_downward_plan(*ferry_files, driver=driver)
    assert result.status == status
    assert f"exit code {code}" in result.message
    if status == "error":
        assert "fake planner output" in result.message


def test_the_memory_limit_applies_to_the_planner_process(
    ferry_files: tuple[Path, Path], tmp_path: Path
) -> None:
    driver = fake_driver(tmp_path, "try:\n    x = bytearray(400 * 1024 * 1024)\nexcept MemoryError:\n"
                                   "    sys.exit(22)\nsys.exit(0)\n")
    result = fast_downward_plan(*ferry_files, driver=driver, memory_limit_mb=200)
    assert result.status == "out_of_memory"


def test_an_invalid_plan_is_never_trusted(ferry_files: tuple[Path, Path], tmp_path: Path) -> None:
    driver = fake_driver(tmp_path, "plan.write_text('(debark car1 loc1)\\n; cost = 1 (unit cost)\\n')\n")
    result = fast_downward_plan(*ferry_files, driver=driver, optimal=True)
    assert result.status == "invalid_plan" and result.plan == ()
    assert "failed validation" in result.message


def test_a_valid_fake_plan_is_accepted_and_parsed(ferry_files: tuple[Path, Path], tmp_path: Path) -> None:
    task_plan = generate("ferry", {"n_cars": 2}, np.random.default_rng(0)).witness_plan
    lines = "\\n".join(task_plan)
    driver = fake_driver(tmp_path, f"plan.write_text('{lines}\\n; cost = {len(task_plan)} (unit cost)\\n')\n")
    result = fast_downward_plan(*ferry_files, driver=driver, optimal=True)
    assert result.solved and result.optimal and result.plan == task_plan
    assert result.to_dict()["plan_length"] == len(task_plan)


def test_malformed_input_raises_pddl_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pddl"
    bad.write_text("(define (problem x) (:domain ferry)")
    with pytest.raises(PddlError, match=r"bad\.pddl:1"):
        fast_downward_plan(domain_path("ferry"), bad, driver=Path(sys.executable))


def test_plan_task_writes_constants_only_in_the_domain() -> None:
    generated = generate("childsnack", {"n_children": 1}, np.random.default_rng(0))
    assert "    table1 table2 table3 - place\n" in generated.problem_pddl
    assert "    kitchen table1 table2 table3 - place\n" in problem_to_pddl(generated.task)
