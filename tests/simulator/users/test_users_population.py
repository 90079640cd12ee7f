"""The population: who brings which task, who decides, and the exact A(τ)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from users_strategies import candidate_sets, contexts, policies, within_binomial

from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.users import (
    CandidateTrace,
    ComposedPolicy,
    CurationContext,
    Population,
    make_policy,
)

CANDS = [
    CandidateTrace(1, 1, True, "valid", 4, 20),
    CandidateTrace(2, 1, True, "valid", 6, 15),
    CandidateTrace(3, 1, False, "invalid_step", 2, 9),
]
MIXED = [
    ("validators", "validity", 2.0),
    ("lax", "accept_all", 1.0),
    ("sloppy", {"noisy_validator": {"false_accept": 0.2, "false_reject": 0.1}, "select": "all"}, 1.0),
]


def test_acceptance_is_the_weighted_sum_worked_by_hand() -> None:
    pop = Population(MIXED)
    assert pop.weights.tolist() == [0.5, 0.25, 0.25]
    decisions = pop.curate(2, CANDS, np.random.default_rng(0))
    # validity: [1, 0, 0]; accept_all: [1, 1, 1]; sloppy: [0.9, 0.9, 0.2]
    assert [d.acceptance_prob for d in decisions] == pytest.approx([0.975, 0.475, 0.3])
    assert [d.group_probs for d in decisions] == [
        pytest.approx((1.0, 1.0, 0.9)), pytest.approx((0.0, 1.0, 0.9)), pytest.approx((0.0, 1.0, 0.2))]
    assert [d.keep_prob for d in decisions] == pytest.approx([0.9, 0.9, 0.2])
    assert {d.user for d in decisions} == {"sloppy"}
    assert {d.policy for d in decisions} == {"noisy_validator-v1(false_accept=0.2,false_reject=0.1)>all"}


def test_acceptance_matches_the_population_keep_rate() -> None:
    """A(τ) is the probability that τ is published when the owner is drawn by weight."""
    pop = Population(MIXED)
    rng = np.random.default_rng(3)
    n = 6000
    hits = np.zeros(len(CANDS), dtype=int)
    for _ in range(n):
        owner = pop.assign(1, rng)[0]
        hits += [d.kept for d in pop.curate(owner, CANDS, rng)]
    acceptance, _ = pop.acceptance(CANDS)
    for h, a in zip(hits, acceptance, strict=True):
        assert within_binomial(int(h), n, float(a))


@settings(max_examples=30, derandomize=True, deadline=None)
@given(st.lists(st.tuples(policies, st.floats(0.1, 5.0)), min_size=1, max_size=4),
       candidate_sets(), contexts, st.integers(0, 1000))
def test_acceptance_equals_weighted_group_probabilities(
    groups: list[tuple[ComposedPolicy, float]], cands: list[CandidateTrace], ctx: CurationContext, seed: int
) -> None:
    pop = Population([(f"g{i}", p, w) for i, (p, w) in enumerate(groups)])
    total = sum(w for _, w in groups)
    expected = sum((w / total) * np.array(p.keep_probabilities(cands, ctx)) for p, w in groups)
    owner = seed % len(groups)
    decisions = pop.curate(owner, cands, np.random.default_rng(seed), ctx)
    assert [d.acceptance_prob for d in decisions] == pytest.approx(list(expected), abs=1e-12)
    own = groups[owner][0].keep_probabilities(cands, ctx)
    assert [d.keep_prob for d in decisions] == pytest.approx(own, abs=1e-15)
    assert all(0.0 <= d.acceptance_prob <= 1.0 + 1e-12 for d in decisions)


@given(st.lists(st.builds(CandidateTrace, trace_id=st.integers(0, 10_000), task_id=st.just(1),
                          is_valid=st.booleans(), status=st.sampled_from(["valid", "invalid_step"]),
                          plan_length=st.integers(0, 60), n_tokens=st.integers(0, 300)),
                max_size=12, unique_by=lambda c: c.trace_id))
@settings(max_examples=30, derandomize=True, deadline=None)
def test_population_acceptance_matches_decisions_for_one_group(cands: list[CandidateTrace]) -> None:
    pop = Population([("validators", "validity", 3.0)])
    decisions = pop.curate(0, cands, np.random.default_rng(1))
    for d in decisions:
        assert d.acceptance_prob == (1.0 if d.kept else 0.0)
        assert d.user == "validators" and d.policy == "validity-v1"


def test_per_member_contexts() -> None:
    pop = Population([("a", "complacent", 1.0), ("b", "complacent", 1.0)])
    ctxs = [CurationContext(1, 0.0), CurationContext(1, 0.8)]
    acceptance, per_group = pop.acceptance(CANDS, ctxs)
    assert per_group[:, 2].tolist() == pytest.approx([0.0, 0.8])  # the invalid, shortest plan
    assert acceptance[2] == pytest.approx(0.4)


def test_assignment_follows_weights() -> None:
    pop = Population([("a", "validity", 1.0), ("b", "validity", 3.0)])
    owners = pop.assign(4000, np.random.default_rng(0))
    assert within_binomial(owners.count(1), len(owners), 0.75)


def test_draw_tasks_follows_each_groups_distribution() -> None:
    pop = Population([
        {"name": "small", "weight": 1.0, "tasks": {"blocksworld": {"min": 2, "max": 3}}},
        {"name": "mixed", "weight": 3.0,
         "tasks": {"blocksworld": {"min": 6, "max": 8, "weight": 1},
                   "rovers": {"min": 4, "max": 4, "weight": 3}}},
    ])
    requests = pop.draw_tasks(4000, np.random.default_rng(0))
    small = [r for r in requests if r.user == "small"]
    mixed = [r for r in requests if r.user == "mixed"]
    assert within_binomial(len(mixed), len(requests), 0.75)
    assert {(r.domain, r.size) for r in small} == {("blocksworld", 2), ("blocksworld", 3)}
    assert {(r.domain, r.size) for r in mixed} == {("blocksworld", 6), ("blocksworld", 7), ("blocksworld", 8),
                                                  ("rovers", 4)}
    assert within_binomial(sum(r.domain == "rovers" for r in mixed), len(mixed), 0.75)
    assert requests == pop.draw_tasks(4000, np.random.default_rng(0))


def test_count_expands_into_members_sharing_the_weight() -> None:
    pop = Population([{"name": "crowd", "count": 3, "weight": 0.6, "policy": "accept_all"},
                      ("solo", "validity", 0.4)])
    assert pop.names == ["crowd-0", "crowd-1", "crowd-2", "solo"]
    assert pop.weights.tolist() == pytest.approx([0.2, 0.2, 0.2, 0.4])
    assert [p.name for p in pop.policies] == ["accept_all-v1"] * 3 + ["validity-v1"]
    decisions = pop.curate(3, CANDS, np.random.default_rng(0))
    assert decisions[2].acceptance_prob == pytest.approx(0.6)


def test_legacy_tuple_constructor_and_policy_objects() -> None:
    pop = Population([("x", make_policy("longest"), 1.0), ("y", "validity", 1.0)])
    assert [p.name for p in pop.policies] == ["longest-v1", "validity-v1"]
    assert pop.curate(0, CANDS, np.random.default_rng(0))[1].kept


@pytest.mark.parametrize(("groups", "message"), [
    ([("a", "validity", 1.0), ("a", "accept_all", 1.0)], "repeated: \\['a'\\]"),
    ([{"name": "a", "count": 2}, ("a-1", "validity", 1.0)], "repeated: \\['a-1'\\]"),
    ([("a", "validity", 0.0)], "users.0.weight"),
    ([("a", "validity", 1.0), ("b", {"noisy_validator": {"false_reject": -0.5}}, 1.0)],
     "users.1.policy.stages.0.noisy_validator.false_reject"),
    ([], "at least one"),
])
def test_bad_populations_name_the_problem(groups: list, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        Population(groups)
