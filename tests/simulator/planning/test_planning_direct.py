"""The direct Blocksworld planner that gives the embedded model's corpus plans of varied length."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.planning import breadth_first_plan, validate_plan
from iterdeploy.simulator.planning.blocksworld import canonical_plan, direct_plan, generate_task, with_detour


def _text(plan: list) -> str:
    return "\n".join(f"({a.name} {' '.join(a.args)})" for a in plan)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.integers(2, 12), st.integers(0, 2**31), st.booleans())
def test_direct_plans_are_valid_and_never_longer_than_canonical(
    n_blocks: int, seed: int, randomised: bool
) -> None:
    task = generate_task(n_blocks, np.random.default_rng(seed))
    plan = direct_plan(task, np.random.default_rng(seed) if randomised else None)
    assert validate_plan(task, _text(plan)).is_valid
    assert len(plan) <= len(canonical_plan(task))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(2, 5), st.integers(0, 2**31))
def test_direct_plans_are_near_optimal_on_small_tasks(n_blocks: int, seed: int) -> None:
    task = generate_task(n_blocks, np.random.default_rng(seed))
    optimal = breadth_first_plan(task)
    assert optimal is not None
    assert len(optimal) <= len(direct_plan(task)) <= 2 * len(optimal)


def test_direct_and_canonical_plans_differ_often_on_larger_tasks() -> None:
    rng = np.random.default_rng(0)
    tasks = [generate_task(7, rng) for _ in range(40)]
    shorter = sum(len(direct_plan(t)) < len(canonical_plan(t)) for t in tasks)
    assert shorter >= 15, "a mixed corpus must contain plans of different lengths per task"


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.integers(2, 10), st.integers(0, 2**31))
def test_a_detour_keeps_the_plan_valid_and_costs_two_steps(n_blocks: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    task = generate_task(n_blocks, rng)
    plan = canonical_plan(task)
    longer = with_detour(task, plan, rng)
    assert validate_plan(task, _text(longer)).is_valid
    assert len(longer) == len(plan) + 2
    # the detour lifts a block and puts it straight back
    assert any(
        longer[:k] + longer[k + 2:] == plan and longer[k].args[0] == longer[k + 1].args[0]
        for k in range(len(longer) - 1)
    )
