"""Our validator agrees with pddlgym's own simulation on plans and their mutations.

pddlgym is used through its parser and ``get_successor_state`` (not ``gym.make``, which breaks
on numpy 2, and not ``PDDLEnv``'s dynamic action space, which writes to /dev/shm and drops actions
with repeated arguments). ``raise_error_on_invalid_action=True`` makes an inapplicable action an
error instead of a silent no-op. Small tasks and few examples keep this module fast.
"""

from __future__ import annotations

import functools
import itertools
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.planning import (
    GroundTask,
    breadth_first_plan,
    domain_path,
    load_task,
    problem_to_pddl,
    validate_plan,
)
from iterdeploy.simulator.planning.blocksworld import canonical_plan, generate_task

pytest.importorskip("pddlgym")

Step = tuple[str, tuple[str, ...]]


@functools.cache
def _pddlgym_domain() -> Any:
    from pddlgym.parser import PDDLDomainParser

    return PDDLDomainParser(str(domain_path("blocksworld")), expect_action_preds=False,
                            operators_as_actions=True)


@functools.lru_cache(maxsize=64)
def _pddlgym_problem(task: GroundTask) -> Any:
    from pddlgym.parser import PDDLProblemParser

    domain = _pddlgym_domain()
    with tempfile.TemporaryDirectory() as tmp:
        problem_file = Path(tmp) / "problem.pddl"
        problem_file.write_text(problem_to_pddl(task))
        return PDDLProblemParser(str(problem_file), domain.domain_name, domain.types,
                                 domain.predicates, domain.actions, domain.constants)


def pddlgym_judgement(task: GroundTask, plan: list[Step]) -> tuple[int | None, bool]:
    """(index of the first inapplicable step or None, goal reached at the end) per pddlgym."""
    from pddlgym.core import InvalidAction, get_successor_state
    from pddlgym.inference import check_goal
    from pddlgym.structs import State

    domain = _pddlgym_domain()
    problem = _pddlgym_problem(task)
    objects = {o.name: o for o in problem.objects}
    state = State(frozenset(problem.initial_state), frozenset(problem.objects), problem.goal)
    for i, (name, args) in enumerate(plan):
        action = domain.predicates[name](*(objects[a] for a in args))
        try:
            state = get_successor_state(state, action, domain, raise_error_on_invalid_action=True,
                                        inference_mode="csp")
        except InvalidAction:
            return i, False
    return None, bool(check_goal(state, problem.goal))


def render(plan: list[Step]) -> str:
    return "\n".join("(" + " ".join((n, *a)) + ")" for n, a in plan)


def our_judgement(task: GroundTask, plan: list[Step]) -> tuple[int | None, bool]:
    verdict = validate_plan(task, render(plan))
    assert verdict.status in ("valid", "invalid_step", "goal_not_reached"), verdict
    step = verdict.failed_step if verdict.status == "invalid_step" else None
    return step, verdict.is_valid


def reference_plan(task: GroundTask, source: str) -> list[Step]:
    actions = canonical_plan(task) if source == "canonical" else breadth_first_plan(task)
    assert actions is not None
    return [(a.name, a.args) for a in actions]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 5), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_mutated_plans_are_judged_as_pddlgym_judges_them(n: int, seed: int, data: st.DataObject) -> None:
    stdout = sys.stdout
    task = generate_task(n, np.random.default_rng(seed))
    plan = reference_plan(task, data.draw(st.sampled_from(["canonical", "bfs"]), label="source"))
    assert pddlgym_judgement(task, plan) == (None, True)
    assert our_judgement(task, plan) == (None, True)

    kind = data.draw(
        st.sampled_from(["remove", "swap", "insert", "insert applicable", "truncate"]), label="mutation"
    )
    mutated = list(plan)
    if kind == "remove":
        del mutated[data.draw(st.integers(0, len(plan) - 1), label="index")]
    elif kind == "swap":
        i = data.draw(st.integers(0, len(plan) - 1), label="i")
        j = data.draw(st.integers(0, len(plan) - 2), label="j")
        j += j >= i
        mutated[i], mutated[j] = mutated[j], mutated[i]
    elif kind == "insert":
        schema = data.draw(st.sampled_from(task.schemas), label="schema")
        args = tuple(data.draw(st.lists(st.sampled_from(task.objects), min_size=schema.arity,
                                        max_size=schema.arity), label="args"))
        mutated.insert(data.draw(st.integers(0, len(plan)), label="at"), (schema.name, args))
    elif kind == "insert applicable":  # an action applicable where it goes: later steps may break
        at = data.draw(st.integers(0, len(plan)), label="at")
        state = task.init
        for name, args in plan[:at]:
            state = task.schema(name).ground(args).apply(state)  # type: ignore[union-attr]
        options = sorted(task.applicable_actions(state), key=lambda a: (a.name, a.args))
        action = data.draw(st.sampled_from(options), label="action")
        mutated.insert(at, (action.name, action.args))
    else:
        mutated = mutated[: data.draw(st.integers(1, len(plan) - 1), label="keep")]
    expected = pddlgym_judgement(task, mutated)
    event(f"{kind}: {'valid' if expected[1] else 'invalid step' if expected[0] is not None else 'goal'}")
    assert our_judgement(task, mutated) == expected, render(mutated)
    assert sys.stdout is stdout


INVERSE = {"pickup": "putdown", "putdown": "pickup", "unstack": "stack", "stack": "unstack"}


