"""Sokoban in the compact format: cells as row and column words, a plan as the boxes' pushes.

A 1-box task (``generate_sized("sokoban", 1, np.random.default_rng(1))``) and its reference plan,
2 pushes for the 9 steps the validator checks (the generator's witness takes 21)::

    goal b1 r6 c7 init r5 c7 r6 c5 r6 c7 r7 c5 r7 c6 r7 c7 r7 c8 r7 c9 r8 c5 r8 c6 r8 c7 r8 c8
    r8 c9 r9 c9 b1 r7 c8 robot r7 c6 plan

    push b1 left > b1 r7 c7 ; push b1 up > b1 r6 c7

**Cells are coordinates, not names.** A cell is two words, its row ``r1 … r16`` and its column
``c1 … c16``; ``up``/``down`` change the row by one, ``left``/``right`` the column. The other way,
a random name per cell with its adjacencies listed (``p3 right p7``), makes every step a lookup by
name, but it hides the geometry: which way the robot should walk to reach the box, or push the box
to reach its goal, would then need a search over the adjacency graph, which a 4-layer model cannot
run in one forward pass. With coordinates the way to a target is a comparison of two row words and
two column words, the next cell is a fixed successor relation between 16 words that the model
learns once (not a fact it has to find), and only walls need a lookup. Adjacency facts would also
cost three words per pair (about six per cell) against two per cell here, and the name pool would
have to cover the largest task's cells (121 on a 13 x 13 grid). The rows and columns are shifted by
a random offset per task within the 16 words, so a 1-box task (5 x 5 cells inside the walls) uses
every row and column word over the corpus, and a 3-box task (9 x 9) uses no word whose successor
relation was not trained. What 1-box tasks cannot show is a distance above 4 between two rows (and
their box only ever moves within the 3 x 3 cells two away from the walls); the model meets longer
distances first on larger grids.

**The prompt** lists, in this order: each box's goal cell (``goal b1 r6 c7``; the generator gives
every box its own goal), every free (non-wall) cell in row-major order, each box's cell, and the
robot's cell. Goals come first so that the latest mention of a box, in the prompt or a scratchpad,
is always where it stands now. Boxes are named from the pool ``b1 … b8`` at random per task (seeded
by the task's content, as :func:`iterdeploy.simulator.models._format.name_map` does), listed by pool name.

**The completion names only the pushes**: ``push <box> <dir>``, with every box and its cell after
the push as scratchpad, in the prompt's order (``push b6 down > b6 r3 c11 b8 r2 c9``), so the
last scratchpad is the whole state the next push depends on besides the fixed map.
:meth:`SokobanFormat.extract` walks the robot to the cell behind the box along a shortest path
(breadth first, ties in the order ``up down left right``) before each push, so the validator
still checks a full PDDL plan and its length counts every step. Why not every step:
a format that wrote each robot move (version 1 of this format, until 6 December 2026) made the
model choose the next step of a shortest walk around walls and boxes, a search over the grid a
4-layer model cannot run in one forward pass; its bases walked into walls (7 of 160 samples valid
on 1-box tasks after 3,000 steps, against 67 of 160 for pushes only after 2,000,
docs/model-card.md). Choosing the next push reads the box's and its goal's coordinates and the
cells next to the box, the same bounded computation at every step. Version 2 wrote only the
pushed box's new cell; its bases mixed up the boxes' coordinates on 2-box tasks (0 of 160 samples
valid there, with 2-box tasks in the corpus), so version 3 restates every box after each push.
A push the robot cannot make (it cannot get behind the box, or a wall or box is beyond it)
becomes a push from where the robot stands, which the validator rejects at that step.

**The reference plan** (:func:`reference_plan`) pushes the boxes one after another, each along a
shortest plan for that box with the others standing still; among equally short next steps it takes
the first of ``up down left right``, so within a box's turn the next step is a function of the
current state alone, which the model can imitate step by step. Of the box orders (the first
:data:`MAX_ORDERS` permutations of the listing, all of them up to three boxes) it takes the one
with the shortest plan. Measured on 200 tasks each: on 1-box tasks these plans are optimal (6.2
steps on average; the generator's witness, which pushes the box in one to four random runs, takes
10.1), on 2-box tasks 88 % are (16.6 steps against an optimum of 16.3; witness 24.6). The witness
is used only when no order works. The reference plan's walks between pushes are shortest, so the
plan the extractor rebuilds from its pushes is just as long.

**A detour** (:func:`with_detour`, in ``detour_share`` of the corpus) pushes a box one cell and
straight back, so the base writes valid plans of different lengths for one task.

Why one module of about 630 lines: the first 65 are this specification, and the rest is its one
concern, the format both ways (render, extract, reference plan, corpus); split, the renderer and
the extractor would lose sight of the specification they must both keep.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from iterdeploy.simulator.models._format import ACTION_SEP, PROMPT_END, STATE_MARK, ExtractedPlan
from iterdeploy.simulator.models.compact import SHARED_WORDS, PlanSteps
from iterdeploy.simulator.models.protocol import Example
from iterdeploy.simulator.planning import GeneratedTask, GroundTask, generate_sized, parse_action_line
from iterdeploy.simulator.planning.generators.sokoban import STEPS

Cell = tuple[int, int]
Action = tuple[str, tuple[str, ...]]

COORD_POOL = 16
"""Row words ``r1 … r16`` and column words ``c1 … c16``: the free cells of a task may span at most
this many rows and columns."""
BOX_POOL = 8
"""Box names ``b1 … b8``: tasks with more boxes cannot be rendered."""
DIRECTIONS = ("up", "down", "left", "right")
"""The direction words, also the order that breaks ties between equally short next steps."""
ACTIONS = ("move", "push")
ROBOT = "robot"
MAX_ORDERS = 6
"""Box orders :func:`reference_plan` tries (all of them up to three boxes)."""

_LOC = re.compile(r"loc_(\d+)_(\d+)")
_OPPOSITE = {"up": "down", "down": "up", "left": "right", "right": "left"}


@dataclass(frozen=True)
class SokobanNames:
    """How one task is written: a pool name per box and the shift of rows and columns."""

    boxes: dict[str, str]
    """Box object → pool name (``b1 … b8``)."""
    row_offset: int
    """The free cells' top row is written ``r{row_offset + 1}``."""
    col_offset: int
    """Their leftmost column is written ``c{col_offset + 1}``."""


