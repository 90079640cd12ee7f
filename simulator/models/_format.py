"""Prompt rendering and plan extraction for the embedded model's compact format.

The embedded model reads a task as a flat list of facts and writes actions separated by ``;``::

    init on o7 o2 ; on-table o2 ; clear o7 ; arm-empty goal on o2 o7 ; on-table o7 plan
    unstack o7 o2 ; putdown o7 ; pickup o2 ; stack o2 o7 <eos>

Object names are normalised per task: each object is mapped to a name drawn from a fixed pool
(``o1`` … ``oN``), at random, seeded by the task. Random rather than ordered assignment means every
name in the pool is seen during pretraining on small tasks, so a larger task at deployment uses no
untrained embedding; the mapping is inverted before validation.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from simulator.planning import GroundTask

PROMPT_END = "plan"
ACTION_SEP = ";"
NAME_POOL_SIZE = 24
"""Names available for objects; tasks with more objects than this cannot be rendered."""


@dataclass(frozen=True)
class NameMap:
    """Object name → pool name, and back."""

    forward: dict[str, str]

    @property
    def backward(self) -> dict[str, str]:
        """Pool name → object name."""
        return {v: k for k, v in self.forward.items()}


def pool_names(n: int = NAME_POOL_SIZE) -> list[str]:
    """The object-name pool ``o1 … oN``."""
    return [f"o{i + 1}" for i in range(n)]


def name_map(task: GroundTask, rng: np.random.Generator | None = None) -> NameMap:
    """A random injective map of the task's objects into the pool.

    Without ``rng`` the map is derived from the task's content (stable across runs), so the same
    task always gets the same prompt.
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
    objects = sorted(task.objects)  # order-free: a task re-read from PDDL gets the same map
    return NameMap({obj: f"o{int(i) + 1}" for obj, i in zip(objects, chosen, strict=True)})


def _facts(atoms: frozenset[tuple[str, ...]], names: dict[str, str]) -> str:
    rendered = sorted(" ".join((a[0], *(names.get(x, x) for x in a[1:]))) for a in atoms)
    return f" {ACTION_SEP} ".join(rendered)


def render_prompt(task: GroundTask, names: NameMap) -> str:
    """The compact prompt for ``task`` under ``names``."""
    return (
        f"init {_facts(task.init, names.forward)} goal {_facts(task.goal, names.forward)} "
        f"{PROMPT_END}"
    )


def render_plan(actions: list[tuple[str, tuple[str, ...]]], names: NameMap) -> str:
    """A plan (name, args) list as compact completion text."""
    return f" {ACTION_SEP} ".join(
        " ".join((n, *(names.forward.get(a, a) for a in args))) for n, args in actions
    )


def extract_plan(completion: str, names: NameMap) -> str:
    """Plan text (one action a line, task object names) from a compact completion.

    Never raises: unknown words pass through unchanged so the validator can name them.
    """
    back = names.backward
    lines = []
    for chunk in completion.split(ACTION_SEP):
        words = chunk.split()
        if words:
            lines.append(" ".join(back.get(w, w) for w in words))
    return "\n".join(lines)


def vocabulary(predicates: list[str], actions: list[str]) -> list[str]:
    """Every word the compact format can use for a domain."""
    return ["init", "goal", PROMPT_END, ACTION_SEP, *predicates, *actions, *pool_names()]
