"""``GroundTask.applicable_actions`` against brute-force grounding over all object tuples."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.planning import ActionSchema, Atom, GroundAction, GroundTask, State, load_task
from iterdeploy.simulator.planning.blocksworld import generate_task


def brute_force(task: GroundTask, state: State) -> set[GroundAction]:
    """Every action instance, repeated arguments included, whose preconditions hold."""
    found = set()
    for schema in task.schemas:
        for args in itertools.product(task.objects, repeat=schema.arity):
            action = schema.ground(args)
            if action.is_applicable(state):
                found.add(action)
    return found


def random_walk(task: GroundTask, rng: np.random.Generator, steps: int) -> list[State]:
    states = [task.init]
    state = task.init
    for _ in range(steps):
        actions = sorted(task.applicable_actions(state), key=lambda a: (a.name, a.args))
        if not actions:
            break
        state = actions[int(rng.integers(len(actions)))].apply(state)
        states.append(state)
    return states


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
def test_blocksworld_grounding_matches_brute_force(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    task = generate_task(n, rng)
    for state in random_walk(task, rng, 25):
        fast = task.applicable_actions(state)
        assert len(fast) == len(set(fast)), "duplicate actions"
        assert set(fast) == brute_force(task, state)
        # reachable Blocksworld states never admit an action on one block twice
        assert all(len(set(a.args)) == len(a.args) for a in fast)


def test_repeated_arguments_are_never_applicable_in_blocksworld() -> None:
    task = generate_task(3, np.random.default_rng(0))
    stack = task.schema("stack")
    unstack = task.schema("unstack")
    assert stack is not None and unstack is not None
    rng = np.random.default_rng(1)
    for state in random_walk(task, rng, 200):
        for block in task.objects:
            assert not stack.ground((block, block)).is_applicable(state)
            assert not unstack.ground((block, block)).is_applicable(state)


# A made-up domain exercising what Blocksworld does not: repeated arguments that *are*
# applicable, a parameter no precondition mentions, a constant, a nullary action and atoms of
# the same predicate name with different arities.
TOY_SCHEMAS = (
    ActionSchema("link", ("?x", "?y"), (("node", "?x"), ("node", "?y")), (("edge", "?x", "?y"),), ()),
    ActionSchema("paint", ("?x", "?c"), (("brush",),), (("painted", "?x", "?c"),), (("brush",),)),
    ActionSchema("go-home", ("?x",), (("edge", "home", "?x"),), (("at", "?x"),), ()),
    ActionSchema("reset", (), (("done",),), (("brush",),), (("done",),)),
    ActionSchema("mark", ("?x",), (("node", "?x", "?x"),), (("marked", "?x"),), ()),
    ActionSchema(  # a negative precondition, and an inequality through it
        "cut", ("?x", "?y"), (("edge", "?x", "?y"),), (), (("edge", "?x", "?y"),),
        (("edge", "?y", "?x"), ("node", "?x", "?y")),
    ),
)
TOY_OBJECTS = ("home", "p", "q")


def toy_atoms() -> list[Atom]:
    atoms: list[Atom] = [("brush",), ("done",)]
    atoms += [("node", o) for o in TOY_OBJECTS]
    atoms += [("node", o, o2) for o in TOY_OBJECTS for o2 in TOY_OBJECTS]
    atoms += [("edge", a, b) for a in TOY_OBJECTS for b in TOY_OBJECTS]
    return atoms


@settings(max_examples=150, deadline=None)
@given(st.sets(st.sampled_from(toy_atoms())))
def test_generic_grounding_matches_brute_force(atoms: set[Atom]) -> None:
    task = GroundTask(
        domain="toy", name="t", objects=TOY_OBJECTS, init=frozenset(atoms), goal=frozenset(),
        schemas=TOY_SCHEMAS,
    )
    fast = task.applicable_actions(task.init)
    assert len(fast) == len(set(fast))
    assert set(fast) == brute_force(task, task.init)


def test_generic_grounding_examples() -> None:
    state = frozenset({("node", "p"), ("brush",), ("node", "q", "q"), ("edge", "home", "p")})
    task = GroundTask(
        domain="toy", name="t", objects=TOY_OBJECTS, init=state, goal=frozenset(),
        schemas=TOY_SCHEMAS,
    )
    got = {(a.name, a.args) for a in task.applicable_actions(state)}
    assert ("link", ("p", "p")) in got  # repeated arguments are allowed when applicable
    assert {("paint", ("p", c)) for c in TOY_OBJECTS} <= got  # unconstrained ?c ranges over all
    assert ("go-home", ("p",)) in got and ("go-home", ("home",)) not in got  # constant matched
    assert ("mark", ("q",)) in got and ("mark", ("p",)) not in got
    assert not any(name == "reset" for name, _ in got)
    assert ("cut", ("home", "p")) in got


def test_negative_preconditions_block_an_action() -> None:
    cut = TOY_SCHEMAS[-1].ground(("p", "q"))
    assert cut.is_applicable(frozenset({("edge", "p", "q")}))
    assert not cut.is_applicable(frozenset({("edge", "p", "q"), ("edge", "q", "p")}))
    assert not cut.is_applicable(frozenset({("edge", "p", "q"), ("node", "p", "q")}))


IPC = Path(__file__).resolve().parents[3] / ".." / "shared" / "ipc2023"


@pytest.mark.skipif(not IPC.is_dir(), reason=f"IPC-2023 files not found at {IPC}")
@pytest.mark.timeout(120)
def test_typed_ipc_grounding_matches_brute_force() -> None:
    """Type atoms, constants and negative preconditions, on small real tasks."""
    checked = 0
    for domain in sorted(d for d in IPC.iterdir() if (d / "domain.pddl").is_file()):
        task = load_task(domain / "domain.pddl", domain / "base_cases" / "p01.pddl")
        if sum(len(task.objects) ** s.arity for s in task.schemas) > 20_000:
            continue
        for state in random_walk(task, np.random.default_rng(0), 6):
            assert set(task.applicable_actions(state)) == brute_force(task, state), domain.name
        checked += 1
    assert checked >= 5
