"""Pooling the audits of several seeds: the inferred reward across seeds, and how often each
finding recurs.

One seed's audit says what its run showed; whether that is a property of the scenario needs the
other seeds. Given the runs of a study (the seeds of one scenario, or of several scenarios, grouped
as ``iterdeploy compare`` groups them), :func:`pool_runs` reads every run's stored findings and
gives, per scenario:

* the **inferred reward across seeds** (:mod:`.reward`): per generation and feature, the
  implicit-reward weight of each seed, their mean and spread, and in how many seeds the interval
  excludes zero, with which sign;
* how often each **finding** and each directional **claim** recurs (:mod:`.recurrence`): in how
  many of the audited seeds it turns up, at which severities, with which sign; one that turns up
  in one seed of several is marked ``once``, not recurring.

Everything is a pure function of the findings as stored (:func:`pool_audited`); reading
(:mod:`.runs`) is separate, and nothing here writes to a run. ``iterdeploy audit RUN_DIR...``
prints the result (``--json`` as :class:`PooledAudit`); a dashboard or a report can build on the
same objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from iterdeploy.auditors.pooling.recurrence import claims_across_seeds, findings_across_seeds
from iterdeploy.auditors.pooling.results import (
    ClaimRecurrence,
    FindingRecurrence,
    PooledAudit,
    PooledRun,
    PooledScenario,
    Recurrence,
    WeightAcrossSeeds,
    recurrence_of,
)
from iterdeploy.auditors.pooling.reward import reward_across_seeds
from iterdeploy.auditors.pooling.runs import (
    AuditedRun,
    NoFindingsError,
    PoolingError,
    check_runs,
    group_runs,
    read_run,
    read_runs,
)

__all__ = [
    "AuditedRun",
    "ClaimRecurrence",
    "FindingRecurrence",
    "NoFindingsError",
    "PooledAudit",
    "PooledRun",
    "PooledScenario",
    "PoolingError",
    "Recurrence",
    "WeightAcrossSeeds",
    "check_runs",
    "group_runs",
    "pool_audited",
    "pool_runs",
    "read_run",
    "read_runs",
    "recurrence_of",
]


def pool_audited(runs: Sequence[AuditedRun]) -> PooledAudit:
    """Pool runs already read: group them by scenario and pool each group's findings.

    The result does not depend on the order of ``runs``: groups come by scenario name (then as
    ``iterdeploy compare`` labels them) and each group's runs by seed.

    Raises:
        PoolingError: When the runs cannot be pooled (:func:`group_runs`).
    """
    groups = []
    for label, name, members in group_runs(runs):
        groups.append(PooledScenario(
            label=label, name=name,
            runs=[PooledRun(run_dir=m.run.run_dir, run_id=m.run.run_id, seed=m.run.seed, status=m.run.status,
                            n_findings=len(m.findings), auditors=sorted({f.auditor for f in m.findings}))
                  for m in members],
            reward=reward_across_seeds(members), findings=findings_across_seeds(members),
            claims=claims_across_seeds(members)))
    return PooledAudit(groups=groups)


def pool_runs(run_dirs: Sequence[str | Path], *, only: Iterable[str] = ()) -> PooledAudit:
    """Read the stored findings of every run in ``run_dirs`` (read-only) and pool them.

    Args:
        run_dirs: Run directories: the seeds of one or several scenarios.
        only: Auditor command names (``implicit-reward``, ``drift``) to pool; empty pools all.

    Raises:
        PoolingError: No runs, runs that cannot be pooled, or a run with no stored findings
            (:class:`NoFindingsError`).
        StoreError: When a path is not a readable run store.
    """
    return pool_audited(read_runs(run_dirs, only=only))
