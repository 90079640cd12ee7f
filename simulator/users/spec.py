"""The YAML schema of the user population (``users:``) and its social dynamics (``dynamics:``).

Every field has a default, every model is frozen with unknown keys forbidden, and compact forms are
accepted where a full mapping would be noise: ``policy: validity``, ``tasks: blocksworld``,
``graph: two_cluster``, ``influence: degroot``. A scenario loader embeds :class:`UserGroupSpec`
and :class:`DynamicsSpec` (or the whole :class:`PopulationSpec`); the syntax is documented in
``docs/users.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, StringConstraints, field_validator, model_validator

from iterdeploy.simulator.limits import MAX_GENERATIONS, MAX_WEIGHT
from iterdeploy.simulator.users._common import FrozenSpec
from iterdeploy.simulator.users.policy_spec import PolicySpec
from iterdeploy.simulator.users.stages import STAGES

DomainName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]*$")]
"""A PDDL domain name as the planning package registers it, e.g. ``blocksworld``."""


class DomainTasks(FrozenSpec):
    """Tasks of one domain a user group brings: an inclusive size range, drawn uniformly."""

    min: int = Field(3, ge=1, le=1000)
    """Smallest task size (blocks for Blocksworld), within the domain's generator range for its
    main parameter (``iterdeploy tasks --help``; checked by the scenario)."""
    max: int = Field(8, ge=1, le=1000)
    """Largest task size, min ≤ max, within the same range."""
    weight: float = Field(1.0, gt=0.0, le=MAX_WEIGHT, allow_inf_nan=False)
    """Relative share of this domain among the group's tasks: finite, 0 < weight ≤ 1e6."""

    @model_validator(mode="after")
    def _ordered(self) -> DomainTasks:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class TaskDistributionSpec(FrozenSpec):
    """Which domains a group's tasks come from and how large they are.

    Two forms: ``tasks: blocksworld`` (one domain, default sizes) and a mapping,
    ``tasks: {blocksworld: {min: 2, max: 6}, rovers: {}}``. A list of names was a third way to
    say what a mapping with empty values says; it is refused with a hint, so a scenario has one
    way to name several domains.
    """

    domains: dict[DomainName, DomainTasks] = Field(
        default_factory=lambda: {"blocksworld": DomainTasks()}, min_length=1
    )
    """Domain → sizes and share."""

    @model_validator(mode="before")
    @classmethod
    def _compact(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"domains": {data: {}}}
        if isinstance(data, Sequence) and not isinstance(data, str | bytes):
            names = ", ".join(f"{d}: {{}}" for d in data)
            raise ValueError(f"write several domains as a mapping, e.g. {{{names}}}, not a list")
        if isinstance(data, Mapping) and data and "domains" not in data:
            return {"domains": {k: ({} if v is None else v) for k, v in data.items()}}
        return data

    def without(self, names: Sequence[str]) -> TaskDistributionSpec:
        """The same distribution less the domains in ``names`` (the others keep their shares);
        itself when it holds none of them."""
        if not set(names) & set(self.domains):
            return self
        return TaskDistributionSpec(domains={d: t for d, t in self.domains.items() if d not in names})

    def draw(self, rng: np.random.Generator) -> tuple[str, int]:
        """One task's (domain, size): the domain by weight, the size uniform in its range.

        With a single domain no draw is spent on choosing it, so a one-domain distribution
        consumes ``rng`` exactly as a plain size range does (a scenario that names its one domain
        explicitly runs the same tasks as one that leaves it implicit).
        """
        names = list(self.domains)
        if len(names) == 1:
            domain = names[0]
        else:
            w = np.array([self.domains[d].weight for d in names])
            domain = names[int(rng.choice(len(names), p=w / w.sum()))]
        sizes = self.domains[domain]
        return domain, int(rng.integers(sizes.min, sizes.max + 1))


