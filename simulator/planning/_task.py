"""The grounded planning task: the one data structure every later stage sees.

Parsing (pddlgym, behind :mod:`simulator.planning._pddl`) produces a :class:`GroundTask`; the
validator, the reference planner, prompt rendering and the task generators only ever see this
structure, never a PDDL syntax tree. States are frozensets of atoms and an action application is a
subset test plus a set difference and union, which is what makes validation fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Atom = tuple[str, ...]
"""A ground atom: predicate name followed by object names, all lower case, e.g. ``("on", "b1", "b2")``."""

State = frozenset[Atom]


@dataclass(frozen=True)
class ActionSchema:
    """A lifted STRIPS action: parameters and atom templates over those parameters.

    Templates hold parameter names (``?ob``) or constants in argument positions; grounding an
    action substitutes objects for parameters.
    """

    name: str
    parameters: tuple[str, ...]
    preconditions: tuple[Atom, ...]
    add_effects: tuple[Atom, ...]
    delete_effects: tuple[Atom, ...]

    @property
    def arity(self) -> int:
        """Number of parameters an action line must supply."""
        return len(self.parameters)

    def ground(self, args: tuple[str, ...]) -> GroundAction:
        """Substitute ``args`` for the parameters (the caller checks arity)."""
        binding = dict(zip(self.parameters, args, strict=True))

        def subst(templates: tuple[Atom, ...]) -> frozenset[Atom]:
            return frozenset(
                (t[0], *(binding.get(a, a) for a in t[1:])) for t in templates
            )

        return GroundAction(
            name=self.name,
            args=args,
            preconditions=subst(self.preconditions),
            add_effects=subst(self.add_effects),
            delete_effects=subst(self.delete_effects),
        )


@dataclass(frozen=True)
class GroundAction:
    """One action instance: applicable when its preconditions are a subset of the state."""

    name: str
    args: tuple[str, ...]
    preconditions: frozenset[Atom]
    add_effects: frozenset[Atom]
    delete_effects: frozenset[Atom]

    def is_applicable(self, state: State) -> bool:
        """True when every precondition holds in ``state``."""
        return self.preconditions <= state

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
    proved it.
    """

    domain: str
    name: str
    objects: tuple[str, ...]
    init: State
    goal: frozenset[Atom]
    schemas: tuple[ActionSchema, ...]
    params: tuple[tuple[str, int], ...] = ()
    optimal_length: int | None = None
    _schema_index: dict[str, ActionSchema] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )

    def __post_init__(self) -> None:
        self._schema_index.update({s.name: s for s in self.schemas})

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

        Grounds by matching preconditions against the state one schema parameter at a time, so
        cost grows with the state, not with |objects|^arity.
        """
        actions: list[GroundAction] = []
        for schema in self.schemas:
            for binding in _bindings(schema, state, self.objects):
                args = tuple(binding[p] for p in schema.parameters)
                action = schema.ground(args)
                if action.is_applicable(state):
                    actions.append(action)
        return actions


def _bindings(
    schema: ActionSchema, state: State, objects: tuple[str, ...]
) -> list[dict[str, str]]:
    """Parameter bindings consistent with the schema's preconditions in ``state``."""
    partial: list[dict[str, str]] = [{}]
    for pre in schema.preconditions:
        nxt: list[dict[str, str]] = []
        for binding in partial:
            for atom in state:
                if atom[0] != pre[0] or len(atom) != len(pre):
                    continue
                new = dict(binding)
                ok = True
                for template, value in zip(pre[1:], atom[1:], strict=True):
                    if template.startswith("?"):
                        if new.setdefault(template, value) != value:
                            ok = False
                            break
                    elif template != value:
                        ok = False
                        break
                if ok:
                    nxt.append(new)
        partial = nxt
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
