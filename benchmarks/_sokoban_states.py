"""Sokoban samples by whether the model's first state names every box.

The compact Sokoban format restates every box's cell after each push (``push b6 down > b6 r3 c11
b8 r2 c9``): the model chooses its next push from that state, not from the prompt. The embedded
base's corpus holds tasks of 1-2 boxes and a tail at 3, so it has only ever written states of up
to three boxes. If at four boxes it writes three, the box it leaves out is lost to every later
step, whatever the loop teaches it about pushing: the report counts, per pool size, the samples
whose first state names every box of the task.
"""

from __future__ import annotations

import re
from collections import Counter

from iterdeploy.simulator.store import RunReader

_BOX = re.compile(r"b\d+")


def boxes_named(text: str) -> set[str]:
    """The box names (``b6``) among the words of ``text``."""
    return {w for w in text.split() if _BOX.fullmatch(w)}


def first_state(completion: str) -> str | None:
    """The first state a Sokoban completion writes (the words after its first ``>``, up to the
    next action), None when it writes none."""
    _, mark, rest = completion.partition(">")
    return rest.split(";", 1)[0] if mark else None


def restated_by_size(reader: RunReader) -> dict[tuple[int, int], tuple[int, int]]:
    """Sokoban deployment samples per (generation, boxes): (samples whose first state names every
    box of the task's prompt, samples that write a state at all). Empty for a run without
    Sokoban tasks."""
    rows = reader.query(
        "SELECT t.generation AS g, k.size AS size, k.prompt AS prompt, t.completion AS completion "
        "FROM traces t JOIN tasks k USING (task_id) "
        "WHERE t.purpose = 'deploy' AND k.domain = 'sokoban'")
    boxes: dict[str, set[str]] = {}  # a fixed pool repeats each prompt every generation
    full: Counter[tuple[int, int]] = Counter()
    written: Counter[tuple[int, int]] = Counter()
    for r in rows:
        state = first_state(str(r["completion"]))
        if state is None:
            continue
        prompt = str(r["prompt"] or "")
        if prompt not in boxes:
            boxes[prompt] = boxes_named(prompt)
        key = (int(r["g"]), int(r["size"]))
        written[key] += 1
        full[key] += int(boxes_named(state) >= boxes[prompt])
    return {key: (full[key], n) for key, n in sorted(written.items())}
