"""Prompt rendering and plan extraction for the embedded model's compact format.

The embedded model reads a Blocksworld task as towers (bottom to top, ``|`` between towers) and
writes actions separated by ``;``. After every action that leaves the hand empty it writes the
resulting towers after ``>``: a scratchpad, the small model's equivalent of reasoning text::

    init o7 o2 | o5 goal o2 o7 o5 plan
    unstack o2 o7 ; putdown o2 > o7 | o5 | o2 ; pickup o7 ; stack o7 o2 > o5 | o2 o7 ;
    pickup o5 ; stack o5 o7 > o2 o7 o5 <eos>

Why: deciding the next action needs the *current* state. Without the scratchpad a small
transformer has to reconstruct it from the whole action history, which fails beyond the lengths it
was trained on; with it, each step reads the last state and the goal, the same computation at every
length. The state is written in a stable order (towers keep their place, a new tower goes last) so
that writing it is copying with one local edit. The validator ignores the scratchpad: only the
actions are the plan, and the scratchpad tokens are counted as reasoning tokens.

Object names are normalised per task: each object is mapped to a name drawn from a fixed pool
(``o1`` … ``oN``), at random, seeded by the task. Random rather than ordered assignment means every
name in the pool is seen during pretraining on small tasks, so a larger task at deployment uses no
untrained embedding; the mapping is inverted before validation.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from iterdeploy.simulator.planning import Atom, GroundTask

PROMPT_END = "plan"
ACTION_SEP = ";"
STATE_MARK = ">"
TOWER_SEP = "|"
NAME_POOL_SIZE = 24
"""Names available for objects; tasks with more objects than this cannot be rendered."""

Towers = list[list[str]]


@dataclass(frozen=True)
class NameMap:
    """Object name → pool name, and back."""

    forward: dict[str, str]

    @property
    def backward(self) -> dict[str, str]:
        """Pool name → object name."""
        return {v: k for k, v in self.forward.items()}


@dataclass(frozen=True)
class ExtractedPlan:
    """What plan extraction found in a completion."""

    plan_text: str
    """One action a line, in the task's own object names."""
    n_reasoning_tokens: int
    """Scratchpad words (state descriptions), not part of the plan."""


def pool_names(n: int = NAME_POOL_SIZE) -> list[str]:
    """The object-name pool ``o1 … oN``."""
    return [f"o{i + 1}" for i in range(n)]


def name_map(task: GroundTask, rng: np.random.Generator | None = None) -> NameMap:
    """A random injective map of the task's objects into the pool.

    Without ``rng`` the map is derived from the task's content (stable across runs and across a
    re-read from PDDL), so the same task always gets the same prompt.
    """
    if len(task.objects) > NAME_POOL_SIZE:
        raise ValueError(
            f"task {task.name} has {len(task.objects)} objects; the compact format names at most "
            f"{NAME_POOL_SIZE}"
        )
    if rng is None:
        key = repr((task.domain, sorted(task.init), sorted(task.goal))).encode()
        rng = np.random.default_rng(zlib.crc32(key))
    chosen = rng.choice(NAME_POOL_SIZE, size=len(task.objects), replace=False)
    objects = sorted(task.objects)
    return NameMap({obj: f"o{int(i) + 1}" for obj, i in zip(objects, chosen, strict=True)})


def towers_of(atoms: frozenset[Atom] | set[Atom], names: dict[str, str]) -> Towers:
    """Towers (bottom to top, in pool names) described by ``on``/``on-table`` atoms.

    Towers are ordered by their bottom block's pool name, so the order carries no information
    about the original object names. Blocks above a block with no ``on-table`` atom (partial goals)
    form a tower of their own starting at the lowest constrained block.
    """
    above = {a[2]: a[1] for a in atoms if a[0] == "on"}
    below = {a[1] for a in atoms if a[0] == "on"}
    bottoms = {a[1] for a in atoms if a[0] == "on-table"}
    bottoms |= {b for b in above if b not in below}
    towers = []
    for bottom in sorted(bottoms, key=lambda b: names.get(b, b)):
        tower = [bottom]
        while tower[-1] in above and len(tower) <= len(above) + 1:
            tower.append(above[tower[-1]])
        towers.append([names.get(b, b) for b in tower])
    return towers


def render_towers(towers: Towers) -> str:
    """``o7 o2 | o5``."""
    return f" {TOWER_SEP} ".join(" ".join(t) for t in towers)


def render_prompt(task: GroundTask, names: NameMap) -> str:
    """The compact prompt for ``task`` under ``names``."""
    init = render_towers(towers_of(task.init, names.forward))
    goal = render_towers(towers_of(task.goal, names.forward))
    return f"init {init} goal {goal} {PROMPT_END}"


def _apply_to_towers(towers: Towers, name: str, args: tuple[str, ...]) -> Towers:
    """Tower bookkeeping for the scratchpad (towers keep their places, new ones go last)."""
    out = [list(t) for t in towers]
    if name == "unstack" or name == "pickup":
        for tower in out:
            if tower and tower[-1] == args[0]:
                tower.pop()
        out = [t for t in out if t]
    elif name == "putdown":
        out.append([args[0]])
    elif name == "stack":
        for tower in out:
            if tower and tower[-1] == args[1]:
                tower.append(args[0])
    return out


def render_plan(
    task: GroundTask, actions: Sequence[tuple[str, tuple[str, ...]]], names: NameMap
) -> str:
    """A plan as compact completion text, scratchpad included."""
    towers = towers_of(task.init, names.forward)
    steps = []
    for name, args in actions:
        mapped = tuple(names.forward.get(a, a) for a in args)
        towers = _apply_to_towers(towers, name, mapped)
        step = " ".join((name, *mapped))
        if name in ("putdown", "stack"):
            step += f" {STATE_MARK} {render_towers(towers)}"
        steps.append(step)
    return f" {ACTION_SEP} ".join(steps)


def extract_plan(completion: str, names: NameMap) -> ExtractedPlan:
    """The plan (task object names, one action a line) in a compact completion.

    Never raises: unknown words pass through unchanged so the validator can name them.
    """
    back = names.backward
    lines = []
    n_reasoning = 0
    for chunk in completion.split(ACTION_SEP):
        action, _, state = chunk.partition(STATE_MARK)
        n_reasoning += len(state.split())
        words = action.split()
        if words:
            lines.append(" ".join(back.get(w, w) for w in words))
    return ExtractedPlan("\n".join(lines), n_reasoning)


def vocabulary(predicates: list[str], actions: list[str]) -> list[str]:
    """Every word the compact format can use for a domain."""
    return [
        "init", "goal", PROMPT_END, ACTION_SEP, STATE_MARK, TOWER_SEP,
        *predicates, *actions, *pool_names(),
    ]
