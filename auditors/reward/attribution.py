"""Attribution of the inferred reward to user groups: whose curation departs from the declaration?

The implicit-reward auditor fits one reward to the whole population's decisions. A stakeholder who
reads "users keep longer plans than declared" needs to know whether the whole population holds
that preference or one group of users imposes it. Every curation decision records the user who
made it and the user's group, and each task is decided by the one user who brought it, so the
question has a direct answer: fit the same within-task model to each group's own tasks, next to
what a user following the declared objective keeps on those same tasks
(:func:`iterdeploy.auditors.reward.within_task.compare_with_declared`).

* A group that follows the declaration has a difference of exactly zero (its decisions *are* the
  declared decisions): ``info``, whatever its weights are.
* A group whose difference has an interval excluding zero on some feature rewards something the
  declaration does not explain; its finding names the direction and carries the claim with the
  group's name.
* Each group's share of all departing tasks says who drives the population's departure.

Why each group alone and not "the population without the group": a group's tasks are its own (no
task is decided by two groups), so its own fit against the declared decisions on its own tasks is
the whole of its contribution, with no interaction to untangle. A group with fewer than
``min_group_tasks`` tasks gets a finding that says so instead of a fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from iterdeploy.auditors.core.decisions import run_id_of
from iterdeploy.auditors.core.features import (
    WITHIN_TASK_FEATURES,
    AuditorConfigError,
    FeatureTable,
    build_feature_table,
)
from iterdeploy.auditors.core.features import check_features as _check_features
from iterdeploy.auditors.core.findings import make_finding
from iterdeploy.auditors.core.settings import BootstrapSettings
from iterdeploy.auditors.payloads import AttributionNumbers
from iterdeploy.auditors.reward.claims import SEVERITY_RULE, claims_from, departure_severity, departure_text
from iterdeploy.auditors.reward.within_task import RewardComparison, compare_with_declared
from iterdeploy.simulator.store import FindingRow, RunReader

AUDITOR_NAME = "attribution-v2"
"""Registered name; bump when the same run gives other numbers."""

KIND = "reward-attribution"
"""Finding kind written by this auditor."""

FEATURES: tuple[str, ...] = WITHIN_TASK_FEATURES
"""The implicit-reward auditor's features, so a group's weights read like the population's."""

MIN_GROUP_TASKS = 10
"""A group that brought fewer tasks is reported without a fit."""


