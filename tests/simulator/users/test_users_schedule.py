"""The planted policy schedule (``dynamics.schedule``): when it applies, to whom, what A(τ) then
is, how it is recorded, and that it draws nothing at random."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.users import (
    CandidateTrace,
    DynamicsSpec,
    Population,
    PopulationSpec,
    make_policy,
)
from iterdeploy.simulator.users._common import validate_spec

USERS: list[dict[str, Any]] = [
    {"name": "validators", "weight": 0.6, "policy": "validity"},
    {"name": "converts", "weight": 0.4, "count": 2, "policy": "validity"},
]
TO_LONGEST = {"generation": 2, "group": "converts", "policy": "longest"}

# one task: two valid plans of different lengths and an invalid one
CANDIDATES = [
    CandidateTrace(1, 7, True, "valid", 4, 30),
    CandidateTrace(2, 7, True, "valid", 6, 40),
    CandidateTrace(3, 7, False, "invalid_step", 5, 35),
]


def _population(*schedule: dict[str, Any], **dynamics: Any) -> Population:
    return Population.from_spec({"users": USERS, "dynamics": {**dynamics, "schedule": list(schedule)}},
                                seed=3)


def _walk(pop: Population, generations: int, seed: int = 0) -> list[tuple[Population, dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    out = []
    for g in range(1, generations + 1):
        pop, record = pop.step(rng, generation=g)
        out.append((pop, record))
    return out


def _policies(pop: Population) -> dict[str, str]:
    return dict(zip(pop.names, (p.name for p in pop.policies), strict=True))


def test_the_family_switches_exactly_at_its_generation_and_stays_switched() -> None:
    walk = _walk(_population(TO_LONGEST), 3)
    assert [_policies(p) for p, _ in walk] == [
        {"validators": "validity-v1", "converts-0": "validity-v1", "converts-1": "validity-v1"},
        {"validators": "validity-v1", "converts-0": "longest-v1", "converts-1": "longest-v1"},
        {"validators": "validity-v1", "converts-0": "longest-v1", "converts-1": "longest-v1"},
    ]
    assert [r["changes"] for _, r in walk][0::2] == [[], []]
    changes = walk[1][1]["changes"]
    assert changes == [
        {"node": f"converts-{i}", "family": "converts", "kind": "scheduled", "before": "validity-v1",
         "after": "longest-v1", "reason": "scheduled at generation 2"}
        for i in range(2)
    ]
    nodes = {n["name"]: n for n in walk[1][1]["nodes"]}
    assert nodes["converts-0"]["policy"] == "longest-v1"
    assert nodes["converts-0"]["policy_spec"]["select"] == "longest"
    assert json.loads(json.dumps(walk[1][1])) == walk[1][1]


def test_acceptance_and_decisions_follow_the_policies_in_force() -> None:
    validity = make_policy("validity").prepare(CANDIDATES).keep_probs
    longest = make_policy("longest").prepare(CANDIDATES).keep_probs
    assert validity == (1.0, 0.0, 0.0) and longest == (0.0, 1.0, 0.0)
    (before, _), (after, _) = _walk(_population(TO_LONGEST), 2)
    a_before, _ = before.acceptance(CANDIDATES)
    a_after, per_group = after.acceptance(CANDIDATES)
    assert a_before == pytest.approx([1.0, 0.0, 0.0])
    assert a_after == pytest.approx([0.6, 0.4, 0.0])
    assert per_group[after.index("converts-1")] == pytest.approx(longest)
    rng = np.random.default_rng(0)
    decided = after.curate(after.index("converts-0"), CANDIDATES, rng)
    assert {d.policy for d in decided} == {"longest-v1"}
    assert [d.kept for d in decided] == [False, True, False]
    assert [d.acceptance_prob for d in decided] == pytest.approx([0.6, 0.4, 0.0])
    assert {d.policy for d in before.curate(before.index("converts-0"), CANDIDATES, rng)} == {
        "validity-v1"}


def test_a_scheduled_weight_is_the_familys_new_total() -> None:
    (_, _), (pop, record) = _walk(_population({**TO_LONGEST, "weight": 1.4}), 2)
    shares = {n["name"]: n["share"] for n in record["nodes"]}
    assert shares == pytest.approx({"validators": 0.3, "converts-0": 0.35, "converts-1": 0.35})
    assert [(c["weight_before"], c["weight_after"]) for c in record["changes"]] == [(0.2, 0.7)] * 2
    assert pop.acceptance(CANDIDATES)[0] == pytest.approx([0.3, 0.7, 0.0])


def test_the_schedule_comes_after_influence_and_churn() -> None:
    # imitation would pull a lone convert back to its neighbours' policy in the same step if the
    # schedule came first; applied last, generation 2 is curated exactly as planted
    users = [{"name": f"v{i}", "policy": "validity"} for i in range(3)] + [
        {"name": "convert", "policy": "validity"}]
    pop = Population.from_spec({"users": users, "dynamics": {
        "influence": {"kind": "threshold", "threshold": 0.5},
        "schedule": [{"generation": 2, "group": "convert", "policy": "longest"}]}})
    walk = _walk(pop, 3)
    assert _policies(walk[1][0])["convert"] == "longest-v1"
    assert _policies(walk[2][0])["convert"] == "validity-v1"
    assert walk[2][1]["changes"][0]["kind"] == "imitate"
    # a joiner that copied a member of the family at this boundary switches with it
    pop = Population.from_spec({"users": [{"name": "converts", "policy": "validity"}], "dynamics": {
        "churn": {"join": 1.0}, "schedule": [{"generation": 1, "group": "converts",
                                               "policy": "accept_all"}]}})
    (new, record), = _walk(pop, 1)
    assert _policies(new) == {"converts": "accept_all-v1", "converts-j0": "accept_all-v1"}
    assert [c["kind"] for c in record["changes"]] == ["join", "scheduled", "scheduled"]


def test_the_schedule_draws_nothing_and_a_seed_fixes_everything() -> None:
    churny = {"churn": {"leave": 0.3, "join": 0.5, "min_groups": 1}, "graph": "erdos_renyi"}
    planted = [_walk(_population(TO_LONGEST, **churny), 6, seed=5) for _ in range(2)]
    assert [r for _, r in planted[0]] == [r for _, r in planted[1]]
    plain = _walk(_population(**churny), 6, seed=5)
    # the same members, edges and weights: the generator was consumed exactly as without it
    for (_, with_schedule), (_, without) in zip(planted[0], plain, strict=True):
        assert with_schedule["edges"] == without["edges"]
        assert [n["name"] for n in with_schedule["nodes"]] == [n["name"] for n in without["nodes"]]


def test_no_generation_no_schedule() -> None:
    pop = _population({**TO_LONGEST, "generation": 1})
    new, record = pop.step(np.random.default_rng(0))
    assert _policies(new) == _policies(pop) and record["changes"] == []


@pytest.mark.parametrize(("schedule", "message"), [
    ([{"generation": 2, "group": "nobody", "policy": "longest"}],
     r"dynamics\.schedule\.0\.group: 'nobody' is not a user group.*\['validators', 'converts'\]"),
    ([TO_LONGEST, {"generation": 2, "group": "converts", "policy": "accept_all"}],
     r"entry 1 \('converts' at generation 2\) repeats entry 0"),
    ([{**TO_LONGEST, "generation": 0}], r"dynamics\.schedule\.0\.generation"),
    ([{**TO_LONGEST, "policy": "fame"}], r"dynamics\.schedule\.0\.policy.*unknown curation policy"),
    ([{**TO_LONGEST, "weight": -1}], r"dynamics\.schedule\.0\.weight"),
    ([{"generation": 2, "group": "converts"}], r"dynamics\.schedule\.0\.policy: Field required"),
])
def test_bad_schedules_name_the_entry(schedule: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        validate_spec(PopulationSpec, {"users": USERS, "dynamics": {"schedule": schedule}})
    if "nobody" in str(schedule):  # a population built directly checks its families too
        with pytest.raises(ScenarioError, match="nobody"):
            Population(USERS, dynamics=validate_spec(DynamicsSpec, {"schedule": schedule}))


def test_a_family_that_churned_out_is_not_an_error() -> None:
    pop = Population.from_spec({"users": USERS, "dynamics": {
        "churn": {"leave": 1.0, "min_groups": 1},
        "schedule": [{"generation": 2, "group": "converts", "policy": "longest"}]}})
    walk = _walk(pop, 2)
    # with this seed the two members that leave in generation 1 are both converts
    assert all(g.spec.name != "converts" for g in walk[1][0].groups)
    assert not [c for c in walk[1][1]["changes"] if c["kind"] == "scheduled"]
