"""Floortile: robots paint a grid of tiles in a checkerboard pattern; a robot paints the tile
above or below it and cannot step on painted tiles.

As the IPC-2023 generator: tiles ``tile_R_C`` for rows 0..n_rows and columns 1..n_columns, rows
1..n_rows to be painted ``colors[(R + C) % n_colors]`` (row 0 stays unpainted), at most one robot
per column at a random row, each holding a random colour; all colours available. The IPC files
use white and black; ``n_colors`` > 2 adds red, green, blue.

Floortile has dead ends (paint the wrong tile first and a robot is locked out), but these tasks are
always solvable: give each robot the columns from its own up to the next robot's, then paint its
block row by row from the top, standing one row below and sweeping back and forth (the witness).
No robot ever needs a painted tile or another robot's columns.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from iterdeploy.simulator.planning._task import Atom, GroundTask
from iterdeploy.simulator.planning.generators._build import new_task, numbered, pick, shuffled, typed
from iterdeploy.simulator.planning.generators._spec import DomainSpec, ParamSpec, PlanBuilder, Witness

DOMAIN = "floortile"
COLORS = ["white", "black", "red", "green", "blue"]


def tile(row: int, col: int) -> str:
    """IPC tile name: row 0 is the bottom, columns count from 1."""
    return f"tile_{row}_{col}"


def _build(p: dict[str, int], rng: np.random.Generator, name: str | None) -> tuple[GroundTask, Witness]:
    rows, cols = p["n_rows"], p["n_columns"]
    colors = COLORS[: p["n_colors"]]
    robots = numbered("robot", p["n_robots"])
    tiles = [tile(r, c) for r in range(rows + 1) for c in range(1, cols + 1)]
    robot_cols = shuffled(rng, list(range(1, cols + 1)))[: len(robots)]
    start: dict[str, tuple[int, int]] = {}
    holding: dict[str, str] = {}
    for robot, col in zip(robots, robot_cols, strict=False):
        start[robot] = (int(rng.integers(0, rows, endpoint=True)), col)
        holding[robot] = pick(rng, colors)
    occupied = {tile(*rc) for rc in start.values()}
    init: set[Atom] = {("robot-at", r, tile(*start[r])) for r in robots}
    init |= {("robot-has", r, holding[r]) for r in robots} | {("available-color", c) for c in colors}
    init |= {("clear", t) for t in tiles if t not in occupied}
    for r in range(rows + 1):
        for c in range(1, cols + 1):
            if r < rows:
                init |= {("up", tile(r + 1, c), tile(r, c)), ("down", tile(r, c), tile(r + 1, c))}
            if c < cols:
                init |= {("right", tile(r, c + 1), tile(r, c)), ("left", tile(r, c), tile(r, c + 1))}
    paint = {(r, c): colors[(r + c) % len(colors)] for r in range(1, rows + 1) for c in range(1, cols + 1)}
    goal: set[Atom] = {("painted", tile(r, c), color) for (r, c), color in paint.items()}
    objects = typed(tiles, "tile") + typed(robots, "robot") + typed(colors, "color")
    task = new_task(DOMAIN, name or f"floortile-{rows}-{cols}-{len(robots)}", objects, init, goal, p)

    def witness(b: PlanBuilder) -> None:
        by_col = sorted(robots, key=lambda r: start[r][1])
        for k, robot in enumerate(by_col):
            first = 1 if k == 0 else start[robot][1]
            last = start[by_col[k + 1]][1] - 1 if k + 1 < len(by_col) else cols
            _paint_block(b, robot, start[robot], first, last, rows, paint)

    return task, witness


def _paint_block(
    b: PlanBuilder, robot: str, at: tuple[int, int], first: int, last: int, rows: int,
    paint: dict[tuple[int, int], str],
) -> None:
    """Paint columns ``first..last`` (the robot's own block), top row first, from one row below."""
    row, col = at

    def move(to_row: int, to_col: int) -> None:
        nonlocal row, col
        while (row, col) != (to_row, to_col):
            if row != to_row:
                step, nxt = ("move_up", (row + 1, col)) if to_row > row else ("move_down", (row - 1, col))
            else:
                step, nxt = ("move_right", (row, col + 1)) if to_col > col else ("move_left", (row, col - 1))
            b.do(step, robot, tile(row, col), tile(*nxt))
            row, col = nxt

    move(rows - 1, col)
    move(rows - 1, first)
    sweep = list(range(first, last + 1))
    for target in range(rows, 0, -1):
        for c in sweep:
            move(target - 1, c)
            want = paint[(target, c)]
            (have,) = b.the("robot-has", robot, None)[1:]
            if have != want:
                b.do("change_color", robot, have, want)
            b.do("paint_up", robot, tile(target, c), tile(target - 1, c), want)
        sweep.reverse()


def _check(p: Mapping[str, int]) -> str | None:
    if p["n_robots"] > p["n_columns"]:
        return (f"n_robots ({p['n_robots']}) must not exceed n_columns ({p['n_columns']}): "
                "one robot per column")
    return None


SPEC = DomainSpec(
    name=DOMAIN,
    summary="robots paint a tile grid in a checkerboard pattern without stepping on painted tiles",
    params=(
        ParamSpec("n_rows", "rows to paint; row 0 below them stays unpainted (IPC: rows)", 1, 8, 2),
        ParamSpec("n_columns", "columns (IPC: columns)", 1, 8, lambda p: p["n_rows"], "n_rows"),
        ParamSpec("n_robots", "robots, <= n_columns (IPC: robots)", 1, 8,
                  lambda p: min(p["n_columns"], 1 + p["n_rows"] // 4), "1 + n_rows // 4"),
        ParamSpec("n_colors", "paint colours: white, black, red, green, blue (IPC: 2)", 1, 5, 2),
    ),
    build=_build,
    check=_check,
)
