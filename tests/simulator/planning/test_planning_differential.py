"""Our validator against three independent ones, on every domain, valid plans and broken ones.

A verdict decides which traces are kept and trained on, so a validator bug becomes a training
signal. Agreement with pddlgym's simulation (the library our parser comes from),
unified-planning's ``SequentialPlanValidator`` (a separate parser and semantics) and VAL (the
competition's validator) on random tasks of all ten domains and random corruptions of their
witness plans is the evidence that it is not ours alone that calls a plan valid.

What must agree (see ``external_validators.py`` for how each tool is driven):

* valid or not, always;
* pddlgym and unified-planning: the failing step too (None for a missed goal), exactly, since both
  replay step by step and refuse the first step they cannot apply or even build;
* VAL: a step it blames (it names one only for an unsatisfied precondition) is our failing step;
  its "goal not satisfied" is our ``goal_not_reached``; a plan VAL rejects as a whole (an unknown
  action or object or a type error, all checked before it runs anything; or its segfault on a
  wrong-arity action) is one we reject at some step.

One disagreement is known and pinned by its own test: in an untyped domain (Blocksworld) VAL
ignores surplus arguments, even undeclared ones, so ``(stack b1 b2 zz)`` runs as
``(stack b1 b2)``. PDDL makes such a plan ill-formed, and pddlgym, unified-planning and we reject
it (``wrong_arity``); VAL is compared with us on its own reading of such plans.

Tasks are small (the first generator parameter in a small range, the rest at their defaults) and
hypothesis examples bounded, so the module runs in well under a minute on one core.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.planning import (
    GeneratedTask,
    domain_names,
    domain_spec,
    generate,
    parse_action_line,
    split_plan_lines,
    validate_plan,
)
from tests.simulator.planning.external_validators import (
    CORRUPTIONS,
    Judgement,
    PddlgymSimulator,
    Step,
    UnifiedPlanningValidator,
    ValValidator,
    corrupt,
    judgement_of,
    ours,
    parse_steps,
    render,
    surplus_arguments_dropped,
    val_agrees,
    val_unavailable_reason,
)

DOMAINS = domain_names()
SMALL = {
    "blocksworld": (2, 6), "childsnack": (1, 3), "ferry": (1, 4), "floortile": (1, 3),
    "miconic": (1, 4), "rovers": (2, 5), "satellite": (1, 3), "sokoban": (1, 2), "spanner": (1, 3),
    "transport": (1, 4),
}
"""Range of each domain's main size parameter. pddlgym's simulation is fast on all of these,
Sokoban included (about 1 ms a step at two boxes), so no domain is skipped for it."""

KINDS = ("witness", *CORRUPTIONS)
SEEDS = 6
EXAMPLES = int(os.environ.get("ITERDEPLOY_DIFFERENTIAL_EXAMPLES", "60"))
"""Examples per hypothesis test; 60 keeps the module near half a minute, a larger value (the
environment variable) searches deeper."""
DIFFERENTIAL = settings(max_examples=EXAMPLES, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass(frozen=True)
class Case:
    """A plan for a small generated task: the task is named by (domain, size, seed) so that every
    tool parses it once per test session, not once per example."""

    domain: str
    size: int
    seed: int
    kind: str
    steps: tuple[Step, ...]

    @property
    def generated(self) -> GeneratedTask:
        return task_for(self.domain, self.size, self.seed)

    @property
    def key(self) -> tuple[str, int, int]:
        return self.domain, self.size, self.seed

    def describe(self) -> str:
        return f"{self.domain} size {self.size} seed {self.seed} ({self.kind}):\n{render(list(self.steps))}"


@functools.lru_cache(maxsize=512)
def task_for(domain: str, size: int, seed: int) -> GeneratedTask:
    main = domain_spec(domain).params[0].name
    return generate(domain, {main: size}, np.random.default_rng(seed))


def make_case(
    domain: str, size: int, seed: int, kind: str, pick: Callable[[int], int], second: str | None = None
) -> Case:
    """The witness of task (domain, size, seed), broken by ``kind`` and optionally ``second``."""
    generated = task_for(domain, size, seed)
    steps = corrupt(generated.task, parse_steps(generated.witness_plan), kind, pick)
    if second is not None:
        steps = corrupt(generated.task, steps, second, pick)
    return Case(domain, size, seed, kind if second is None else f"{kind}+{second}", tuple(steps))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A small task of any domain; its witness plan, or the witness after one or two corruptions."""
    domain = draw(st.sampled_from(DOMAINS), label="domain")
    size = draw(st.integers(*SMALL[domain]), label="size")
    seed = draw(st.integers(0, SEEDS - 1), label="seed")
    kind = draw(st.sampled_from(KINDS), label="kind")
    second = draw(st.none() | st.sampled_from(CORRUPTIONS), label="second")
    return make_case(domain, size, seed, kind, lambda n: draw(st.integers(0, n - 1)), second)


