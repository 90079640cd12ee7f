"""What a task generator is: named, range-checked size parameters and a seeded build function.

Every domain registers one :class:`DomainSpec`. Parameters are plain integers with a closed range
and a default; a default may be derived from the parameters before it (``n_locations`` follows
``n_cars``), so naming only the first parameter, the domain's main size, always gives a consistent
task. That is what lets a scenario say "Ferry of size 5" without knowing Ferry's other knobs.

A build function returns the task and a *witness*: a procedure that writes a valid plan for it.
Generators construct tasks that are solvable by construction, and the witness is the construction
made executable; :func:`iterdeploy.simulator.planning.generators.generate` replays it on every task it
returns, so "solvable" is checked, not assumed, at every size (the witness is usually not optimal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from iterdeploy.simulator.errors import IterdeployError
from iterdeploy.simulator.planning._task import GroundTask
from iterdeploy.simulator.registry import UnknownNameError


class GeneratorParamError(IterdeployError, ValueError):
    """An unknown domain, an unknown parameter or a value out of range; the message names them."""


class UnknownDomainError(UnknownNameError, GeneratorParamError):
    """A domain name no generator is registered under (the message lists the close and known ones)."""


@dataclass(frozen=True)
class ParamSpec:
    """One integer size parameter of a generator."""

    name: str
    help: str
    low: int
    high: int
    default: int | Callable[[Mapping[str, int]], int]
    """A constant, or a function of the parameters resolved before this one."""
    default_doc: str = ""
    """How a derived default is computed, for ``--help`` (e.g. ``"n_cars + 1"``)."""

    def __post_init__(self) -> None:
        if callable(self.default) and not self.default_doc:
            raise ValueError(f"parameter {self.name!r}: a derived default needs default_doc for --help")
        if not callable(self.default) and not self.low <= self.default <= self.high:
            raise ValueError(
                f"parameter {self.name!r}: default {self.default} is outside {self.low}..{self.high}"
            )

    def default_for(self, resolved: Mapping[str, int]) -> int:
        """The default given the parameters resolved so far, clipped into ``[low, high]``."""
        value = self.default(resolved) if callable(self.default) else self.default
        return max(self.low, min(self.high, int(value)))

    def describe(self) -> str:
        """One line for ``--help``: name, meaning, range and default."""
        default = self.default_doc or str(self.default)
        return f"{self.name}: {self.help} [{self.low}..{self.high}, default {default}]"


Witness = Callable[["PlanBuilder"], None]
"""Writes a valid plan for a task through a :class:`PlanBuilder`."""

Build = Callable[[dict[str, int], np.random.Generator, str | None], tuple[GroundTask, Witness]]
"""``build(params, rng, name) -> (task, witness)``; params are resolved and checked."""


@dataclass(frozen=True)
class DomainSpec:
    """A registered generator: the domain, its parameters and how to build a task."""

    name: str
    """Registry name, e.g. ``"rovers"`` (the domain file is ``domains/<name>.pddl``)."""
    summary: str
    """One sentence on what a task of this domain is, for ``--help``."""
    params: tuple[ParamSpec, ...]
    """In order; the first is the main size (``GroundTask.size``) and later defaults follow it."""
    build: Build
    check: Callable[[Mapping[str, int]], str | None] = field(default=lambda _p: None)
    """Constraints between parameters: a message naming them when violated, else None."""
    count: Callable[[Mapping[str, int]], int] | None = None
    """The exact number of distinct tasks (distinct initial state and goal) ``build`` can return
    for resolved parameters, where that is cheap to compute (Blocksworld); None where it is not.
    A scenario asking for more distinct tasks than its sizes hold is refused with this number."""

    def describe(self) -> str:
        """Multi-line description of the domain and its parameters (for ``--help``)."""
        lines = [f"{self.name}: {self.summary}"]
        lines += [f"  {p.describe()}" for p in self.params]
        return "\n".join(lines)


@dataclass(frozen=True)
class GeneratedTask:
    """A generated task: the grounded task, its PDDL problem text, its parameters and a witness.

    ``problem_pddl`` is the problem for the shipped domain file (:attr:`domain_file`); loading the
    two with :func:`iterdeploy.simulator.planning.load_task` gives back :attr:`task` (tags included, the
    optimal length aside, which lives only in :attr:`task`).
    """

    domain: str
    """Registry name, e.g. ``"rovers"`` (``task.domain`` is the PDDL name, e.g. ``"rover"``)."""
    task: GroundTask
    problem_pddl: str
    params: Mapping[str, int]
    witness_plan: tuple[str, ...]
    """A valid plan (one ``(action args)`` per entry) that proves the task solvable; not optimal."""

    @property
    def name(self) -> str:
        """The problem name."""
        return self.task.name

    @property
    def optimal_length(self) -> int | None:
        """The proven optimal plan length, when a planner found it (see ``tag_optimal_length``)."""
        return self.task.optimal_length

    @property
    def domain_file(self) -> Path:
        """The shipped PDDL domain file this problem is for."""
        from iterdeploy.simulator.planning._pddl import domain_path

        return domain_path(self.domain)


class PlanBuilder:
    """Applies actions to a task's state one at a time, refusing any that is not applicable.

    Witness procedures use it to write plans while reading the current state, so they need not
    track the state themselves, and a mistake in a witness fails at the step that is wrong.
    """

    def __init__(self, task: GroundTask) -> None:
        self.task = task
        self.state = task.init
        self.actions: list[str] = []

    def do(self, name: str, *args: str) -> None:
        """Apply ``(name args...)``.

        Raises:
            RuntimeError: when the action is unknown or not applicable (a generator bug).
        """
        schema = self.task.schema(name)
        if schema is None or schema.arity != len(args):
            raise RuntimeError(f"{self.task.domain}: witness uses unknown action ({name} {' '.join(args)})")
        action = schema.ground(tuple(args))
        if not action.is_applicable(self.state):
            missing = sorted(action.preconditions - self.state)
            raise RuntimeError(
                f"{self.task.domain}: witness step {len(self.actions) + 1} {action.to_pddl()} is not "
                f"applicable; missing {missing}"
            )
        self.state = action.apply(self.state)
        self.actions.append(action.to_pddl())

    def holds(self, *atom: str) -> bool:
        """True when the atom is in the current state."""
        return tuple(atom) in self.state

    def find(self, predicate: str, *pattern: str | None) -> list[tuple[str, ...]]:
        """Arguments of the current atoms of ``predicate`` matching ``pattern`` (None = any), sorted."""
        return sorted(
            atom[1:] for atom in self.state
            if atom[0] == predicate and len(atom) == len(pattern) + 1
            and all(p is None or p == a for p, a in zip(pattern, atom[1:], strict=True))
        )

    def the(self, predicate: str, *pattern: str | None) -> tuple[str, ...]:
        """The one matching atom's arguments (see :meth:`find`).

        Raises:
            RuntimeError: when there is not exactly one.
        """
        found = self.find(predicate, *pattern)
        if len(found) != 1:
            raise RuntimeError(f"{self.task.domain}: expected one ({predicate} {pattern}), found {found}")
        return found[0]
