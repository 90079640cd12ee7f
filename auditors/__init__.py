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
    from auditors.attribution import AttributionAuditor, audit_attribution
    from auditors.blackbox import BlackBoxAuditor, BlackBoxInputError, audit_blackbox
    from auditors.drift import DRIFT_AUDITOR_NAME, DriftAuditor, audit_drift
    from auditors.drift_data import TraceTable, build_trace_table
    from auditors.features import (
        AuditorConfigError,
        Denominators,
        FeatureTable,
        InsufficientRunError,
        build_feature_table,
    )
    from auditors.findings import FindingView, findings_to_json, make_finding
    from auditors.implicit_reward import (
        AUDITOR_NAME,
        FeatureEffect,
        ImplicitRewardAuditor,
        LogisticFit,
        audit_run,
    )
    from auditors.reward_drift import RewardDriftAuditor, audit_reward_drift
    from auditors.rl_equivalence import audit_rl_equivalence

_EXPORTS = {
    "AttributionAuditor": "auditors.attribution",
    "audit_attribution": "auditors.attribution",
    "BlackBoxAuditor": "auditors.blackbox",
    "BlackBoxInputError": "auditors.blackbox",
    "audit_blackbox": "auditors.blackbox",
    "InsufficientRunError": "auditors.features",
    "RewardDriftAuditor": "auditors.reward_drift",
    "audit_reward_drift": "auditors.reward_drift",
    "audit_rl_equivalence": "auditors.rl_equivalence",
    "DRIFT_AUDITOR_NAME": "auditors.drift",
    "DriftAuditor": "auditors.drift",
    "audit_drift": "auditors.drift",
    "TraceTable": "auditors.drift_data",
    "build_trace_table": "auditors.drift_data",
    "AuditorConfigError": "auditors.features",
    "Denominators": "auditors.features",
    "FeatureTable": "auditors.features",
    "build_feature_table": "auditors.features",
    "FindingView": "auditors.findings",
    "findings_to_json": "auditors.findings",
    "make_finding": "auditors.findings",
    "AUDITOR_NAME": "auditors.implicit_reward",
    "FeatureEffect": "auditors.implicit_reward",
    "ImplicitRewardAuditor": "auditors.implicit_reward",
    "LogisticFit": "auditors.implicit_reward",
    "audit_run": "auditors.implicit_reward",
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
    "audit_attribution",
    "audit_blackbox",
    "audit_drift",
    "audit_reward_drift",
    "audit_rl_equivalence",
    "audit_run",
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
