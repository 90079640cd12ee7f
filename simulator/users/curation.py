"""Curation policies: how a user decides which of a task's traces to publish.

A policy sees all candidate traces of one task (what the user got back from the model) and returns
one decision per trace. Policies are registered by versioned name so that a run row can name the
exact behaviour; a change of behaviour bumps the version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from simulator.errors import ScenarioError


@dataclass(frozen=True)
class CandidateTrace:
    """What a user sees of one trace: the validator's verdict and the trace's size."""

    trace_id: int
    task_id: int
    is_valid: bool
    status: str
    plan_length: int
    n_tokens: int


@dataclass(frozen=True)
class Decision:
    """A user's verdict on one trace."""

    trace_id: int
    kept: bool
    reason: str


class CurationPolicy(Protocol):
    """Decides, for one task, which candidate traces to publish."""

    name: str

    def select(
        self, candidates: Sequence[CandidateTrace], rng: np.random.Generator
    ) -> list[Decision]:
        """One decision per candidate, in the candidates' order; never modifies them."""
        ...


class ValidityCuration:
    """The paper's curation: keep a valid trace, the shortest plan per task.

    Ties between equally short valid plans are broken by the fewest tokens, then by the lower
    trace id, so the rule is deterministic.

    Examples:
        >>> c = [CandidateTrace(1, 7, True, "valid", 6, 30), CandidateTrace(2, 7, True, "valid", 4, 28),
        ...      CandidateTrace(3, 7, False, "invalid_step", 2, 9)]
        >>> [d.kept for d in ValidityCuration().select(c, np.random.default_rng(0))]
        [False, True, False]
    """

    name = "validity-v1"

    def select(
        self, candidates: Sequence[CandidateTrace], rng: np.random.Generator
    ) -> list[Decision]:
        """Keep the single best valid candidate; reject the rest with the reason."""
        valid = [c for c in candidates if c.is_valid]
        best = min(valid, key=lambda c: (c.plan_length, c.n_tokens, c.trace_id), default=None)
        decisions = []
        for c in candidates:
            if not c.is_valid:
                decisions.append(Decision(c.trace_id, False, f"invalid: {c.status}"))
            elif best is not None and c.trace_id == best.trace_id:
                decisions.append(Decision(c.trace_id, True, "shortest valid plan"))
            else:
                decisions.append(Decision(c.trace_id, False, "valid but not the shortest"))
        return decisions


POLICIES: dict[str, Callable[[], CurationPolicy]] = {"validity": ValidityCuration}
"""Scenario policy name → factory."""


def make_policy(name: str) -> CurationPolicy:
    """Build the policy called ``name``; unknown names list the known ones."""
    if name not in POLICIES:
        raise ScenarioError(f"unknown curation policy {name!r}; known: {sorted(POLICIES)}")
    return POLICIES[name]()
