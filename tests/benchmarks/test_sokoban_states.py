"""Reading the Sokoban model's first state: which boxes it names, per pool size."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from iterdeploy.simulator.models.compact import compact_domain
from iterdeploy.simulator.planning import generate_sized

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _sokoban_states import boxes_named, first_state, restated_by_size


def test_the_first_state_and_its_boxes() -> None:
    completion = "push b6 down > b6 r3 c11 b8 r2 c9 ; push b8 up > b6 r3 c11 b8 r1 c9"
    assert first_state(completion) == " b6 r3 c11 b8 r2 c9 "
    assert boxes_named(first_state(completion) or "") == {"b6", "b8"}
    assert first_state("push b6 down ; push b8 up") is None
    assert first_state("") is None
    # words that only look like boxes in part are not boxes
    assert boxes_named("b6x rb8 b 8 b12") == {"b12"}


def test_a_taught_completion_names_every_box_of_its_prompt() -> None:
    fmt = compact_domain("sokoban")
    for boxes in (1, 2, 3, 4):
        generated = generate_sized("sokoban", boxes, np.random.default_rng(boxes))
        prompt = fmt.prompt(generated.task)
        state = first_state(fmt.completion(generated.task, fmt.teaching_plan(generated)))
        assert state is not None and boxes_named(state) == boxes_named(prompt)
        assert len(boxes_named(prompt)) == boxes


class _Reader:
    """The one query :func:`restated_by_size` makes, answered from a list."""

    def __init__(self, rows: list[dict[str, object]]) -> None:
        self.rows = rows

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, object]]:
        assert "k.domain = 'sokoban'" in sql and "t.purpose = 'deploy'" in sql
        return self.rows


def test_samples_are_counted_per_generation_and_size() -> None:
    prompt = "goal b1 r2 c2 b4 r3 c3 b7 r4 c4 init r2 c2 b1 r5 c5 b4 r6 c6 b7 r7 c7 robot r2 c3 plan"
    rows = [
        {"g": 0, "size": 3, "prompt": prompt, "completion": "push b1 up > b1 r4 c5 b4 r6 c6 b7 r7 c7"},
        {"g": 0, "size": 3, "prompt": prompt, "completion": "push b1 up > b1 r4 c5 b7 r7 c7 ; push"},
        {"g": 0, "size": 3, "prompt": prompt, "completion": "garbage without a state"},
        {"g": 5, "size": 3, "prompt": prompt, "completion": "push b4 up > b7 r7 c7 b4 r5 c6 b1 r5 c5"},
    ]
    assert restated_by_size(_Reader(rows)) == {(0, 3): (1, 2), (5, 3): (1, 1)}  # type: ignore[arg-type]
    assert restated_by_size(_Reader([])) == {}  # type: ignore[arg-type]
