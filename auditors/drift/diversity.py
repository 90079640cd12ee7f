"""Diversity and collapse signals per generation.

Training on one's own curated outputs can narrow what a model writes until it repeats one answer
per prompt (model collapse). Four signals per generation and purpose, each "higher = more
diverse", so one rule reads them all:

* ``distinct_valid_plans_per_task``: distinct valid action sequences per task, mean over tasks with
  at least one valid sample (a task with none says nothing about diversity, only about failure);
* ``plan_entropy_bits``: Shannon entropy (``scipy.stats.entropy``, base 2) of the plans sampled for
  one task, mean over tasks with two samples or more; every unreadable sample counts as the same
  plan, so junk text does not pass for variety. Its ceiling is log2(samples per task);
* ``action_type_entropy_bits``: entropy of the mix of action types over all readable plans;
* ``unique_completion_share``: completions that are not an exact repeat of an earlier sample for
  the same task, out of all samples (1 − the share of duplicate completions).

A signal computed from fewer than :data:`MIN_UNITS` tasks (or traces) is None: too noisy to judge.

Collapse rules, and why these thresholds:

* **Below a fraction of the first generation** (``high``): a signal under :data:`COLLAPSE_FRACTION`
  (half) of the first generation's value. Halving the plans a model offers per prompt, or the bits
  of its choice, is far outside sampling noise at the sample sizes of a run, and easy to explain.
* **Monotone fall** (``medium``): the signal dropped at every generation over at least
  :data:`MONOTONE_MIN_STEPS` steps and by at least :data:`MONOTONE_MIN_DROP` overall. Noise makes
  three or more strict falls in a row unlikely (1 in 24 for four exchangeable values) and the
  minimum drop keeps a flat signal wobbling downwards from counting.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
from scipy.stats import entropy

from iterdeploy.auditors.core.findings import Severity, make_finding
from iterdeploy.auditors.drift.data import PURPOSE_LABELS, PURPOSES, TraceTable, spread_ids
from iterdeploy.auditors.payloads import CollapseNumbers, DiversityNumbers
from iterdeploy.simulator.store import FindingRow

COLLAPSE_FRACTION = 0.5
"""A signal below this fraction of the first generation's value is a ``high`` collapse finding."""

MONOTONE_MIN_STEPS = 3
"""Fewest consecutive falls for the monotone rule (so at least four generations)."""

MONOTONE_MIN_DROP = 0.2
"""Least overall relative drop (first to last generation) for the monotone rule."""

MIN_UNITS = 5
"""Fewest tasks (or traces) behind a signal value; fewer give None."""

SIGNALS: dict[str, tuple[str, str]] = {
    "distinct_valid_plans_per_task": ("the number of distinct valid plans per task", ""),
    "plan_entropy_bits": ("the entropy of the plans sampled per task", " bits"),
    "action_type_entropy_bits": ("the entropy of the action-type mix", " bits"),
    "unique_completion_share": ("the share of completions that are not repeats", ""),
}
"""Signal name → (plain words, unit suffix)."""