@dataclass(frozen=True)
class _Board:
    """A task read as a grid: every ``loc_R_C`` location, the free ones, robot, boxes, goals."""

    task_name: str
    cells: dict[Cell, str]
    """Every location object (walls too), by (row, column) from its name."""
    free: frozenset[Cell]
    robot: Cell
    boxes: dict[str, Cell]
    goals: dict[str, Cell]
    top: int
    left: int
    height: int
    width: int

    def loc(self, cell: Cell) -> str:
        """The task's name for ``cell`` (an IPC-style name for a cell the task lacks, which the
        validator then reports as an unknown object)."""
        return self.cells.get(cell) or f"loc_{cell[0]}_{cell[1]}"

    def words(self, cell: Cell, names: SokobanNames) -> str:
        """``r4 c7``."""
        row = cell[0] - self.top + 1 + names.row_offset
        col = cell[1] - self.left + 1 + names.col_offset
        return f"r{row} c{col}"


def _step(cell: Cell, direction: str) -> Cell:
    dr, dc = STEPS[direction]
    return (cell[0] + dr, cell[1] + dc)


def _board(task: GroundTask) -> _Board:
    """Read ``task`` as a grid.

    Raises:
        ValueError: naming the task, when its cells are not named ``loc_ROW_COLUMN``, it has no
            robot, a goal other than boxes' cells, or more rows, columns or boxes than the pools.
    """
    cells: dict[Cell, str] = {}
    for obj in task.objects:
        match = _LOC.fullmatch(obj)
        if match:
            cells[(int(match[1]), int(match[2]))] = obj
    where = {name: cell for cell, name in cells.items()}

    def cell_of(name: str) -> Cell:
        if name not in where:
            raise ValueError(
                f"task {task.name}: location {name!r} is not named loc_ROW_COLUMN, which the compact "
                "sokoban format reads cells from"
            )
        return where[name]

    robot: Cell | None = None
    boxes: dict[str, Cell] = {}
    free: set[Cell] = set()
    for atom in task.init:
        if atom[0] == "clear" and len(atom) == 2:
            free.add(cell_of(atom[1]))
        elif atom[0] == "at-robot" and len(atom) == 2:
            robot = cell_of(atom[1])
            free.add(robot)
        elif atom[0] == "at" and len(atom) == 3:
            boxes[atom[1]] = cell_of(atom[2])
            free.add(boxes[atom[1]])
    if robot is None:
        raise ValueError(f"task {task.name}: no (at-robot ...) in the initial state")
    goals: dict[str, Cell] = {}
    for atom in sorted(task.goal):
        if atom[0] != "at" or len(atom) != 3 or atom[1] not in boxes:
            raise ValueError(
                f"task {task.name}: goal {atom} is not a box's cell, the only goal the compact "
                "sokoban format writes"
            )
        goals[atom[1]] = cell_of(atom[2])
    rows = [c[0] for c in free]
    cols = [c[1] for c in free]
    height, width = max(rows) - min(rows) + 1, max(cols) - min(cols) + 1
    if height > COORD_POOL or width > COORD_POOL or len(boxes) > BOX_POOL:
        raise ValueError(
            f"task {task.name}: its free cells span {height} rows and {width} columns and it has "
            f"{len(boxes)} boxes; the compact sokoban format writes at most {COORD_POOL} rows, "
            f"{COORD_POOL} columns and {BOX_POOL} boxes"
        )
    return _Board(
        task.name, cells, frozenset(free), robot, dict(sorted(boxes.items())), goals,
        min(rows), min(cols), height, width,
    )


