"""The optimal plan lengths the loop stores with its tasks: searched once per task, side by side,
and the same answer however busy the machine is (an expansion budget, not a time limit)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from iterdeploy.simulator.loop import task_supply
from iterdeploy.simulator.planning import breadth_first_plan, find_fast_downward, generate
from iterdeploy.simulator.users.spec import TaskDistributionSpec

needs_fd = pytest.mark.skipif(find_fast_downward() is None, reason="Fast Downward not installed")


@pytest.fixture(autouse=True)
def no_memory() -> Iterator[None]:
    """Each test starts with no optimum remembered."""
    task_supply.forget_optima()
    yield
    task_supply.forget_optima()


def pool(domain: str, low: int, high: int, n: int, seed: int = 0) -> list:
    spec = TaskDistributionSpec.model_validate({domain: {"min": low, "max": high}})
    return [g.task for g in task_supply.draw_generated(np.random.default_rng(seed), n, spec, "pool", set())]


def test_each_task_is_searched_once_whatever_the_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    searched: list[str] = []

    def fake(task: object) -> int:
        searched.append(task.name)  # type: ignore[attr-defined]
        return len(task.name)  # type: ignore[attr-defined]

    monkeypatch.setattr(task_supply, "_search_optimal_length", fake)
    tasks = pool("rovers", 2, 3, 6)
    assert task_supply.optimal_lengths(tasks) == [len(t.name) for t in tasks]
    again = [*reversed(tasks), tasks[0]]
    assert task_supply.optimal_lengths(again) == [len(t.name) for t in again]
    assert task_supply.optimal_length_of(tasks[2]) == len(tasks[2].name)
    assert sorted(searched) == sorted(t.name for t in tasks)


def test_blocksworld_optima_come_from_breadth_first_search_and_only_for_small_tasks() -> None:
    small, large = pool("blocksworld", 4, 4, 1)[0], pool("blocksworld", 9, 9, 1)[0]
    assert task_supply.optimal_lengths([small, large]) == [len(breadth_first_plan(small) or []), None]


@needs_fd
def test_searches_side_by_side_give_what_one_at_a_time_gives() -> None:
    tasks = pool("rovers", 3, 6, 8, seed=4)
    together = task_supply.optimal_lengths(tasks)
    task_supply.forget_optima()
    alone = [task_supply.optimal_length_of(task) for task in tasks]
    assert together == alone
    assert any(length is not None for length in alone)


@needs_fd
def test_the_answers_do_not_depend_on_how_busy_the_machine_is(monkeypatch: pytest.MonkeyPatch) -> None:
    # A budget small enough that some of these tasks pass it: those are unknown, the others proven,
    # with every CPU kept busy by other processes or not.
    monkeypatch.setitem(task_supply.OPTIMAL_LENGTH_BUDGETS, "rovers", task_supply.SearchBudget(300, 3.0))
    tasks = pool("rovers", 5, 7, 6, seed=1)
    quiet = task_supply.optimal_lengths(tasks)
    assert None in quiet and any(length is not None for length in quiet)
    spin = [sys.executable, "-c", "while True: pass"]
    spinners = [subprocess.Popen(spin) for _ in range(2 * (os.cpu_count() or 1))]
    try:
        task_supply.forget_optima()
        busy = task_supply.optimal_lengths(tasks)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    assert busy == quiet


@needs_fd
def test_a_proven_optimum_is_no_longer_than_the_generator_s_witness() -> None:
    generated = generate("sokoban", {"n_boxes": 1, "grid_size": 6}, np.random.default_rng(2))
    length = task_supply.optimal_length_of(generated.task)
    assert length is not None and length <= len(generated.witness_plan)
