"""The fast validator judges every plan exactly as the validator before it did.

``validate_plan`` now reads canonical plan text with one regular expression, compiles each action
line once per task into bitmasks and replays a state that is one integer. The reference is the
earlier validator, kept verbatim in ``reference_validator.py`` (frozensets, grounding at every
step), which the pddlgym, unified-planning and VAL agreement tests were run against: here the two
must give equal :class:`Verdict` values (status, failing step and action, unmet atoms, message,
ignored lines) on witness plans and every corruption of them in the ten domains, in several plan
formats, on arbitrary text, and with the per-task cache cold, warm, bounded or dropped.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.planning import (
    GeneratedTask,
    GroundTask,
    domain_names,
    domain_spec,
    generate,
    load_domain_schemas,
    validate_plan,
)
from iterdeploy.simulator.planning import _replay as replay_module
from iterdeploy.simulator.planning._task import ActionSchema
from tests.simulator.planning.external_validators import CORRUPTIONS, Step, corrupt, parse_steps, render
from tests.simulator.planning.reference_validator import _ground, reference_validate_plan

DOMAINS = domain_names()
SIZES = {
    "blocksworld": (2, 8), "childsnack": (1, 4), "ferry": (1, 5), "floortile": (1, 3),
    "miconic": (1, 5), "rovers": (2, 6), "satellite": (1, 4), "sokoban": (1, 2), "spanner": (1, 4),
    "transport": (1, 5),
}
KINDS = ("witness", *CORRUPTIONS)

_TASKS: dict[tuple[str, int, int], GeneratedTask] = {}


def task_for(domain: str, size: int, seed: int) -> GeneratedTask:
    key = (domain, size, seed)
    if key not in _TASKS:
        name = domain_spec(domain).params[0].name
        _TASKS[key] = generate(domain, {name: size}, np.random.default_rng(seed))
    return _TASKS[key]


FORMATS: dict[str, Callable[[list[Step]], str]] = {
    "canonical": render,
    "upper case, blank lines": lambda steps: render(steps).upper().replace("\n", "\n\n"),
    "one line": lambda steps: " ".join(f"({' '.join((n, *a))})" for n, a in steps),
    "numbered": lambda steps: "".join(f"{i + 1}. ({' '.join((n, *a))})\n" for i, (n, a) in enumerate(steps)),
    "bare words, comments": lambda steps: "; the plan\n" + "".join(f"{' '.join((n, *a))}  ;; step\n"
                                                                      for n, a in steps),
    "separators": lambda steps: "; ".join(" ".join((n, *a)) for n, a in steps),
    "padded": lambda steps: "".join(f"  ( {' '.join((n, *a))} )\r\n" for n, a in steps),
}


@st.composite
def plans(draw: st.DrawFn) -> tuple[GroundTask, str]:
    domain = draw(st.sampled_from(DOMAINS))
    low, high = SIZES[domain]
    generated = task_for(domain, draw(st.integers(low, high)), draw(st.integers(0, 5)))
    steps = corrupt(generated.task, parse_steps(generated.witness_plan), draw(st.sampled_from(KINDS)),
                    lambda k: draw(st.integers(0, k - 1)))
    return generated.task, FORMATS[draw(st.sampled_from(sorted(FORMATS)))](steps)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=plans())
def test_every_plan_gets_the_reference_verdict(case: tuple[GroundTask, str]) -> None:
    task, text = case
    assert validate_plan(task, text) == reference_validate_plan(task, text)


@pytest.mark.parametrize("domain", DOMAINS)
def test_each_corruption_in_each_domain_gets_the_reference_verdict(domain: str) -> None:
    """Deterministic cover: every kind of corruption at several positions, every domain, and each
    verdict status that the corruptions can produce is seen."""
    high = SIZES[domain][1]
    statuses: set[str] = set()
    for seed in range(3):
        generated = task_for(domain, high, seed)
        witness = parse_steps(generated.witness_plan)
        for kind in KINDS:
            for pick in range(4):
                steps = corrupt(generated.task, witness, kind, lambda k, p=pick: (p * 7919) % k)
                text = render(steps)
                verdict = validate_plan(generated.task, text)
                assert verdict == reference_validate_plan(generated.task, text), (kind, text)
                statuses.add(verdict.status)
    assert {"valid", "invalid_step", "unknown_action", "wrong_arity", "unknown_object"} <= statuses


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="()\n\r\t ;#-_.:,*1234abcdeklnoprstuvxyABKP\u212a\u00a0", max_size=120))
def test_plan_like_text_gets_the_reference_verdict(text: str) -> None:
    task = task_for("blocksworld", 3, 0).task
    assert validate_plan(task, text) == reference_validate_plan(task, text)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=80))
def test_bytes_get_the_reference_verdict(data: bytes) -> None:
    task = task_for("ferry", 2, 0).task
    assert validate_plan(task, data) == reference_validate_plan(task, data)  # type: ignore[arg-type]


def test_a_plan_repeated_on_a_warm_task_gets_the_same_verdict() -> None:
    generated = task_for("rovers", 4, 1)
    witness = render(parse_steps(generated.witness_plan))
    broken = render(corrupt(generated.task, parse_steps(generated.witness_plan), "swap", lambda k: k // 2))
    first = [validate_plan(generated.task, t) for t in (witness, broken, witness)]
    again = [validate_plan(generated.task, t) for t in (broken, witness, broken)]
    assert first[0] == first[2] == again[1] and first[1] == again[0] == again[2]
    assert first[0].is_valid and first[0] == reference_validate_plan(generated.task, witness)


def test_a_copy_of_a_task_starts_with_no_compiled_steps_and_judges_the_same() -> None:
    generated = task_for("transport", 3, 2)
    text = render(parse_steps(generated.witness_plan))
    assert validate_plan(generated.task, text).is_valid
    assert generated.task._replay is not None
    copied = pickle.loads(pickle.dumps(generated.task))
    replaced = dataclasses.replace(generated.task)
    assert copied._replay is None and replaced._replay is None
    assert copied == generated.task
    assert validate_plan(copied, text) == validate_plan(replaced, text) == validate_plan(generated.task, text)


def test_past_the_cache_bound_steps_are_compiled_each_time_and_judged_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(replay_module, "MAX_CACHED_STEPS", 3)
    generated = task_for("blocksworld", 6, 3)
    task = dataclasses.replace(generated.task)
    steps = parse_steps(generated.witness_plan)
    for kind in KINDS:
        text = render(corrupt(task, steps, kind, lambda k: k - 1))
        assert validate_plan(task, text) == reference_validate_plan(task, text)
    assert task._replay is not None and len(task._replay.steps) == 3


def test_a_task_whose_init_lacks_an_atom_that_a_step_needs_reports_it() -> None:
    """Atoms are numbered as met: a precondition that no state ever held is still named."""
    task = GroundTask(domain="blocksworld", name="t", objects=("a", "b"),
                      init=frozenset({("arm-empty",), ("on-table", "a"), ("on-table", "b")}),
                      goal=frozenset({("on", "a", "b")}), schemas=load_domain_schemas("blocksworld"))
    verdict = validate_plan(task, "(pickup a)")
    assert verdict == reference_validate_plan(task, "(pickup a)")
    assert verdict.status == "invalid_step" and verdict.unmet_preconditions == ("(clear a)",)
    assert validate_plan(task, "") == reference_validate_plan(task, "")


# --------------------------------------------------------------------------- grounding

SCHEMAS = [(domain, schema) for domain in DOMAINS for schema in load_domain_schemas(domain)]


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_ground_substitutes_as_the_reference_does(data: st.DataObject) -> None:
    """Constants stay, parameters take their argument, whatever the arguments are (repeated ones
    included)."""
    domain, schema = data.draw(st.sampled_from(SCHEMAS))
    args = tuple(data.draw(st.lists(st.sampled_from(["o1", "o2", "kitchen", "?x", "b1"]),
                                    min_size=schema.arity, max_size=schema.arity)))
    ground = schema.ground(args)
    assert (ground.preconditions, ground.add_effects, ground.delete_effects,
            ground.negative_preconditions) == _ground(schema, args), (domain, schema.name)


def test_ground_with_a_repeated_parameter_binds_the_last_argument() -> None:
    schema = ActionSchema("a", ("?x", "?x"), (("p", "?x", "c"),), (("q",),), (("r", "?x", "?x"),))
    ground = schema.ground(("o1", "o2"))
    assert (ground.preconditions, ground.add_effects, ground.delete_effects) == (
        frozenset({("p", "o2", "c")}), frozenset({("q",)}), frozenset({("r", "o2", "o2")}))
    assert _ground(schema, ("o1", "o2"))[:3] == (ground.preconditions, ground.add_effects,
                                                  ground.delete_effects)


def test_ground_refuses_the_wrong_number_of_arguments() -> None:
    schema = load_domain_schemas("blocksworld")[0]
    with pytest.raises(ValueError, match=rf"{schema.name} takes {schema.arity} arguments, got 5"):
        schema.ground(("a",) * 5)
