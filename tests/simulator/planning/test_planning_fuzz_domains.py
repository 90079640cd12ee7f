"""Fuzzing the validator on all ten domains: any text, any bytes, always a verdict, never an error.

``test_planning_validator.py`` fuzzes one Blocksworld task; model output for the other domains
meets other action names, hyphenated and underscored object names (``rover1store``,
``tile_0_1``, ``loc-2-4``) and typed schemas, so the same guarantees are checked on one task of
each domain, with that domain's own words mixed into the noise. Validation costs microseconds,
so many examples stay cheap.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.planning import GroundTask, Verdict, domain_names, generate, validate_plan

STATUSES = {
    "valid", "invalid_step", "goal_not_reached", "unknown_action", "wrong_arity",
    "unknown_object", "unparseable", "empty",
}
TASKS: dict[str, GroundTask] = {
    d: generate(d, None, np.random.default_rng(3)).task for d in domain_names()
}
domains = st.sampled_from(sorted(TASKS))


def assert_sound_verdict(verdict: object) -> None:
    """A verdict whose fields are consistent with each other and that serialises."""
    assert isinstance(verdict, Verdict)
    assert verdict.status in STATUSES
    assert verdict.is_valid == (verdict.status == "valid")
    assert verdict.plan_length == len(verdict.actions)
    if verdict.failed_step is not None and verdict.status != "unparseable":
        assert 0 <= verdict.failed_step < verdict.plan_length
        assert verdict.failed_action == verdict.actions[verdict.failed_step]
    json.dumps(verdict.to_dict())


def words_of(task: GroundTask) -> list[str]:
    """The domain's own vocabulary plus the punctuation and numbering models write."""
    actions = [s.name for s in task.schemas]
    return [
        *actions, *(a.upper() for a in actions), *task.objects[:12], "ghost", "(", ")", ";", ";;",
        "#", "//", "\n", "\r\n", " ", "\t", "1.", "2)", "Step 3:", "-", "*", ",", "```", "```pddl",
        "é", "\x00", "\u2022", "(" + actions[0] + ")",
    ]


@settings(max_examples=300, deadline=None)
@given(domain=domains, text=st.text(max_size=400))
def test_arbitrary_text_gets_a_verdict_in_every_domain(domain: str, text: str) -> None:
    verdict = validate_plan(TASKS[domain], text)
    assert_sound_verdict(verdict)
    assert validate_plan(TASKS[domain], text) == verdict  # deterministic


@settings(max_examples=300, deadline=None)
@given(domain=domains, data=st.binary(max_size=400))
def test_arbitrary_bytes_get_a_verdict_in_every_domain(domain: str, data: bytes) -> None:
    decoded = validate_plan(TASKS[domain], data.decode("utf-8", errors="replace"))
    assert_sound_verdict(decoded)
    assert_sound_verdict(validate_plan(TASKS[domain], data))  # type: ignore[arg-type]


@st.composite
def plan_like(draw: st.DrawFn) -> tuple[str, str]:
    domain = draw(domains)
    words = st.sampled_from(words_of(TASKS[domain]))
    return domain, "".join(draw(st.lists(words, max_size=80)))


@settings(max_examples=400, deadline=None)
@given(case=plan_like())
def test_plan_like_nonsense_gets_a_verdict_in_every_domain(case: tuple[str, str]) -> None:
    domain, text = case
    assert_sound_verdict(validate_plan(TASKS[domain], text))
