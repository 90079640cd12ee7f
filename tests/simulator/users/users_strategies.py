"""Hypothesis strategies and a binomial check shared by the users tests."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from iterdeploy.simulator.users import (
    ActionBiasStage,
    AdversarialStage,
    CandidateTrace,
    ComplacentStage,
    ComposedPolicy,
    CurationContext,
    NoisyValidatorStage,
    PolicySpec,
    ValidityStage,
)

ACTIONS = ["pick-up", "put-down", "stack", "unstack"]
OBJECTS = ["b1", "b2", "b3"]
INVALID = ["invalid_step", "goal_not_reached", "unparseable", "empty"]

probabilities = st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]) | st.floats(0.0, 1.0)
arguments = st.lists(st.sampled_from(OBJECTS), min_size=1, max_size=2).map(tuple)
steps = st.tuples(st.sampled_from(ACTIONS), arguments)


@st.composite
def candidate_sets(draw: st.DrawFn, min_size: int = 1, max_size: int = 5) -> list[CandidateTrace]:
    """Candidates of one task: unique ids, plans drawn as action lists, some valid, some not."""
    n = draw(st.integers(min_size, max_size))
    optimal = draw(st.none() | st.integers(1, 3))
    out = []
    for i in range(n):
        actions = tuple(draw(st.lists(steps, max_size=7)))
        valid = draw(st.booleans())
        out.append(CandidateTrace(
            trace_id=7 * i + draw(st.integers(0, 6)), task_id=1, is_valid=valid,
            status="valid" if valid else draw(st.sampled_from(INVALID)),
            plan_length=len(actions), n_tokens=draw(st.integers(0, 30)), actions=actions,
            domain="blocksworld", task_size=3, optimal_length=optimal,
        ))
    return out


stages = st.one_of(
    st.just(ValidityStage()),
    st.builds(NoisyValidatorStage, false_accept=probabilities, false_reject=probabilities),
    st.builds(ComplacentStage, sensitivity=st.floats(0.0, 3.0), max_trust=probabilities),
    st.builds(ActionBiasStage, action=st.sampled_from(ACTIONS), object=st.none() | st.sampled_from(OBJECTS),
              direction=st.sampled_from(["prefer", "avoid"]), strength=probabilities,
              base=st.none() | probabilities),
    st.builds(ActionBiasStage, object=st.sampled_from(OBJECTS), strength=probabilities),
    st.builds(AdversarialStage, rate=probabilities, benign=probabilities, length_factor=st.floats(1.0, 3.0),
              target=st.sampled_from(["invalid", "pathological", "both"])),
)
selectors = st.sampled_from(["all", "shortest", "longest"])
policies = st.builds(
    lambda s, sel: ComposedPolicy(PolicySpec(stages=tuple(s), select=sel)),
    st.lists(stages, max_size=3), selectors,
)
contexts = st.builds(CurationContext, generation=st.integers(0, 5),
                     success_rate=st.none() | st.floats(0.0, 1.0))


def within_binomial(hits: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    """Whether ``hits`` successes in ``n`` draws are consistent with probability ``p``.

    Exactly 0 or 1 must be matched exactly (an impossible event never happens); otherwise the
    deviation must stay within ``sigmas`` binomial standard deviations, plus 3/n so that rare events
    (a few expected hits, where the normal approximation is poor) are not judged too strictly.
    """
    if p == 0.0:
        return hits == 0
    if p == 1.0:
        return hits == n
    return abs(hits / n - p) <= sigmas * math.sqrt(p * (1.0 - p) / n) + 3.0 / n
