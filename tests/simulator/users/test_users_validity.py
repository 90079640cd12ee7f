"""The paper's curation rule (``validity-v1``) is unchanged, bit for bit, by the policy rewrite."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.users import POLICIES, CandidateTrace, ValidityCuration, make_policy

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


def _old_validity_v1(candidates: Sequence[CandidateTrace]) -> list[tuple[int, bool, str]]:
    """The implementation of validity-v1 before the rewrite, copied verbatim as the oracle."""
    valid = [c for c in candidates if c.is_valid]
    best = min(valid, key=lambda c: (c.plan_length, c.n_tokens, c.trace_id), default=None)
    decisions = []
    for c in candidates:
        if not c.is_valid:
            decisions.append((c.trace_id, False, f"invalid: {c.status}"))
        elif best is not None and c.trace_id == best.trace_id:
            decisions.append((c.trace_id, True, "shortest valid plan"))
        else:
            decisions.append((c.trace_id, False, "valid but not the shortest"))
    return decisions


@settings(max_examples=60, derandomize=True, deadline=None)
@given(candidates, st.integers(0, 2**32 - 1), st.sampled_from(["validity", "shortest"]))
def test_validity_v1_matches_the_old_implementation(
    cands: list[CandidateTrace], seed: int, name: str
) -> None:
    before = list(cands)
    for policy in (ValidityCuration(), make_policy(name), POLICIES[name]()):
        assert policy.name == "validity-v1"
        decisions = policy.select(cands, np.random.default_rng(seed))
        assert [(d.trace_id, d.kept, d.reason) for d in decisions] == _old_validity_v1(cands)
        assert [d.keep_prob for d in decisions] == [1.0 if d.kept else 0.0 for d in decisions]
    assert cands == before, "selection must not modify candidates"


def test_ties_broken_by_fewest_tokens() -> None:
    cands = [
        CandidateTrace(1, 1, True, "valid", 4, 40),
        CandidateTrace(2, 1, True, "valid", 4, 30),
        CandidateTrace(3, 1, True, "valid", 6, 10),
    ]
    kept = [d.trace_id for d in ValidityCuration().select(cands, np.random.default_rng(0)) if d.kept]
    assert kept == [2]


def test_ties_on_tokens_broken_by_lower_trace_id() -> None:
    cands = [CandidateTrace(9, 1, True, "valid", 4, 30), CandidateTrace(5, 1, True, "valid", 4, 30)]
    kept = [d.trace_id for d in ValidityCuration().select(cands, np.random.default_rng(0)) if d.kept]
    assert kept == [5]


def test_reasons_are_recorded() -> None:
    cands = [CandidateTrace(1, 1, False, "invalid_step", 3, 9), CandidateTrace(2, 1, True, "valid", 2, 9)]
    reasons = [d.reason for d in ValidityCuration().select(cands, np.random.default_rng(0))]
    assert reasons == ["invalid: invalid_step", "shortest valid plan"]


def test_unknown_policy_lists_known_ones() -> None:
    with pytest.raises(ScenarioError, match=r"unknown curation policy 'majority'.*validity"):
        make_policy("majority")


def test_default_policy_is_the_papers() -> None:
    assert isinstance(make_policy(), ValidityCuration)
    assert isinstance(make_policy("validity"), ValidityCuration)
    assert make_policy({"stages": ["validity"], "select": "shortest"}) == ValidityCuration()
