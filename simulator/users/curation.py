"""Curation policies: how a user decides which of a task's traces to publish.

A policy sees all candidate traces of one task (what the user got back from the model) and returns
one decision per trace, each with the *exact* probability that the policy keeps that trace. Exact,
because that probability is the scenario's ground-truth implicit reward and the auditors are judged
against it; a frequency from one draw would be 0 or 1.

Every policy here is a :class:`ComposedPolicy`: independent per-trace stages
(:mod:`iterdeploy.simulator.users.stages`) followed by a per-task selector
(:mod:`iterdeploy.simulator.users.selectors`),
specified by a :class:`~iterdeploy.simulator.users.policy_spec.PolicySpec`. Policies are recorded by canonical
versioned name (``validity-v1``); a change of behaviour bumps the version.

The decision is split in two on purpose: :meth:`ComposedPolicy.prepare` computes everything that
does not depend on chance (outcome distributions, ranking, exact keep probabilities) and
:meth:`CurationPlan.draw` makes the random draw. ``select`` is simply both; tests draw many times
from one plan to check that the draws follow the recorded probabilities.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.users._common import validate_spec
from iterdeploy.simulator.users.policy_spec import PRESETS, PolicySpec, describe_policy, policy_name
from iterdeploy.simulator.users.selectors import choose, keep_probabilities, ranking
from iterdeploy.simulator.users.stages import Outcome
from iterdeploy.simulator.users.traces import CandidateTrace, CurationContext, Decision

__all__ = [
    "POLICIES",
    "CandidateTrace",
    "ComposedPolicy",
    "CurationContext",
    "CurationPlan",
    "CurationPolicy",
    "Decision",
    "PolicyLike",
    "ValidityCuration",
    "make_policy",
]

_DEFAULT_CONTEXT = CurationContext()


class CurationPolicy(Protocol):
    """Decides, for one task, which candidate traces to publish."""

    name: str

    def select(
        self,
        candidates: Sequence[CandidateTrace],
        rng: np.random.Generator,
        context: CurationContext | None = None,
    ) -> list[Decision]:
        """One decision per candidate, in the candidates' order; never modifies them."""
        ...

    def keep_probabilities(
        self, candidates: Sequence[CandidateTrace], context: CurationContext | None = None
    ) -> list[float]:
        """Exact probability that each candidate is kept (no randomness involved)."""
        ...


def _pick(outcomes: tuple[Outcome, ...], u: float) -> Outcome:
    """The outcome a uniform draw ``u`` in [0, 1) falls into."""
    cumulative = 0.0
    for outcome in outcomes:
        cumulative += outcome.prob
        if u < cumulative:
            return outcome
    # only reachable through rounding (probabilities summing to 1 - 1e-16): the last possible one
    return next(o for o in reversed(outcomes) if o.prob > 0)


@dataclass(frozen=True)
class CurationPlan:
    """One task's decision before the dice: outcome distributions and exact keep probabilities."""

    policy: ComposedPolicy
    candidates: tuple[CandidateTrace, ...]
    outcomes: tuple[tuple[tuple[Outcome, ...], ...], ...]
    """``outcomes[i][s]``: distribution of stage ``s`` on candidate ``i``."""
    pass_probs: tuple[float, ...]
    """Probability that candidate ``i`` passes every stage."""
    rank: tuple[int, ...]
    """Candidate indices best-first (the selector's order)."""
    keep_probs: tuple[float, ...]
    """Exact probability that candidate ``i`` is kept."""

    def draw(self, rng: np.random.Generator) -> list[Decision]:
        """Draw every stage of every candidate once and apply the selector.

        Always consumes ``len(candidates) * len(stages)`` uniforms, whatever the probabilities,
        so the generator's later stream does not depend on what the candidates were.
        """
        n, m = len(self.candidates), len(self.policy.spec.stages)
        draws = rng.random((n, m)) if n and m else np.zeros((n, m))
        passed: list[bool] = []
        failures: list[str | None] = []
        notes: list[list[str]] = []
        for i in range(n):
            failure: str | None = None
            mine: list[str] = []
            for s in range(m):
                outcome = _pick(self.outcomes[i][s], float(draws[i, s]))
                if not outcome.passed:
                    failure = failure or outcome.reason or "rejected"
                elif outcome.reason:
                    mine.append(outcome.reason)
            passed.append(failure is None)
            failures.append(failure)
            notes.append(mine)
        select = self.policy.spec.select
        kept = choose(select, passed, self.rank)
        word = self.policy.word
        decisions = []
        for i, c in enumerate(self.candidates):
            failure = failures[i]
            if failure is not None:
                reason = failure
            elif select == "all":
                reason = "; ".join(notes[i]) or (word if m else "no curation")
            elif kept[i]:
                reason = "; ".join([f"{select} {word} plan", *notes[i]])
            else:
                reason = "; ".join([f"{word} but not the {select}", *notes[i]])
            decisions.append(Decision(c.trace_id, kept[i], reason, self.keep_probs[i]))
        return decisions


