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

    from iterdeploy.simulator.store import FindingRow


def print_weights(findings: list[FindingRow], run_dir: Path, command: str) -> None:
    """The inferred reward per generation as a table: each feature's within-task weight (log-odds
    per within-task SD) and, beside it, the users' departure per task from the declared choice
    (0 where users follow the declaration), each with its interval; then every finding's claim."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Implicit reward within tasks, and departure from the declared choice")
    table.add_column("gen")
    table.add_column("feature", no_wrap=True)
    table.add_column("weight per SD [CI]", justify="right", no_wrap=True)
    table.add_column("published shift [CI]", justify="right", no_wrap=True)
    for finding in findings:
        numbers = json.loads(finding.numbers_json)
        generation = "all" if finding.generation is None else str(finding.generation)
        if numbers.get("fit_status") != "ok":
            table.add_row(generation, "-", str(numbers.get("fit_status", "")), "-")
            continue
        departures = (numbers.get("beyond_declared") or {}).get("published_shift", {})
        for name, effect in numbers.get("features", {}).items():
            table.add_row(generation, name, _effect_cell(effect), _effect_cell(departures.get(name, {})))
    console.print(table)
    for finding in findings:
        scope = "run" if finding.generation is None else f"generation {finding.generation}"
        console.print(f"[{finding.severity}] {scope}: {finding.claim}", markup=False)
    console.print(f"{len(findings)} findings stored in {run_dir}", markup=False)


def _effect_cell(effect: dict[str, float | None]) -> str:
    weight, low, high = effect.get("weight"), effect.get("ci_low"), effect.get("ci_high")
    if weight is None:
        return "constant" if effect else "-"
    if low is None or high is None:
        return f"{weight:+.2f}"
    return f"{weight:+.2f} [{low:+.2f}, {high:+.2f}]"


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
