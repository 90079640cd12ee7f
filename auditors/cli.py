"""``iterdeploy audit``: audit a run and store the findings.

The main CLI lives in the simulator, which must not import auditors, so it loads this command
through the ``iterdeploy.commands`` entry-point group (name ``audit``, value
``auditors.cli:register``). Entry points are loaded on every ``iterdeploy`` invocation, so this
module imports only typer at the top; scikit-learn, scipy and pandas (about two seconds) are
imported when the command actually runs.

By default the command runs every auditor in a fixed order (implicit reward, declared objective,
behaviour drift, reward drift, attribution, black-box reward); each replaces only its own earlier
findings in the store. ``--only`` (repeatable) runs the ones named.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from simulator.store import FindingRow

EXIT_BAD_INPUT = 2
"""Exit status for a run directory or option the auditor cannot use (as click's usage errors)."""


class AuditorChoice(StrEnum):
    """Auditors ``--only`` can select (the ``iterdeploy audit`` names, without versions)."""

    implicit_reward = "implicit-reward"
    declared = "declared-objective"
    drift = "drift"
    reward_drift = "reward-drift"
    attribution = "attribution"
    blackbox = "blackbox-reward"
    rl_equivalence = "rl-equivalence"


OPT_IN: frozenset[AuditorChoice] = frozenset({AuditorChoice.rl_equivalence})
"""Auditors that run only when ``--only`` names them (they load models: minutes, not seconds)."""


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command to ``app``; the ``iterdeploy.commands`` entry point.

    Args:
        app: The ``iterdeploy`` typer application.
    """
    app.command(
        "audit",
        help="Audit a run (implicit reward, declared objective, drift, reward drift, attribution, "
        "black-box reward; RL equivalence when named) and store the findings.",
    )(audit_command)


def _run(choice: AuditorChoice, run_dir: Path, seed: int, n_bootstrap: int) -> list[FindingRow]:
    """Run one auditor; each stores its findings, replacing only its own earlier ones."""
    from auditors.core.findings import audit_and_store
    from auditors.interfaces import Auditor

    auditor: Auditor
    if choice is AuditorChoice.implicit_reward:
        from auditors.reward.implicit_reward import ImplicitRewardAuditor

        auditor = ImplicitRewardAuditor(seed=seed, n_bootstrap=n_bootstrap)
    elif choice is AuditorChoice.declared:
        from auditors.reward.declared import DeclaredObjectiveAuditor

        auditor = DeclaredObjectiveAuditor(seed=seed, n_bootstrap=n_bootstrap)
    elif choice is AuditorChoice.drift:
        from auditors.drift.auditor import DriftAuditor

        auditor = DriftAuditor()
    elif choice is AuditorChoice.reward_drift:
        from auditors.reward.reward_drift import RewardDriftAuditor

        auditor = RewardDriftAuditor(seed=seed, n_bootstrap=n_bootstrap)
    elif choice is AuditorChoice.attribution:
        from auditors.reward.attribution import AttributionAuditor

        auditor = AttributionAuditor(seed=seed, n_bootstrap=n_bootstrap)
    elif choice is AuditorChoice.blackbox:
        from auditors.blackbox.auditor import BlackBoxAuditor

        auditor = BlackBoxAuditor(seed=seed, n_bootstrap=n_bootstrap)
    else:
        from auditors.rl.equivalence import RlEquivalenceAuditor

        auditor = RlEquivalenceAuditor(seed=seed, n_bootstrap=n_bootstrap)
    return audit_and_store(run_dir, auditor)


def audit_command(
    run_dir: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_DIR", help="Run directory (the one holding run.sqlite).", show_default=False
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the findings as a JSON list instead of a table.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    n_bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples per fit.")
    ] = 200,
    only: Annotated[
        list[AuditorChoice] | None,
        typer.Option(
            "--only", case_sensitive=False,
            help="Run only this auditor (repeat the option for several). Default: every auditor "
            "except the opt-in ones" + (f" ({', '.join(sorted(OPT_IN))})" if OPT_IN else "") + ".",
        ),
    ] = None,
) -> None:
    """Run the auditors on RUN_DIR, store their findings and print them."""
    from auditors.core.features import AuditorConfigError, InsufficientRunError
    from simulator.errors import StoreError

    chosen = [c for c in AuditorChoice if (c in only if only else c not in OPT_IN)]
    found: dict[AuditorChoice, list[FindingRow]] = {}
    try:
        for choice in chosen:
            try:
                found[choice] = _run(choice, run_dir, seed, n_bootstrap)
            except InsufficientRunError as exc:
                if only:  # asked for by name: an error like any other bad input
                    raise
                typer.echo(f"{choice.value} skipped: {exc}", err=True)
    except (StoreError, AuditorConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=EXIT_BAD_INPUT) from exc
    if as_json:
        from auditors.core.findings import findings_to_json

        typer.echo(findings_to_json([f for rows in found.values() for f in rows]))
        return
    for choice, rows in found.items():
        if choice is AuditorChoice.implicit_reward:
            _print_findings(rows, run_dir)
        elif choice is AuditorChoice.drift:
            _print_drift(rows, run_dir)
        else:
            _print_claims(rows, run_dir, choice.value)


def _print_findings(findings: list[FindingRow], run_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Implicit reward: log-odds of being kept per SD of each feature")
    for column in ("generation", "traces", "feature", "weight", "CI", "fit"):
        table.add_column(column, justify="right" if column in ("weight", "CI") else "left")
    for finding in findings:
        numbers = json.loads(finding.numbers_json)
        generation = "all" if finding.generation is None else str(finding.generation)
        confidence = numbers.get("bootstrap", {}).get("confidence", 0.95)
        fits = [("all", numbers)]
        beyond = numbers.get("beyond_declared") or {}
        strata = (beyond.get("strata") or {}).items()
        fits += sorted(strata, key=lambda item: item[0] != "valid")  # valid traces first
        for traces, fit in fits:
            status = str(fit.get("fit_status", ""))
            if status != "ok":
                table.add_row(generation, traces, "-", "-", "-", status)
                continue
            for name, effect in fit.get("features", {}).items():
                table.add_row(generation, traces, name, *_weight_cells(effect, confidence), status)
    console.print(table)
    for finding in findings:
        scope = "run" if finding.generation is None else f"generation {finding.generation}"
        console.print(f"[{finding.severity}] {scope}: {finding.claim}", markup=False)
    console.print(f"{len(findings)} findings stored in {run_dir}", markup=False)


def _weight_cells(effect: dict[str, float | None], confidence: float) -> tuple[str, str]:
    weight, low, high = effect.get("weight"), effect.get("ci_low"), effect.get("ci_high")
    if weight is None:
        return "constant", "-"
    if low is None or high is None:
        return f"{weight:+.2f}", "-"
    return f"{weight:+.2f}", f"{round(100 * confidence)}% [{low:+.2f}, {high:+.2f}]"


def _print_drift(findings: list[FindingRow], run_dir: Path) -> None:
    """Flagged drift tests and capability changes as a table, then every drift finding's claim."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Drift: flagged after Benjamini–Hochberg correction", box=box.SIMPLE_HEAD)
    for column in ("severity", "gens", "traces", "feature", "statistic", "p (BH)", "PSI"):
        table.add_column(column, justify="right" if column in ("p (BH)", "PSI") else "left", no_wrap=True)
    for finding in findings:
        if finding.kind not in ("drift", "capability") or finding.severity == "info":
            continue
        n = json.loads(finding.numbers_json)
        pair = n.get("generations", {})
        if finding.kind == "capability":
            feature, statistic = f"valid share, size {n.get('size')}", f"{100 * n.get('change', 0):+.0f} pts"
        else:
            test = "KS" if "ks_2samp" in str(n.get("test")) else "chi2"
            feature, statistic = str(n.get("feature")), f"{test} {_num(n.get('statistic'))}"
        table.add_row(
            finding.severity,
            f"{pair.get('earlier')}→{pair.get('later')}",
            str(n.get("purpose", "")),
            feature,
            statistic,
            _num(n.get("p_adjusted")),
            _num(n.get("psi")),
        )
    if table.row_count:
        console.print(table)
    for finding in findings:
        scope = "run" if finding.generation is None else f"generation {finding.generation}"
        console.print(f"[{finding.severity}] {finding.kind}, {scope}: {finding.claim}", markup=False)
    console.print(f"{len(findings)} drift findings stored in {run_dir}", markup=False)


def _print_claims(findings: list[FindingRow], run_dir: Path, name: str) -> None:
    """Each finding's claim, alarms first (auditors whose evidence does not fit one table)."""
    from rich.console import Console

    console = Console()
    order = {"high": 0, "medium": 1, "low": 2, "info": 3}
    for finding in sorted(findings, key=lambda f: (order[f.severity], f.generation is not None,
                                                   f.generation or 0)):
        scope = "run" if finding.generation is None else f"generation {finding.generation}"
        console.print(f"[{finding.severity}] {finding.kind}, {scope}: {finding.claim}", markup=False)
    console.print(f"{len(findings)} {name} findings stored in {run_dir}", markup=False)


def _num(value: object) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.2g}" if abs(value) < 0.01 and value != 0 else f"{value:.2f}"