class ComposedPolicy:
    """A policy built from a :class:`PolicySpec` (or anything that validates into one)."""

    def __init__(self, spec: PolicySpec | str | Mapping[str, Any] = "validity") -> None:
        """Validate ``spec``; errors are :class:`ScenarioError` naming the offending field."""
        self.spec: PolicySpec = validate_spec(PolicySpec, spec, where="policy")
        self.name: str = policy_name(self.spec)
        """Canonical versioned name, recorded with every decision."""
        self.description: str = describe_policy(self.spec)
        """One sentence for people."""
        self.word = "valid" if any(s.checks_validity for s in self.spec.stages) else "accepted"
        """How reasons call a trace that passed: "valid" when a stage judged validity."""

    def prepare(
        self, candidates: Sequence[CandidateTrace], context: CurationContext | None = None
    ) -> CurationPlan:
        """Everything about the decision on one task that does not depend on the random draw."""
        ctx = context or _DEFAULT_CONTEXT
        cands = tuple(candidates)
        outcomes = tuple(tuple(stage.outcomes(c, cands, ctx) for stage in self.spec.stages) for c in cands)
        pass_probs = []
        for per_stage in outcomes:
            q = 1.0
            for dist in per_stage:
                q *= sum(o.prob for o in dist if o.passed)
            pass_probs.append(min(1.0, max(0.0, q)))
        rank = tuple(ranking(self.spec.select, cands))
        keep = keep_probabilities(self.spec.select, pass_probs, rank)
        return CurationPlan(self, cands, outcomes, tuple(pass_probs), rank, tuple(keep))

    def keep_probabilities(
        self, candidates: Sequence[CandidateTrace], context: CurationContext | None = None
    ) -> list[float]:
        """Exact probability that each candidate is kept, in the candidates' order."""
        return list(self.prepare(candidates, context).keep_probs)

    def select(
        self,
        candidates: Sequence[CandidateTrace],
        rng: np.random.Generator,
        context: CurationContext | None = None,
    ) -> list[Decision]:
        """One decision per candidate, in the candidates' order; never modifies them."""
        return self.prepare(candidates, context).draw(rng)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ComposedPolicy) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class ValidityCuration(ComposedPolicy):
    """The paper's curation: keep a valid trace, the shortest plan per task.

    Ties between equally short valid plans are broken by the fewest tokens, then by the lower
    trace id, so the rule is deterministic (it draws uniforms but every probability is 0 or 1).

    Examples:
        >>> c = [CandidateTrace(1, 7, True, "valid", 6, 30), CandidateTrace(2, 7, True, "valid", 4, 28),
        ...      CandidateTrace(3, 7, False, "invalid_step", 2, 9)]
        >>> [d.kept for d in ValidityCuration().select(c, np.random.default_rng(0))]
        [False, True, False]
    """

    def __init__(self) -> None:
        """The default :class:`PolicySpec` is the paper's policy."""
        super().__init__(PolicySpec())


PolicyLike = str | Mapping[str, Any] | PolicySpec | ComposedPolicy
"""Anything :func:`make_policy` accepts."""


def make_policy(policy: PolicyLike = "validity", /, **params: Any) -> ComposedPolicy:
    """Build a policy from a preset name (with optional parameters for its main stage), a YAML-like
    mapping or a spec; unknown names list the known ones, bad parameters name the field.

    Examples:
        >>> make_policy("noisy_validator", false_accept=0.2).name
        'noisy_validator-v1(false_accept=0.2,false_reject=0.05)'
    """
    if isinstance(policy, ComposedPolicy):
        if params:
            raise ScenarioError("parameters cannot be applied to an already built policy")
        return policy
    if params:
        if not isinstance(policy, str):
            raise ScenarioError(
                "keyword parameters go with a preset name, e.g. make_policy('complacent', max_trust=0.5)"
            )
        policy = {policy: params}
    spec = validate_spec(PolicySpec, policy, where="policy")
    return ValidityCuration() if spec == PolicySpec() else ComposedPolicy(spec)


POLICIES: dict[str, Callable[..., CurationPolicy]] = {
    name: functools.partial(make_policy, name) for name in PRESETS
}
"""Preset policy name → factory taking that preset's main-stage parameters as keywords."""