class UserGroupSpec(FrozenSpec):
    """A group of simulated users: a task distribution, a curation policy, a share of the traffic
    and a place in the social graph."""

    name: str = Field("validators", min_length=1, max_length=80)
    """Recorded with every decision; with ``count > 1`` the members are ``name-0``, ``name-1``, ..."""
    weight: float = Field(1.0, gt=0.0, le=MAX_WEIGHT, allow_inf_nan=False)
    """Share of the traffic: finite, 0 < weight ≤ 1e6 (normalised over the population; split
    evenly over ``count``)."""
    policy: PolicySpec = PolicySpec()
    """Curation policy: a preset name, a preset with parameters, or stages + selector."""
    tasks: TaskDistributionSpec | None = None
    """What this group asks the model to solve; ``None``: the scenario's deployment sizes on its
    domain (so a scenario states a size range once, not per group)."""
    count: int = Field(1, ge=1, le=10_000)
    """Number of identical members, 1 to 10,000, each its own node in the social graph."""
    community: Literal[0, 1] | None = None
    """Community in a ``two_cluster`` graph; ``None``: first half of the groups 0, the rest 1."""
    stubbornness: float | None = Field(None, ge=0.0, le=1.0, allow_inf_nan=False)
    """DeGroot self-weight of this group, in [0, 1] (overrides ``dynamics.influence.self_weight``)."""


class GraphSpec(FrozenSpec):
    """The social graph between user groups (one node per member), seeded."""

    kind: Literal["complete", "two_cluster", "erdos_renyi", "small_world", "empty"] = "complete"
    """Graph family; ``two_cluster`` is the polarised scenario."""
    p: float = Field(0.3, ge=0.0, le=1.0, allow_inf_nan=False)
    """``erdos_renyi``: probability of each edge, in [0, 1]."""
    p_in: float = Field(0.5, ge=0.0, le=1.0, allow_inf_nan=False)
    """``two_cluster``: edge probability inside a community, in [0, 1]."""
    p_out: float = Field(0.05, ge=0.0, le=1.0, allow_inf_nan=False)
    """``two_cluster``: edge probability between the communities, in [0, 1]."""
    k: int = Field(4, ge=2, le=1000)
    """``small_world``: each node's neighbours in the ring before rewiring, 2 to 1000."""
    rewire: float = Field(0.1, ge=0.0, le=1.0, allow_inf_nan=False)
    """``small_world``: rewiring probability (Watts-Strogatz beta), in [0, 1]."""

    @model_validator(mode="before")
    @classmethod
    def _compact(cls, data: Any) -> Any:
        return {"kind": data} if isinstance(data, str) else data


