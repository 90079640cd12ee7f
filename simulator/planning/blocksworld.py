"""Blocksworld: a seeded task generator and a fast reference planner.

The domain file is the IPC-2023 learning-track one (``domains/blocksworld.pddl``), so a generated
problem and an official problem mean the same thing. States are drawn as random towers: a random
permutation of the blocks cut at random points. Goals are another random tower configuration,
stated as ``on``/``on-table`` atoms (``clear`` is implied).

The reference planner is the classic "misplaced blocks to the table, then build" strategy (at most
twice the optimal length when the goal places every block, as generated goals do; polynomial
time). It writes the pretraining corpus of the embedded model: a systematic strategy that a
small transformer can learn and that extends to more blocks, which is what lets the deployment
loop push the model to larger tasks.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from iterdeploy.simulator.planning._pddl import load_domain_schemas
from iterdeploy.simulator.planning._task import Atom, GroundAction, GroundTask

DOMAIN = "blocksworld"


NEW_TOWER_CHANCE = 0.5
"""The chance that the generator starts a new tower with the next block rather than putting it on
the last one: towers of 2 blocks on average, whatever the size."""


def _random_towers(
    blocks: list[str], rng: np.random.Generator, new_tower_chance: float = NEW_TOWER_CHANCE
) -> list[list[str]]:
    order = [blocks[i] for i in rng.permutation(len(blocks))]
    towers: list[list[str]] = [[order[0]]]
    for block in order[1:]:
        if rng.random() < new_tower_chance:
            towers.append([block])
        else:
            towers[-1].append(block)
    return towers


def _tower_atoms(towers: list[list[str]]) -> set[Atom]:
    atoms: set[Atom] = set()
    for tower in towers:
        atoms.add(("on-table", tower[0]))
        for below, above in itertools.pairwise(tower):
            atoms.add(("on", above, below))
    return atoms


def count_states(n_blocks: int) -> int:
    """Number of tower configurations of ``n_blocks`` labelled blocks (OEIS A000262: 1, 3, 13,
    73, 501, ...): ways to split the blocks into non-empty towers, each an ordered stack, the
    towers themselves unordered. This is the sum over k towers of the Lah number
    ``L(n, k) = C(n - 1, k - 1) * n! / k!``."""
    n = n_blocks
    return sum(math.comb(n - 1, k - 1) * math.factorial(n) // math.factorial(k)
               for k in range(1, n + 1))


def count_tasks(n_blocks: int) -> int:
    """Number of distinct tasks :func:`generate_task` can return for ``n_blocks`` blocks: an
    initial and a goal configuration, every configuration reachable, the two different (a goal
    that already holds is redrawn). Exact and instant at every size, which is what lets a
    scenario whose sizes hold fewer tasks than it asks for be refused before it runs."""
    states = count_states(n_blocks)
    return states * (states - 1)


def generate_task(
    n_blocks: int, rng: np.random.Generator, *, name: str | None = None,
    new_tower_chance: float = NEW_TOWER_CHANCE,
) -> GroundTask:
    """A random solvable Blocksworld task with ``n_blocks`` blocks whose goal is not already true.

    Args:
        n_blocks: number of blocks (>= 2).
        rng: the generator all randomness comes from.
        name: task name; defaults to one derived from the size.
        new_tower_chance: the chance that the next block starts a new tower (in the initial state
            and the goal) rather than going on top of the last one; lower gives taller towers.
            Every task a scenario deploys uses the default; a pretraining corpus may not.

    Raises:
        ValueError: for fewer than 2 blocks (no non-trivial task exists), or a chance outside
            (0, 1) (at 1 every block is on the table in both states, so no goal differs).
    """
    if n_blocks < 2:
        raise ValueError(f"n_blocks must be at least 2, got {n_blocks}")
    if not 0 < new_tower_chance < 1:
        raise ValueError(f"new_tower_chance must lie strictly between 0 and 1, got {new_tower_chance}")
    blocks = [f"b{i + 1}" for i in range(n_blocks)]
    while True:
        init_towers = _random_towers(blocks, rng, new_tower_chance)
        goal_towers = _random_towers(blocks, rng, new_tower_chance)
        init = _tower_atoms(init_towers)
        goal = _tower_atoms(goal_towers)
        if not goal <= init:
            break
    init |= {("clear", t[-1]) for t in init_towers}
    init.add(("arm-empty",))
    return GroundTask(
        domain=DOMAIN,
        name=name or f"bw-{n_blocks}",
        objects=tuple(blocks),
        init=frozenset(init),
        goal=frozenset(goal),
        schemas=load_domain_schemas(DOMAIN),
        params=(("n_blocks", n_blocks),),
    )


class _Towers:
    """Where each block is and where the goal wants it, as the reference planners track them.

    A block held in the initial state is put down first (the plan starts with that putdown).
    """

    def __init__(self, task: GroundTask) -> None:
        self.below: dict[str, str | None] = {}
        for atom in task.init:
            if atom[0] == "on":
                self.below[atom[1]] = atom[2]
            elif atom[0] == "on-table":
                self.below[atom[1]] = None
        self.goal_below: dict[str, str | None] = {}
        for atom in task.goal:
            if atom[0] == "on":
                self.goal_below[atom[1]] = atom[2]
            elif atom[0] == "on-table":
                self.goal_below[atom[1]] = None
        self.schemas = {s.name: s for s in task.schemas}
        held = [atom[1] for atom in task.init if atom[0] == "holding"]
        self.plan: list[GroundAction] = [self.schemas["putdown"].ground((b,)) for b in held]
        for block in held:
            self.below[block] = None

    def well_placed(self, block: str) -> bool:
        """On its goal support, and so is everything below it (unconstrained: on the table)."""
        cur: str | None = block
        while cur is not None:
            if self.goal_below.get(cur) != self.below[cur]:
                return False
            cur = self.below[cur]
        return True

    def is_clear(self, block: str) -> bool:
        """Nothing stands on ``block``."""
        return all(b != block for b in self.below.values())


def canonical_plan(task: GroundTask) -> list[GroundAction]:
    """Plan by moving misplaced blocks to the table, then building the goal towers bottom-up.

    A block is *well placed* when it sits where the goal wants it (on the table or on its goal
    block) and the block below is well placed too; blocks the goal says nothing about belong on
    the table. A block held in the initial state is put down first. Works on any Blocksworld task
    with a consistent goal (generated or IPC, full or partial goals; ``clear`` and ``arm-empty``
    goals follow from the construction). For goals that place every block the plan is at most
    twice the optimal length: each misplaced block moves at most twice, and must move at least once.
    """
    towers = _Towers(task)
    below, goal_below, schemas, plan = towers.below, towers.goal_below, towers.schemas, towers.plan
    well_placed, is_clear = towers.well_placed, towers.is_clear

    def do(name: str, *args: str) -> None:
        action = schemas[name].ground(args)
        plan.append(action)

    # phase 1: unstack misplaced blocks (top-down) onto the table
    changed = True
    while changed:
        changed = False
        for block in sorted(below):
            if below[block] is not None and is_clear(block) and not well_placed(block):
                do("unstack", block, below[block])  # type: ignore[arg-type]
                do("putdown", block)
                below[block] = None
                changed = True
                break
    # phase 2: stack blocks whose goal support is well placed and clear
    changed = True
    while changed:
        changed = False
        for block in sorted(goal_below):
            target = goal_below[block]
            if target is None or below[block] == target:
                continue
            if below[block] is None and is_clear(block) and is_clear(target) and well_placed(target):
                do("pickup", block)
                do("stack", block, target)
                below[block] = target
                changed = True
                break
    return plan


def direct_plan(task: GroundTask, rng: np.random.Generator | None = None) -> list[GroundAction]:
    """Plan greedily: move a block straight to its goal place whenever one can go there, otherwise
    put a misplaced clear block on the table.

    This is the classic near-optimal Blocksworld strategy (every block moves at most twice, and
    blocks whose goal place is free move once); it is usually shorter than :func:`canonical_plan`,
    which parks every misplaced block on the table first. A corpus mixing the two gives a model
    plans of different lengths for the same task, which is what lets a curation rule that prefers
    short (or long) plans act on anything. With ``rng``, ties between movable blocks are broken at
    random (different valid plans of the same length); without, alphabetically.
    """
    towers = _Towers(task)
    below, goal_below, schemas, plan = towers.below, towers.goal_below, towers.schemas, towers.plan
    well_placed, is_clear = towers.well_placed, towers.is_clear

    def pick(options: list[str]) -> str:
        return options[int(rng.integers(len(options)))] if rng is not None else options[0]

    def lift(block: str) -> None:
        if below[block] is None:
            plan.append(schemas["pickup"].ground((block,)))
        else:
            plan.append(schemas["unstack"].ground((block, below[block])))  # type: ignore[arg-type]

    for _ in range(4 * len(below) + 4):
        misplaced = [b for b in sorted(below) if not well_placed(b) and is_clear(b)]
        if not misplaced:
            break
        def can_go_home(b: str) -> bool:
            target = goal_below.get(b)
            if target is None:
                return below[b] is not None
            return is_clear(target) and well_placed(target)

        direct = [b for b in misplaced if can_go_home(b)]
        if direct:
            block = pick(direct)
            lift(block)
            target = goal_below.get(block)
            if target is None:
                plan.append(schemas["putdown"].ground((block,)))
            else:
                plan.append(schemas["stack"].ground((block, target)))
            below[block] = target
        else:
            block = pick([b for b in misplaced if below[b] is not None])
            lift(block)
            plan.append(schemas["putdown"].ground((block,)))
            below[block] = None
    return plan


def with_detour(
    task: GroundTask, plan: list[GroundAction], rng: np.random.Generator
) -> list[GroundAction]:
    """``plan`` with one redundant move inserted: a clear block is lifted and put straight back.

    The plan stays valid and becomes two steps longer: the kind of wasted move a model imitates
    from an imperfect corpus, and the variation a curation rule about plan length acts on (a
    shortest-plan curator removes detours generation after generation, a longest-plan one keeps
    them). The detour goes after a random complete move (the arm is empty there).
    """
    schemas = {s.name: s for s in task.schemas}
    cut = 2 * int(rng.integers(len(plan) // 2 + 1))
    state = task.init
    for action in plan[:cut]:
        state = action.apply(state)
    tops = sorted(a[1] for a in state if a[0] == "clear")
    if not tops:
        return list(plan)
    block = tops[int(rng.integers(len(tops)))]
    support = next((a[2] for a in state if a[0] == "on" and a[1] == block), None)
    if support is None:
        detour = [schemas["pickup"].ground((block,)), schemas["putdown"].ground((block,))]
    else:
        detour = [schemas["unstack"].ground((block, support)), schemas["stack"].ground((block, support))]
    return [*plan[:cut], *detour, *plan[cut:]]
