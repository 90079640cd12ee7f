"""Experiment: Sokoban plans that name only the pushes, the robot walked by the extractor.

    python benchmarks/sokoban_pushes.py [base_reach.py's options, e.g.]
        --set pretrain_steps=2000 --set pretrain_blocksworld_weight=0 \\
        --set 'pretrain_domains={sokoban: {min_size: 1, max_size: 1, tail_sizes: 1, detour_share: 0}}' \\
        --domain sokoban --min-size 1 --max-size 4 --max-new-tokens 480 --threads 2 --markdown

Why: the shipped Sokoban format writes every robot step, and choosing the next step of a shortest
plan is a search over the grid that a 4-layer model cannot run in one forward pass (its bases walk
into walls: docs/model-card.md). Here a plan names only its pushes (``push b1 left > b1 r7 c7``:
the box, the direction, and the box's new cell as scratchpad), a choice that reads the box's and
its goal's coordinates and one cell beyond; :meth:`PushFormat.extract` walks the robot to the cell
behind the box along a shortest path (breadth first, ties in the order up, down, left, right)
before each push, so the validator still checks a full PDDL plan and its length counts every
step. The reference plans are the shipped format's (optimal on 1-box tasks), pushes only; the
extraction's walks are as long as theirs (checked on 120 tasks of 1-3 boxes).

This runs ``base_reach.py`` with the Sokoban format swapped for :class:`PushFormat` in this
process only. Its bases are cached apart (``~/.cache/iterdeploy/experiments/sokoban-pushes``
unless ``ITERDEPLOY_CACHE`` is set), because a recipe hashes the same under either format. No
detours: a wasted push pair needs the robot to walk around the box, not written yet.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from pathlib import Path

import numpy as np

from simulator.models._format import ACTION_SEP, STATE_MARK, ExtractedPlan
from simulator.models.compact import sokoban as sk
from simulator.models.training import Example
from simulator.planning import GeneratedTask, GroundTask, generate_sized

Cell = tuple[int, int]


def _walk(
    board: sk._Board, start: Cell, goal: Cell, blocked: set[Cell]
) -> list[tuple[Cell, Cell, str]] | None:
    """A shortest walk from ``start`` to ``goal`` through free cells outside ``blocked``, as
    (from, to, direction) steps; None when there is none."""
    if start == goal:
        return []
    came: dict[Cell, tuple[Cell, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for d in sk.DIRECTIONS:
            nxt = sk._step(here, d)
            if nxt in came or nxt not in board.free or nxt in blocked:
                continue
            came[nxt] = (here, d)
            if nxt == goal:
                out = []
                step = came[nxt]
                while step is not None:
                    out.append((step[0], nxt, step[1]))
                    nxt = step[0]
                    step = came[nxt]
                return out[::-1]
            queue.append(nxt)
    return None


def _render_pushes(board: sk._Board, names: sk.SokobanNames, plan: sk.PlanSteps) -> str:
    """The pushes of a full plan: ``push <box> <dir> > <box> <its new cell>``."""
    where = {name: cell for cell, name in board.cells.items()}
    steps = []
    for name, args in plan:
        if name == "push":
            box = names.boxes[args[4]]
            steps.append(f"push {box} {args[3]} {STATE_MARK} {box} {board.words(where[args[2]], names)}")
    return f" {ACTION_SEP} ".join(steps)


class PushFormat(sk.SokobanFormat):
    """The shipped format's prompt and reference plans, with pushes only in the completion."""

    def completion(self, task: GroundTask, plan: sk.PlanSteps) -> str:
        board = sk._board(task)
        return _render_pushes(board, sk._draw_names(board, task, None), plan)

    def extract(self, completion: str, task: GroundTask) -> ExtractedPlan:
        """Each push preceded by the robot's walk to the cell behind the box; a push the robot
        cannot get behind is written from where it stands, which the validator rejects."""
        try:
            board = sk._board(task)
        except ValueError:
            return ExtractedPlan(completion, 0)
        back = {n: b for b, n in sk._draw_names(board, task, None).boxes.items()}
        robot, cells = board.robot, dict(board.boxes)
        lines: list[str] = []
        n_reasoning = 0
        for chunk in completion.split(ACTION_SEP):
            action, _, state = chunk.partition(STATE_MARK)
            n_reasoning += len(state.split())
            words = action.split()
            if len(words) != 3 or words[0] != "push" or words[1] not in back or words[2] not in sk.STEPS:
                if words:
                    lines.append(" ".join(words))
                continue
            box, d = back[words[1]], words[2]
            at = cells[box]
            behind = sk._step(at, sk._OPPOSITE[d])
            walk = _walk(board, robot, behind, set(cells.values()))
            if walk is None:
                front, beyond = sk._step(robot, d), sk._step(sk._step(robot, d), d)
                lines.append(f"push {board.loc(robot)} {board.loc(front)} {board.loc(beyond)} {d} {box}")
                robot = front
                continue
            lines += [f"move {board.loc(a)} {board.loc(b)} {step}" for a, b, step in walk]
            to = sk._step(at, d)
            lines.append(f"push {board.loc(behind)} {board.loc(at)} {board.loc(to)} {d} {box}")
            robot, cells[box] = at, to
        return ExtractedPlan("\n".join(lines), n_reasoning)

    def corpus_task_and_example(
        self, size: int, rng: np.random.Generator, detour_share: float = 0.0
    ) -> tuple[GeneratedTask, Example]:
        """A random task and its reference plan's pushes (no detours: see the module docstring)."""
        generated = generate_sized("sokoban", size, rng)
        board = sk._board(generated.task)
        names = sk._draw_names(board, generated.task, rng)
        witness = sk._witness_steps(generated)
        plan = sk._reference_plan(board, sk._listing(board, names), sk._play_order(witness)) or witness
        return generated, Example(sk._render_prompt(board, names), _render_pushes(board, names, plan))


def main(argv: list[str] | None = None) -> int:
    """Swap the format in, then measure as base_reach.py does."""
    os.environ.setdefault("ITERDEPLOY_CACHE", str(Path.home() / ".cache" / "iterdeploy" / "experiments"
                                                  / "sokoban-pushes"))
    sk.FORMAT = PushFormat()  # type: ignore[assignment]
    import base_reach

    return base_reach.main(argv)


if __name__ == "__main__":
    sys.exit(main())
