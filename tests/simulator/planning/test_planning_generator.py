"""The Blocksworld generator and reference planners: seeded, non-trivial, solvable, tagged."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.planning import GroundTask, breadth_first_plan, load_domain_schemas, validate_plan
from iterdeploy.simulator.planning.blocksworld import canonical_plan, generate_task

sizes = st.integers(min_value=2, max_value=12)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def plan_text(actions: list) -> str:
    return "\n".join(a.to_pddl() for a in actions)


@settings(max_examples=60, deadline=None)
@given(n=sizes, seed=seeds)
def test_same_seed_gives_the_same_task(n: int, seed: int) -> None:
    a = generate_task(n, np.random.default_rng(seed))
    b = generate_task(n, np.random.default_rng(seed))
    assert a == b
    assert hash(a) == hash(b)


def test_different_seeds_give_different_tasks() -> None:
    for n in (3, 5, 8):
        tasks = {generate_task(n, np.random.default_rng(seed)) for seed in range(20)}
        assert len(tasks) >= 15, f"{n} blocks: only {len(tasks)} distinct tasks from 20 seeds"


def test_successive_draws_from_one_generator_differ() -> None:
    rng = np.random.default_rng(7)
    tasks = [generate_task(6, rng) for _ in range(10)]
    assert len(set(tasks)) == 10


@settings(max_examples=100, deadline=None)
@given(n=sizes, seed=seeds)
def test_generated_task_is_well_formed_and_nontrivial(n: int, seed: int) -> None:
    task = generate_task(n, np.random.default_rng(seed))
    assert task.domain == "blocksworld"
    assert task.objects == tuple(f"b{i + 1}" for i in range(n))
    assert not task.goal_reached(task.init), "goal already satisfied in the initial state"
    assert ("arm-empty",) in task.init
    # every block is on exactly one thing, and towers have clear tops
    for block in task.objects:
        supports = [a for a in task.init if a[0] in ("on", "on-table") and a[1] == block]
        assert len(supports) == 1
        has_above = any(a[0] == "on" and a[2] == block for a in task.init)
        assert (("clear", block) in task.init) != has_above
    # the goal places every block (a full goal), and mentions only on/on-table
    assert {a[0] for a in task.goal} <= {"on", "on-table"}
    assert sorted(a[1] for a in task.goal) == sorted(task.objects)


@settings(max_examples=100, deadline=None)
@given(n=sizes, seed=seeds)
def test_every_generated_task_is_solved_by_the_canonical_plan(n: int, seed: int) -> None:
    task = generate_task(n, np.random.default_rng(seed))
    plan = canonical_plan(task)
    verdict = validate_plan(task, plan_text(plan))
    assert verdict.is_valid, verdict
    assert verdict.plan_length == len(plan) > 0
    assert len(plan) % 2 == 0  # actions come in pick/put pairs


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=2, max_value=5), seed=seeds)
def test_breadth_first_plan_is_valid_and_no_longer_than_canonical(n: int, seed: int) -> None:
    task = generate_task(n, np.random.default_rng(seed))
    bfs = breadth_first_plan(task)
    assert bfs is not None
    assert validate_plan(task, plan_text(bfs)).is_valid
    canonical = canonical_plan(task)
    assert len(bfs) <= len(canonical) <= 2 * len(bfs)


def test_breadth_first_plan_is_deterministic_and_respects_its_budget() -> None:
    task = generate_task(5, np.random.default_rng(11))
    first = breadth_first_plan(task)
    assert first is not None and first == breadth_first_plan(task)
    assert breadth_first_plan(task, max_nodes=2) is None
    solved = dataclasses.replace(task, init=task.init | task.goal)
    assert breadth_first_plan(solved) == []


@pytest.mark.parametrize("n", [-3, 0, 1])
def test_fewer_than_two_blocks_is_rejected(n: int) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        generate_task(n, np.random.default_rng(0))


@settings(max_examples=30, deadline=None)
@given(n=sizes, seed=seeds)
def test_tasks_are_tagged_with_their_size(n: int, seed: int) -> None:
    task = generate_task(n, np.random.default_rng(seed))
    assert task.params == (("n_blocks", n),)
    assert task.param_dict() == {"n_blocks": n}
    assert task.size == n
    assert task.optimal_length is None


def test_name_defaults_and_override() -> None:
    assert generate_task(4, np.random.default_rng(0)).name == "bw-4"
    assert generate_task(4, np.random.default_rng(0), name="mine").name == "mine"


def test_canonical_plan_handles_partial_goals_and_a_held_block() -> None:
    schemas = load_domain_schemas("blocksworld")
    task = GroundTask(
        domain="blocksworld",
        name="partial",
        objects=("a", "b", "c", "d"),
        # c on a, d held; a and b on the table
        init=frozenset({("on-table", "a"), ("on", "c", "a"), ("clear", "c"), ("on-table", "b"),
                        ("clear", "b"), ("holding", "d")}),
        goal=frozenset({("on", "a", "b"), ("clear", "a")}),
        schemas=schemas,
    )
    plan = canonical_plan(task)
    assert validate_plan(task, plan_text(plan)).is_valid
    bfs = breadth_first_plan(task)
    assert bfs is not None and len(bfs) <= len(plan)


def test_replace_rebuilds_the_schema_index() -> None:
    task = generate_task(3, np.random.default_rng(0))
    fewer = dataclasses.replace(task, schemas=tuple(s for s in task.schemas if s.name != "stack"))
    assert task.schema("stack") is not None
    assert fewer.schema("stack") is None
    assert fewer.schema("pickup") is task.schema("pickup")
