"""How ``iterdeploy audit`` prints each auditor's findings (a registry entry names one of these).

A printer takes the findings as stored, the run directory and the auditor's command name; rich is
imported when it prints. The default prints every claim, alarms first; the implicit reward and
drift auditors, whose evidence fits one table, print that table first. :func:`print_pooled` prints
the audit of several seeds pooled (:mod:`iterdeploy.auditors.pooling`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iterdeploy.auditors.payloads import (
    CapabilityNumbers,
    DriftNumbers,
    Effect,
    GenerationPair,
    ImplicitRewardNumbers,
    payload,
)

if TYPE_CHECKING:
    from pathlib import Path

    from rich.table import Table
    from rich.text import Text

    from iterdeploy.auditors.pooling import PooledAudit, PooledScenario
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
        numbers = payload(finding, ImplicitRewardNumbers)
        generation = "all" if finding.generation is None else str(finding.generation)
        if numbers.fit_status != "ok":
            table.add_row(generation, "-", numbers.fit_status or "", "-")
            continue
        departures = numbers.shifts()
        for name, effect in (numbers.features or {}).items():
            table.add_row(generation, name, _effect_cell(effect), _effect_cell(departures.get(name)))
    console.print(table)
    for finding in findings:
        scope = "run" if finding.generation is None else f"generation {finding.generation}"
        console.print(f"[{finding.severity}] {scope}: {finding.claim}", markup=False)
    console.print(f"{len(findings)} findings stored in {run_dir}", markup=False)


def _effect_cell(effect: Effect | None) -> str:
    """``+0.12 [-0.30, +0.50]``; ``constant`` for a feature stored without a weight, ``-`` for one
    not stored at all."""
    if effect is None:
        return "-"
    weight, low, high = effect.weight, effect.ci_low, effect.ci_high
    if weight is None:
        return "-" if effect.is_empty() else "constant"
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
        n = payload(finding)
        psi: float | None = None
        if isinstance(n, CapabilityNumbers):
            feature, statistic = f"valid share, size {n.size}", f"{100 * (n.change or 0):+.0f} pts"
        elif isinstance(n, DriftNumbers):
            test = "KS" if "ks_2samp" in str(n.test) else "chi2"
            feature, statistic, psi = str(n.feature), f"{test} {_num(n.statistic)}", n.psi
        else:
            continue
        pair = n.generations or GenerationPair()
        table.add_row(
            finding.severity,
            f"{pair.earlier}→{pair.later}",
            n.purpose or "",
            feature,
            statistic,
            _num(n.p_adjusted),
            _num(psi),
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


def print_pooled(pooled: PooledAudit) -> None:
    """The pooled audit of several seeds, per scenario: the inferred reward across seeds (one row
    per generation and feature), then how often each finding and each directional claim recurs
    (``k/n``: in k of the n seeds that auditor audited; ``once`` is not recurring)."""
    from rich.console import Console

    console = Console()
    for group in pooled.groups:
        seeds = ", ".join(str(run.seed) for run in group.runs)
        console.print(f"{group.label}: {len(group.runs)} seed(s) ({seeds})", markup=False, style="bold")
        for table in (_pooled_reward(group), _pooled_findings(group), _pooled_claims(group)):
            if table.row_count:
                console.print(table)


def _pooled_reward(group: PooledScenario) -> Table:
    from rich.table import Table

    auditor = next((w.auditor for w in group.reward), "implicit-reward")
    table = Table(title=f"Inferred reward across seeds ({auditor}: log-odds per within-task SD)")
    for column in ("gen", "feature", "mean ± sd", "min – max", "seeds", "CI > 0", "CI < 0", "recurrence"):
        table.add_column(column, no_wrap=True,
                         justify="left" if column in ("gen", "feature", "recurrence") else "right")
    rows = [w for w in group.reward if w.weight.n]
    for i, w in enumerate(rows):
        s = w.weight
        sd = "" if s.sd is None else f" ± {s.sd:.2f}"
        last = i + 1 == len(rows) or rows[i + 1].generation != w.generation
        table.add_row("all" if w.generation is None else str(w.generation), w.feature,
                      f"{s.mean:+.2f}{sd}", f"{s.min:+.2f} – {s.max:+.2f}", f"{s.n}/{w.n_seeds}",
                      str(w.n_above_zero), str(w.n_below_zero), _recurrence_cell(w.recurrence),
                      end_section=last)
    return table


def _pooled_findings(group: PooledScenario) -> Table:
    from rich.table import Table

    table = Table(title="Findings across seeds (k/n: in k of the n seeds the auditor audited)")
    for column in ("finding", "gen", "subject", "seeds", "severities", "sign", "recurrence"):
        table.add_column(column, justify="right" if column == "seeds" else "left", no_wrap=column in _NO_WRAP,
                         overflow="fold")
    for f in group.findings:
        # the auditor, and the kind where it is not the auditor's own name (``drift-v2 · collapse``)
        finding = f.auditor if f.auditor.startswith(f"{f.kind}-v") else f"{f.auditor} · {f.kind}"
        table.add_row(finding, "run" if f.generation is None else str(f.generation), f.subject,
                      f"{f.n_present}/{f.n_audited}", _severities_cell(f.severities),
                      _sign_cell(f.n_up, f.n_down, 0), _recurrence_cell(f.recurrence))
    return table


def _pooled_claims(group: PooledScenario) -> Table:
    from rich.table import Table

    table = Table(title="Claims across seeds: departures from the declared objective "
                        "(+ keeps more of the concept than declared, - less)")
    for column in ("auditor", "concept", "group", "gen", "seeds", "sign", "severities", "recurrence"):
        table.add_column(column, justify="right" if column == "seeds" else "left", no_wrap=column in _NO_WRAP,
                         overflow="fold")
    for c in group.claims:
        generation = "run" if c.generation is None else str(c.generation)
        table.add_row(c.auditor, c.concept, c.group or "all", generation, f"{c.n_present}/{c.n_audited}",
                      _sign_cell(c.n_up, c.n_down, c.n_mixed), _severities_cell(c.severities),
                      _recurrence_cell(c.recurrence))
    return table


_NO_WRAP = frozenset({"concept", "gen", "seeds", "sign", "recurrence"})
"""Short columns kept on one line; the long ones (finding, subject) wrap in a narrow terminal."""


def _severities_cell(severities: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in reversed(severities.items()))


def _sign_cell(up: int, down: int, mixed: int) -> str:
    parts = [f"+{up}" if up else "", f"-{down}" if down else "", f"±{mixed}" if mixed else ""]
    return " ".join(p for p in parts if p)


def _recurrence_cell(recurrence: str) -> Text:
    from rich.text import Text

    style = {"every seed": "green", "once": "yellow", "none": "dim"}.get(recurrence, "")
    return Text(recurrence, style=style)
