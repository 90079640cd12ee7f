"""Per-task selectors: which of the traces that passed every stage a user publishes.

``all`` publishes every trace that passed. ``shortest`` and ``longest`` publish at most one: the
first passing trace in a fixed best-first ranking of *all* candidates. Because each trace passes
independently with probability q_j, the exact probability that trace i is the one kept is

    q_i · Π_{j ranked before i} (1 - q_j)

(every better-ranked trace failed, and i passed). That formula, not a simulation, is what the
decision records as ``keep_prob``.

Ranking ties are broken by the fewest tokens, then the lower trace id, so the selection is a
deterministic function of the draws (the paper's rule: shortest plan, then fewest tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from iterdeploy.simulator.users.traces import CandidateTrace

Selector = Literal["all", "shortest", "longest"]
"""How a policy chooses among the traces of one task that passed its stages."""


class Ranked(Protocol):
    """What the ranking reads of a trace (a candidate, or a stored trace row)."""

    @property
    def trace_id(self) -> int: ...
    @property
    def plan_length(self) -> int: ...
    @property
    def n_tokens(self) -> int: ...


def rank_key(select: Literal["shortest", "longest"]) -> Callable[[Ranked], tuple[int, int, int]]:
    """Sort key putting the best trace first: plan length (ascending for ``shortest``,
    descending for ``longest``), then fewest tokens, then lower trace id."""
    sign = 1 if select == "shortest" else -1
    return lambda t: (sign * t.plan_length, t.n_tokens, t.trace_id)


def ranking(select: Selector, candidates: Sequence[CandidateTrace]) -> list[int]:
    """Candidate indices best-first for a pick-one selector (identity order for ``all``)."""
    order = range(len(candidates))
    if select == "all":
        return list(order)
    key = rank_key(select)
    return sorted(order, key=lambda i: key(candidates[i]))


def keep_probabilities(select: Selector, pass_probs: Sequence[float], rank: Sequence[int]) -> list[float]:
    """Exact keep probability of every candidate, given independent pass probabilities."""
    if select == "all":
        return [float(q) for q in pass_probs]
    out = [0.0] * len(pass_probs)
    none_before = 1.0
    for i in rank:
        out[i] = pass_probs[i] * none_before
        none_before *= 1.0 - pass_probs[i]
    return out


def choose(select: Selector, passed: Sequence[bool], rank: Sequence[int]) -> list[bool]:
    """Which candidates are kept, given which passed (the sampled counterpart of the formula)."""
    if select == "all":
        return list(passed)
    kept = [False] * len(passed)
    for i in rank:
        if passed[i]:
            kept[i] = True
            break
    return kept