def exact(j: Judgement) -> tuple[bool, int | None, str]:
    return j.valid, j.failed_step, j.reason


def outcome(j: Judgement) -> str:
    return "valid" if j.valid else j.reason


# --------------------------------------------------------------------------- the three tools


@functools.cache
def pddlgym_for(domain: str) -> PddlgymSimulator:
    return PddlgymSimulator(task_for(domain, SMALL[domain][0], 0).domain_file)


@functools.lru_cache(maxsize=512)
def pddlgym_problem(key: tuple[str, int, int]) -> Any:
    return pddlgym_for(key[0]).load(task_for(*key).problem_pddl)


def pddlgym_judgement(case: Case) -> Judgement:
    return pddlgym_for(case.domain).judge(pddlgym_problem(case.key), list(case.steps))


@functools.cache
def up_validator() -> UnifiedPlanningValidator:
    return UnifiedPlanningValidator()


@functools.lru_cache(maxsize=512)
def up_problem(key: tuple[str, int, int]) -> Any:
    generated = task_for(*key)
    return up_validator().load(generated.domain_file, generated.problem_pddl)


def up_judgement(case: Case) -> Judgement:
    return up_validator().judge(up_problem(case.key), list(case.steps))


@functools.cache
def val_validator() -> ValValidator:
    return ValValidator()


@functools.lru_cache(maxsize=512)
def val_problem(key: tuple[str, int, int]) -> Any:
    return val_validator().problem_file(task_for(*key).problem_pddl)


def val_judgement(case: Case, steps: list[Step] | None = None) -> Judgement:
    generated = case.generated
    return val_validator().judge(generated.domain_file, val_problem(case.key),
                                 list(case.steps) if steps is None else steps)


def needs_pddlgym() -> None:
    pytest.importorskip("pddlgym", reason="pddlgym is not installed")


def needs_up() -> None:
    pytest.importorskip("unified_planning", reason="unified-planning is not installed (dev extra)")


def needs_val() -> None:
    reason = val_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


def assert_val_agrees(ours_: Judgement, val: Judgement, what: str) -> None:
    """The VAL rules of the module docstring (``val_agrees``), with both judgements on failure."""
    assert val_agrees(ours_, val), f"{what}\nours: {ours_}\nVAL: {val}"


# --------------------------------------------------------------------------- hypothesis


@DIFFERENTIAL
@given(case=cases())
def test_pddlgym_simulation_judges_every_plan_as_we_do(case: Case) -> None:
    needs_pddlgym()
    expected = pddlgym_judgement(case)
    event(f"{case.kind.split('+')[0]}: {outcome(expected)}")
    assert exact(ours(case.generated.task, list(case.steps))) == exact(expected), (case.describe(), expected)


@DIFFERENTIAL
@given(case=cases())
def test_unified_planning_validator_judges_every_plan_as_we_do(case: Case) -> None:
    needs_up()
    expected = up_judgement(case)
    event(f"{case.kind.split('+')[0]}: {outcome(expected)}")
    assert exact(ours(case.generated.task, list(case.steps))) == exact(expected), (case.describe(), expected)


FORMATS = {
    "pddl": lambda i, s: s,
    "numbered, bare": lambda i, s: f"{i + 1}. {s[1:-1]}",
    "step, upper case": lambda i, s: f"Step {i + 1}: {s.upper()}",
    "bulleted, commented": lambda i, s: f"- {s[1:-1]}  # why",
}


def normalised_for_val(text: str) -> list[Step]:
    """The actions of plan text as we read them, for VAL as ``(name args)`` lines: VAL silently
    skips lines without parentheses, so a plan in a model's bare format would read as empty."""
    parsed = (parse_action_line(line) for line in split_plan_lines(text)[0])
    return [p for p in parsed if p is not None]