def draw_names(task: GroundTask, rng: np.random.Generator | None = None) -> SokobanNames:
    """Random pool names for the boxes and random row and column offsets.

    Without ``rng`` they are derived from the task's content, so the same task always gets the
    same prompt (as :func:`iterdeploy.simulator.models._format.name_map`).

    Raises:
        ValueError: for a task the format cannot write (see :func:`_board`).
    """
    return _draw_names(_board(task), task, rng)


def _draw_names(board: _Board, task: GroundTask, rng: np.random.Generator | None) -> SokobanNames:
    if rng is None:
        key = repr((task.domain, sorted(task.init), sorted(task.goal))).encode()
        rng = np.random.default_rng(zlib.crc32(key))
    chosen = rng.choice(BOX_POOL, size=len(board.boxes), replace=False)
    boxes = {box: f"b{int(i) + 1}" for box, i in zip(board.boxes, chosen, strict=True)}
    row_offset = int(rng.integers(COORD_POOL - board.height, endpoint=True))
    col_offset = int(rng.integers(COORD_POOL - board.width, endpoint=True))
    return SokobanNames(boxes, row_offset, col_offset)


def _listing(board: _Board, names: SokobanNames) -> list[str]:
    """The boxes in the prompt's order (by pool name)."""
    return sorted(board.boxes, key=lambda box: int(names.boxes[box][1:]))


def _render_prompt(board: _Board, names: SokobanNames) -> str:
    order = _listing(board, names)
    words = ["goal"]
    words += [f"{names.boxes[b]} {board.words(board.goals[b], names)}" for b in order if b in board.goals]
    words.append("init")
    words += [board.words(c, names) for c in sorted(board.free)]
    words += [f"{names.boxes[b]} {board.words(board.boxes[b], names)}" for b in order]
    words += [ROBOT, board.words(board.robot, names), PROMPT_END]
    return " ".join(words)


