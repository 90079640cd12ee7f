"""One member of a user population: a node of the social graph with its own spec and policy.

Its own module because both the population (which expands a scenario's groups into members) and
the social dynamics (which replace a member's policy and bring in joiners between generations)
build members; with the class here, :mod:`iterdeploy.simulator.users.population` imports
:mod:`iterdeploy.simulator.users.dynamics` and not the other way round, so the two form no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iterdeploy.simulator.users.curation import ComposedPolicy, make_policy
from iterdeploy.simulator.users.policy_spec import PolicySpec
from iterdeploy.simulator.users.spec import UserGroupSpec


@dataclass(frozen=True)
class UserGroup:
    """One member of the population and one node of the social graph.

    ``spec`` is the member's own spec: ``count`` 1, its share of the family's weight, its current
    policy; ``spec.name`` is the family (the group name written in the scenario).
    """

    name: str
    spec: UserGroupSpec
    community: int
    policy: ComposedPolicy = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "policy", make_policy(self.spec.policy))

    @property
    def weight(self) -> float:
        """Raw (unnormalised) weight."""
        return self.spec.weight

    def with_policy(self, policy: PolicySpec, weight: float | None = None) -> UserGroup:
        """The same member with another policy (and, if given, another raw weight)."""
        update: dict[str, Any] = {"policy": policy}
        if weight is not None:
            update["weight"] = weight
        return UserGroup(self.name, self.spec.model_copy(update=update), self.community)
