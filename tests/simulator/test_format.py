"""The compact prompt format: names round-trip, garbage never crashes extraction."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.models._format import extract_plan, name_map, render_plan, render_prompt
from iterdeploy.simulator.planning import validate_plan
from iterdeploy.simulator.planning.blocksworld import canonical_plan, generate_task


def test_reference_plan_survives_render_and_extract() -> None:
    rng = np.random.default_rng(0)
    for n in range(2, 9):
        task = generate_task(n, rng)
        names = name_map(task)
        plan = [(a.name, a.args) for a in canonical_plan(task)]
        text = render_plan(task, plan, names)
        assert validate_plan(task, extract_plan(text, names).plan_text).is_valid


def test_name_map_is_stable_and_injective() -> None:
    task = generate_task(7, np.random.default_rng(3))
    a, b = name_map(task), name_map(task)
    assert a == b
    assert len(set(a.forward.values())) == len(task.objects)
    prompt = render_prompt(task, a)
    assert prompt.startswith("init ") and prompt.endswith(" plan")
    assert not any(obj in prompt.split() for obj in task.objects)


@settings(max_examples=200)
@given(st.text(max_size=400) | st.binary(max_size=400).map(lambda b: b.decode("utf-8", "replace")))
def test_garbage_completion_gets_a_verdict(text: str) -> None:
    task = generate_task(4, np.random.default_rng(1))
    verdict = validate_plan(task, extract_plan(text, name_map(task)).plan_text)
    assert verdict.status in {
        "valid", "invalid_step", "goal_not_reached", "unknown_action", "wrong_arity",
        "unknown_object", "unparseable", "empty",
    }


def test_ten_thousand_tokens_of_nonsense() -> None:
    task = generate_task(5, np.random.default_rng(2))
    words = np.random.default_rng(0).choice(["on", "o3", ";", "stack", "zz", "(", "plan"], 10_000)
    verdict = validate_plan(task, extract_plan(" ".join(words), name_map(task)).plan_text)
    assert not verdict.is_valid
