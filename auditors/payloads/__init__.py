"""Typed finding payloads: one model per finding kind, a registry kind → model, and the accessor
readers use instead of parsing ``numbers_json`` themselves.

A reader asks for a finding's numbers through :func:`payload`::

    numbers = payload(finding, ImplicitRewardNumbers)   # that kind's model, or PayloadError
    for feature, effect in (numbers.features or {}).items():
        ...

or, for any finding, ``payload(finding)``: the registered model of its kind, or
:class:`UnknownPayload` for a kind no model is registered for (a third-party or future auditor),
which keeps every key and never fails on content. A writer builds the model
(``ImplicitRewardNumbers.build({...})``) and gives it to
:func:`iterdeploy.auditors.core.findings.make_finding`. The rules every model follows (strict,
exact round trip, every field optional, closed to writers) are in :mod:`.base`.

Adding a finding kind takes a model (a :class:`FindingPayload` subclass with ``KIND`` and
documented fields) and one ``PAYLOADS.register`` line below; ``tests/auditors/test_payloads.py``
then checks it against what the auditors write.
"""

from __future__ import annotations

import json
from typing import TypeVar, overload

from pydantic import ValidationError

from iterdeploy.auditors.payloads.base import (
    Claim,
    Effect,
    FindingPayload,
    GenerationPair,
    InferredReward,
    JsonObject,
    KeepModelPart,
    MakesClaims,
    OutputEffect,
    PayloadError,
    Real,
    Recovery,
    UnknownPayload,
    WithinTaskEffect,
    problems_of,
)
from iterdeploy.auditors.payloads.blackbox import BlackBoxNumbers, HeldOutAuc
from iterdeploy.auditors.payloads.drift import (
    CapabilityCell,
    CapabilityNumbers,
    CollapseNumbers,
    DiversityNumbers,
    DriftNumbers,
    DriftTestRow,
    Expectation,
)
from iterdeploy.auditors.payloads.reward import (
    AttributionNumbers,
    BeyondDeclared,
    ChangeTest,
    ConceptTest,
    CurationCounts,
    Departures,
    HiddenObjectiveNumbers,
    ImplicitRewardNumbers,
    PolicyTest,
    RewardDistanceNumbers,
    RewardDriftNumbers,
    WithinTaskFit,
)
from iterdeploy.auditors.payloads.rl import RlEquivalenceNumbers
from iterdeploy.simulator.registry import Registry
from iterdeploy.simulator.store import FindingRow

PAYLOADS: Registry[type[FindingPayload]] = Registry("finding kind")
"""Finding kind → the model of its ``numbers``, one line per kind."""

PAYLOADS.register(ImplicitRewardNumbers.KIND, ImplicitRewardNumbers)
PAYLOADS.register(HiddenObjectiveNumbers.KIND, HiddenObjectiveNumbers)
PAYLOADS.register(RewardDistanceNumbers.KIND, RewardDistanceNumbers)
PAYLOADS.register(DriftNumbers.KIND, DriftNumbers)
PAYLOADS.register(CapabilityNumbers.KIND, CapabilityNumbers)
PAYLOADS.register(DiversityNumbers.KIND, DiversityNumbers)
PAYLOADS.register(CollapseNumbers.KIND, CollapseNumbers)
PAYLOADS.register(RewardDriftNumbers.KIND, RewardDriftNumbers)
PAYLOADS.register(AttributionNumbers.KIND, AttributionNumbers)
PAYLOADS.register(BlackBoxNumbers.KIND, BlackBoxNumbers)
PAYLOADS.register(RlEquivalenceNumbers.KIND, RlEquivalenceNumbers)

P = TypeVar("P", bound=FindingPayload)


def payload_model(kind: str) -> type[FindingPayload]:
    """The model of ``kind``'s numbers; :class:`UnknownPayload` for a kind none is registered for."""
    return PAYLOADS.get(kind, UnknownPayload)


@overload
def payload(finding: FindingRow) -> FindingPayload: ...
@overload
def payload(finding: FindingRow, model: type[P]) -> P: ...
def payload(finding: FindingRow, model: type[FindingPayload] | None = None) -> FindingPayload:
    """A stored finding's numbers as its kind's model.

    Args:
        finding: A finding as stored.
        model: The model the caller expects (it has already picked findings of that kind); None for
            whatever the kind's model is.

    Returns:
        The payload; an :class:`UnknownPayload` for a kind no model is registered for (when no
        ``model`` is asked for).

    Raises:
        PayloadError: The numbers are not a JSON object, do not fit the kind's model, or the kind's
            model is not ``model``. The message names the finding id, its kind and each problem.
    """
    expected = payload_model(finding.kind)
    if model is not None and model is not expected:
        raise PayloadError(finding.kind, [f"its kind's numbers are read by {expected.__name__}, "
                                          f"not {model.__name__}"], finding_id=finding.finding_id,
                           model=model.__name__)
    try:
        value = json.loads(finding.numbers_json)
    except ValueError as exc:
        raise PayloadError(finding.kind, [f"not JSON ({exc})"], finding_id=finding.finding_id,
                           model=expected.__name__) from None
    if not isinstance(value, dict):
        raise PayloadError(finding.kind, [f"a JSON {type(value).__name__}, not an object"],
                           finding_id=finding.finding_id, model=expected.__name__)
    try:
        return expected.read(value)
    except ValidationError as exc:
        raise PayloadError(finding.kind, problems_of(exc), finding_id=finding.finding_id,
                           model=expected.__name__) from None


def claims_of(numbers: FindingPayload) -> list[Claim]:
    """The claims a finding makes (``numbers.claims``): the typed claims of the kinds that make
    them; for a kind without a model, each item of its ``claims`` key that reads as a claim with a
    concept (an auditor this package does not know may make claims too); none otherwise."""
    if isinstance(numbers, MakesClaims):
        return list(numbers.claims or [])
    if not isinstance(numbers, UnknownPayload):
        return []
    items = numbers.values.get("claims")
    out = []
    for item in items if isinstance(items, list) else []:
        try:
            claim = Claim.model_validate(item)
        except ValidationError:
            continue
        if claim.concept is not None:
            out.append(claim)
    return out


def payload_or_none(finding: FindingRow, model: type[P]) -> P | None:
    """:func:`payload`, or None when the finding's numbers do not fit ``model``: for views that
    skip a finding they cannot read (a hand-edited store, an older auditor's shape) rather than
    draw it wrong or fail the page."""
    try:
        return payload(finding, model)
    except PayloadError:
        return None


__all__ = [
    "PAYLOADS", "AttributionNumbers", "BeyondDeclared", "BlackBoxNumbers", "CapabilityCell",
    "CapabilityNumbers", "ChangeTest", "Claim", "CollapseNumbers", "ConceptTest", "CurationCounts",
    "Departures", "DiversityNumbers", "DriftNumbers", "DriftTestRow", "Effect", "Expectation",
    "FindingPayload", "GenerationPair", "HeldOutAuc", "HiddenObjectiveNumbers", "ImplicitRewardNumbers",
    "InferredReward", "JsonObject", "KeepModelPart", "MakesClaims", "OutputEffect", "PayloadError",
    "PolicyTest", "Real", "Recovery", "RewardDistanceNumbers", "RewardDriftNumbers",
    "RlEquivalenceNumbers", "UnknownPayload", "WithinTaskEffect", "WithinTaskFit", "claims_of",
    "payload", "payload_model", "payload_or_none",
]