def _pushes(board: _Board, plan: PlanSteps) -> list[tuple[str, str, Cell]]:
    """The pushes of a full plan as (box, direction, the box's new cell); its moves are left out.

    Raises:
        ValueError: for a step that is not a move or push over the task's cells and boxes.
    """
    where = {name: cell for cell, name in board.cells.items()}
    out = []
    for name, args in plan:
        if name == "move" and len(args) == 3 and args[1] in where and args[2] in DIRECTIONS:
            continue
        if (name == "push" and len(args) == 5 and args[2] in where and args[3] in DIRECTIONS
                and args[4] in board.boxes):
            out.append((args[4], args[3], where[args[2]]))
            continue
        raise ValueError(
            f"task {board.task_name}: ({' '.join((name, *args))}) is not a move or push over "
            "the task's cells and boxes"
        )
    return out


def _render_pushes(board: _Board, names: SokobanNames, plan: PlanSteps) -> str:
    """``push <box> <dir> > <every box> <its cell> ...`` for every push of ``plan``: the
    scratchpad lists each box where it stands after the push, in the prompt's order."""
    cells = dict(board.boxes)
    listing = _listing(board, names)
    steps = []
    for box, d, to in _pushes(board, plan):
        cells[box] = to
        state = " ".join(f"{names.boxes[b]} {board.words(cells[b], names)}" for b in listing)
        steps.append(f"push {names.boxes[box]} {d} {STATE_MARK} {state}")
    return f" {ACTION_SEP} ".join(steps)


def _walk(board: _Board, start: Cell, goal: Cell, blocked: set[Cell]) -> list[Action] | None:
    """A shortest walk from ``start`` to ``goal`` over free cells outside ``blocked``, as move
    actions, taking the first of :data:`DIRECTIONS` among equally short ways (breadth first);
    None when there is none."""
    came = _search(board, start, blocked, goal)
    if goal not in came:
        return None
    steps: list[Action] = []
    at = goal
    while (step := came[at]) is not None:
        steps.append(("move", (board.loc(step[0]), board.loc(at), step[1])))
        at = step[0]
    return steps[::-1]


def _search(
    board: _Board, start: Cell, blocked: set[Cell], goal: Cell | None = None
) -> dict[Cell, tuple[Cell, str] | None]:
    """Breadth first from ``start`` over free cells outside ``blocked`` (neighbours in the order
    of :data:`DIRECTIONS`), stopped once ``goal`` is reached: every cell found, with the cell and
    direction it was reached from (None for ``start``)."""
    came: dict[Cell, tuple[Cell, str] | None] = {start: None}
    queue = deque([start])
    while queue and goal not in came:
        here = queue.popleft()
        for d in DIRECTIONS:
            nxt = _step(here, d)
            if nxt not in came and nxt in board.free and nxt not in blocked:
                came[nxt] = (here, d)
                queue.append(nxt)
    return came


def _push_steps(
    board: _Board, robot: Cell, cells: dict[str, Cell], box: str, d: str
) -> list[Action] | None:
    """The robot's walk to the cell behind ``box`` and the push towards ``d``; None when the
    robot cannot get there or the cell beyond is a wall or a box. Updates nothing."""
    at = cells[box]
    behind, to = _step(at, _OPPOSITE[d]), _step(at, d)
    occupied = set(cells.values())
    if to not in board.free or to in occupied:
        return None
    walk = _walk(board, robot, behind, occupied)
    if walk is None:
        return None
    return [*walk, ("push", (board.loc(behind), board.loc(at), board.loc(to), d, box))]


def _expand(board: _Board, pushes: Sequence[tuple[str, str]]) -> list[Action] | None:
    """The full plan of a list of (box, direction) pushes, each preceded by the robot's shortest
    walk behind its box; None when a push cannot be made."""
    robot, cells = board.robot, dict(board.boxes)
    plan: list[Action] = []
    for box, d in pushes:
        steps = _push_steps(board, robot, cells, box, d)
        if steps is None:
            return None
        plan += steps
        robot, cells[box] = cells[box], _step(cells[box], d)
    return plan


