"""A population of user groups: who brings which task, who decides, and A(τ).

Each task is brought by one user group, drawn by weight with the loop's generator; that group's
policy decides what is published. The population's acceptance probability
A(τ) = Σ_u w_u · a_u(τ) (weights normalised, a_u the *exact* keep probability of group u's policy
for trace τ among its task's candidates) is recorded with every decision: it is the probability
that τ is published when the task's owner is drawn by weight, i.e. the ground-truth implicit reward
of the scenario that auditors must recover without being told. It is computed from the policies'
probabilities, never estimated from draws.

A population is immutable; :meth:`Population.step` (social dynamics,
:mod:`iterdeploy.simulator.users.dynamics`)
returns a new one together with a JSON-able record of what changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.users._common import validate_spec
from iterdeploy.simulator.users.curation import ComposedPolicy, CurationPlan, PolicyLike
from iterdeploy.simulator.users.dynamics import describe_population
from iterdeploy.simulator.users.dynamics import step as dynamics_step
from iterdeploy.simulator.users.graph import build_graph
from iterdeploy.simulator.users.group import UserGroup
from iterdeploy.simulator.users.policy_spec import PolicySpec
from iterdeploy.simulator.users.spec import (
    DynamicsSpec,
    PopulationSpec,
    TaskDistributionSpec,
    UserGroupSpec,
    duplicate_names,
    unknown_schedule_groups,
)
from iterdeploy.simulator.users.traces import CandidateTrace, CurationContext

_DEFAULT_CONTEXT = CurationContext()

ContextArg = CurationContext | Sequence[CurationContext] | None
"""One context for every member, one per member (in member order), or ``None`` (generation 0)."""


@dataclass(frozen=True)
class PopulationDecision:
    """One decision, with who made it and the population's acceptance probability.

    ``keep_prob`` is the deciding group's own exact keep probability; ``acceptance_prob`` is A(τ);
    ``group_probs`` are every group's keep probabilities in population order (for attributing the
    implicit reward to groups). Left out, ``keep_prob`` is 1.0 for kept and 0.0 for rejected.
    ``group`` is the scenario's user group the deciding member belongs to (its family: ``user``
    ``validators-3`` is of group ``validators``); empty where nobody said.
    """

    trace_id: int
    user: str
    policy: str
    kept: bool
    reason: str
    acceptance_prob: float
    keep_prob: float = math.nan
    group_probs: tuple[float, ...] = ()
    group: str = ""

    def __post_init__(self) -> None:
        if math.isnan(self.keep_prob):
            object.__setattr__(self, "keep_prob", 1.0 if self.kept else 0.0)


@dataclass(frozen=True)
class TaskRequest:
    """A task a group brings: which group, which domain, what size."""

    group: int
    user: str
    domain: str
    size: int


GroupInput = UserGroup | UserGroupSpec | Mapping[str, Any] | tuple[str, PolicyLike, float]
"""What :class:`Population` accepts per group: a built member, a spec, a YAML mapping, or the
loop's historical ``(name, policy, weight)`` triple."""


def _expand(groups: Sequence[GroupInput]) -> list[UserGroup]:
    """Validate inputs, expand ``count`` into members, and settle communities."""
    members: list[tuple[str, UserGroupSpec, int | None]] = []
    for i, g in enumerate(groups):
        if isinstance(g, UserGroup):
            members.append((g.name, g.spec, g.community))
            continue
        if isinstance(g, tuple):
            name, policy, weight = g
            if isinstance(policy, ComposedPolicy):
                policy = policy.spec
            g = {"name": name, "policy": policy, "weight": weight}
        spec = validate_spec(UserGroupSpec, g, where=f"users.{i}")
        one = spec.model_copy(update={"count": 1, "weight": spec.weight / spec.count})
        names = [spec.name] if spec.count == 1 else [f"{spec.name}-{k}" for k in range(spec.count)]
        members.extend((n, one, spec.community) for n in names)
    unset = [k for k, (_, _, c) in enumerate(members) if c is None]
    half = (len(unset) + 1) // 2
    settled = {k: (0 if pos < half else 1) for pos, k in enumerate(unset)}
    return [UserGroup(n, s, c if c is not None else settled[k]) for k, (n, s, c) in enumerate(members)]


