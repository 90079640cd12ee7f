"""Reading the runs to pool and grouping them by scenario, with the refusals pooling needs.

Runs are grouped exactly as ``iterdeploy compare`` groups them
(:func:`iterdeploy.simulator.studies.compare_summaries`: by the stored scenario, seed and
generations aside), so the seeds of a scenario pool together and an ablation under the same name
is its own group. Pooling then refuses what would make its counts wrong rather than merely
different: the same run given twice, two runs of one scenario with the same seed (each would count
as a seed of its own), and seeds audited by different versions of one auditor (their findings are
not the same claims, so each would seem not to recur).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from iterdeploy.auditors.registry import split_version
from iterdeploy.simulator.errors import IterdeployError
from iterdeploy.simulator.store import FindingRow, RunReader
from iterdeploy.simulator.studies import ComparedRun, RunRows, compare_summaries

NO_RUNS = "no run directories given; pass the runs to pool, e.g. runs/length_bias-seed*"


class PoolingError(IterdeployError):
    """Runs that cannot be pooled as given; the message names the runs and what to do."""


class NoFindingsError(PoolingError):
    """A run to pool holds no stored findings (of the auditors asked for)."""


class AuditedRun(BaseModel):
    """A run as pooling reads it: where it stands, its scenario and its stored findings."""

    model_config = ConfigDict(frozen=True)

    run: ComparedRun
    scenario: dict[str, Any]
    findings: list[FindingRow]
    """Each auditor's newest stored version only (:func:`newest_versions`)."""


def newest_versions(findings: Iterable[FindingRow]) -> list[FindingRow]:
    """The findings of each auditor's newest version in one run.

    Re-auditing replaces an auditor's findings under its versioned name only, so a run audited
    before and after a version change holds both; the older ones are what an earlier release
    said, and pooling them with another seed's newer ones would count one claim as two.
    """
    findings = list(findings)
    newest: dict[str, int] = {}
    for f in findings:
        base, version = split_version(f.auditor)
        newest[base] = max(version, newest.get(base, version))
    return [f for f in findings if split_version(f.auditor)[1] == newest[split_version(f.auditor)[0]]]


def read_run(run_dir: str | Path, *, only: Iterable[str] = (), require_findings: bool = True) -> AuditedRun:
    """Read one run to pool (read-only).

    Args:
        run_dir: A run directory.
        only: Auditor command names (``implicit-reward``) to keep; empty keeps every auditor.
        require_findings: Refuse a run with no findings (of ``only``); False reads the run alone,
            as the command does to check every run before auditing any.

    Raises:
        StoreError: When ``run_dir`` is not a readable run store (the message names it).
        NoFindingsError: When ``require_findings`` and the run holds none.
    """
    keep = set(only)
    with RunReader(run_dir) as reader:
        row = reader.run()
        scenario = reader.scenario()
        planned = scenario.get("generations")
        status = reader.run_status()
        run = ComparedRun(
            run_dir=str(run_dir), run_id=row.run_id, name=row.name, seed=row.seed, status=status,
            last_generation=reader.last_generation(),
            planned_generations=planned if isinstance(planned, int) else None,
            flagged=status != "completed")
        findings = newest_versions(f for f in reader.findings()
                                   if not keep or split_version(f.auditor)[0] in keep)
    if require_findings and not findings:
        which = f" of {', '.join(sorted(keep))}" if keep else ""
        raise NoFindingsError(
            f"{run_dir} holds no stored findings{which}: audit it first (`iterdeploy audit {run_dir}`), "
            "or pool without --pool-only to audit every run before pooling")
    return AuditedRun(run=run, scenario=scenario, findings=findings)


def read_runs(
    run_dirs: Sequence[str | Path], *, only: Iterable[str] = (), require_findings: bool = True
) -> list[AuditedRun]:
    """Read every run (:func:`read_run`) and check that they can be pooled (:func:`group_runs`).

    Raises:
        PoolingError: When no run is given, or the runs cannot be pooled (see the module's text).
        StoreError: When a path is not a readable run store.
    """
    if not run_dirs:
        raise PoolingError(NO_RUNS)
    only = tuple(only)
    runs = [read_run(d, only=only, require_findings=require_findings) for d in run_dirs]
    group_runs(runs)
    return runs


def check_runs(run_dirs: Sequence[str | Path]) -> None:
    """Check, before auditing them, that ``run_dirs`` are runs that can be pooled once audited:
    every path a readable run, no run twice, one run per seed of a scenario. What the runs hold
    now is not looked at (auditing replaces it), so an outdated version of an auditor's findings
    in one of them is no reason to refuse.

    Raises:
        PoolingError: As :func:`read_runs`, findings aside.
        StoreError: When a path is not a readable run store.
    """
    if not run_dirs:
        raise PoolingError(NO_RUNS)
    group_runs([read_run(d, require_findings=False).model_copy(update={"findings": []}) for d in run_dirs])


def group_runs(runs: Sequence[AuditedRun]) -> list[tuple[str, str, list[AuditedRun]]]:
    """``(label, name, runs by seed)`` per scenario, as ``iterdeploy compare`` groups runs, in an
    order that does not depend on the order the runs were given (by name, then seed and path).

    Raises:
        PoolingError: For the same run twice, two runs of one scenario with the same seed, or
            seeds of one scenario audited by different versions of an auditor.
    """
    ordered = sorted(runs, key=lambda r: (r.run.name, r.run.seed, r.run.run_dir, r.run.run_id))
    seen: dict[str, str] = {}
    for r in ordered:
        if r.run.run_id in seen:
            raise PoolingError(
                f"{r.run.run_dir} and {seen[r.run.run_id]} are the same run (run id {r.run.run_id}); "
                "a copied run directory would count as a second seed: pass each run once")
        seen[r.run.run_id] = r.run.run_dir
    by_dir = {r.run.run_dir: r for r in ordered}
    comparison = compare_summaries([RunRows(run=r.run, scenario=r.scenario, rows=[]) for r in ordered])
    groups = []
    for group in comparison.groups:
        members = [by_dir[run.run_dir] for run in group.runs]
        _check_seeds(group.label, members)
        _check_versions(group.label, members)
        groups.append((group.label, group.name, members))
    return groups


def _check_seeds(label: str, members: Sequence[AuditedRun]) -> None:
    by_seed: dict[int, str] = {}
    for r in members:
        if r.run.seed in by_seed:
            raise PoolingError(
                f"{by_seed[r.run.seed]} and {r.run.run_dir} are both seed {r.run.seed} of scenario "
                f"{label}; pooling counts each run as one seed: pass one run per seed")
        by_seed[r.run.seed] = r.run.run_dir


def _check_versions(label: str, members: Sequence[AuditedRun]) -> None:
    where: dict[str, dict[str, str]] = {}
    for r in members:
        for f in r.findings:
            where.setdefault(split_version(f.auditor)[0], {}).setdefault(f.auditor, r.run.run_dir)
    for base, versions in sorted(where.items()):
        if len(versions) > 1:
            said = ", ".join(f"{name} in {run_dir}" for name, run_dir in sorted(versions.items()))
            raise PoolingError(
                f"the seeds of scenario {label} were audited by different versions of {base} ({said}); "
                "audit them again with this release (`iterdeploy audit` without --pool-only)")
