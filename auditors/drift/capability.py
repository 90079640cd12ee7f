"""Capability by domain and task size per generation, and changes beyond their intervals.

Two shares per (generation, purpose, domain, size) bucket:

* **solved share**: tasks with at least one valid sample, out of the bucket's tasks (the paper's
  measure; on the evaluation pool it is what the ``evaluations`` table records);
* **valid-sample share**: valid samples out of *all* samples, failed and unreadable ones included.

Intervals come from ``scipy.stats.binomtest(k, n).proportion_ci`` (Wilson by default) over
samples, as a reader would compute them. A bucket's valid-sample share is reported as changed only
when two conditions hold: the two generations' intervals do not overlap, *and* a chi-squared test
with tasks as units (each task adds 1, split into its valid and invalid shares; see
``iterdeploy.auditors.drift.stats``) survives the run-wide Benjamini–Hochberg correction. Samples of one task
are not independent (a hard task fails all of them), so sample-level intervals are too narrow:
on the quickstart run, a sample-level Fisher test "found" a difference between two random halves
of one generation's tasks in 16–20% of size buckets at the 5% level; the task-level test in none.
Non-overlap alone would also fire by chance somewhere among the dozens of buckets and pairs of a
long run; the corrected test alone would flag changes too small to read off a chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from iterdeploy.auditors.core.findings import Severity, make_finding
from iterdeploy.auditors.drift.data import PURPOSE_LABELS, PURPOSES, GenerationPair, TraceTable, spread_ids
from iterdeploy.auditors.drift.stats import MIN_SAMPLE_SIZE, chi2_homogeneity, proportion_interval
from iterdeploy.auditors.payloads import CapabilityNumbers
from iterdeploy.simulator.store import FindingRow

CAPABILITY_HIGH_CHANGE = 0.20
"""A flagged change of at least this many share points (absolute) is ``high``, else ``medium``."""

CiMethod = Literal["wilson", "exact"]


@dataclass(frozen=True)
class CapabilityCell:
    """Solved and valid-sample shares of one bucket in one generation.

    Attributes:
        generation: Generation of the model.
        purpose: ``deploy`` or ``eval``.
        domain: PDDL domain.
        size: Task size.
        n_tasks: Tasks in the bucket.
        n_solved: Of those, tasks with at least one valid sample.
        n_samples: All samples of those tasks (failed and unreadable included).
        n_valid: Valid samples.
        n_unreadable: Samples whose plan could not be read.
        solved_ci: Interval of ``n_solved / n_tasks``.
        valid_ci: Interval of ``n_valid / n_samples``.
        task_valid_units: Sum over the bucket's tasks of each task's valid-sample share (the
            task-weighted count of valid samples the test uses).
        valid_ids: A few valid trace ids (evidence).
        invalid_ids: A few failed or unreadable trace ids (evidence).
    """

    generation: int
    purpose: str
    domain: str
    size: int
    n_tasks: int
    n_solved: int
    n_samples: int
    n_valid: int
    n_unreadable: int
    solved_ci: tuple[float, float] | None
    valid_ci: tuple[float, float] | None
    task_valid_units: float
    valid_ids: tuple[int, ...]
    invalid_ids: tuple[int, ...]

    @property
    def valid_share(self) -> float:
        """Valid samples out of all samples."""
        return self.n_valid / self.n_samples if self.n_samples else float("nan")

    @property
    def solved_share(self) -> float:
        """Solved tasks out of all tasks."""
        return self.n_solved / self.n_tasks if self.n_tasks else float("nan")

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``."""
        return {
            "generation": self.generation,
            "purpose": self.purpose,
            "domain": self.domain,
            "size": self.size,
            "n_tasks": self.n_tasks,
            "n_solved": self.n_solved,
            "solved_share": self.solved_share,
            "solved_ci": self.solved_ci,
            "n_samples": self.n_samples,
            "n_valid": self.n_valid,
            "n_unreadable": self.n_unreadable,
            "valid_share": self.valid_share,
            "valid_ci": self.valid_ci,
        }


@dataclass(frozen=True)
class CapabilityChange:
    """The valid-sample share of one bucket in two generations, and the test between them."""

    pair: GenerationPair
    earlier: CapabilityCell
    later: CapabilityCell
    p_value: float | None

    @property
    def disjoint(self) -> bool:
        """True when the two intervals do not overlap."""
        a, b = self.earlier.valid_ci, self.later.valid_ci
        return a is not None and b is not None and (a[1] < b[0] or b[1] < a[0])

    @property
    def change(self) -> float:
        """Later minus earlier valid-sample share."""
        return self.later.valid_share - self.earlier.valid_share


