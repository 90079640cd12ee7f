"""A population of user groups: who brings which task, who decides, and A(τ).

Each task is brought by one user group, drawn by weight with the loop's generator; that group's
policy decides what is published. The population's acceptance probability
A(τ) = Σ_u w_u · a_u(τ) (weights normalised) is recorded with every decision: the ground-truth
implicit reward of the scenario that auditors must recover without being told.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.users.curation import CandidateTrace, CurationPolicy, make_policy


@dataclass(frozen=True)
class PopulationDecision:
    """One decision, with who made it and the population's acceptance probability."""

    trace_id: int
    user: str
    policy: str
    kept: bool
    reason: str
    acceptance_prob: float


class Population:
    """User groups with weights and policies."""

    def __init__(self, groups: Sequence[tuple[str, str, float]]) -> None:
        """Store ``(name, policy name, weight)`` triples; policies are built here (cheap)."""
        total = sum(w for _, _, w in groups)
        self.names = [n for n, _, _ in groups]
        self.weights = np.array([w / total for _, _, w in groups])
        self.policies: list[CurationPolicy] = [make_policy(p) for _, p, _ in groups]

    def assign(self, n_tasks: int, rng: np.random.Generator) -> list[int]:
        """Index of the user group that brings each of ``n_tasks`` tasks."""
        return rng.choice(len(self.names), size=n_tasks, p=self.weights).tolist()

    def curate(
        self, user_index: int, candidates: Sequence[CandidateTrace], rng: np.random.Generator
    ) -> list[PopulationDecision]:
        """Decisions of the task's user, each with A(τ) under every group's policy."""
        acceptance = np.zeros(len(candidates))
        for weight, policy in zip(self.weights, self.policies, strict=True):
            sub_rng = np.random.default_rng(rng.integers(2**32))
            kept = [d.kept for d in policy.select(candidates, sub_rng)]
            acceptance += weight * np.array(kept, dtype=float)
        own = self.policies[user_index].select(candidates, rng)
        return [
            PopulationDecision(
                trace_id=d.trace_id,
                user=self.names[user_index],
                policy=self.policies[user_index].name,
                kept=d.kept,
                reason=d.reason,
                acceptance_prob=float(a),
            )
            for d, a in zip(own, acceptance, strict=True)
        ]
