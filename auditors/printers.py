"""How ``iterdeploy audit`` prints each auditor's findings (a registry entry names one of these).

A printer takes the findings as stored, the run directory and the auditor's command name; rich is
imported when it prints. The default prints every claim, alarms first; the implicit reward and
drift auditors, whose evidence fits one table, print that table first.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from simulator.store import FindingRow


def print_weights(findings: list[FindingRow], run_dir: Path, command: str) -> None:
    """The implicit reward's weights per generation as a table (the joint fit, then the fits within
    each validity stratum), then every finding's claim."""
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


def print_drift(findings: list[FindingRow], run_dir: Path, command: str) -> None:
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


def print_claims(findings: list[FindingRow], run_dir: Path, command: str) -> None:
    """Each finding's claim, alarms first (auditors whose evidence does not fit one table)."""
    from rich.console import Console

    console = Console()
    order = {"high": 0, "medium": 1, "low": 2, "info": 3}
    for finding in sorted(findings, key=lambda f: (order[f.severity], f.generation is not None,
                                                   f.generation or 0)):
        scope = "run" if finding.generation is None else f"generation {finding.generation}"
        console.print(f"[{finding.severity}] {finding.kind}, {scope}: {finding.claim}", markup=False)
    console.print(f"{len(findings)} {command} findings stored in {run_dir}", markup=False)


def _num(value: object) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.2g}" if abs(value) < 0.01 and value != 0 else f"{value:.2f}"