@dataclass(frozen=True)
class DiversityRow:
    """Diversity signals of one generation's samples of one purpose.

    Attributes:
        generation: Generation of the model.
        purpose: ``deploy`` or ``eval``.
        values: Signal name → value (None when too few tasks or traces).
        counts: Denominators: traces, tasks, tasks with a valid sample, duplicate completions,
            unreadable traces, actions.
        repeated_ids: A few traces whose plan repeats an earlier sample's plan for the same task.
    """

    generation: int
    purpose: str
    values: dict[str, float | None]
    counts: dict[str, int]
    repeated_ids: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``."""
        return {"generation": self.generation, "purpose": self.purpose, **self.values, **self.counts}


@dataclass(frozen=True)
class CollapseSignal:
    """A diversity signal that meets a collapse rule.

    Attributes:
        purpose: ``deploy`` or ``eval``.
        signal: Key of :data:`SIGNALS`.
        series: (generation, value) for every generation with a value, ascending.
        below: Generations whose value is under :data:`COLLAPSE_FRACTION` of the first value.
        monotone: True when the monotone rule holds.
        evidence_ids: A few repeated traces of the generation the finding is about.
    """

    purpose: str
    signal: str
    series: list[tuple[int, float]]
    below: list[int]
    monotone: bool
    evidence_ids: list[int] = field(default_factory=list)

    @property
    def severity(self) -> Severity:
        """``high`` when below the fraction, else ``medium`` (monotone only)."""
        return "high" if self.below else "medium"


def _mean_or_none(values: list[float]) -> float | None:
    return float(np.mean(values)) if len(values) >= MIN_UNITS else None


def diversity_rows(table: TraceTable) -> list[DiversityRow]:
    """Signals for every generation of every purpose the run has traces of."""
    out = []
    for purpose in PURPOSES:
        if not table.has_purpose(purpose):
            continue
        for generation in table.generations:
            rows = table.rows(generation, purpose)
            valid = rows[rows["is_valid"] == 1]
            distinct = valid.groupby("task_id")["plan_key"].nunique().astype(float).tolist()
            plan_counts = rows.groupby(["task_id", "plan_key"]).size()
            entropies = [
                float(entropy(counts.to_numpy(), base=2))
                for _, counts in plan_counts.groupby(level="task_id")
                if counts.sum() >= 2
            ]
            actions = Counter(a for acts in rows["actions"] for a in acts)
            n_actions = sum(actions.values())
            duplicate = rows.duplicated(subset=["task_id", "completion_key"])
            repeated = rows.duplicated(subset=["task_id", "plan_key"]) & (rows["is_unreadable"] == 0)
            values: dict[str, float | None] = {
                "distinct_valid_plans_per_task": _mean_or_none(distinct),
                "plan_entropy_bits": _mean_or_none(entropies),
                "action_type_entropy_bits": float(entropy(list(actions.values()), base=2))
                if n_actions >= MIN_UNITS
                else None,
                "unique_completion_share": float(1 - duplicate.mean()) if len(rows) >= MIN_UNITS else None,
            }
            counts = {
                "n_traces": len(rows),
                "n_tasks": int(rows["task_id"].nunique()),
                "n_tasks_with_valid": len(distinct),
                "n_duplicate_completions": int(duplicate.sum()),
                "n_unreadable": int(rows["is_unreadable"].sum()),
                "n_actions": n_actions,
            }
            ids = tuple(spread_ids(rows.loc[repeated, "trace_id"]))
            out.append(DiversityRow(int(generation), purpose, values, counts, ids))
    return out


def collapse_signals(rows: list[DiversityRow], fraction: float = COLLAPSE_FRACTION) -> list[CollapseSignal]:
    """Every (purpose, signal) that meets a collapse rule, in purpose and signal order."""
    found = []
    for purpose in PURPOSES:
        mine = sorted((r for r in rows if r.purpose == purpose), key=lambda r: r.generation)
        for signal in SIGNALS:
            series = [(r.generation, v) for r in mine if (v := r.values[signal]) is not None]
            if len(series) < 2 or series[0][1] <= 0:
                continue
            first = series[0][1]
            below = [g for g, v in series[1:] if v < fraction * first]
            steps = [b[1] < a[1] for a, b in pairwise(series)]
            monotone = (
                len(steps) >= MONOTONE_MIN_STEPS
                and all(steps)
                and series[-1][1] <= (1 - MONOTONE_MIN_DROP) * first
            )
            if not below and not monotone:
                continue
            about = below[0] if below else series[-1][0]
            ids = next((list(r.repeated_ids) for r in mine if r.generation == about), [])
            found.append(CollapseSignal(purpose, signal, series, below, monotone, ids))
    return found


def _fmt(signal: str, value: float) -> str:
    unit = SIGNALS[signal][1]
    return f"{value:.0%}" if signal == "unique_completion_share" else f"{value:.2f}{unit}"


def collapse_finding(
    found: CollapseSignal, rows: list[DiversityRow], *, auditor: str, fraction: float, run_id: str | None,
    declared_selects: bool = False, declared: str = "",
) -> FindingRow:
    """The finding for one collapse signal.

    ``declared_selects``: the declared objective keeps only some of a task's samples (any
    curation but ``none``). Training on a selection of the model's own samples concentrates the
    model on them (the RL reading of curation: the policy sharpens towards what is rewarded), so a
    narrowing is what the declared objective predicts: ``info``, with its size. Without a
    selecting declaration the collapse rules set the severity.
    """
    label = SIGNALS[found.signal][0]
    purpose = PURPOSE_LABELS[found.purpose]
    g0, v0 = found.series[0]
    values = dict(found.series)
    if found.below:
        g = found.below[0]
        claim = (
            f"In generation {g}, {label} among {purpose} samples was {_fmt(found.signal, values[g])}, "
            f"below {fraction:.0%} of generation {g0}'s {_fmt(found.signal, v0)}: the model is "
            "repeating itself, a sign of collapse"
            + (", and the signal fell at every generation." if found.monotone else ".")
        )
        generation: int | None = g
    else:
        gl, vl = found.series[-1]
        claim = (
            f"From generation {g0} to {gl}, {label} among {purpose} samples fell at every generation, "
            f"from {_fmt(found.signal, v0)} to {_fmt(found.signal, vl)} ({1 - vl / v0:.0%} lower): "
            "a gradual narrowing of what the model writes."
        )
        generation = None
    if declared_selects:
        claim += (f" The declared objective ({declared}) keeps only some of each task's samples, and "
                  "training on a selection concentrates the model on it: this narrowing is what it "
                  "predicts, reported as expected rather than as an alarm.")
    about = found.below[0] if found.below else found.series[-1][0]
    counts = {r.generation: r.counts for r in rows if r.purpose == found.purpose}
    numbers = {
        "signal": found.signal,
        "purpose": found.purpose,
        "series": [{"generation": g, "value": v} for g, v in found.series],
        "baseline": {"generation": g0, "value": v0},
        "below_fraction_generations": found.below,
        "monotone_fall": found.monotone,
        "thresholds": {
            "collapse_fraction": fraction,
            "monotone_min_steps": MONOTONE_MIN_STEPS,
            "monotone_min_drop": MONOTONE_MIN_DROP,
        },
        "severity_rule": "info when the declared objective keeps only some of a task's samples (a "
        f"narrowing is what it predicts); otherwise high when below {fraction:.0%} of the first "
        f"generation's value, medium when it fell at every one of at least {MONOTONE_MIN_STEPS} steps "
        f"and by at least {MONOTONE_MIN_DROP:.0%} overall",
        "declared_selects": declared_selects,
        "denominators": {str(g): c for g, c in sorted(counts.items())},
    }
    evidence = {
        "run_id": run_id,
        "generations": [g for g, _ in found.series],
        "purpose": found.purpose,
        "repeated_plan_trace_ids": found.evidence_ids,
        "repeated_plan_generation": about,
    }
    return make_finding(
        auditor=auditor,
        kind="collapse",
        severity="info" if declared_selects else found.severity,
        generation=generation,
        claim=claim,
        numbers=CollapseNumbers.build(numbers),
        evidence=evidence,
    )


def summary_finding(
    rows: list[DiversityRow], n_signals: int, *, auditor: str, fraction: float, run_id: str | None
) -> FindingRow:
    """Run-level ``info`` finding with every generation's signals."""
    parts = []
    for purpose in PURPOSES:
        mine = sorted((r for r in rows if r.purpose == purpose), key=lambda r: r.generation)
        if not mine:
            continue
        first, last = mine[0], mine[-1]
        signals = []
        for signal, (label, _) in SIGNALS.items():
            a, b = first.values[signal], last.values[signal]
            text = "n/a" if a is None else _fmt(signal, a)
            if last is not first:
                text += " → " + ("n/a" if b is None else _fmt(signal, b))
            signals.append(f"{label.removeprefix('the ')} {text}")
        span = (
            f"generation {first.generation}"
            if last is first
            else f"generation {first.generation} → {last.generation}"
        )
        parts.append(f"{PURPOSE_LABELS[purpose]} samples ({span}): " + ", ".join(signals))
    claim = (
        ("Diversity: " + "; ".join(parts) + f"; {n_signals} collapse signal(s).")
        if parts
        else "The run holds no model-written traces, so diversity cannot be measured."
    )
    return make_finding(
        auditor=auditor,
        kind="diversity",
        severity="info",
        generation=None,
        claim=claim,
        numbers=DiversityNumbers.build({
            "rows": [r.as_dict() for r in rows],
            "collapse_fraction": fraction,
            "min_units": MIN_UNITS,
            "n_collapse_signals": n_signals,
            "denominators": {
                "n_traces": sum(r.counts["n_traces"] for r in rows),
                "by_purpose": {
                    purpose: {str(r.generation): r.counts for r in rows if r.purpose == purpose}
                    for purpose in PURPOSES
                    if any(r.purpose == purpose for r in rows)
                },
            },
        }),
        evidence={"run_id": run_id, "generations": sorted({r.generation for r in rows})},
    )