def _box_steps(
    board: _Board, robot: Cell, box: str, start: Cell, goal: Cell, blocked: set[Cell]
) -> list[Action] | None:
    """A shortest plan that brings ``box`` from ``start`` to ``goal`` with the boxes on
    ``blocked`` standing still, taking the first of :data:`DIRECTIONS` among equally short next
    steps; None when there is none.

    Distances to the goal come from a breadth-first search backwards (pulls and reverse moves)
    from every state with the box on its goal, stopped once the start is reached: by then every
    state closer to the goal has its distance.
    """
    if start == goal:
        return []
    # cells as integers row * stride + column, states as robot * span + box: the search runs
    # on ints (a few times faster than on tuples of tuples)
    stride = max(c[1] for c in board.free) + 2
    span = (max(c[0] for c in board.free) + 2) * stride
    offsets = [(d, STEPS[d][0] * stride + STEPS[d][1]) for d in DIRECTIONS]
    walk = {c[0] * stride + c[1] for c in board.free - blocked}
    target = goal[0] * stride + goal[1]
    if target not in walk:
        return None
    origin = (robot[0] * stride + robot[1]) * span + start[0] * stride + start[1]
    dist = {r * span + target: 0 for r in walk if r != target}
    queue = deque(dist)
    while queue and origin not in dist:
        state = queue.popleft()
        here, at = divmod(state, span)
        k = dist[state] + 1
        for _, off in offsets:
            before = here - off
            if before not in walk or before == at:
                continue
            prev = before * span + at  # the robot stepped from ``before``
            if prev not in dist:
                dist[prev] = k
                queue.append(prev)
            if at == here + off:  # or pushed the box from ``here`` to ``at``
                prev = before * span + here
                if prev not in dist:
                    dist[prev] = k
                    queue.append(prev)
    if origin not in dist:
        return None

    def loc(i: int) -> str:
        return board.loc(divmod(i, stride))

    steps: list[Action] = []
    state = origin
    while state % span != target:
        here, at = divmod(state, span)
        k = dist[state] - 1
        for d, off in offsets:
            nxt = here + off
            if nxt not in walk:
                continue
            if nxt == at:
                to = at + off
                if to in walk and dist.get(nxt * span + to) == k:
                    steps.append(("push", (loc(here), loc(nxt), loc(to), d, box)))
                    state = nxt * span + to
                    break
            elif dist.get(nxt * span + at) == k:
                steps.append(("move", (loc(here), loc(nxt), d)))
                state = nxt * span + at
                break
        else:  # pragma: no cover - a state at distance k always has a successor at k - 1
            return None
    return steps


def _reference_plan(
    board: _Board, listing: Sequence[str], fallback_order: Sequence[str] = ()
) -> list[Action] | None:
    """The shortest plan over the first :data:`MAX_ORDERS` orders of ``listing`` (the earlier
    order on a tie), else the plan in ``fallback_order``, else None.

    Orders are visited depth first, so orders with a common start share its searches, and an
    order is dropped as soon as its plan is no shorter than the best one found.
    """
    best: list[Action] | None = None
    settled = 0

    def visit(remaining: tuple[str, ...], robot: Cell, cells: dict[str, Cell], plan: list[Action]) -> None:
        nonlocal best, settled
        if not remaining:
            best, settled = plan, settled + 1
            return
        for box in remaining:
            if settled >= MAX_ORDERS:
                return
            rest = tuple(b for b in remaining if b != box)
            steps: list[Action] | None = []
            if box in board.goals:
                others = {c for b, c in cells.items() if b != box}
                steps = _box_steps(board, robot, box, cells[box], board.goals[box], others)
            if steps is None or (best is not None and len(plan) + len(steps) >= len(best)):
                settled += math.factorial(len(rest))
                continue
            # the last step pushed the box onto its goal; the robot stands behind it
            after = _step(board.goals[box], _OPPOSITE[steps[-1][1][3]]) if steps else robot
            visit(rest, after, {**cells, box: board.goals.get(box, cells[box])}, plan + steps)

    visit(tuple(listing), board.robot, dict(board.boxes), [])
    if best is None and fallback_order:
        return _plan_in_order(board, fallback_order)
    return best


