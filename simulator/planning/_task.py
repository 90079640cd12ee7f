"""The grounded planning task: the one data structure every later stage sees.

Parsing (:mod:`iterdeploy.simulator.planning._pddl`) produces a :class:`GroundTask`; the
validator, the reference planner, prompt rendering and the task generators only ever see this
structure, never a PDDL syntax tree. States are frozensets of atoms and an action application is a
subset test plus a set difference and union; the validator compiles the same semantics into
bitmasks per task (:mod:`iterdeploy.simulator.planning._replay`).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from iterdeploy.simulator.planning._replay import Replay

Atom = tuple[str, ...]
"""A ground atom: predicate name followed by object names, all lower case, e.g. ``("on", "b1", "b2")``."""

State = frozenset[Atom]

_Getters = tuple["Callable[[tuple[str, ...]], Atom]", ...]


@dataclass(frozen=True)
class ActionSchema:
    """A lifted STRIPS action: parameters and atom templates over those parameters.

    Templates hold parameter names (``?ob``) or constants in argument positions; grounding an
    action substitutes objects for parameters. ``negative_preconditions`` are atoms that must be
    false (PDDL ``:negative-preconditions``, e.g. ``(not (at-ferry ?to))``).
    """

    name: str
    parameters: tuple[str, ...]
    preconditions: tuple[Atom, ...]
    add_effects: tuple[Atom, ...]
    delete_effects: tuple[Atom, ...]
    negative_preconditions: tuple[Atom, ...] = ()

    @property
    def arity(self) -> int:
        """Number of parameters an action line must supply."""
        return len(self.parameters)

    def ground(self, args: tuple[str, ...]) -> GroundAction:
        """Substitute ``args`` for the parameters (the caller checks arity)."""
        if len(args) != len(self.parameters):
            raise ValueError(f"{self.name} takes {len(self.parameters)} arguments, got {len(args)}")
        table, pre, add, delete, negative = self.substitution
        values = table + args
        return GroundAction(
            name=self.name,
            args=args,
            preconditions=frozenset([g(values) for g in pre]),
            add_effects=frozenset([g(values) for g in add]),
            delete_effects=frozenset([g(values) for g in delete]),
            negative_preconditions=frozenset([g(values) for g in negative]),
        )

    @functools.cached_property
    def substitution(self) -> tuple[tuple[str, ...], _Getters, _Getters, _Getters, _Getters]:
        """Each template as one C-level getter over ``table + args``, so grounding builds every
        atom with one call instead of a Python loop over its arguments (grounding is the inner
        loop of the reference planner and of compiling a task for the validator).

        ``table`` holds the templates' predicate names and constants; a parameter reads its
        argument after the table (the last position, when a parameter name repeats, as
        ``dict(zip(parameters, args))`` would bind it).
        """
        position = {p: i for i, p in enumerate(self.parameters)}
        table: list[str] = []
        slot: dict[str, int] = {}

        def index(word: str, is_argument: bool) -> int:
            if is_argument and word in position:
                return -1 - position[word]  # resolved below, once the table is complete
            if word not in slot:
                slot[word] = len(table)
                table.append(word)
            return slot[word]

        raw = [[[index(t[0], False), *(index(a, True) for a in t[1:])] for t in group]
               for group in (self.preconditions, self.add_effects, self.delete_effects,
                             self.negative_preconditions)]
        size = len(table)

        def getter(indices: list[int]) -> Callable[[tuple[str, ...]], Atom]:
            resolved = [i if i >= 0 else size - 1 - i for i in indices]
            if len(resolved) == 1:  # itemgetter of one index returns the item, not a 1-tuple
                only = resolved[0]
                return lambda values: (values[only],)
            return cast(Callable[[tuple[str, ...]], Atom], operator.itemgetter(*resolved))

        pre, add, delete, negative = (tuple(getter(t) for t in group) for group in raw)
        return tuple(table), pre, add, delete, negative

@dataclass(frozen=True)
class GroundAction:
    """One action instance: applicable when its preconditions are a subset of the state (and
    none of its negative preconditions is in it)."""

    name: str
    args: tuple[str, ...]
    preconditions: frozenset[Atom]
    add_effects: frozenset[Atom]
    delete_effects: frozenset[Atom]
    negative_preconditions: frozenset[Atom] = frozenset()

    def is_applicable(self, state: State) -> bool:
        """True when every precondition holds in ``state`` and no negative one does."""
        return self.preconditions <= state and self.negative_preconditions.isdisjoint(state)

    def apply(self, state: State) -> State:
        """Successor state (STRIPS semantics: delete first, then add)."""
        return (state - self.delete_effects) | self.add_effects

    def to_pddl(self) -> str:
        """The action as a PDDL plan line, e.g. ``(unstack b1 b2)``."""
        return "(" + " ".join((self.name, *self.args)) + ")"


@dataclass(frozen=True)
class GroundTask:
    """A planning task ready for validation, search and prompting.

    ``params`` tags the task with its generator's size parameters (e.g. ``{"n_blocks": 5}``) so
    capability can be reported by size; ``optimal_length`` is filled in when the reference planner
    proved it. ``objects`` are the problem's objects and the domain's constants.
    """

    domain: str
    name: str
    objects: tuple[str, ...]
    init: State
    goal: frozenset[Atom]
    schemas: tuple[ActionSchema, ...]
    params: tuple[tuple[str, int], ...] = ()
    optimal_length: int | None = None
    object_types: tuple[tuple[str, str], ...] = ()
    """(object, declared type) pairs for typed domains, empty otherwise. Types are compiled into
    static ``("type:T", object)`` atoms of ``init`` and matching schema preconditions, so nothing
    else needs to know about them; this field only lets a task be written back as PDDL."""
    _schema_index: dict[str, ActionSchema] = field(
        init=False, compare=False, repr=False, hash=False
    )

    _object_set: frozenset[str] = field(init=False, compare=False, repr=False, hash=False)

    _replay: Replay | None = field(init=False, compare=False, repr=False, hash=False)
    """The validator's compiled form of this task (atoms as bits, action lines compiled once),
    built on first validation by :func:`~iterdeploy.simulator.planning._replay.replay_of`."""

    def __post_init__(self) -> None:
        # not init fields, so ``dataclasses.replace`` rebuilds them from the new values
        object.__setattr__(self, "_schema_index", {s.name: s for s in self.schemas})
        object.__setattr__(self, "_object_set", frozenset(self.objects))
        object.__setattr__(self, "_replay", None)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the validator's cache (it holds a lock, and is rebuilt on demand)."""
        return {**self.__dict__, "_replay": None}

    @property
    def object_set(self) -> frozenset[str]:
        """The objects as a set (for membership tests on the validation hot path)."""
        return self._object_set

    def schema(self, name: str) -> ActionSchema | None:
        """The action schema called ``name`` (lower case), or None."""
        return self._schema_index.get(name)

    def goal_reached(self, state: State) -> bool:
        """True when every goal atom holds in ``state``."""
        return self.goal <= state

    @property
    def size(self) -> int:
        """The task's main size parameter (the first generator parameter, else the object count)."""
        return self.params[0][1] if self.params else len(self.objects)

    def param_dict(self) -> dict[str, int]:
        """The generator parameters as a plain dict."""
        return dict(self.params)

    def applicable_actions(self, state: State) -> list[GroundAction]:
        """Every ground action applicable in ``state`` (used by the reference planner).

        Grounds by matching preconditions against the state one precondition at a time, so cost
        grows with the state, not with |objects|^arity. Parameters that no precondition mentions
        range over all objects. Repeated arguments (``stack b1 b1``) are allowed, as in PDDL; they
        are returned only when their preconditions hold.
        """
        by_predicate: dict[tuple[str, int], list[Atom]] = {}
        for atom in state:
            by_predicate.setdefault((atom[0], len(atom)), []).append(atom)
        actions: list[GroundAction] = []
        for schema in self.schemas:
            for binding in _bindings(schema, by_predicate, self.objects):
                args = tuple(binding[p] for p in schema.parameters)
                action = schema.ground(args)
                if action.is_applicable(state):
                    actions.append(action)
        return actions


def _bindings(
    schema: ActionSchema,
    by_predicate: dict[tuple[str, int], list[Atom]],
    objects: tuple[str, ...],
) -> list[dict[str, str]]:
    """Parameter bindings consistent with the schema's preconditions in the indexed state."""
    partial: list[dict[str, str]] = [{}]
    for pre in schema.preconditions:
        candidates = by_predicate.get((pre[0], len(pre)), [])
        nxt: list[dict[str, str]] = []
        for binding in partial:
            for atom in candidates:
                new = dict(binding)
                ok = True
                for template, value in zip(pre[1:], atom[1:], strict=True):
                    if template.startswith("?") and template in schema.parameters:
                        if new.setdefault(template, value) != value:
                            ok = False
                            break
                    elif template != value:
                        ok = False
                        break
                if ok:
                    nxt.append(new)
        partial = nxt
        if not partial:
            return []
    # parameters not constrained by any precondition range over all objects
    result: list[dict[str, str]] = []
    for binding in partial:
        free = [p for p in schema.parameters if p not in binding]
        stack = [binding]
        for p in free:
            stack = [{**b, p: o} for b in stack for o in objects]
        result.extend(stack)
    unique = {tuple(sorted(b.items())): b for b in result}
    return list(unique.values())