def capability_cells(
    table: TraceTable, confidence: float = 0.95, method: CiMethod = "wilson"
) -> list[CapabilityCell]:
    """Every (generation, purpose, domain, size) bucket that has samples, in that order."""
    cells = []
    frame = table.frame.dropna(subset=["task_size"])
    for (generation, purpose, domain, size), rows in frame.groupby(
        ["generation", "purpose", "domain", "task_size"], sort=True
    ):
        per_task = rows.groupby("task_id")["is_valid"].max()
        n_tasks, n_solved = len(per_task), int(per_task.sum())
        n_samples, n_valid = len(rows), int(rows["is_valid"].sum())
        cells.append(
            CapabilityCell(
                generation=int(generation),
                purpose=str(purpose),
                domain=str(domain),
                size=int(size),
                n_tasks=n_tasks,
                n_solved=n_solved,
                n_samples=n_samples,
                n_valid=n_valid,
                n_unreadable=int(rows["is_unreadable"].sum()),
                solved_ci=proportion_interval(n_solved, n_tasks, confidence, method),
                valid_ci=proportion_interval(n_valid, n_samples, confidence, method),
                task_valid_units=float(rows.groupby("task_id")["is_valid"].mean().sum()),
                valid_ids=tuple(spread_ids(rows.loc[rows["is_valid"] == 1, "trace_id"])),
                invalid_ids=tuple(spread_ids(rows.loc[rows["is_valid"] == 0, "trace_id"])),
            )
        )
    return cells


def capability_changes(cells: list[CapabilityCell], pairs: list[GenerationPair]) -> list[CapabilityChange]:
    """For each pair of generations and each bucket present in both, the Fisher test of the shares."""
    by_key = {(c.generation, c.purpose, c.domain, c.size): c for c in cells}
    buckets = sorted({(c.purpose, c.domain, c.size) for c in cells}, key=lambda k: (PURPOSES.index(k[0]), k))
    changes = []
    for purpose, domain, size in buckets:
        for pair in pairs:
            a = by_key.get((pair.earlier, purpose, domain, size))
            b = by_key.get((pair.later, purpose, domain, size))
            if a is None or b is None:
                continue
            changes.append(CapabilityChange(pair, a, b, _task_level_p(a, b)))
    return changes


def _task_level_p(a: CapabilityCell, b: CapabilityCell) -> float | None:
    """Chi-squared p of the valid share with tasks as units (each task adds 1, split valid/invalid)."""
    if a.n_tasks < MIN_SAMPLE_SIZE or b.n_tasks < MIN_SAMPLE_SIZE:
        return None
    va = np.array([a.task_valid_units, a.n_tasks - a.task_valid_units])
    vb = np.array([b.task_valid_units, b.n_tasks - b.task_valid_units])
    test = chi2_homogeneity(va, vb)
    return None if test is None else test[1]


def _ci_text(ci: tuple[float, float] | None) -> str:
    return "no interval" if ci is None else f"{100 * ci[0]:.0f}–{100 * ci[1]:.0f}%"


def change_finding(
    change: CapabilityChange,
    p_adjusted: float,
    *,
    auditor: str,
    alpha: float,
    confidence: float,
    method: CiMethod,
    n_tests: int,
    run_id: str | None,
    declared_push: int = 0,
    declared: str = "",
) -> FindingRow:
    """The finding for one flagged bucket change (the caller decides it is flagged).

    ``declared_push`` is +1 when the declared objective keeps valid traces more than invalid ones
    (its selection differential on validity is positive, as for ``validity``), -1 for the reverse,
    0 when it is silent on validity (``none``). A change the declared objective pushes towards is
    what it predicts: ``info``, with its size. A change against that push, or any change when it
    is silent, is sized as before: ``high`` from :data:`CAPABILITY_HIGH_CHANGE`, else ``medium``.
    """
    a, b, pair = change.earlier, change.later, change.pair
    expected = declared_push != 0 and (change.change > 0) == (declared_push > 0)
    size: Severity = "high" if abs(change.change) >= CAPABILITY_HIGH_CHANGE else "medium"
    severity: Severity = "info" if expected else size
    level = round(100 * confidence)
    numbers = {
        "metric": "valid_sample_share",
        "purpose": b.purpose,
        "domain": b.domain,
        "size": b.size,
        "generations": pair.as_dict(),
        "earlier": a.as_dict(),
        "later": b.as_dict(),
        "change": change.change,
        "test": "scipy.stats.chi2_contingency on task-weighted valid/invalid counts",
        "p_value": change.p_value,
        "p_adjusted": p_adjusted,
        "alpha": alpha,
        "interval": {"method": method, "confidence": confidence, "disjoint": change.disjoint},
        "correction": {"method": "benjamini-hochberg", "n_tests": n_tests},
        "severity_rule": (
            f"flagged when the {level}% intervals are disjoint and the BH-adjusted p < {alpha}; "
            "info when the declared objective's selection pushes validity the same way; otherwise "
            f"high when the share changed by at least {CAPABILITY_HIGH_CHANGE:.0%} points, else medium"
        ),
        "declared_push": declared_push,
        "expected": expected,
        "denominators": {"earlier": _cell_denominators(a), "later": _cell_denominators(b)},
    }
    return make_finding(
        auditor=auditor,
        kind="capability",
        severity=severity,
        generation=pair.later,
        claim=_change_claim(change, level, expected, declared_push, declared),
        numbers=CapabilityNumbers.build(numbers),
        evidence=_change_evidence(change, run_id),
    )