@DIFFERENTIAL
@given(case=cases(), style=st.sampled_from(sorted(FORMATS)))
def test_val_judges_every_plan_as_we_do(case: Case, style: str) -> None:
    """Also in the formats models write: we read the raw text, VAL its normalised lines."""
    needs_val()
    text = "\n".join(FORMATS[style](i, render([s]).strip()) for i, s in enumerate(case.steps))
    steps = normalised_for_val(text)
    verdict = validate_plan(case.generated.task, text)
    expected = val_judgement(case, steps)
    event(f"{case.kind.split('+')[0]}: {outcome(expected)}")
    what = f"{case.describe()}{text}\n{expected}"
    vals_reading = surplus_arguments_dropped(case.generated.task, steps)
    if vals_reading is not None:
        event("VAL read with surplus arguments dropped")
        assert not verdict.is_valid, what  # wrong_arity at the latest
        assert_val_agrees(ours(case.generated.task, vals_reading), expected, what)
    else:
        assert_val_agrees(judgement_of(verdict), expected, what)


# --------------------------------------------------------------------------- every domain, every kind


def sweep(domain: str, tasks: list[tuple[int, int]], draws: int) -> set[str]:
    """Every kind of corruption, ``draws`` times each, on each (size, seed) task, judged by us and
    by every tool installed here; returns the outcomes seen."""
    tools = []
    for needs, judge in ((needs_pddlgym, pddlgym_judgement), (needs_up, up_judgement)):
        try:
            needs()
            tools.append(judge)
        except pytest.skip.Exception:
            pass
    use_val = val_unavailable_reason() is None
    if not tools and not use_val:
        pytest.skip("no other validator is installed")
    rng = np.random.default_rng(sum(map(ord, domain)))
    seen: set[str] = set()
    for size, seed in tasks:
        for kind in KINDS:
            for _ in range(1 if kind == "witness" else draws):
                case = make_case(domain, size, seed, kind, lambda n: int(rng.integers(n)))
                mine = ours(case.generated.task, list(case.steps))
                seen.add(outcome(mine))
                for judge in tools:
                    assert exact(mine) == exact(judge(case)), (judge.__name__, case.describe())
                if use_val:
                    vals_reading = surplus_arguments_dropped(case.generated.task, list(case.steps))
                    reference = mine if vals_reading is None else ours(case.generated.task, vals_reading)
                    assert_val_agrees(reference, val_judgement(case), case.describe())
    return seen


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_corruption_in_every_domain_is_judged_alike_by_all_four(domain: str) -> None:
    """Not left to chance: each domain, its smallest and largest small size, every corruption."""
    low, high = SMALL[domain]
    assert sweep(domain, [(low, 0), (high, 1)], draws=3) == {"valid", "goal", "step"}


MEDIUM = {
    "blocksworld": 12, "childsnack": 6, "ferry": 8, "floortile": 3, "miconic": 8, "rovers": 7,
    "satellite": 5, "sokoban": 3, "spanner": 8, "transport": 7,
}
"""Sizes whose witness plans are 20-60 steps long, the lengths of the benchmark's plans."""


@pytest.mark.slow
@pytest.mark.parametrize("domain", DOMAINS)
def test_medium_tasks_are_judged_alike_by_all_four(domain: str) -> None:
    """The sweep on tasks as large as the benchmark's (a few seconds a domain: slow)."""
    seen = sweep(domain, [(MEDIUM[domain], seed) for seed in range(3)], draws=4)
    assert {"valid", "step"} <= seen


def test_val_ignores_surplus_arguments_in_an_untyped_domain() -> None:
    """The one disagreement found: VAL accepts ``(stack b1 b2 zz)`` as ``(stack b1 b2)`` in
    Blocksworld. If this starts failing, VAL was fixed and ``surplus_arguments_dropped`` can go."""
    needs_val()
    case = make_case("blocksworld", 2, 0, "witness", lambda n: 0)
    name, args = case.steps[-1]
    steps = [*case.steps[:-1], (name, (*args, "zz"))]
    assert validate_plan(case.generated.task, render(steps)).status == "wrong_arity"
    assert not pddlgym_judgement(Case(*case.key, "surplus", tuple(steps))).valid
    assert not up_judgement(Case(*case.key, "surplus", tuple(steps))).valid
    assert val_judgement(case, steps).valid
    # in a typed domain VAL refuses the same mistake (by a type error or a segfault)
    typed = make_case("ferry", 1, 0, "witness", lambda n: 0)
    name, args = typed.steps[-1]
    assert not val_judgement(typed, [*typed.steps[:-1], (name, (*args, args[-1]))]).valid
