"""Sokoban: a robot pushes boxes to their goal cells on a walled grid.

As the IPC-2023 generator (its microban-like instances): a ``grid_size`` x ``grid_size`` grid
``loc_R_C`` (1-based) with a wall border; boxes start away from the border; the task is built
forwards by *playing* it. For each box in turn: place it on an untouched cell, walk the robot
behind it and push it in straight runs (one to four runs, turning in between); where it stops is
its goal. Cells the play never touched become walls at random (30-80% of them), so the play stays
legal and is the witness plan. Later boxes start on untouched cells and their play avoids the
earlier boxes' goals, so replaying box after box always works. ``clear`` holds on every free
cell, the robot's included, as in the IPC files.

One parameter is not IPC's: ``n_settled`` boxes (default 0) that start on their own goal cells,
on cells the play never touched, so a task lists more boxes than it needs pushed. A pretraining
corpus uses it to show the embedded model states of more boxes than it learns to push
(``docs/model-card.md``); with 0 the generator draws exactly as before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import numpy as np

from iterdeploy.simulator.planning._task import Atom, GroundTask
from iterdeploy.simulator.planning.generators._build import new_task, numbered, shuffled, typed
from iterdeploy.simulator.planning.generators._spec import DomainSpec, ParamSpec, PlanBuilder, Witness

DOMAIN = "sokoban"
Cell = tuple[int, int]
STEPS: dict[str, Cell] = {"down": (1, 0), "up": (-1, 0), "left": (0, -1), "right": (0, 1)}
_ATTEMPTS = 500


def loc(cell: Cell) -> str:
    """IPC location name of a 0-based cell."""
    return f"loc_{cell[0] + 1}_{cell[1] + 1}"


def _add(a: Cell, b: Cell, k: int = 1) -> Cell:
    return (a[0] + k * b[0], a[1] + k * b[1])


Move = tuple[Cell, Cell, str]
"""A robot step: from, to, direction."""
Play = tuple[Cell, list[Cell], list[Cell], list[tuple[str, ...]], set[Cell]]
"""Robot start, box starts, box goals, the played actions, the cells the play touched."""


def _walk(start: Cell, goal: Cell, free: set[Cell], blocked: set[Cell]) -> list[Move] | None:
    """Robot moves ``(from, to, direction)`` along a shortest path, or None when there is none."""
    parent: dict[Cell, tuple[Cell, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell == goal:
            moves: list[Move] = []
            while (link := parent[cell]) is not None:
                prev, d = link
                moves.append((prev, cell, d))
                cell = prev
            return moves[::-1]
        for d, step in STEPS.items():
            nxt = _add(cell, step)
            if nxt in free and nxt not in blocked and nxt not in parent:
                parent[nxt] = (cell, d)
                queue.append(nxt)
    return None


def _play(size: int, n_boxes: int, rng: np.random.Generator) -> Play | None:
    """One attempt: (robot start, box starts, box goals, played actions, touched cells) or None."""
    inner = {(r, c) for r in range(1, size - 1) for c in range(1, size - 1)}
    box_area = sorted((r, c) for r in range(2, size - 2) for c in range(2, size - 2))
    robot = start = sorted(inner)[int(rng.integers(len(inner)))]
    touched = {robot}
    starts: list[Cell] = []
    goals: list[Cell] = []
    actions: list[tuple[str, ...]] = []
    for k in range(n_boxes):
        free_area = [c for c in box_area if c not in touched]
        if not free_area:
            return None
        box = free_area[int(rng.integers(len(free_area)))]
        starts.append(box)
        touched.add(box)
        name = f"#{k}"
        n_runs = int(rng.integers(1, 4, endpoint=True))
        for _ in range(n_runs):
            for d in shuffled(rng, list(STEPS)):
                behind = _add(box, STEPS[d], -1)
                run = []
                nxt = _add(box, STEPS[d])
                while nxt in box_area and nxt not in goals:
                    run.append(nxt)
                    nxt = _add(nxt, STEPS[d])
                if not run or behind not in inner or behind in goals:
                    continue
                path = _walk(robot, behind, inner, set(goals) | {box})
                if path is None:
                    continue
                actions += [("move", loc(a), loc(b), dd) for a, b, dd in path]
                touched |= {b for _, b, _ in path}
                length = int(rng.integers(1, len(run), endpoint=True))
                for i in range(length):
                    here, to = (box, run[i])
                    actions.append(("push", loc(_add(here, STEPS[d], -1)), loc(here), loc(to), d, name))
                    box = to
                    touched.add(to)
                robot = _add(box, STEPS[d], -1)
                break
        if box == starts[-1]:
            return None
        goals.append(box)
    return start, starts, goals, actions, touched


def _build(p: dict[str, int], rng: np.random.Generator, name: str | None) -> tuple[GroundTask, Witness]:
    size, n_boxes, n_settled = p["grid_size"], p["n_boxes"], p["n_settled"]
    inner = {(r, c) for r in range(1, size - 1) for c in range(1, size - 1)}
    for _ in range(_ATTEMPTS):
        played = _play(size, n_boxes, rng)
        # settled boxes need cells the play left alone (always true without them: no extra draw)
        if played is not None and len(inner - played[4]) >= n_settled:
            break
    else:  # pragma: no cover - the range checks leave room; kept as a clear failure, not a hang
        raise RuntimeError(f"sokoban: could not play {n_boxes} boxes on a {size}x{size} grid")
    robot, starts, goals, actions, touched = played
    # box names in random play order, as IPC does: the pushed boxes take the first, settled the rest
    boxes = shuffled(rng, numbered("box", n_boxes + n_settled))
    untouched = shuffled(rng, sorted(inner - touched))
    settled, untouched = untouched[:n_settled], untouched[n_settled:]
    starts, goals = [*starts, *settled], [*goals, *settled]
    n_walls = max(1, int(rng.integers(int(0.3 * len(untouched)), int(0.8 * len(untouched)), endpoint=True)))
    walls = set(untouched[:n_walls]) | {(r, c) for r in range(size) for c in range(size)
                                         if r in (0, size - 1) or c in (0, size - 1)}
    free = {(r, c) for r in range(size) for c in range(size)} - walls
    init: set[Atom] = {("at-robot", loc(robot))}
    init |= {("at", box, loc(cell)) for box, cell in zip(boxes, starts, strict=True)}
    init |= {("clear", loc(cell)) for cell in free if cell not in starts}
    init |= {("adjacent", loc(cell), loc(_add(cell, step)), d)
             for cell in free for d, step in STEPS.items() if _add(cell, step) in free}
    goal: set[Atom] = {("at", box, loc(cell)) for box, cell in zip(boxes, goals, strict=True)}
    cells = [loc((r, c)) for r in range(size) for c in range(size)]
    task = new_task(DOMAIN, name or f"sokoban-{n_boxes}-{size}",
                    typed(cells, "location") + typed(boxes, "box"), init, goal, p)
    rename = {f"#{k}": box for k, box in enumerate(boxes)}

    def witness(b: PlanBuilder) -> None:
        for act in actions:
            b.do(*(rename.get(a, a) for a in act))

    return task, witness


def _check(p: Mapping[str, int]) -> str | None:
    # boxes start and move only on cells two away from the border; with fewer than three such
    # cells per box, playing the task forwards fails too often (measured: at most 49 attempts in
    # 200 seeds at the tightest allowed sizes, 7x7 with 3 boxes and 8x8 with 5)
    room = (p["grid_size"] - 4) ** 2
    if room < 3 * p["n_boxes"]:
        return (f"grid_size {p['grid_size']} leaves {room} cells away from the walls, too few for "
                f"n_boxes={p['n_boxes']} (need {3 * p['n_boxes']}); use a larger grid_size")
    # settled boxes stand on cells the play never touched; keep the inside at least four cells a
    # box, so most plays leave them room
    inside = (p["grid_size"] - 2) ** 2
    total = p["n_boxes"] + p["n_settled"]
    if p["n_settled"] and inside < 4 * total:
        return (f"grid_size {p['grid_size']} has {inside} inner cells, too few for {total} boxes "
                f"(n_boxes={p['n_boxes']}, n_settled={p['n_settled']}; need {4 * total}); use a "
                "larger grid_size or fewer settled boxes")
    return None


SPEC = DomainSpec(
    name=DOMAIN,
    summary="a robot pushes boxes onto goal cells on a walled grid",
    params=(
        ParamSpec("n_boxes", "boxes to push (IPC: boxes)", 1, 5, 1),
        ParamSpec("grid_size", "side of the square grid, walls included (IPC: grid_size)", 6, 14,
                  lambda p: 5 + 2 * p["n_boxes"], "5 + 2 * n_boxes"),
        ParamSpec("n_settled", "boxes that start on their own goal cells (not in IPC)", 0, 4, 0),
    ),
    build=_build,
    check=_check,
)