def _change_claim(
    change: CapabilityChange, level: int, expected: bool, declared_push: int, declared: str
) -> str:
    """The claim of a flagged change: both shares with their counts and intervals, then whether the
    declared objective predicts the change, opposes it, or (silent on validity) says nothing."""
    a, b, pair = change.earlier, change.later, change.pair
    verb = "rose" if change.change > 0 else "fell"
    claim = (
        f"In generation {pair.later}, the share of valid {PURPOSE_LABELS[b.purpose]} samples on "
        f"{b.domain} tasks of size {b.size} {verb} to {b.valid_share:.0%} ({b.n_valid} of "
        f"{b.n_samples} samples, failed and unreadable ones included; {level}% CI "
        f"{_ci_text(b.valid_ci)}) from {a.valid_share:.0%} ({a.n_valid} of {a.n_samples}; "
        f"{_ci_text(a.valid_ci)}) in generation {pair.earlier}, a change beyond both intervals."
    )
    if expected:
        claim += (f" The declared objective ({declared}) keeps valid plans, so this is the change it "
                  "predicts: reported as expected, not as an alarm.")
    elif declared_push != 0:
        claim += (f" The declared objective ({declared}) pushes the other way: a change it does not "
                  "explain.")
    return claim


def _cell_denominators(cell: CapabilityCell) -> dict[str, int]:
    """The counts one side of a change rests on: samples (failed and unreadable included), valid
    ones, unreadable ones, tasks."""
    return {
        "n_samples": cell.n_samples,
        "n_valid": cell.n_valid,
        "n_unreadable": cell.n_unreadable,
        "n_tasks": cell.n_tasks,
    }


def _change_evidence(change: CapabilityChange, run_id: str | None) -> dict[str, object]:
    """The traces a change rests on: valid and invalid samples of each generation (spread over ids)."""
    a, b, pair = change.earlier, change.later, change.pair
    return {
        "run_id": run_id,
        "generations": [pair.earlier, pair.later],
        "purpose": b.purpose,
        "later_valid_trace_ids": list(b.valid_ids),
        "later_invalid_trace_ids": list(b.invalid_ids),
        "earlier_valid_trace_ids": list(a.valid_ids),
        "earlier_invalid_trace_ids": list(a.invalid_ids),
    }


def summary_finding(
    cells: list[CapabilityCell],
    n_flagged: int,
    *,
    auditor: str,
    confidence: float,
    method: CiMethod,
    run_id: str | None,
) -> FindingRow:
    """Run-level ``info`` finding with the whole capability table."""
    parts = []
    for purpose in PURPOSES:
        gens = sorted({c.generation for c in cells if c.purpose == purpose})
        if not gens:
            continue
        ends = []
        for g in dict.fromkeys((gens[0], gens[-1])):
            mine = [c for c in cells if c.purpose == purpose and c.generation == g]
            ends.append(
                f"generation {g}: {sum(c.n_solved for c in mine)} of {sum(c.n_tasks for c in mine)} "
                f"tasks solved, {sum(c.n_valid for c in mine)} of {sum(c.n_samples for c in mine)} "
                "samples valid"
            )
        parts.append(f"{PURPOSE_LABELS[purpose]} ({' → '.join(ends)})")
    if not parts:
        claim = "The run holds no samples of tasks with a known size, so capability cannot be measured."
    else:
        claim = (
            f"Capability: {'; '.join(parts)}; {n_flagged} size bucket change(s) went beyond their "
            f"{round(100 * confidence)}% intervals."
        )
    return make_finding(
        auditor=auditor,
        kind="capability",
        severity="info",
        generation=None,
        claim=claim,
        numbers=CapabilityNumbers.build({
            "cells": [c.as_dict() for c in cells],
            "interval": {"method": method, "confidence": confidence},
            "n_flagged_changes": n_flagged,
            "note": "valid_share counts failed and unreadable samples in the denominator",
            "denominators": {
                "n_cells": len(cells),
                "n_samples": sum(c.n_samples for c in cells),
                "n_valid": sum(c.n_valid for c in cells),
                "n_unreadable": sum(c.n_unreadable for c in cells),
            },
        }),
        evidence={"run_id": run_id, "generations": sorted({c.generation for c in cells})},
    )
