"""The typed finding payloads (:mod:`iterdeploy.auditors.payloads`).

* every registered kind's model reads what the auditors really write, back to the same bytes, with
  no key the model does not declare (the synthetic stores of ``conftest.py``, one of them made to
  collapse so that every kind is written);
* a payload that does not fit is an error naming the finding, its kind and the key;
* a kind no model is registered for is read as it is;
* writers cannot store a key no model declares, nor another kind's model;
* payload → JSON → payload is the identity, for any payload a model accepts (Hypothesis).
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Sequence
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import JsonValue

from iterdeploy.auditors.core.features import InsufficientRunError
from iterdeploy.auditors.core.findings import make_finding
from iterdeploy.auditors.payloads import (
    PAYLOADS,
    DriftNumbers,
    FindingPayload,
    ImplicitRewardNumbers,
    PayloadError,
    UnknownPayload,
    claims_of,
    payload,
    payload_model,
    payload_or_none,
)
from iterdeploy.auditors.payloads.base import Part
from iterdeploy.auditors.registry import AUDITORS
from iterdeploy.simulator.store import FindingRow, GenerationBundle, RunReader, dumps

NOW = "2025-06-01T12:00:00+00:00"

FAST: dict[str, dict[str, object]] = {"blackbox-reward": {"n_permutations": 40}}
"""Settings beyond ``make(seed=0, n_bootstrap=20)`` that keep an audit to seconds."""


def _collapsing(bundles: Sequence[GenerationBundle]) -> list[GenerationBundle]:
    """The bundles with varied plans in generations 0 and 1 and one plan per task from generation 2
    on: the model stops varying, which the drift auditor reports as a collapse."""
    out = []
    for bundle in bundles:
        first: dict[int, str] = {}
        traces = []
        for t in bundle.traces:
            if bundle.generation.generation < 2:
                text = "\n".join(f"(pickup b{(t.trace_id * k) % 7})" for k in range(1, 2 + t.trace_id % 4))
            else:
                text = first.setdefault(t.task_id, f"(pickup b{t.task_id % 7})")
            traces.append(t.model_copy(update={"plan_text": text, "completion": text}))
        out.append(dataclasses.replace(bundle, traces=traces))
    return out


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, synthetic: Any) -> list[FindingRow]:
    """What every registered auditor (the opt-in RL check included) writes on the conformance
    stores and on a run that collapses."""
    root = tmp_path_factory.mktemp("payloads")
    stores = synthetic.conformance_stores(root)
    collapsing = synthetic.write_store(root / "collapsing", _collapsing(synthetic.make_bundles(
        seed=2, n_generations=4, n_tasks=12, n_eval_tasks=10, users=("checkers", "fans"),
        rules=["shortest", "shortest", "longest", "longest"])))
    findings: list[FindingRow] = []
    for spec in AUDITORS:
        auditor = dataclasses.replace(spec.make(seed=0, n_bootstrap=20),  # type: ignore[type-var]
                                      **FAST.get(spec.command, {}))
        for store in (stores.full, stores.one_generation, stores.empty, collapsing):
            with RunReader(store) as reader:
                try:
                    findings += auditor.audit(reader)
                except InsufficientRunError:
                    continue
    return findings


def test_every_registered_kind_reads_what_its_auditor_writes(written: list[FindingRow]) -> None:
    assert {f.kind for f in written} == set(PAYLOADS), "a registered kind no auditor wrote here"
    for f in written:
        numbers = payload(f)
        assert type(numbers) is PAYLOADS[f.kind]
        assert dumps(numbers.as_json()) == f.numbers_json, f"{f.kind}: not the stored bytes"
        assert numbers.undeclared() == [], f"{f.kind}: keys no model declares"
        assert payload(f, PAYLOADS[f.kind]) == numbers


def test_typed_fields_read_the_stored_values(written: list[FindingRow]) -> None:
    """Spot checks that attributes are the stored values, nested parts included."""
    run = next(f for f in written if f.kind == "implicit-reward" and f.generation is None
               and json.loads(f.numbers_json)["fit_status"] == "ok")
    stored = json.loads(run.numbers_json)
    numbers = payload(run, ImplicitRewardNumbers)
    assert numbers.fit_status == "ok" and numbers.n_traces == stored["n_traces"]
    assert numbers.features is not None
    assert {k: e.weight for k, e in numbers.features.items()} == {
        k: e["weight"] for k, e in stored["features"].items()}
    assert {k: e.ci_low for k, e in numbers.shifts().items()} == {
        k: e["ci_low"] for k, e in stored["beyond_declared"]["published_shift"].items()}
    assert numbers.denominators is not None
    assert numbers.denominators.n_decisions == stored["denominators"]["n_decisions"]
    made = [(c.concept, c.direction, c.feature) for f in written for c in claims_of(payload(f))]
    stored_claims = [(c["concept"], c["direction"], c["feature"]) for f in written
                     for c in json.loads(f.numbers_json).get("claims") or []]
    assert made == stored_claims and made


def _row(kind: str, numbers_json: str, finding_id: int = 7) -> FindingRow:
    return FindingRow(finding_id=finding_id, auditor=f"{kind}-v9", kind=kind, severity="info",
                      generation=None, claim="c", numbers_json=numbers_json, evidence_json="{}",
                      created_at=NOW)


@pytest.mark.parametrize(("numbers_json", "needles"), [
    ('{"features": [1, 2]}', ("features",)),
    ('{"features": {"is_valid": {"weight": "high"}}}', ("features.is_valid.weight", "'high'")),
    ('{"n_traces": 3.0}', ("n_traces",)),
    ('{"fit_status": true}', ("fit_status",)),
    ('{"scope": "everything"}', ("scope",)),
    ("[1, 2]", ("not an object",)),
    ("{not json", ("not JSON",)),
])
def test_a_payload_that_does_not_fit_names_the_finding_kind_and_key(
    numbers_json: str, needles: tuple[str, ...]
) -> None:
    finding = _row("implicit-reward", numbers_json)
    with pytest.raises(PayloadError) as refused:
        payload(finding)
    message = str(refused.value)
    assert message.startswith("finding 7 (kind 'implicit-reward')"), message
    assert "ImplicitRewardNumbers" in message and "\n" not in message
    for needle in needles:
        assert needle in message, message
    assert refused.value.finding_id == 7 and refused.value.kind == "implicit-reward"
    assert payload_or_none(finding, ImplicitRewardNumbers) is None


def test_asking_for_another_kinds_model_is_an_error() -> None:
    finding = _row("drift", "{}")
    assert isinstance(payload(finding, DriftNumbers), DriftNumbers)
    expected = r"finding 7 \(kind 'drift'\).*DriftNumbers, not ImplicitRewardNumbers"
    with pytest.raises(PayloadError, match=expected):
        payload(finding, ImplicitRewardNumbers)
    assert payload_or_none(finding, ImplicitRewardNumbers) is None


def test_an_unknown_kind_is_read_generically() -> None:
    stored = {"score": 0.5, "nested": {"a": [1, None, "x"]}, "denominators": {"n": 3},
              "claims": [{"concept": "length", "direction": 1, "feature": "f"}, {"no": "concept"}, 3]}
    finding = _row("someone-elses-check", dumps(stored))
    numbers = payload(finding)
    assert type(numbers) is UnknownPayload and payload_model("someone-elses-check") is UnknownPayload
    assert numbers.values == stored and numbers.as_json() == stored
    assert [(c.concept, c.direction) for c in claims_of(numbers)] == [("length", 1)]
    assert numbers.undeclared() == sorted(stored)  # every key is its own: nothing is declared
    odd = _row("someone-elses-check", '{"features": [1, 2], "scope": 3}')
    assert payload(odd).as_json() == {"features": [1, 2], "scope": 3}  # never refused on content


def test_a_known_kind_keeps_keys_its_model_does_not_declare() -> None:
    """A newer auditor may add a key: readers keep it, and the payload round-trips."""
    finding = _row("implicit-reward", '{"fit_status":"ok","new_number":1.5}')
    numbers = payload(finding, ImplicitRewardNumbers)
    assert numbers.fit_status == "ok" and numbers.undeclared() == ["new_number"]
    assert dumps(numbers.as_json()) == finding.numbers_json


def test_writers_cannot_store_an_undeclared_key_or_another_kinds_model() -> None:
    with pytest.raises(PayloadError, match=r"a 'implicit-reward' finding.*features\.is_valid\.typo: no model "
                                           "declares this key"):
        ImplicitRewardNumbers.build({"features": {"is_valid": {"weight": 1.0, "typo": 2}}})
    with pytest.raises(PayloadError, match="fit_status"):
        ImplicitRewardNumbers.build({"fit_status": 3})
    built = ImplicitRewardNumbers.build({"n_traces": 4, "features": {"x": {"weight": 0.1234567891}}})
    assert built.as_json() == {"n_traces": 4, "features": {"x": {"weight": 0.123457}}}  # as stored
    with pytest.raises(TypeError, match="'drift' finding are a DriftNumbers, got ImplicitRewardNumbers"):
        make_finding(auditor="drift-v2", kind="drift", severity="info", generation=None, claim="c",
                     numbers=built, evidence={})
    with pytest.raises(TypeError, match="UnknownPayload"):
        make_finding(auditor="mine-v1", kind="mine", severity="info", generation=None, claim="c",
                     numbers=built, evidence={})
    row = make_finding(auditor="mine-v1", kind="mine", severity="info", generation=None, claim="c",
                       numbers=UnknownPayload.build({"anything": [1, 2.5]}), evidence={})
    assert row.numbers_json == '{"anything":[1,2.5]}'


# -- payload → JSON → payload ------------------------------------------------------------------------

_SCALARS = (st.none() | st.booleans() | st.integers(-10**9, 10**9)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6))
_JSON: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)


def _strategy(annotation: Any) -> st.SearchStrategy[Any]:
    """Values a field of this annotation accepts, as decoded JSON (what a store holds)."""
    if annotation is JsonValue:
        return _JSON
    if annotation is type(None):
        return st.none()
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return st.one_of(*(_strategy(a) for a in args))
    if origin is Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(_strategy(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=5), _strategy(args[1]), max_size=3)
    if isinstance(annotation, type) and issubclass(annotation, Part):
        return _part(annotation)
    simple = {bool: st.booleans(), int: st.integers(-10**9, 10**9), str: st.text(max_size=8),
              float: st.floats(allow_nan=False, allow_infinity=False)}
    return simple[annotation]


def _part(model: type[Part]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects of ``model``: any subset of its keys, plus now and then a key it does not declare."""
    optional = {name: _strategy(field.annotation) for name, field in model.model_fields.items()}
    optional["zz_undeclared"] = _JSON
    return st.fixed_dictionaries({}, optional=optional)


@pytest.mark.parametrize("model", list(PAYLOADS.values()), ids=lambda m: m.KIND)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_payload_to_json_to_payload_is_the_identity(model: type[FindingPayload], data: st.DataObject) -> None:
    stored = data.draw(_part(model))
    numbers = model.read(stored)
    text = dumps(numbers.as_json())
    again = model.read(json.loads(text))
    assert again == numbers
    assert dumps(again.as_json()) == text == dumps(stored)  # the same JSON, int and float kept apart


def test_stored_nulls_and_absent_keys_stay_apart() -> None:
    numbers = ImplicitRewardNumbers.read({"recovery": None, "features": {"a": {"weight": None}}})
    assert numbers.recovery is None and numbers.scope is None
    assert numbers.as_json() == {"recovery": None, "features": {"a": {"weight": None}}}