@dataclass(frozen=True)
class AttributionAuditor(BootstrapSettings):
    """Attributes the departures from the declared objective to the user groups that make them.

    Args:
        seed: Bootstrap seed.
        n_bootstrap: Resamples of tasks per group.
        features: Feature-table columns (``action_shares`` for every action).
        confidence: Coverage of the percentile intervals.
        min_group_tasks: Fewest tasks a group must have decided to be fitted.
        c: Inverse L2 strength on standardised features.

    Examples:
        >>> AttributionAuditor(seed=1).name
        'attribution-v2'
    """

    name: ClassVar[str] = AUDITOR_NAME
    min_generations: ClassVar[int] = 1

    features: tuple[str, ...] = FEATURES
    min_group_tasks: int = MIN_GROUP_TASKS
    c: float = 1.0

    def audit(self, reader: RunReader) -> list[FindingRow]:
        """A summary finding for the run, then one finding per user group.

        A run with no curated traces, or whose decisions all come from one group, gives one ``info``
        finding that says so (there is nothing to attribute).

        Raises:
            AuditorConfigError: When the constructor arguments cannot be used.
            iterdeploy.simulator.errors.StoreError: When the run store cannot be read.
        """
        _check_features(self.features)
        self.check_bootstrap()
        if self.min_group_tasks < 1:
            raise AuditorConfigError(f"min_group_tasks must be >= 1, got {self.min_group_tasks}")
        table = build_feature_table(reader)
        frame = table.frame
        evidence: dict[str, object] = {"run_id": run_id_of(reader), "generations": list(table.generations)}
        groups = sorted(str(g) for g in frame["group"].unique()) if len(frame) else []
        if len(groups) < 2:
            return [self._nothing(table, groups, evidence)]
        results: dict[str, RewardComparison | None] = {}
        for group in groups:
            rows = frame[frame["group"] == group].reset_index(drop=True)
            if rows["task_key"].nunique() < self.min_group_tasks:
                results[group] = None
                continue
            results[group] = compare_with_declared(
                rows, table.expand(self.features), seed=self.seed, name=f"group:{group}",
                n_bootstrap=self.n_bootstrap, confidence=self.confidence, c=self.c)
        total_departing = sum(r.n_departing for r in results.values() if r is not None)
        findings = [self._summary(table, results, total_departing, evidence)]
        findings += [self._group_finding(table, g, results[g], total_departing, evidence) for g in groups]
        return findings

    def _nothing(self, table: FeatureTable, groups: list[str], evidence: dict[str, object]) -> FindingRow:
        reason = "no-traces" if not groups else "one-group"
        claim = ("The run has no curated deployment traces, so there is nothing to attribute."
                 if not groups else f"Every curation decision was made by one group ({groups[0]}), "
                 "so there is nothing to attribute between groups.")
        return make_finding(auditor=self.name, kind=KIND, severity="info", generation=None, claim=claim,
                            numbers=AttributionNumbers.build({
                                "scope": "summary", "reason": reason, "groups": groups,
                                "denominators": table.denominators(None).as_dict()}),
                            evidence=evidence)

    def _summary(self, table: FeatureTable, results: dict[str, RewardComparison | None],
                 total_departing: int, evidence: dict[str, object]) -> FindingRow:
        severities = {g: (departure_severity(r) if r is not None and r.status == "ok" else "info")
                      for g, r in results.items()}
        driving = [g for g, s in severities.items() if s in ("medium", "high")]
        severity = max(severities.values(), key=_RANK.__getitem__)
        claims = [c for g in driving if (r := results[g]) is not None
                  for c in claims_from(r.departure, group=g)]
        parts = []
        for g, r in results.items():
            if r is None:
                parts.append(f"{g}: too few tasks to fit")
            elif r.n_departing == 0:
                parts.append(f"{g}: follows the declared objective in all {r.n_tasks} tasks")
            else:
                share = r.n_departing / total_departing if total_departing else 0.0
                parts.append(f"{g}: {r.n_departing} of its {r.n_tasks} tasks depart ({share:.0%} of all "
                             "departures)" + (", with a clear direction" if g in driving else ""))
        lead = (f"The departures from the declared objective ({table.declared_objective}) come from "
                + " and ".join(driving) if driving else
                f"No group departs from the declared objective ({table.declared_objective}) in a clear "
                "direction")
        denominators = {**table.denominators(None).as_dict(), "n_departing_tasks": total_departing,
                        "by_group": {g: {"n_tasks": r.n_tasks, "n_departing_tasks": r.n_departing}
                                     for g, r in results.items() if r is not None}}
        return make_finding(
            auditor=self.name, kind=KIND, severity=severity, generation=None,
            claim=f"{lead}. " + "; ".join(parts) + ".",
            numbers=AttributionNumbers.build({
                "scope": "summary", "declared_objective": table.declared_objective,
                "groups": {g: severities[g] for g in results}, "driving_groups": driving,
                "severity_rule": "the most severe group finding; " + SEVERITY_RULE,
                "claims": claims, "denominators": denominators}),
            evidence=evidence)

    def _group_finding(self, table: FeatureTable, group: str, result: RewardComparison | None,
                       total_departing: int, evidence: dict[str, object]) -> FindingRow:
        rows = table.frame[table.frame["group"] == group]
        denominators = {**_counts(rows), "n_departing_tasks_all_groups": total_departing}
        if result is None:
            n_tasks = int(rows["task_key"].nunique())
            return make_finding(
                auditor=self.name, kind=KIND, severity="info", generation=None,
                claim=f"{group} brought {n_tasks} tasks, fewer than the {self.min_group_tasks} needed "
                "to fit what its curation rewards.",
                numbers=AttributionNumbers.build({"scope": "group", "group": group, "reason": "too-few-tasks",
                                                  "denominators": denominators}),
                evidence={**evidence, "group": group})
        severity = departure_severity(result) if result.status == "ok" else (
            "info" if result.n_departing == 0 else "low")
        share = result.n_departing / total_departing if total_departing else 0.0
        claim = (f"{group} ({result.n_tasks} tasks): " + departure_text(result, self.confidence)
                 + (f"; {share:.0%} of all departing tasks are its own" if result.n_departing else "")
                 + ".")
        return make_finding(
            auditor=self.name, kind=KIND, severity=severity, generation=None, claim=claim,
            numbers=AttributionNumbers.build({
                "scope": "group", "group": group, **result.as_dict(),
                "share_of_departures": share, "severity_rule": SEVERITY_RULE,
                "claims": claims_from(result.departure, group=group)
                if severity in ("medium", "high") else [],
                "denominators": {**denominators, "n_tasks": result.n_tasks,
                                 "n_departing_tasks": result.n_departing}}),
            evidence={**evidence, "group": group,
                      "departing_task_keys": list(result.departing_tasks[:10])})


_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3}


def _counts(rows: pd.DataFrame) -> dict[str, int]:
    return {"n_traces": len(rows), "n_kept": int(rows["kept"].sum()),
            "n_decisions": int(rows["n_decisions"].sum()), "n_tasks": int(rows["task_key"].nunique())}
