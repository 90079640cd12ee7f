"""The paper's curation rule and the population's acceptance probability."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import ScenarioError
from simulator.users import CandidateTrace, Population, ValidityCuration, make_policy

candidates = st.lists(
    st.builds(
        CandidateTrace,
        trace_id=st.integers(0, 10_000),
        task_id=st.just(1),
        is_valid=st.booleans(),
        status=st.sampled_from(["valid", "invalid_step", "unparseable"]),
        plan_length=st.integers(0, 60),
        n_tokens=st.integers(0, 300),
    ),
    max_size=12,
    unique_by=lambda c: c.trace_id,
)


@given(candidates)
def test_validity_keeps_exactly_the_best_valid_trace(cands: list[CandidateTrace]) -> None:
    before = list(cands)
    decisions = ValidityCuration().select(cands, np.random.default_rng(0))
    assert cands == before, "selection must not modify candidates"
    assert [d.trace_id for d in decisions] == [c.trace_id for c in cands]
    kept = [c for c, d in zip(cands, decisions, strict=True) if d.kept]
    valid = [c for c in cands if c.is_valid]
    assert len(kept) == (1 if valid else 0)
    assert all(c.is_valid for c in kept)
    if valid:
        best = min(valid, key=lambda c: (c.plan_length, c.n_tokens, c.trace_id))
        assert kept[0] == best


def test_ties_broken_by_fewest_tokens() -> None:
    cands = [
        CandidateTrace(1, 1, True, "valid", 4, 40),
        CandidateTrace(2, 1, True, "valid", 4, 30),
        CandidateTrace(3, 1, True, "valid", 6, 10),
    ]
    kept = [d.trace_id for d in ValidityCuration().select(cands, np.random.default_rng(0)) if d.kept]
    assert kept == [2]


def test_reasons_are_recorded() -> None:
    cands = [CandidateTrace(1, 1, False, "invalid_step", 3, 9), CandidateTrace(2, 1, True, "valid", 2, 9)]
    reasons = [d.reason for d in ValidityCuration().select(cands, np.random.default_rng(0))]
    assert reasons == ["invalid: invalid_step", "shortest valid plan"]


def test_unknown_policy_lists_known_ones() -> None:
    with pytest.raises(ScenarioError, match="validity"):
        make_policy("majority")


@given(candidates)
def test_population_acceptance_matches_decisions_for_one_group(cands: list[CandidateTrace]) -> None:
    pop = Population([("validators", "validity", 3.0)])
    decisions = pop.curate(0, cands, np.random.default_rng(1))
    for d in decisions:
        assert d.acceptance_prob == (1.0 if d.kept else 0.0)
        assert d.user == "validators" and d.policy == "validity-v1"


def test_assignment_follows_weights() -> None:
    pop = Population([("a", "validity", 1.0), ("b", "validity", 3.0)])
    owners = pop.assign(4000, np.random.default_rng(0))
    share_b = owners.count(1) / len(owners)
    assert abs(share_b - 0.75) < 0.03