def _plan_in_order(board: _Board, order: Sequence[str]) -> list[Action] | None:
    robot, cells = board.robot, dict(board.boxes)
    plan: list[Action] = []
    for box in order:
        if box not in board.goals:
            continue
        others = {c for b, c in cells.items() if b != box}
        steps = _box_steps(board, robot, box, cells[box], board.goals[box], others)
        if steps is None:
            return None
        plan += steps
        if steps:
            robot = _step(board.goals[box], _OPPOSITE[steps[-1][1][3]])
        cells[box] = board.goals[box]
    return plan


def reference_plan(task: GroundTask, order: Sequence[str] | None = None) -> list[Action] | None:
    """The plan the corpus teaches: box after box, each by a shortest plan for it alone.

    The boxes go in the order, among the first :data:`MAX_ORDERS` permutations of ``order``
    (default: the prompt's listing for the task's own names), that gives the shortest plan, the
    earlier on a tie. None when no order works (the corpus then uses the generator's witness).

    Raises:
        ValueError: for a task the format cannot write.
    """
    board = _board(task)
    listing = list(order) if order is not None else _listing(board, _draw_names(board, task, None))
    return _reference_plan(board, listing)


def with_detour(task: GroundTask, plan: PlanSteps, rng: np.random.Generator) -> list[Action]:
    """``plan`` with one wasted round trip: a box pushed one cell and straight back.

    The pair goes before a random push (never after the last, so the plan still ends on the
    goal), uniformly over the (push, box, direction) choices the robot can make: the cell beyond
    the box free, the robot able to get behind it from where it stands, then round the box to
    push it back, and left inside the area it could reach before, so every later push stays
    possible. The walks are the shortest (as :meth:`SokobanFormat.extract` writes them); a plan
    with no such choice comes back as it was.

    Raises:
        ValueError: for a task the format cannot write, or a step of ``plan`` that is not a move
            or push over its cells and boxes.
    """
    board = _board(task)
    pushes = [(box, d) for box, d, _ in _pushes(board, plan)]
    options: list[tuple[int, str, str]] = []
    robot, cells = board.robot, dict(board.boxes)
    for i, (pushed, towards) in enumerate(pushes):
        reach = _reachable(board, robot, set(cells.values()))
        for box, at in cells.items():
            for d in DIRECTIONS:
                beyond, back = _step(at, d), _step(_step(at, d), d)
                if (_step(at, _OPPOSITE[d]) in reach and beyond in reach and back in board.free
                        and back not in cells.values()
                        and _walk(board, at, back, {*cells.values(), beyond} - {at}) is not None):
                    options.append((i, box, d))
        robot, cells[pushed] = cells[pushed], _step(cells[pushed], towards)
    if not options:
        return list(plan)
    i, box, d = options[int(rng.integers(len(options)))]
    longer = _expand(board, [*pushes[:i], (box, d), (box, _OPPOSITE[d]), *pushes[i:]])
    if longer is None:  # pragma: no cover - every option above leaves the rest possible
        raise AssertionError(f"task {board.task_name}: the detour {box} {d} before push {i} broke the plan")
    return longer


def _reachable(board: _Board, start: Cell, blocked: set[Cell]) -> set[Cell]:
    """Every free cell outside ``blocked`` the robot can walk to from ``start``."""
    return set(_search(board, start, blocked))


def _witness_steps(generated: GeneratedTask) -> list[Action]:
    steps = []
    for line in generated.witness_plan:
        parsed = parse_action_line(line)
        if parsed is not None:
            steps.append(parsed)
    return steps


def _taught_plan(board: _Board, listing: Sequence[str], generated: GeneratedTask) -> list[Action]:
    """What the corpus teaches for ``generated``: the reference plan over the boxes as
    ``listing`` names them, else (no order works) the boxes in the order the witness first
    pushes them, else the witness itself."""
    witness = _witness_steps(generated)
    return _reference_plan(board, listing, _play_order(witness)) or witness


def _play_order(plan: Sequence[Action]) -> list[str]:
    """The boxes in the order a plan first pushes them."""
    order: list[str] = []
    for name, args in plan:
        if name == "push" and len(args) == 5 and args[4] not in order:
            order.append(args[4])
    return order


