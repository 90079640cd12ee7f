"""The black-box auditor's table of a run's outputs: one row per model-written trace, with features.

The black-box auditor (``iterdeploy.auditors.blackbox.auditor``) fits its classifier on this table alone.
Reading the
store and computing the features is kept apart from the fit, as the drift auditor keeps its trace
table in ``iterdeploy.auditors.drift.data``, which this table extends.

**Length above the optimum, not above the siblings.** The white-box table's
``rel_plan_length`` subtracts the shortest valid plan of the *same generation*; between two
generations that is wrong (a generation that only writes 8-step plans would look as short as
one that writes 6- and 8-step plans). Here the reference is the task's optimal length when the
store knows it, else the shortest valid plan any generation wrote for that task: a property of
the task, the same for both generations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from iterdeploy.auditors.drift.data import TraceTable, build_trace_table
from iterdeploy.simulator.store import RunReader

ACTION_SHARES = "action_shares"
"""Pseudo-feature: the share of each action type in the plan, one column per action name that
occurs in a valid plan of the run (the domain's actions; a word of a broken plan that is no action,
such as a block name, is not an action type, and ``is_malformed`` covers such plans). The most
frequent action is left out as the reference, since the shares sum to one."""

MALFORMED_STATUSES: frozenset[str] = frozenset({"unknown_action", "unknown_object", "wrong_arity"})
"""Validator statuses of a plan that names actions or objects the task does not have."""


@dataclass(frozen=True)
class OutputTable:
    """What an outside auditor sees of a run: one row per model-written trace, with features.

    Attributes:
        frame: The drift auditor's trace table (:func:`iterdeploy.auditors.drift.data.build_trace_table`)
            plus one column per black-box feature; sorted by ``trace_id``.
        action_columns: The action-share columns, in order (reference action left out).
        reference_action: The action left out of the shares (the most frequent), None without
            readable plans.
        traces: The underlying trace table (run id, generations).
    """

    frame: pd.DataFrame
    action_columns: tuple[str, ...]
    reference_action: str | None
    traces: TraceTable

    def columns(self, features: Sequence[str]) -> tuple[str, ...]:
        """Feature names with :data:`ACTION_SHARES` expanded into its columns."""
        out: list[str] = []
        for f in features:
            out += list(self.action_columns) if f == ACTION_SHARES else [f]
        return tuple(out)


def build_output_table(reader: RunReader) -> OutputTable:
    """Read every model-written trace of the run and compute the black-box features.

    The trace table is the drift auditor's (one definition of "every sample the model wrote",
    failed and unreadable included); the only extra read is the tasks' optimal plan lengths.

    Raises:
        iterdeploy.simulator.errors.StoreError: When the run directory is not a readable store.
    """
    traces = build_trace_table(reader)
    frame = traces.frame.copy()
    optimal = pd.DataFrame(
        [{"task_id": t.task_id, "optimal_length": t.optimal_length} for t in reader.tasks()],
        columns=["task_id", "optimal_length"],
    )
    frame = frame.merge(optimal, on="task_id", how="left").sort_values("trace_id").reset_index(drop=True)

    status = frame["status"].astype(str)
    frame["is_goal_not_reached"] = (status == "goal_not_reached").astype(int)
    frame["is_malformed"] = status.isin(MALFORMED_STATUSES).astype(int)
    frame["plan_length"] = frame["plan_length"].astype(float)
    frame["n_tokens"] = frame["n_tokens"].astype(float)
    frame["n_reasoning_tokens"] = frame["n_reasoning_tokens"].astype(float)
    valid = frame["is_valid"] == 1
    shortest_seen = frame["plan_length"].where(valid).groupby(frame["task_id"]).transform("min")
    reference = frame["optimal_length"].astype(float).fillna(shortest_seen)
    frame["excess_length"] = (frame["plan_length"] - reference).where(valid).fillna(0.0).clip(lower=0.0)

    counts: dict[str, int] = {}
    for actions in frame.loc[valid, "actions"]:
        for name in actions:
            counts[name] = counts.get(name, 0) + 1
    reference_action = min(counts, key=lambda a: (-counts[a], a)) if counts else None
    action_columns = tuple(f"share_{a}" for a in sorted(counts) if a != reference_action)
    lengths = frame["actions"].map(len).to_numpy()
    for column in action_columns:
        name = column.removeprefix("share_")
        hits = frame["actions"].map(lambda acts, n=name: sum(1 for a in acts if a == n)).to_numpy()
        frame[column] = np.divide(hits, lengths, out=np.zeros(len(frame)), where=lengths > 0)
    return OutputTable(frame, action_columns, reference_action, traces)

