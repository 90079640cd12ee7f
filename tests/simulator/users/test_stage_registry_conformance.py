"""Every registered curation stage and preset conforms: valid probabilities for any trace.

Parametrised over :data:`iterdeploy.simulator.users.stages.STAGES` and
:data:`iterdeploy.simulator.users.policy_spec.PRESETS`,
so a stage or preset added with one registration line is checked with no test edit. A stage's
parameters are drawn by Hypothesis from its own JSON schema (ranges, literals, optional fields), so
the check needs no per-stage knowledge; candidates are valid and invalid plans of different lengths.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from users_strategies import ACTIONS, OBJECTS, candidate_sets, contexts

from iterdeploy.simulator.registry import UnknownNameError
from iterdeploy.simulator.users import CandidateTrace, ComposedPolicy, CurationContext, PolicySpec
from iterdeploy.simulator.users.policy_spec import PRESETS, UnknownPolicyError
from iterdeploy.simulator.users.stages import STAGES, Outcome, Stage, StageSpec

WORDS = [*ACTIONS, *OBJECTS, "drive"]
"""Strings a stage's text parameters are drawn from (names a plan may or may not contain)."""


def _from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values a JSON-schema property allows (the subset pydantic writes for stage fields)."""
    if "anyOf" in schema:
        return st.one_of([_from_schema(s) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "number":
        low, high = schema.get("minimum", -10.0), schema.get("maximum", 10.0)
        return st.sampled_from([low, high]) | st.floats(low, high, allow_nan=False, allow_infinity=False)
    if kind == "integer":
        return st.integers(schema.get("minimum", -10), schema.get("maximum", 10))
    if kind == "string":
        return st.sampled_from(WORDS)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    raise AssertionError(f"no strategy for stage parameter schema {schema}; extend _from_schema")


def stage_params(cls: type[Stage]) -> st.SearchStrategy[dict[str, Any]]:
    """Parameter mappings (any subset of the fields) that ``cls`` accepts."""
    properties = cls.model_json_schema()["properties"]
    optional = {k: _from_schema(v) for k, v in properties.items() if k != "kind"}

    def valid(params: dict[str, Any]) -> bool:
        try:
            cls.model_validate(params)
        except ValidationError:
            return False
        return True

    return st.fixed_dictionaries({}, optional=optional).filter(valid)


def check_outcomes(outcomes: tuple[Outcome, ...], where: str) -> float:
    """The distribution is proper; returns the pass probability."""
    assert outcomes and all(isinstance(o, Outcome) for o in outcomes), where
    for o in outcomes:
        assert isinstance(o.passed, bool), where
        assert math.isfinite(o.prob) and 0.0 <= o.prob <= 1.0, f"{where}: probability {o.prob}"
        assert o.passed or o.prob == 0.0 or o.reason, f"{where}: a rejection without a reason"
    assert math.isclose(sum(o.prob for o in outcomes), 1.0, abs_tol=1e-9), f"{where}: {outcomes}"
    keep = sum(o.prob for o in outcomes if o.passed)
    assert -1e-12 <= keep <= 1.0 + 1e-12, where
    return keep


FIXED = [
    CandidateTrace(1, 1, True, "valid", 2, 9, (("pick-up", ("b1",)), ("stack", ("b1", "b2"))),
                   domain="blocksworld", task_size=2, optimal_length=2),
    CandidateTrace(2, 1, True, "valid", 6, 30, (("unstack", ("b1", "b2")), ("put-down", ("b1",))) * 3,
                   domain="blocksworld", task_size=2, optimal_length=2),
    CandidateTrace(3, 1, False, "invalid_step", 1, 4, (("stack", ("b3", "b1")),),
                   domain="blocksworld", task_size=2, optimal_length=2),
    CandidateTrace(4, 1, False, "unparseable", 0, 0, (), domain="blocksworld", task_size=2),
]
"""A short and a long valid plan, an invalid one and an empty unparseable one, of one task."""


@pytest.mark.parametrize("kind", STAGES.names())
def test_stage_is_registered_under_its_kind_and_in_the_spec_union(kind: str) -> None:
    cls = STAGES[kind]
    assert issubclass(cls, Stage) and cls.model_fields["kind"].default == kind
    adapter: TypeAdapter[Stage] = TypeAdapter(StageSpec)
    params = next((p for p in ({}, {"action": "unstack"}) if _accepts(cls, p)), None)
    assert params is not None, f"{kind}: no example parameters; extend this test"
    stage = cls.model_validate(params)
    assert adapter.validate_python({kind: params}) == stage  # the compact YAML form
    assert adapter.validate_python(stage.model_dump()) == stage  # the stored full form
    assert stage.token.startswith(f"{kind}-v{cls.version}")


def _accepts(cls: type[Stage], params: dict[str, Any]) -> bool:
    try:
        cls.model_validate(params)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("kind", STAGES.names())
@settings(max_examples=40, deadline=None)
@given(data=st.data(), candidates=candidate_sets(max_size=4), context=contexts)
def test_stage_returns_a_probability_distribution_for_any_trace(
    kind: str, data: st.DataObject, candidates: list[CandidateTrace], context: CurationContext
) -> None:
    cls = STAGES[kind]
    stage = cls.model_validate(data.draw(stage_params(cls), label="params"))
    for pool in (candidates, FIXED):
        keeps = []
        for trace in pool:
            where = f"{stage.token} on trace {trace.trace_id} ({trace.status}, {trace.plan_length} steps)"
            keeps.append(check_outcomes(stage.outcomes(trace, pool, context), where))
            assert stage.outcomes(trace, pool, context) == stage.outcomes(trace, pool, context)
        policy = ComposedPolicy(PolicySpec(stages=(stage,), select="all"))
        assert policy.keep_probabilities(pool, context) == pytest.approx(keeps, abs=1e-12)


@pytest.mark.parametrize("name", PRESETS.names())
@settings(max_examples=25, deadline=None)
@given(data=st.data(), candidates=candidate_sets(max_size=4), context=contexts)
def test_preset_keeps_each_trace_with_a_probability(
    name: str, data: st.DataObject, candidates: list[CandidateTrace], context: CurationContext
) -> None:
    preset = PRESETS[name]
    assert preset.name == name and set(preset.stages) <= set(STAGES)
    assert preset.main is None or preset.main in preset.stages
    if preset.main is None:
        spec = PolicySpec.model_validate(name)
    else:
        params = data.draw(stage_params(STAGES[preset.main]), label="params")
        spec = PolicySpec.model_validate({name: params})
    assert tuple(s.kind for s in spec.stages) == preset.stages and spec.select == preset.select
    policy = ComposedPolicy(spec)
    assert policy.name
    for pool in (candidates, FIXED):
        keep = policy.keep_probabilities(pool, context)
        assert len(keep) == len(pool)
        assert all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in keep), (policy.name, keep)


def test_unknown_names_name_the_registry_the_closest_and_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"^unknown curation stage 'validty'; did you mean "
                       r"'validity'\? \(known curation stages: validity, noisy_validator, "):
        STAGES["validty"]
    with pytest.raises(UnknownPolicyError) as caught:
        PRESETS["acept_all"]
    assert isinstance(caught.value, ValueError) and caught.value.close[0] == "accept_all"
    assert "(known curation policies: validity, shortest, " in str(caught.value)
    with pytest.raises(ValidationError, match=r"unknown curation policy 'acept_all'; did you mean "
                       r"'accept_all'"):
        PolicySpec.model_validate("acept_all")