class SokobanFormat:
    """Sokoban for the embedded model: coordinate words, box names, a plan as its pushes."""

    domain = "sokoban"
    version = 3
    """Version 3: pushes only, every box in the scratchpad (2: the pushed box only; 1: every robot
    step). Part of a base's content hash."""

    def words(self) -> list[str]:
        return [
            *SHARED_WORDS, ROBOT, *ACTIONS, *DIRECTIONS,
            *(f"r{i + 1}" for i in range(COORD_POOL)),
            *(f"c{i + 1}" for i in range(COORD_POOL)),
            *(f"b{i + 1}" for i in range(BOX_POOL)),
        ]

    def prompt(self, task: GroundTask) -> str:
        board = _board(task)
        return _render_prompt(board, _draw_names(board, task, None))

    def completion(self, task: GroundTask, plan: PlanSteps) -> str:
        """The pushes of ``plan`` (valid for ``task``) as the model writes them; its moves are
        the extractor's to write.

        Raises:
            ValueError: for a step that is not a move or push over the task's cells and boxes.
        """
        board = _board(task)
        return _render_pushes(board, _draw_names(board, task, None), plan)

    def extract(self, completion: str, task: GroundTask) -> ExtractedPlan:
        """Each push preceded by the robot's shortest walk to the cell behind its box.

        A push the robot cannot make (it cannot get behind the box, or the cell beyond is taken)
        is written from where the robot stands, which the validator rejects at that step; words
        that are not a push of a known box pass through as they are.
        """
        try:
            board = _board(task)
        except ValueError:
            return ExtractedPlan("\n".join(" ".join(c.partition(STATE_MARK)[0].split())
                                           for c in completion.split(ACTION_SEP)
                                           if c.partition(STATE_MARK)[0].split()), 0)
        back = {name: box for box, name in _draw_names(board, task, None).boxes.items()}
        robot, cells = board.robot, dict(board.boxes)
        lines: list[str] = []
        n_reasoning = 0
        for chunk in completion.split(ACTION_SEP):
            action, _, state = chunk.partition(STATE_MARK)
            n_reasoning += len(state.split())
            words = action.split()
            if len(words) != 3 or words[0] != "push" or words[1] not in back or words[2] not in STEPS:
                if words:
                    lines.append(" ".join(words))
                continue
            box, d = back[words[1]], words[2]
            steps = _push_steps(board, robot, cells, box, d)
            if steps is None:
                front = _step(robot, d)
                lines.append(f"push {board.loc(robot)} {board.loc(front)} "
                             f"{board.loc(_step(front, d))} {d} {box}")
                robot = front
                continue
            lines += [" ".join((name, *args)) for name, args in steps]
            robot, cells[box] = cells[box], _step(cells[box], d)
        return ExtractedPlan("\n".join(lines), n_reasoning)

    def corpus_task_and_example(
        self, size: int, rng: np.random.Generator, detour_share: float = 0.0,
        params: Mapping[str, int] | None = None,
    ) -> tuple[GeneratedTask, Example]:
        """A random task with ``size`` boxes (and ``params``: other generator parameters) and its
        pretraining pair (names drawn from ``rng``)."""
        generated = generate_sized("sokoban", size, rng, params=params)
        board = _board(generated.task)
        names = _draw_names(board, generated.task, rng)
        plan = _taught_plan(board, _listing(board, names), generated)
        # no extra draw when the share is 0, so corpora without detours stay reproducible
        if detour_share > 0 and rng.random() < detour_share:
            plan = with_detour(generated.task, plan, rng)
        return generated, Example(_render_prompt(board, names), _render_pushes(board, names, plan))

    def teaching_plan(self, generated: GeneratedTask) -> PlanSteps:
        board = _board(generated.task)
        return _taught_plan(board, _listing(board, _draw_names(board, generated.task, None)), generated)

    def corpus_example(self, size: int, rng: np.random.Generator, detour_share: float = 0.0,
                       params: Mapping[str, int] | None = None) -> Example:
        return self.corpus_task_and_example(size, rng, detour_share, params)[1]


FORMAT = SokobanFormat()
