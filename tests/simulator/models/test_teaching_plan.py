"""The plan reference data teaches a model: the embedded model's corpus plan, not a planner's.

Reference plans the loop adds to a training set (``pool.reference_share``) are written in the
model's format. For the compact formats that means a scratchpad that follows the plan goal after
goal (Rovers) or box after box (Sokoban); a planner's plan interleaves goals, and written so, its
scratchpad names one goal while the actions serve another. So the compact formats teach the plan
their corpus teaches, and only a real LLM's PDDL format leaves the plan to the reference planner.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.models.compact import compact_domain
from iterdeploy.simulator.models.compact.rovers import plan_steps
from iterdeploy.simulator.models.task_format import CompactTaskFormat, PddlTaskFormat
from iterdeploy.simulator.planning import generate_sized, validate_plan
from iterdeploy.simulator.planning.blocksworld import canonical_plan

SIZES = {"blocksworld": (2, 6), "rovers": (2, 6), "sokoban": (1, 3)}


@settings(max_examples=30, deadline=None)
@given(domain=st.sampled_from(sorted(SIZES)), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_the_taught_plan_written_in_the_format_comes_back_valid(
    domain: str, data: st.DataObject, seed: int
) -> None:
    size = data.draw(st.integers(*SIZES[domain]), label="size")
    generated = generate_sized(domain, size, np.random.default_rng(seed))
    fmt = CompactTaskFormat()
    plan = fmt.teaching_plan(generated)
    plan_text, _ = fmt.extract(fmt.completion(generated.task, plan), generated.task)
    verdict = validate_plan(generated.task, plan_text)
    assert verdict.is_valid, verdict.message
    # extraction restores every step the format leaves out: the plan comes back just as long
    assert verdict.plan_length == len(plan)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(2, 8))
def test_rovers_teaches_the_witness_and_blocksworld_the_canonical_plan(seed: int, size: int) -> None:
    rovers = generate_sized("rovers", size, np.random.default_rng(seed))
    assert list(compact_domain("rovers").teaching_plan(rovers)) == plan_steps(rovers.witness_plan)
    blocks = generate_sized("blocksworld", size, np.random.default_rng(seed))
    assert list(compact_domain("blocksworld").teaching_plan(blocks)) == [
        (a.name, a.args) for a in canonical_plan(blocks.task)]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), boxes=st.integers(2, 3))
def test_sokoban_teaches_one_box_after_another(seed: int, boxes: int) -> None:
    generated = generate_sized("sokoban", boxes, np.random.default_rng(seed))
    pushed = [args[4] for name, args in compact_domain("sokoban").teaching_plan(generated)
              if name == "push"]
    runs = [box for i, box in enumerate(pushed) if i == 0 or pushed[i - 1] != box]
    assert len(runs) == len(set(runs)), f"boxes pushed in turns, not one after another: {pushed}"


def test_a_real_llm_leaves_the_plan_to_the_reference_planner() -> None:
    generated = generate_sized("rovers", 3, np.random.default_rng(0))
    fmt = PddlTaskFormat.__new__(PddlTaskFormat)  # the plan choice needs no tokenizer
    assert fmt.teaching_plan(generated) is None


@pytest.mark.parametrize("domain", sorted(SIZES))
def test_the_taught_plan_is_the_corpus_plan_of_the_task(domain: str) -> None:
    """The corpus writes the same plan for a task (under its own random names): the loop's
    reference data are the base's own kind of example."""
    fmt = compact_domain(domain)
    size = SIZES[domain][1] - 1
    example = fmt.corpus_example(size, np.random.default_rng(7))
    generated = generate_sized(domain, size, np.random.default_rng(7))
    # the corpus draws the task first, from the same stream, so it is this task
    taught = fmt.teaching_plan(generated)
    pushes_or_actions = example.completion.count(";") + 1
    written = fmt.completion(generated.task, taught)
    assert written.count(";") + 1 == pushes_or_actions