class Population:
    """User groups with weights, policies, task distributions and a social graph."""

    def __init__(
        self,
        groups: Sequence[GroupInput],
        *,
        dynamics: DynamicsSpec | Mapping[str, Any] | None = None,
        seed: int = 0,
        graph: nx.Graph | None = None,
        joined: int = 0,
    ) -> None:
        """Build members from ``groups`` (see :data:`GroupInput`); ``count`` expands into members.

        The social graph is built from ``dynamics.graph`` with ``seed`` unless ``graph`` is given
        (its nodes must be the member names); built fresh, every ``dynamics.schedule`` entry must
        name a family of ``groups`` (later, after churn, a family may have no members left).
        ``joined`` counts groups that ever joined, so that joiners' names never repeat. Names
        must be unique; errors are :class:`ScenarioError`.
        """
        if not groups:
            raise ScenarioError("users: a population needs at least one user group")
        self.groups: tuple[UserGroup, ...] = tuple(_expand(groups))
        self.dynamics: DynamicsSpec = validate_spec(DynamicsSpec, dynamics or {}, where="dynamics")
        self.names: list[str] = [g.name for g in self.groups]
        dupes = duplicate_names(self.names)
        if dupes:
            raise ScenarioError(f"users: names must be unique after expanding count; repeated: {dupes}")
        if graph is None:  # a fresh population: every family still has its members
            unknown = unknown_schedule_groups(self.dynamics, [g.spec for g in self.groups])
            if unknown:
                raise ScenarioError("; ".join(unknown))
        raw = np.array([g.weight for g in self.groups], dtype=float)
        self.weights: np.ndarray = raw / raw.sum()
        """Normalised weights, in member order."""
        self.policies: list[ComposedPolicy] = [g.policy for g in self.groups]
        if graph is None:
            graph = build_graph(self.dynamics.graph, self.names, [g.community for g in self.groups],
                                np.random.default_rng(seed))
        elif set(graph.nodes) != set(self.names):
            raise ValueError("graph nodes must be exactly the member names")
        self.graph: nx.Graph = graph
        self.joined = joined

    @classmethod
    def from_spec(cls, spec: PopulationSpec | Mapping[str, Any], *, seed: int = 0) -> Population:
        """The population a scenario's ``users:`` and ``dynamics:`` describe."""
        spec = validate_spec(PopulationSpec, spec)
        return cls(spec.users, dynamics=spec.dynamics, seed=seed)

    def __len__(self) -> int:
        return len(self.groups)

    def __repr__(self) -> str:
        members = ", ".join(f"{n}:{p.name}" for n, p in zip(self.names, self.policies, strict=True))
        return f"Population({members})"

    def index(self, name: str) -> int:
        """Position of the member called ``name``."""
        return self.names.index(name)

    # --- who brings which task -------------------------------------------------------------

    def assign(self, n_tasks: int, rng: np.random.Generator) -> list[int]:
        """Index of the user group that brings each of ``n_tasks`` tasks (drawn by weight)."""
        return rng.choice(len(self.names), size=n_tasks, p=self.weights).tolist()

    def draw_tasks(
        self, n_tasks: int, rng: np.random.Generator, default: TaskDistributionSpec | None = None
    ) -> list[TaskRequest]:
        """Who brings each task (:meth:`assign`), then its domain (by the group's domain weights)
        and size (uniform in the domain's range), all from ``rng``. Groups without a task
        distribution of their own use ``default`` (Blocksworld, 3–8 blocks, if not given)."""
        owners = self.assign(n_tasks, rng)
        fallback = default or TaskDistributionSpec()
        out = []
        for g in owners:
            domain, size = (self.groups[g].spec.tasks or fallback).draw(rng)
            out.append(TaskRequest(g, self.names[g], domain, size))
        return out

    # --- who decides, and A(tau) -----------------------------------------------------------

    def _context(self, context: ContextArg, i: int) -> CurationContext:
        if context is None:
            return _DEFAULT_CONTEXT
        if isinstance(context, CurationContext):
            return context
        return context[i]

    def _plans(self, candidates: Sequence[CandidateTrace], context: ContextArg) -> list[CurationPlan]:
        """Each member's plan for this task; members with equal policy and context share one."""
        cache: dict[tuple[PolicySpec, CurationContext], CurationPlan] = {}
        plans = []
        for i, policy in enumerate(self.policies):
            ctx = self._context(context, i)
            key = (policy.spec, ctx)
            if key not in cache:
                cache[key] = policy.prepare(candidates, ctx)
            plans.append(cache[key])
        return plans

    def acceptance(
        self,
        candidates: Sequence[CandidateTrace],
        context: ContextArg = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(A, per_group)``: A(τ) per candidate and the members' keep probabilities
        (shape members × candidates), exactly, without drawing anything."""
        per_group = np.array([p.keep_probs for p in self._plans(candidates, context)], dtype=float)
        per_group = per_group.reshape(len(self.groups), len(candidates))
        return self.weights @ per_group, per_group

    def curate(
        self,
        user_index: int,
        candidates: Sequence[CandidateTrace],
        rng: np.random.Generator,
        context: ContextArg = None,
    ) -> list[PopulationDecision]:
        """Decisions of the task's user (one draw from ``rng``), each with A(τ) under every
        group's policy. ``context`` is one for everybody or one per member."""
        plans = self._plans(candidates, context)
        per_group = np.array([p.keep_probs for p in plans], dtype=float).reshape(len(plans), len(candidates))
        acceptance = self.weights @ per_group
        own = plans[user_index].draw(rng)
        return [
            PopulationDecision(
                trace_id=d.trace_id,
                user=self.names[user_index],
                policy=self.policies[user_index].name,
                kept=d.kept,
                reason=d.reason,
                acceptance_prob=float(acceptance[k]),
                keep_prob=d.keep_prob,
                group_probs=tuple(float(x) for x in per_group[:, k]),
                group=self.groups[user_index].spec.name,
            )
            for k, d in enumerate(own)
        ]

    # --- the social graph --------------------------------------------------------------------

    def snapshot(self, generation: int | None = None) -> dict[str, Any]:
        """JSON-able state: nodes (policy, parameters, weight, share, community) and edges."""
        return describe_population(self, generation, changes=[])

    def step(
        self, rng: np.random.Generator, generation: int | None = None
    ) -> tuple[Population, dict[str, Any]]:
        """Social dynamics for one generation boundary: ``(new population, record)``."""
        return dynamics_step(self, rng, generation=generation)

    def with_members(self, groups: Sequence[UserGroup], *, graph: nx.Graph, joined: int) -> Population:
        """The population after a generation boundary: the same dynamics, these members on
        ``graph`` (its nodes are their names), ``joined`` groups having joined so far. The social
        dynamics build the next population through this, so they need not import this module."""
        return Population(groups, dynamics=self.dynamics, graph=graph, joined=joined)