def all_mutants(task: GroundTask, plan: list[Step]) -> list[list[Step]]:
    """Every removal, swap, insertion of any action, and applicable there-and-back detour."""
    mutants = [plan[:i] + plan[i + 1:] for i in range(len(plan))]
    for i in range(len(plan)):
        for j in range(i + 1, len(plan)):
            m = list(plan)
            m[i], m[j] = m[j], m[i]
            mutants.append(m)
    every_action = [
        (s.name, args) for s in task.schemas
        for args in itertools.product(task.objects, repeat=s.arity)
    ]
    state = task.init
    for at in range(len(plan) + 1):
        mutants += [[*plan[:at], a, *plan[at:]] for a in every_action]
        for action in task.applicable_actions(state):
            back = (INVERSE[action.name], action.args)
            mutants.append([*plan[:at], (action.name, action.args), back, *plan[at:]])
        if at < len(plan):
            name, args = plan[at]
            state = task.schema(name).ground(args).apply(state)  # type: ignore[union-attr]
    return mutants


@pytest.mark.parametrize(("n", "seed"), [(2, 0), (3, 1), (4, 2)])
def test_every_single_mutation_is_judged_as_pddlgym_judges_it(n: int, seed: int) -> None:
    task = generate_task(n, np.random.default_rng(seed))
    plan = reference_plan(task, "canonical")
    outcomes = set()
    for mutant in all_mutants(task, plan):
        expected = pddlgym_judgement(task, mutant)
        outcomes.add("valid" if expected[1] else "goal" if expected[0] is None else "step")
        assert our_judgement(task, mutant) == expected, render(mutant)
    assert outcomes == {"valid", "goal", "step"}


def test_repeated_argument_actions_are_judged_alike() -> None:
    task = generate_task(3, np.random.default_rng(3))
    plan = reference_plan(task, "canonical")
    for block in task.objects:
        for name in ("stack", "unstack"):
            mutated = [*plan[:1], (name, (block, block)), *plan[1:]]
            assert our_judgement(task, mutated) == pddlgym_judgement(task, mutated) == (1, False)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 8), seed=st.integers(0, 2**32 - 1))
def test_problem_pddl_round_trips_through_the_parser(n: int, seed: int) -> None:
    task = generate_task(n, np.random.default_rng(seed), name=f"rt-{n}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.pddl"
        path.write_text(problem_to_pddl(task))
        again = load_task(domain_path("blocksworld"), path)
    assert again == task
    assert again.params == (("n_blocks", n),)


# --------------------------------------------------------------------------- IPC-2023 domains

IPC = Path(__file__).resolve().parents[3] / ".." / "shared" / "ipc2023"
IPC_DOMAINS = sorted(d.name for d in IPC.iterdir() if (d / "domain.pddl").is_file()) if IPC.is_dir() else []


def _pddlgym_parse(path: Path, parse: Any) -> Any:
    """pddlgym on the raw file; on the normalised text where pddlgym cannot read the raw file."""
    from iterdeploy.simulator.planning._pddl import normalised_pddl

    try:
        return parse(str(path))
    except Exception:
        with tempfile.TemporaryDirectory() as tmp:
            clean = Path(tmp) / path.name
            clean.write_text(normalised_pddl(path))
            return parse(str(clean))


@pytest.mark.skipif(not IPC_DOMAINS, reason=f"IPC-2023 files not found at {IPC}")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("domain_name", IPC_DOMAINS or ["none"])
def test_ipc_plans_and_mutants_are_judged_as_pddlgym_judges_them(domain_name: str) -> None:
    """Typed domains, constants, negative preconditions and equality, against pddlgym."""
    from pddlgym.core import InvalidAction, get_successor_state
    from pddlgym.inference import check_goal
    from pddlgym.parser import PDDLDomainParser, PDDLProblemParser
    from pddlgym.structs import State

    stdout = sys.stdout
    folder = IPC / domain_name
    domain = _pddlgym_parse(folder / "domain.pddl", lambda f: PDDLDomainParser(
        f, expect_action_preds=False, operators_as_actions=True))
    for problem_file in sorted((folder / "base_cases").glob("*.pddl"))[:2]:
        task = load_task(folder / "domain.pddl", problem_file)
        problem = _pddlgym_parse(problem_file, lambda f: PDDLProblemParser(
            f, domain.domain_name, domain.types, domain.predicates, domain.actions, domain.constants))
        objects = {o.name: o for o in problem.objects}
        found = breadth_first_plan(task, max_nodes=50_000)
        assert found is not None, problem_file
        plan = [(a.name, a.args) for a in found]
        rng = np.random.default_rng(0)
        mutants = [plan] + [plan[:i] + plan[i + 1:] for i in range(len(plan))]
        for _ in range(30):
            i, j = sorted(rng.choice(len(plan), size=2, replace=False)) if len(plan) > 1 else (0, 0)
            m = list(plan)
            m[i], m[j] = m[j], m[i]
            mutants.append(m)
            schema = task.schemas[int(rng.integers(len(task.schemas)))]  # any objects, any types
            args = tuple(str(a) for a in rng.choice(task.objects, size=schema.arity))
            mutants.append([*plan[:i], (schema.name, args), *plan[i:]])
        for mutant in mutants:
            state = State(frozenset(problem.initial_state), frozenset(problem.objects), problem.goal)
            expected: tuple[int | None, bool] | None = None
            for k, (name, args) in enumerate(mutant):
                action = domain.predicates[name](*(objects[a] for a in args))
                try:
                    state = get_successor_state(state, action, domain, inference_mode="csp",
                                                raise_error_on_invalid_action=True)
                except InvalidAction:
                    expected = (k, False)
                    break
            if expected is None:
                expected = (None, bool(check_goal(state, problem.goal)))
            assert our_judgement(task, mutant) == expected, (problem_file.name, render(mutant))
    assert sys.stdout is stdout
