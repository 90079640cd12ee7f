"""``iterdeploy audit``: audit a run and store the findings.

The main CLI lives in the simulator, which must not import auditors, so it loads this command
through the ``iterdeploy.commands`` entry-point group (name ``audit``, value
``auditors.cli:register``). Entry points are loaded on every ``iterdeploy`` invocation, so this
module imports only typer at the top; scikit-learn and pandas (about two seconds) are imported when
the command actually runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from simulator.store import FindingRow

EXIT_BAD_INPUT = 2
"""Exit status for a run directory or option the auditor cannot use (as click's usage errors)."""


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command to ``app``; the ``iterdeploy.commands`` entry point.

    Args:
        app: The ``iterdeploy`` typer application.
    """
    app.command("audit", help="Infer the reward implicit in a run's curation and store findings.")(
        audit_command
    )


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
) -> None:
    """Run the implicit-reward auditor on RUN_DIR, store its findings and print them."""
    from auditors.features import AuditorConfigError
    from auditors.implicit_reward import audit_run
    from simulator.errors import StoreError

    try:
        findings = audit_run(run_dir, seed=seed, n_bootstrap=n_bootstrap)
    except (StoreError, AuditorConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=EXIT_BAD_INPUT) from exc
    if as_json:
        from auditors.findings import findings_to_json

        typer.echo(findings_to_json(findings))
        return
    _print_findings(findings, run_dir)


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