class InfluenceSpec(FrozenSpec):
    """How neighbours move a group's policy between generations."""

    kind: Literal["none", "degroot", "threshold"] = "none"
    """``degroot``: average numeric policy parameters with neighbours sharing that parameter;
    ``threshold``: switch to the policy most common among neighbours when its share is high enough."""
    self_weight: float = Field(0.5, ge=0.0, le=1.0, allow_inf_nan=False)
    """DeGroot weight of a group's own value (stubbornness), in [0, 1]; neighbours share the rest
    equally."""
    threshold: float = Field(0.5, gt=0.0, le=1.0, allow_inf_nan=False)
    """Imitation: minimal share of neighbours using a policy for a group to adopt it, in (0, 1]."""
    parameters: tuple[str, ...] = ()
    """DeGroot: parameters to average as ``stage.field`` (e.g. ``noisy_validator.false_accept``);
    empty = every numeric parameter."""

    @model_validator(mode="before")
    @classmethod
    def _compact(cls, data: Any) -> Any:
        return {"kind": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _known_parameters(self) -> InfluenceSpec:
        for entry in self.parameters:
            kind, _, name = entry.partition(".")
            stage = STAGES.get(kind.split("#")[0])
            if stage is None or name not in stage.model_fields or name == "kind":
                raise ValueError(
                    f"parameters: {entry!r} is not 'stage.field' with a known stage "
                    f"({sorted(STAGES)}) and one of its fields"
                )
        return self


class ChurnSpec(FrozenSpec):
    """Groups leaving and joining between generations."""

    leave: float = Field(0.0, ge=0.0, le=1.0, allow_inf_nan=False)
    """Probability that each group leaves, in [0, 1]."""
    join: float = Field(0.0, ge=0.0, le=1.0, allow_inf_nan=False)
    """Probability that each remaining group brings in one new group, in [0, 1]."""
    template: UserGroupSpec | None = None
    """Spec of joiners; ``None``: a joiner copies a random remaining group (its current policy)."""
    min_groups: int = Field(1, ge=1, le=10_000)
    """Leaving never shrinks the population below this, 1 to 10,000."""

    @model_validator(mode="after")
    def _single_template(self) -> ChurnSpec:
        if self.template is not None and self.template.count != 1:
            raise ValueError("template.count must be 1 (each joiner is one group)")
        return self


class ScheduledChange(FrozenSpec):
    """A planted, known change of what one user family rewards, from one generation on.

    The scenario author knows exactly when and for whom the implicit reward changes, so an
    auditor of reward drift can be scored against it. Unlike influence and churn it draws nothing
    at random: it is part of the scenario, not of its dynamics' chance.
    """

    generation: int = Field(ge=1, le=MAX_GENERATIONS)
    """The first generation curated under the new policy, 1 to 50 and at most the scenario's
    ``generations`` (the population that curates this generation's deployment traces);
    generation 0 is the scenario's ``users:`` as written."""
    group: str = Field(min_length=1, max_length=80)
    """A family: the ``name`` of one of the scenario's ``users:`` groups (every member switches,
    including joiners that copied one)."""
    policy: PolicySpec
    """The family's policy from then on; the same grammar as ``users[].policy``."""
    weight: float | None = Field(None, gt=0.0, le=MAX_WEIGHT, allow_inf_nan=False)
    """The family's new total weight (finite, 0 < weight ≤ 1e6), split evenly over its members at
    that boundary (as ``users[].weight`` is split over ``count``); ``None``: weights stay as
    they are."""


class DynamicsSpec(FrozenSpec):
    """Social dynamics between generations; the default changes nothing."""

    graph: GraphSpec = GraphSpec()
    """The social graph."""
    influence: InfluenceSpec = InfluenceSpec()
    """Policy influence along the edges."""
    churn: ChurnSpec = ChurnSpec()
    """Leaving and joining."""
    schedule: tuple[ScheduledChange, ...] = ()
    """Planted policy changes: family ``group`` switches to ``policy`` at ``generation``."""

    @field_validator("schedule")
    @classmethod
    def _one_change_per_group_and_generation(
        cls, schedule: tuple[ScheduledChange, ...]
    ) -> tuple[ScheduledChange, ...]:
        # two entries for one family at one boundary would leave which one wins to list order
        first: dict[tuple[str, int], int] = {}
        for i, entry in enumerate(schedule):
            key = (entry.group, entry.generation)
            if key in first:
                raise ValueError(
                    f"entry {i} ({entry.group!r} at generation {entry.generation}) repeats entry "
                    f"{first[key]}: give a family at most one change per generation"
                )
            first[key] = i
        return schedule

    def scheduled_at(self, generation: int) -> tuple[ScheduledChange, ...]:
        """The changes that take effect at the boundary into ``generation``, in file order."""
        return tuple(e for e in self.schedule if e.generation == generation)


def unknown_schedule_groups(
    dynamics: DynamicsSpec, groups: Sequence[UserGroupSpec]
) -> list[str]:
    """One problem per schedule entry whose ``group`` is none of ``groups``' families, each
    starting with the entry's key path (``dynamics.schedule.N.group``), so loaders can point at it."""
    families = list(dict.fromkeys(g.name for g in groups))
    return [
        f"dynamics.schedule.{i}.group: {e.group!r} is not a user group of this scenario; "
        f"known: {families}"
        for i, e in enumerate(dynamics.schedule)
        if e.group not in families
    ]


def member_names(groups: Sequence[UserGroupSpec]) -> list[str]:
    """Names of every member after expanding ``count``, in order."""
    names = []
    for g in groups:
        names.extend([g.name] if g.count == 1 else [f"{g.name}-{i}" for i in range(g.count)])
    return names


def duplicate_names(names: Sequence[str]) -> list[str]:
    """Names that occur more than once (decisions are recorded by name, so they must be unique)."""
    return sorted(n for n, k in Counter(names).items() if k > 1)


class PopulationSpec(FrozenSpec):
    """``users:`` and ``dynamics:`` together, checked for unique member names."""

    users: tuple[UserGroupSpec, ...] = (UserGroupSpec(),)
    """The user groups."""
    dynamics: DynamicsSpec = DynamicsSpec()
    """What happens between generations."""

    @field_validator("users")
    @classmethod
    def _unique(cls, users: tuple[UserGroupSpec, ...]) -> tuple[UserGroupSpec, ...]:
        if not users:
            raise ValueError("a population needs at least one user group")
        dupes = duplicate_names(member_names(users))
        if dupes:
            raise ValueError(f"user names must be unique after expanding count; repeated: {dupes}")
        return users

    @model_validator(mode="after")
    def _schedule_names_groups(self) -> PopulationSpec:
        problems = unknown_schedule_groups(self.dynamics, self.users)
        if problems:
            raise ValueError(problems[0])
        return self
