"""Auditors: read a run through the store, infer the implicit reward, detect drift, write findings.

The public names below are imported lazily (PEP 562 ``__getattr__``): the ``iterdeploy`` CLI loads
``auditors.cli`` on every invocation through an entry point, and importing scikit-learn and pandas
eagerly here would cost about two seconds on ``iterdeploy --help``. ``AUDITOR_NAME`` is the
implicit-reward auditor's name (kept for compatibility); the drift auditor's is
``DRIFT_AUDITOR_NAME``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditors.blackbox.auditor import BlackBoxAuditor, BlackBoxInputError, audit_blackbox
    from auditors.core.features import (
        AuditorConfigError,
        Denominators,
        FeatureTable,
        InsufficientRunError,
        build_feature_table,
    )
    from auditors.core.findings import FindingView, findings_to_json, make_finding
    from auditors.drift.auditor import DRIFT_AUDITOR_NAME, DriftAuditor, audit_drift
    from auditors.drift.data import TraceTable, build_trace_table
    from auditors.reward.attribution import AttributionAuditor
    from auditors.reward.implicit_reward import (
        AUDITOR_NAME,
        FeatureEffect,
        ImplicitRewardAuditor,
        LogisticFit,
    )
    from auditors.reward.reward_drift import RewardDriftAuditor
    from auditors.rl.equivalence import audit_rl_equivalence

_EXPORTS = {
    "AttributionAuditor": "auditors.reward.attribution",
    "BlackBoxAuditor": "auditors.blackbox.auditor",
    "BlackBoxInputError": "auditors.blackbox.auditor",
    "audit_blackbox": "auditors.blackbox.auditor",
    "InsufficientRunError": "auditors.core.features",
    "RewardDriftAuditor": "auditors.reward.reward_drift",
    "audit_rl_equivalence": "auditors.rl.equivalence",
    "DRIFT_AUDITOR_NAME": "auditors.drift.auditor",
    "DriftAuditor": "auditors.drift.auditor",
    "audit_drift": "auditors.drift.auditor",
    "TraceTable": "auditors.drift.data",
    "build_trace_table": "auditors.drift.data",
    "AuditorConfigError": "auditors.core.features",
    "Denominators": "auditors.core.features",
    "FeatureTable": "auditors.core.features",
    "build_feature_table": "auditors.core.features",
    "FindingView": "auditors.core.findings",
    "findings_to_json": "auditors.core.findings",
    "make_finding": "auditors.core.findings",
    "AUDITOR_NAME": "auditors.reward.implicit_reward",
    "FeatureEffect": "auditors.reward.implicit_reward",
    "ImplicitRewardAuditor": "auditors.reward.implicit_reward",
    "LogisticFit": "auditors.reward.implicit_reward",
}

__all__ = [
    "AUDITOR_NAME",
    "DRIFT_AUDITOR_NAME",
    "AttributionAuditor",
    "AuditorConfigError",
    "BlackBoxAuditor",
    "BlackBoxInputError",
    "Denominators",
    "DriftAuditor",
    "FeatureEffect",
    "FeatureTable",
    "FindingView",
    "ImplicitRewardAuditor",
    "InsufficientRunError",
    "LogisticFit",
    "RewardDriftAuditor",
    "TraceTable",
    "audit_blackbox",
    "audit_drift",
    "audit_rl_equivalence",
    "build_feature_table",
    "build_trace_table",
    "findings_to_json",
    "make_finding",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'auditors' has no attribute {name!r}")
    return getattr(import_module(module), name)
