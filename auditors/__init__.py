"""Auditors: read a run through the store, infer the implicit reward, detect drift, write findings.

Subpackages by concern: ``core`` (the feature table, who decided what, findings), ``payloads``
(one typed model per finding kind's numbers), ``reward`` (the white-box reward auditors),
``drift``, ``blackbox`` and ``rl``. Every registered auditor class is
exported here under its own name (:data:`iterdeploy.auditors.registry.AUDITORS`, so a new auditor is exported
by its registration line), with the shared helpers below.

The names are imported lazily (PEP 562 ``__getattr__``): the ``iterdeploy`` CLI loads
``iterdeploy.auditors.cli`` on every invocation through an entry point, and importing scikit-learn and pandas
eagerly here would cost about two seconds on ``iterdeploy --help``. ``AUDITOR_NAME`` is the
implicit-reward auditor's name (kept for compatibility); the drift auditor's is
``DRIFT_AUDITOR_NAME``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from iterdeploy.auditors.registry import AUDITORS

if TYPE_CHECKING:  # the helpers' types for type checkers (``X as X``: re-exported)
    from iterdeploy.auditors.blackbox.auditor import BlackBoxInputError as BlackBoxInputError
    from iterdeploy.auditors.blackbox.auditor import audit_blackbox as audit_blackbox
    from iterdeploy.auditors.core.features import AuditorConfigError as AuditorConfigError
    from iterdeploy.auditors.core.features import Denominators as Denominators
    from iterdeploy.auditors.core.features import FeatureTable as FeatureTable
    from iterdeploy.auditors.core.features import InsufficientRunError as InsufficientRunError
    from iterdeploy.auditors.core.features import build_feature_table as build_feature_table
    from iterdeploy.auditors.core.findings import FindingView as FindingView
    from iterdeploy.auditors.core.findings import audit_and_store as audit_and_store
    from iterdeploy.auditors.core.findings import findings_to_json as findings_to_json
    from iterdeploy.auditors.core.findings import make_finding as make_finding
    from iterdeploy.auditors.drift.auditor import DRIFT_AUDITOR_NAME as DRIFT_AUDITOR_NAME
    from iterdeploy.auditors.drift.auditor import audit_drift as audit_drift
    from iterdeploy.auditors.drift.data import TraceTable as TraceTable
    from iterdeploy.auditors.drift.data import build_trace_table as build_trace_table
    from iterdeploy.auditors.interfaces import Auditor as Auditor
    from iterdeploy.auditors.payloads import FindingPayload as FindingPayload
    from iterdeploy.auditors.payloads import PayloadError as PayloadError
    from iterdeploy.auditors.payloads import payload as payload
    from iterdeploy.auditors.pooling import pool_runs as pool_runs
    from iterdeploy.auditors.reward.implicit_reward import AUDITOR_NAME as AUDITOR_NAME
    from iterdeploy.auditors.reward.within_task import Effect as Effect
    from iterdeploy.auditors.reward.within_task import RewardComparison as RewardComparison
    from iterdeploy.auditors.reward.within_task import compare_with_declared as compare_with_declared
    from iterdeploy.auditors.rl.equivalence import audit_rl_equivalence as audit_rl_equivalence

_HELPERS = {
    "Auditor": "iterdeploy.auditors.interfaces",
    "AuditorConfigError": "iterdeploy.auditors.core.features",
    "Denominators": "iterdeploy.auditors.core.features",
    "FeatureTable": "iterdeploy.auditors.core.features",
    "InsufficientRunError": "iterdeploy.auditors.core.features",
    "build_feature_table": "iterdeploy.auditors.core.features",
    "FindingView": "iterdeploy.auditors.core.findings",
    "audit_and_store": "iterdeploy.auditors.core.findings",
    "findings_to_json": "iterdeploy.auditors.core.findings",
    "make_finding": "iterdeploy.auditors.core.findings",
    "FindingPayload": "iterdeploy.auditors.payloads",
    "PayloadError": "iterdeploy.auditors.payloads",
    "payload": "iterdeploy.auditors.payloads",
    "TraceTable": "iterdeploy.auditors.drift.data",
    "build_trace_table": "iterdeploy.auditors.drift.data",
    "AUDITOR_NAME": "iterdeploy.auditors.reward.implicit_reward",
    "Effect": "iterdeploy.auditors.reward.within_task",
    "RewardComparison": "iterdeploy.auditors.reward.within_task",
    "compare_with_declared": "iterdeploy.auditors.reward.within_task",
    "DRIFT_AUDITOR_NAME": "iterdeploy.auditors.drift.auditor",
    "audit_drift": "iterdeploy.auditors.drift.auditor",
    "BlackBoxInputError": "iterdeploy.auditors.blackbox.auditor",
    "audit_blackbox": "iterdeploy.auditors.blackbox.auditor",
    "audit_rl_equivalence": "iterdeploy.auditors.rl.equivalence",
    "pool_runs": "iterdeploy.auditors.pooling",
}
"""Shared helpers and the names kept for callers of the former API, by module."""

_EXPORTS = {spec.class_name: spec.module for spec in AUDITORS} | _HELPERS

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'iterdeploy.auditors' has no attribute {name!r}")
    return getattr(import_module(module), name)
