"""The feature table auditors fit on: one row per curated deployment trace.

Every auditor that asks "what did the users reward?" needs the same view of a run: each deployment
trace the users decided on, whether anyone kept it, and the trace's observable features. Building it
once here keeps the definition of every feature (and of every denominator) in one place.

Failed, unparseable and cut-off traces stay in the table: they are exactly the traces curation
rejects, so dropping them would hide half of the implicit reward. Deployment traces without any
curation decision cannot be used for a fit, but they are counted (``n_undecided``) so the gap is
visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulator.errors import IterdeployError
from simulator.store import RunReader

FIT_FEATURES: tuple[str, ...] = (
    "is_valid",
    "plan_length",
    "rel_plan_length",
    "n_tokens",
    "task_size",
    "hit_token_limit",
    "is_unparseable",
)
"""Numeric columns an auditor may regress ``kept`` on.

``acceptance_prob`` is deliberately absent: it is the scenario's ground truth that auditors try to
recover, so using it as a predictor would be circular.
"""

UNPARSEABLE_STATUSES: frozenset[str] = frozenset({"unparseable", "empty"})
"""Validator statuses counted as "no plan could be read" (``n_unparseable``)."""

COLUMNS: tuple[str, ...] = (
    "trace_id",
    "generation",
    "task_id",
    "kept",
    "is_valid",
    "plan_length",
    "rel_plan_length",
    "n_tokens",
    "task_size",
    "hit_token_limit",
    "is_unparseable",
    "status",
    "n_decisions",
    "acceptance_prob",
)
"""Column order of :attr:`FeatureTable.frame`."""


class AuditorConfigError(IterdeployError, ValueError):
    """An auditor was configured with something it cannot use (an unknown feature, a bad level)."""


class InsufficientRunError(AuditorConfigError):
    """The run is readable but lacks what this auditor needs (e.g. a second generation).

    ``iterdeploy audit`` without ``--only`` skips such an auditor with a message and runs the
    others; named with ``--only`` it is an error (exit 2) like any other bad input.

    Args:
        message: What is missing and why the auditor needs it.
        missing: What is missing, in a few words that appear in ``message`` (e.g. ``evaluation
            traces``); the conformance checks require it.
    """

    def __init__(self, message: str, *, missing: str = "") -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class Denominators:
    """What a finding's numbers are out of; nothing drops out silently.

    Attributes:
        n_traces: Curated deployment traces (the rows a fit uses).
        n_valid: Of those, traces with a valid plan.
        n_unparseable: Of those, traces whose plan could not be read (status in
            :data:`UNPARSEABLE_STATUSES`).
        n_kept: Of those, traces at least one user kept.
        n_hit_token_limit: Of those, traces cut at the token limit.
        n_decisions: Curation decisions behind those traces (several users may decide on one trace).
        n_undecided: Deployment traces of the same scope with no curation decision at all; they are
            not in ``n_traces``.
        n_by_status: ``n_traces`` broken down by validator status.
    """

    n_traces: int
    n_valid: int
    n_unparseable: int
    n_kept: int
    n_hit_token_limit: int
    n_decisions: int
    n_undecided: int
    n_by_status: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int | dict[str, int]]:
        """Plain dict for ``numbers_json``."""
        return {
            "n_traces": self.n_traces,
            "n_valid": self.n_valid,
            "n_unparseable": self.n_unparseable,
            "n_kept": self.n_kept,
            "n_hit_token_limit": self.n_hit_token_limit,
            "n_decisions": self.n_decisions,
            "n_undecided": self.n_undecided,
            "n_by_status": dict(sorted(self.n_by_status.items())),
        }


@dataclass(frozen=True)
class FeatureTable:
    """Curated deployment traces of one run, ready to fit on.

    Attributes:
        frame: One row per curated deployment trace, columns :data:`COLUMNS`, sorted by
            ``trace_id`` so that nothing downstream depends on the order rows were written in.
        generations: Committed generations of the run, in order (also those with no traces).
        n_undecided_by_generation: Deployment traces without any curation decision, per generation.
    """

    frame: pd.DataFrame
    generations: tuple[int, ...]
    n_undecided_by_generation: dict[int, int]

    def scope(self, generation: int | None) -> pd.DataFrame:
        """Rows of one generation, or all rows when ``generation`` is None."""
        if generation is None:
            return self.frame
        return self.frame[self.frame["generation"] == generation].reset_index(drop=True)

    def denominators(self, generation: int | None) -> Denominators:
        """Denominators of one generation, or of the whole run when ``generation`` is None."""
        rows = self.scope(generation)
        if generation is None:
            n_undecided = sum(self.n_undecided_by_generation.values())
        else:
            n_undecided = self.n_undecided_by_generation.get(generation, 0)
        statuses = rows["status"].value_counts()
        return Denominators(
            n_traces=len(rows),
            n_valid=int(rows["is_valid"].sum()),
            n_unparseable=int(rows["is_unparseable"].sum()),
            n_kept=int(rows["kept"].sum()),
            n_hit_token_limit=int(rows["hit_token_limit"].sum()),
            n_decisions=int(rows["n_decisions"].sum()),
            n_undecided=n_undecided,
            n_by_status={str(k): int(v) for k, v in statuses.items()},
        )


def check_features(features: tuple[str, ...]) -> None:
    """Raise if ``features`` names a column an auditor cannot fit on.

    Raises:
        AuditorConfigError: With the list of features that exist.
    """
    unknown = [f for f in features if f not in FIT_FEATURES]
    if unknown:
        raise AuditorConfigError(
            f"unknown feature(s) {unknown}; choose from {list(FIT_FEATURES)}"
            + (
                " (acceptance_prob is the ground truth, not a feature)"
                if "acceptance_prob" in unknown
                else ""
            )
        )
    if not features:
        raise AuditorConfigError(f"no features given; choose from {list(FIT_FEATURES)}")


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})


def build_feature_table(reader: RunReader) -> FeatureTable:
    """Build the feature table of the run behind ``reader``.

    Traces are read with an explicit column list rather than :meth:`RunReader.traces`, which would
    load every completion text (reasoning included) only to throw it away. Decisions are aggregated
    here, after sorting by ``decision_id``, rather than in SQL: SQLite's ``AVG`` sums in scan order,
    which depends on insertion order, and the table must not.

    Args:
        reader: An open run store; only read.

    Returns:
        The table; empty (with all columns) when the run has no curated deployment traces.

    Raises:
        simulator.errors.StoreError: When the run directory is not a readable store.
    """
    generations = tuple(g.generation for g in reader.generations())
    traces = pd.DataFrame(
        reader.query(
            "SELECT trace_id, generation, task_id, is_valid, status, plan_length, n_tokens, "
            "hit_token_limit FROM traces WHERE purpose = 'deploy' ORDER BY trace_id"
        ),
        columns=[
            "trace_id",
            "generation",
            "task_id",
            "is_valid",
            "status",
            "plan_length",
            "n_tokens",
            "hit_token_limit",
        ],
    )
    decisions = pd.DataFrame(
        [(d.decision_id, d.trace_id, int(d.kept), d.acceptance_prob) for d in reader.decisions()],
        columns=["decision_id", "trace_id", "kept", "acceptance_prob"],
    )
    sizes = {t.task_id: t.size for t in reader.tasks()}

    if traces.empty:
        return FeatureTable(_empty_frame(), generations, {})

    decided_ids = set(decisions["trace_id"].tolist())
    undecided = traces[~traces["trace_id"].isin(decided_ids)]
    n_undecided = {int(g): int(n) for g, n in undecided.groupby("generation").size().items()}

    per_trace = (
        decisions.sort_values(["trace_id", "decision_id"])
        .groupby("trace_id", sort=True)
        .agg(
            kept=("kept", "max"),
            n_decisions=("kept", "size"),
            acceptance_prob=("acceptance_prob", "mean"),
        )
        .reset_index()
    )
    frame = traces.merge(per_trace, on="trace_id", how="inner").sort_values("trace_id")
    if frame.empty:
        return FeatureTable(_empty_frame(), generations, n_undecided)

    frame["is_valid"] = frame["is_valid"].astype(int)
    frame["hit_token_limit"] = frame["hit_token_limit"].astype(int)
    frame["kept"] = frame["kept"].astype(int)
    frame["is_unparseable"] = frame["status"].isin(UNPARSEABLE_STATUSES).astype(int)
    frame["task_size"] = frame["task_id"].map(sizes).astype("float64")
    frame["rel_plan_length"] = _relative_plan_length(frame)
    frame = frame[list(COLUMNS)].reset_index(drop=True)
    return FeatureTable(frame, generations, n_undecided)


def _relative_plan_length(frame: pd.DataFrame) -> pd.Series:
    """Plan length minus the shortest valid plan for the same task in the same generation.

    The shortest-valid-plan rule keeps a trace for being better than its siblings, not for an
    absolute length, so the relative length is the feature that rule acts on. Invalid traces, and
    traces of a task with no valid sibling, have no meaningful relative length; they get 0 so the
    column stays numeric (validity is carried by ``is_valid``).
    """
    valid_lengths = frame["plan_length"].where(frame["is_valid"] == 1)
    best = valid_lengths.groupby([frame["task_id"], frame["generation"]]).transform("min")
    rel = (frame["plan_length"] - best).where(frame["is_valid"] == 1)
    return rel.fillna(0.0).astype("float64").replace([np.inf, -np.inf], 0.0)
