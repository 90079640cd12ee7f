"""Plan replay on bitsets, with each ground action compiled once per task.

Why: the loop validates every completion of every generation, mostly against the same tasks and
with the same few hundred actions per task. Grounding an action (substituting its arguments into
new frozensets of atoms) at every step, and copying a frozenset state twice per step, was most of
the validator's time. Here each atom of a task gets a bit the first time it is seen, a state is
one Python integer, and an action line is compiled once into four masks (preconditions that
must hold, atoms that must not, atoms kept, atoms added), cached under its canonical text
``(name arg ...)``. A step is then a dictionary lookup and four integer operations; the STRIPS
semantics are unchanged (applicable when the preconditions are a subset of the state and the
negative ones are disjoint from it; successor = state minus deletes, plus adds).

Lines that cannot be a step of this task (unknown action, wrong arity, unknown object) compile to
a :class:`Refusal` holding the status and the message's text after ``step N``, so a plan that
repeats a mistake costs no more than one that repeats a good step. The messages are the
validator's own; :mod:`iterdeploy.simulator.planning._validate` assembles them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from iterdeploy.simulator.planning._task import ActionSchema, Atom, GroundTask

MAX_CACHED_STEPS: Final = 100_000
"""Compiled action lines kept per task. A model that writes ever new garbage must not grow a
task without bound; past this many, new lines are compiled for each use and not kept."""

Step = tuple[int, int, int, int, "ActionSchema", tuple[str, ...]]
"""A compiled action: (precondition mask, negative-precondition mask, mask of the atoms kept,
mask of the atoms added, its schema and arguments, from which a failure message grounds it)."""


class Refusal:
    """An action line that is no step of this task: the status and the message after ``step N``."""

    __slots__ = ("detail", "status")

    def __init__(self, status: str, detail: str) -> None:
        self.status = status
        self.detail = detail


class Replay:
    """A task's atoms numbered as bits, its initial state and goal as masks, and its compiled
    action lines. Built once per task on first use (:func:`replay_of`); safe to share between
    threads (compiling, the only mutation, holds a lock)."""

    __slots__ = ("_bits", "_known", "_lock", "_objects", "_schemas", "goal", "init", "steps")

    def __init__(self, task: GroundTask) -> None:
        self._bits: dict[Atom, int] = {}
        self._lock = threading.Lock()
        self._objects = task.object_set
        self._schemas = {s.name: s for s in task.schemas}
        self._known = sorted(s.name for s in task.schemas)
        self.steps: dict[str, Step | Refusal] = {}
        self.init = self.mask(task.init)
        self.goal = self.mask(task.goal)

    def mask(self, atoms: Iterable[Atom]) -> int:
        """The bits of ``atoms``, numbering atoms not seen before."""
        bits = self._bits
        out = 0
        for atom in atoms:
            bit = bits.get(atom)
            if bit is None:
                bit = bits[atom] = 1 << len(bits)
            out |= bit
        return out

    def holds(self, state: int, atom: Atom) -> bool:
        """Whether ``atom`` is true in ``state`` (an atom never numbered never held)."""
        bit = self._bits.get(atom)
        return bit is not None and bool(state & bit)

    def compile(self, text: str) -> Step | Refusal:
        """The step for the canonical action line ``text`` (``(name arg ...)``, lower case, one
        space between words, as :func:`~iterdeploy.simulator.planning.plan_text.action_text`
        writes it), compiled and cached on first use."""
        found = self.steps.get(text)
        if found is not None:
            return found
        with self._lock:
            found = self._compile(text)
            if len(self.steps) < MAX_CACHED_STEPS:
                self.steps[text] = found
        return found

    def _compile(self, text: str) -> Step | Refusal:
        name, *rest = text[1:-1].split(" ")
        args = tuple(rest)
        schema = self._schemas.get(name)
        if schema is None:
            return Refusal("unknown_action", f": no action named {name!r}; known: {self._known}")
        if len(args) != schema.arity:
            return Refusal("wrong_arity", f": {name} takes {schema.arity} arguments, got {len(args)}")
        unknown = [a for a in args if a not in self._objects]
        if unknown:
            return Refusal("unknown_object", f": unknown object(s) {unknown}")
        table, pre, add, delete, negative = schema.substitution
        values = table + args
        mask = self.mask
        return (mask([g(values) for g in pre]), mask([g(values) for g in negative]),
                ~mask([g(values) for g in delete]), mask([g(values) for g in add]), schema, args)


def replay_of(task: GroundTask) -> Replay:
    """The task's :class:`Replay`, built on first use and kept with the task."""
    replay = task._replay
    if replay is None:
        replay = Replay(task)
        object.__setattr__(task, "_replay", replay)
    return replay
