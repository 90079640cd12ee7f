"""Curation policies: exact keep probabilities, sampling that follows them, and each stage's rule."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from users_strategies import candidate_sets, contexts, policies, stages, within_binomial

from iterdeploy.simulator.users import (
    CandidateTrace,
    ComposedPolicy,
    CurationContext,
    PolicySpec,
    ValidityStage,
    make_policy,
    parse_actions,
)

FAST = settings(max_examples=30, derandomize=True, deadline=None)


def _trace(tid: int, valid: bool, length: int, tokens: int = 10, actions: tuple = (),
           optimal: int | None = None, status: str | None = None) -> CandidateTrace:
    return CandidateTrace(tid, 1, valid, status or ("valid" if valid else "invalid_step"), length, tokens,
                          actions=actions, optimal_length=optimal)


def _enumerated_keep_probs(policy: ComposedPolicy, cands: list[CandidateTrace],
                           ctx: CurationContext) -> list[float]:
    """Keep probabilities by brute force: enumerate every pass/fail pattern of the traces.

    Independent of the closed form in selectors.py: each trace's pass probability is summed over
    every combination of its stage outcomes, and the selector is re-implemented from its spec.
    """
    pass_probs = []
    for c in cands:
        dists = [s.outcomes(c, cands, ctx) for s in policy.spec.stages]
        q = 0.0
        for combo in itertools.product(*dists):
            if all(o.passed for o in combo):
                q += math.prod(o.prob for o in combo)
        pass_probs.append(q)
    keep = [0.0] * len(cands)
    for pattern in itertools.product([False, True], repeat=len(cands)):
        weight = math.prod(q if p else 1.0 - q for q, p in zip(pass_probs, pattern, strict=True))
        passed = [i for i, p in enumerate(pattern) if p]
        if policy.spec.select == "all":
            chosen = passed
        elif not passed:
            chosen = []
        else:
            sign = 1 if policy.spec.select == "shortest" else -1
            chosen = [min(passed, key=lambda i: (sign * cands[i].plan_length, cands[i].n_tokens,
                                                 cands[i].trace_id))]
        for i in chosen:
            keep[i] += weight
    return keep


@FAST
@given(policies, candidate_sets(max_size=5), contexts)
def test_recorded_probability_equals_brute_force_enumeration(
    policy: ComposedPolicy, cands: list[CandidateTrace], ctx: CurationContext
) -> None:
    expected = _enumerated_keep_probs(policy, cands, ctx)
    assert policy.keep_probabilities(cands, ctx) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=25, derandomize=True, deadline=None)
@given(policies, candidate_sets(max_size=4), contexts, st.integers(0, 2**32 - 1))
def test_sampled_decisions_follow_the_recorded_probabilities(
    policy: ComposedPolicy, cands: list[CandidateTrace], ctx: CurationContext, seed: int
) -> None:
    plan = policy.prepare(cands, ctx)
    rng = np.random.default_rng(seed)
    n = 1500
    hits = np.zeros(len(cands), dtype=int)
    for _ in range(n):
        decisions = plan.draw(rng)
        assert [d.trace_id for d in decisions] == [c.trace_id for c in cands]
        assert all(d.keep_prob == p for d, p in zip(decisions, plan.keep_probs, strict=True))
        hits += [d.kept for d in decisions]
    for i, p in enumerate(plan.keep_probs):
        assert within_binomial(int(hits[i]), n, p), (policy.name, i, hits[i] / n, p)


@FAST
@given(policies, candidate_sets(), contexts, st.integers(0, 1000))
def test_select_is_prepare_then_draw_and_never_modifies_candidates(
    policy: ComposedPolicy, cands: list[CandidateTrace], ctx: CurationContext, seed: int
) -> None:
    before = list(cands)
    via_select = policy.select(cands, np.random.default_rng(seed), ctx)
    via_plan = policy.prepare(cands, ctx).draw(np.random.default_rng(seed))
    assert via_select == via_plan
    assert cands == before
    if policy.spec.select != "all":
        assert sum(d.kept for d in via_select) <= 1
        assert sum(d.keep_prob for d in via_select) <= 1.0 + 1e-12


@FAST
@given(st.lists(stages, max_size=2), st.sampled_from(["all", "shortest", "longest"]),
       candidate_sets(), contexts, st.integers(0, 1000))
def test_a_validity_stage_never_lets_an_invalid_plan_through(
    others: list, select: str, cands: list[CandidateTrace], ctx: CurationContext, seed: int
) -> None:
    policy = ComposedPolicy(PolicySpec(stages=(*others, ValidityStage()), select=select))
    rng = np.random.default_rng(seed)
    for _ in range(20):
        for c, d in zip(cands, policy.select(cands, rng, ctx), strict=True):
            if not c.is_valid:
                assert not d.kept and d.keep_prob == 0.0
                assert d.reason.startswith(("invalid:", "noisy validator", "action bias", "adversarial"))


@FAST
@given(candidate_sets(), contexts, st.integers(0, 1000))
def test_accept_all_keeps_everything(cands: list[CandidateTrace], ctx: CurationContext, seed: int) -> None:
    decisions = make_policy("accept_all").select(cands, np.random.default_rng(seed), ctx)
    assert all(d.kept and d.keep_prob == 1.0 and d.reason == "no curation" for d in decisions)


def test_noisy_validator_lets_a_fifth_of_invalid_plans_through() -> None:
    n = 20_000
    cands = [_trace(i, valid=i % 2 == 0, length=3) for i in range(n)]
    policy = make_policy({"noisy_validator": {"false_accept": 0.2, "false_reject": 0.1}, "select": "all"})
    decisions = policy.select(cands, np.random.default_rng(0))
    invalid_kept = sum(d.kept for c, d in zip(cands, decisions, strict=True) if not c.is_valid)
    valid_kept = sum(d.kept for c, d in zip(cands, decisions, strict=True) if c.is_valid)
    assert within_binomial(invalid_kept, n // 2, 0.2)
    assert within_binomial(valid_kept, n // 2, 0.9)
    reasons = {d.reason for c, d in zip(cands, decisions, strict=True) if not c.is_valid}
    assert reasons == {"noisy validator false accept (invalid_step)", "invalid: invalid_step"}
    reasons = {d.reason for c, d in zip(cands, decisions, strict=True) if c.is_valid}
    assert reasons == {"valid", "noisy validator false reject"}


def test_noisy_validator_preset_keeps_an_invalid_shorter_plan_first() -> None:
    cands = [_trace(1, True, 5), _trace(2, False, 2)]
    probs = make_policy("noisy_validator", false_accept=0.2, false_reject=0.0).keep_probabilities(cands)
    assert probs == pytest.approx([0.8, 0.2])  # the invalid plan is shorter: it wins when it passes


def test_pick_one_formula_on_a_hand_worked_example() -> None:
    # three traces each passing with 1/2 (avoid stack, strength 0.5, one stack each), shortest first
    stack = (("stack", ("b1", "b2")),)
    cands = [_trace(3, True, 3, actions=stack * 3), _trace(1, True, 1, actions=stack),
             _trace(2, True, 2, actions=stack * 2)]
    stage = {"action_bias": {"action": "stack", "strength": 0.5}}
    policy = make_policy({"stages": [stage], "select": "shortest"})
    # pass probs 0.125, 0.5, 0.25; ranking 1, 2, 3
    assert policy.keep_probabilities(cands) == pytest.approx([0.125 * 0.5 * 0.75, 0.5, 0.25 * 0.5])
    longest = make_policy({"stages": [stage], "select": "longest"})
    assert longest.keep_probabilities(cands) == pytest.approx([0.125, 0.5 * 0.875 * 0.75, 0.25 * 0.875])


def test_composed_stages_multiply() -> None:
    unstack2 = (("unstack", ("b1", "b2")), ("put-down", ("b1",)), ("unstack", ("b2", "b3")))
    cands = [_trace(1, False, 3, actions=unstack2), _trace(2, True, 3, actions=unstack2),
             _trace(3, True, 1, actions=(("pick-up", ("b1",)),))]
    policy = make_policy({"stages": [{"noisy_validator": {"false_accept": 0.2, "false_reject": 0.1}},
                                     {"action_bias": {"action": "unstack", "strength": 0.5}}],
                          "select": "all"})
    assert policy.keep_probabilities(cands) == pytest.approx([0.2 * 0.25, 0.9 * 0.25, 0.9])
    assert policy.name == ("noisy_validator-v1(false_accept=0.2,false_reject=0.1)"
                           "+action_bias-v1(action=unstack,direction=avoid,strength=0.5)>all")
    rng = np.random.default_rng(1)
    rejected = {d.reason for _ in range(50) for d in policy.select(cands, rng) if not d.kept}
    assert rejected == {"invalid: invalid_step", "noisy validator false reject",
                        "action bias: avoids unstack ×2"}


def test_action_bias_counts_actions_and_objects_case_insensitively() -> None:
    plan = parse_actions(["(UNSTACK b1 b2)", "(put-down b1)", "(unstack b3 B1)", "(stack b2 b3)"])
    cands = [_trace(1, True, 4, actions=plan)]

    def prob(**params: object) -> float:
        policy = make_policy({"stages": [{"action_bias": params}], "select": "all"})
        return policy.keep_probabilities(cands)[0]

    assert prob(action="Unstack", strength=0.5) == pytest.approx(0.25)            # avoid, k = 2
    assert prob(object="b1", strength=0.5) == pytest.approx(0.125)                # k = 3
    assert prob(action="unstack", object="b1", strength=0.5) == pytest.approx(0.25)
    assert prob(action="stack", direction="prefer", strength=0.5) == pytest.approx(0.75)   # 1 - 0.5 * 0.5
    assert prob(action="fly", direction="prefer", strength=0.9) == pytest.approx(0.5)      # k = 0: base
    assert prob(action="fly", direction="prefer", base=0.2) == pytest.approx(0.2)
    assert prob(action="unstack", base=0.8, strength=0.5) == pytest.approx(0.2)


def test_complacent_trust_grows_with_observed_success() -> None:
    cands = [_trace(1, False, 2, status="goal_not_reached"), _trace(2, True, 3)]
    policy = make_policy({"complacent": {"sensitivity": 1.0, "max_trust": 0.9}, "select": "all"})
    assert policy.keep_probabilities(cands) == [0.0, 1.0]  # generation 0: always checks
    assert policy.keep_probabilities(cands, CurationContext(1, 0.5)) == pytest.approx([0.5, 1.0])
    assert policy.keep_probabilities(cands, CurationContext(2, 1.0)) == pytest.approx([0.9, 1.0])
    ctx = CurationContext(1, 0.5)
    decisions = [policy.select(cands, np.random.default_rng(s), ctx)[0] for s in range(40)]
    assert {d.reason for d in decisions} == {"not checked (complacent, trust 0.50)",
                                             "invalid: goal_not_reached (checked, trust 0.50)"}


def test_adversarial_publishes_harmful_plans_at_its_rate() -> None:
    cands = [_trace(1, False, 2), _trace(2, True, 8, optimal=4), _trace(3, True, 5, optimal=4)]
    assert make_policy("adversarial", rate=0.3).keep_probabilities(cands) == pytest.approx([0.3, 0.3, 0.0])
    only_invalid = make_policy("adversarial", rate=0.3, target="invalid", benign=0.1)
    assert only_invalid.keep_probabilities(cands) == pytest.approx([0.3, 0.1, 0.1])
    # without a known optimum the reference is the task's shortest valid candidate (length 4 here)
    unknown = [_trace(1, True, 4), _trace(2, True, 9), _trace(3, True, 7)]
    assert make_policy("adversarial", rate=1.0).keep_probabilities(unknown) == [0.0, 1.0, 0.0]
    decisions = make_policy("adversarial", rate=1.0).select(cands, np.random.default_rng(0))
    assert [d.reason for d in decisions] == ["adversarial: published invalid plan",
                                             "adversarial: published pathological plan",
                                             "adversarial: nothing harmful, not published"]


def test_longest_keeps_the_longest_valid_plan() -> None:
    cands = [_trace(1, True, 4, 20), _trace(2, True, 9, 30), _trace(3, False, 12), _trace(4, True, 9, 25)]
    decisions = make_policy("longest").select(cands, np.random.default_rng(0))
    assert [(d.trace_id, d.kept, d.reason) for d in decisions] == [
        (1, False, "valid but not the longest"), (2, False, "valid but not the longest"),
        (3, False, "invalid: invalid_step"), (4, True, "longest valid plan"),
    ]


def test_reasons_say_accepted_when_no_stage_judges_validity() -> None:
    cands = [_trace(1, False, 2), _trace(2, False, 3)]
    policy = make_policy({"stages": [{"adversarial": {"rate": 1.0}}], "select": "shortest"})
    reasons = [d.reason for d in policy.select(cands, np.random.default_rng(0))]
    assert reasons == ["shortest accepted plan; adversarial: published invalid plan",
                       "accepted but not the shortest; adversarial: published invalid plan"]


def test_empty_candidate_list() -> None:
    for name in ["validity", "noisy_validator", "accept_all", "adversarial"]:
        assert make_policy(name).select([], np.random.default_rng(0)) == []
