"""Run, audit and score every case of a calibration suite.

Runs go through the same code as ``iterdeploy run`` (:func:`iterdeploy.simulator.loop.run_scenario`) into
``OUT/<scenario name>/seed<seed>``; an existing run directory is resumed, so a calibration that was
stopped (or a second calibration of changed auditors) redoes only what is missing: finished runs
are not run again. Every default auditor of the registry then audits each run afresh (the auditors
are what is being calibrated) and stores its findings in the run, as ``iterdeploy audit`` does, and
the run is scored against its case's truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iterdeploy.auditors.calibration.score import (
    Claim,
    RunScore,
    detections,
    planted_estimates,
    recovery,
    severity_counts,
)
from iterdeploy.auditors.calibration.suite import Case, Suite
from iterdeploy.auditors.core.features import InsufficientRunError, build_feature_table
from iterdeploy.auditors.core.findings import audit_and_store
from iterdeploy.auditors.payloads import (
    BlackBoxNumbers,
    FindingPayload,
    InferredReward,
    WithinTaskFit,
    payload,
)
from iterdeploy.auditors.registry import AuditorSpec, default_specs
from iterdeploy.simulator.store import FindingRow, RunReader

Log = Callable[[str], None]


@dataclass(frozen=True)
class CaseRun:
    """One case at one seed: where its run lives."""

    case: Case
    name: str
    seed: int
    scenario_path: Path
    run_dir: Path


def plan_runs(suite: Suite, base: Path, out: Path) -> list[CaseRun]:
    """Every (case, seed) of the suite with its scenario file and run directory.

    Raises:
        iterdeploy.simulator.errors.ScenarioError: When a scenario file, with the suite's overrides, is
        invalid.
    """
    from iterdeploy.simulator.scenario import load_scenario

    plans = []
    for case in suite.cases:
        path = base / case.scenario
        for seed in suite.seeds:
            spec, _ = load_scenario(path, {**suite.overrides, **case.overrides, "seed": seed})
            plans.append(CaseRun(case, spec.name, seed, path, out / spec.name / f"seed{seed}"))
    return plans


def run_case(plan: CaseRun, suite: Suite, *, phase: Any = None, log: Log | None = None) -> None:
    """Run (or resume, or find finished) one case at one seed."""
    from iterdeploy.simulator.loop import run_scenario
    from iterdeploy.simulator.scenario import load_scenario

    spec, text = load_scenario(plan.scenario_path,
                               {**suite.overrides, **plan.case.overrides, "seed": plan.seed})
    kwargs: dict[str, Any] = {}
    if phase is not None:
        kwargs["phase"] = phase
    if log is not None:
        kwargs["log"] = log
    run_scenario(spec, text, plan.run_dir, **kwargs)


def audit_case(plan: CaseRun, suite: Suite, specs: tuple[AuditorSpec, ...] | None = None,
               log: Log | None = None) -> None:
    """Audit one run with every default auditor (seed 0, the suite's bootstrap size) and store
    the findings, replacing each auditor's earlier ones. An auditor that cannot audit the run
    (too few generations) is skipped with a message, as ``iterdeploy audit`` does."""
    for spec in specs or default_specs():
        auditor = spec.make(seed=0, n_bootstrap=suite.n_bootstrap)
        try:
            audit_and_store(plan.run_dir, auditor)
        except InsufficientRunError as exc:
            if log is not None:
                log(f"{plan.name} seed {plan.seed}: {spec.command} skipped: {exc}")


def score_case(plan: CaseRun, specs: tuple[AuditorSpec, ...] | None = None) -> RunScore:
    """Score the stored findings of one run against its case's truth."""
    from iterdeploy.auditors.blackbox.data import build_output_table

    commands = [s.command for s in (specs or default_specs())]
    with RunReader(plan.run_dir) as reader:
        findings = list(reader.findings())
        table = build_feature_table(reader).frame
        outputs = None
        decoded = [(f, payload(f)) for f in findings]
        claims = [c for f, n in decoded for c in Claim.read(f, n)]
        recoveries = []
        for command in commands:
            rewards = [reward for f, n in decoded
                       if f.generation is None and _command(f) == command
                       and (reward := _inferred_reward(n)) is not None]
            if not rewards:
                continue
            reward = rewards[0]
            if reward.table == "black-box":
                if outputs is None:
                    outputs = _black_box_rows(build_output_table(reader).frame, table)
                rows = outputs
            else:
                rows = table
            recoveries.append(recovery(command, reward, rows, cannot_tell=bool(reward.cannot_tell)))
    alarms: list[dict[str, object]] = [
        {"auditor": _command(f), "kind": f.kind, "generation": f.generation, "severity": f.severity,
         "claim": f.claim if len(f.claim) <= 300 else f.claim[:297] + "..."}
        for f in findings if f.severity in ("medium", "high")
    ]
    return RunScore(
        case=plan.name, seed=plan.seed, null=plan.case.null, severities=severity_counts(findings),
        alarms=alarms, recovery=recoveries, detections=detections(plan.case, claims, commands),
        estimates=planted_estimates(plan.case, decoded),
        n_groups=int(table["group"].nunique()) if len(table) else 0,
    )


def _inferred_reward(numbers: FindingPayload) -> InferredReward | None:
    """The reward a finding publishes (the white-box fits' and the black-box classifier's)."""
    if isinstance(numbers, WithinTaskFit | BlackBoxNumbers):
        return numbers.inferred_reward
    return None


def _command(finding: FindingRow) -> str:
    from iterdeploy.auditors.calibration.score import base_name

    return base_name(finding.auditor)


def _black_box_rows(outputs: Any, table: Any) -> Any:
    """The black-box output features of the curated deployment traces, with the truth columns."""
    truth = table[["trace_id", "task_key", "acceptance_prob", "actions"]]
    keep = [c for c in outputs.columns if c not in ("task_key", "acceptance_prob", "actions")]
    return outputs[keep].merge(truth, on="trace_id", how="inner")
