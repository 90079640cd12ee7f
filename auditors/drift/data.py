"""The drift auditor's view of a run: one row per model-written trace, deployment and evaluation.

The implicit-reward feature table (``iterdeploy.auditors.core.features``) keeps only *curated* deployment
traces,
because it asks what curation rewarded. Drift asks how the model's behaviour moved, so it needs
every sample the model wrote: deployment traces with or without a curation decision, and the
evaluation traces, kept apart because users never see them. Reference traces (plans the toolkit
injects into the pool) are not model behaviour and are left out.

Failed and unreadable samples are rows like any other. A feature that does not exist for them (the
length of a plan that could not be read) is NaN in that row, and every comparison reports how many
traces it was out of, so a shift in *how many* samples fail is never hidden by a comparison that
only looks at the ones that worked; the validator-status test sees all of them.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise

import numpy as np
import pandas as pd

from iterdeploy.auditors.core.decisions import run_id_of
from iterdeploy.auditors.core.features import UNPARSEABLE_STATUSES, length_above_best
from iterdeploy.auditors.core.plans import action_names, plan_key
from iterdeploy.simulator.store import RunReader

PURPOSES: tuple[str, ...] = ("deploy", "eval")
"""Trace purposes compared, each on its own (users see deployment samples only)."""

PURPOSE_LABELS = {"deploy": "deployment", "eval": "evaluation"}
"""Plain words for a purpose in a claim."""

UNREADABLE_PLAN = "(unreadable)"
"""Plan key of every unreadable trace: junk text must not count as diverse plans."""


@dataclass(frozen=True)
class TraceTable:
    """Model-written traces of one run.

    Attributes:
        frame: One row per deployment or evaluation trace, sorted by ``trace_id``.
        generations: Committed generations and generations that have traces, ascending.
        committed: Committed generations only.
        run_id: The run's id, None when the store has no run row.
    """

    frame: pd.DataFrame
    generations: tuple[int, ...]
    committed: tuple[int, ...]
    run_id: str | None
    _denominators: dict[tuple[int, str], dict[str, object]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @cached_property
    def _groups(self) -> dict[tuple[int, str], pd.DataFrame]:
        return {
            (int(g), str(p)): rows
            for (g, p), rows in self.frame.groupby(["generation", "purpose"], sort=True)
        }

    def rows(self, generation: int, purpose: str) -> pd.DataFrame:
        """Traces of one generation and purpose (empty when there are none)."""
        return self._groups.get((generation, purpose), self.frame.iloc[0:0])

    def denominators(self, generation: int, purpose: str) -> dict[str, object]:
        """:func:`denominators` of one generation and purpose (computed once, copied out)."""
        key = (generation, purpose)
        if key not in self._denominators:
            self._denominators[key] = denominators(self.rows(generation, purpose))
        return copy.deepcopy(self._denominators[key])

    def has_purpose(self, purpose: str) -> bool:
        """True when the run holds any trace of ``purpose``."""
        return bool((self.frame["purpose"] == purpose).any())


def denominators(rows: pd.DataFrame) -> dict[str, object]:
    """What a comparison of ``rows`` is out of: every trace, by outcome."""
    statuses = rows["status"].value_counts()
    return {
        "n_traces": len(rows),
        "n_valid": int(rows["is_valid"].sum()),
        "n_failed": int(((rows["is_valid"] == 0) & (rows["is_unreadable"] == 0)).sum()),
        "n_unreadable": int(rows["is_unreadable"].sum()),
        "n_hit_token_limit": int(rows["hit_token_limit"].sum()),
        "n_tasks": int(rows["task_id"].nunique()),
        "n_by_status": {str(k): int(v) for k, v in sorted(statuses.items())},
    }


_COLUMNS = [
    "trace_id",
    "generation",
    "task_id",
    "purpose",
    "completion",
    "plan_text",
    "n_tokens",
    "n_reasoning_tokens",
    "hit_token_limit",
    "status",
    "is_valid",
    "plan_length",
]


def build_trace_table(reader: RunReader) -> TraceTable:
    """Read the deployment and evaluation traces of the run behind ``reader``.

    Completions are reduced to a digest at once (only equality matters, for duplicate counts), so
    the table stays small on long runs.

    Raises:
        iterdeploy.simulator.errors.StoreError: When the run directory is not a readable store.
    """
    committed = tuple(g.generation for g in reader.generations())
    run_id = run_id_of(reader)
    raw = pd.DataFrame(
        [{c: getattr(t, c) for c in _COLUMNS} for t in reader.traces(purpose=PURPOSES)],
        columns=_COLUMNS,
    )
    tasks = pd.DataFrame(
        [{"task_id": t.task_id, "domain": t.domain, "size": t.size} for t in reader.tasks()],
        columns=["task_id", "domain", "size"],
    )
    frame = raw.merge(tasks, on="task_id", how="left").sort_values("trace_id").reset_index(drop=True)
    frame["domain"] = frame["domain"].fillna("(unknown)")
    frame = frame.rename(columns={"size": "task_size"})
    for column in ("is_valid", "hit_token_limit"):
        frame[column] = frame[column].astype(int)
    frame["is_unreadable"] = frame["status"].isin(UNPARSEABLE_STATUSES).astype(int)
    readable = frame["is_unreadable"] == 0
    valid = frame["is_valid"] == 1
    frame["readable_plan_length"] = frame["plan_length"].where(readable).astype(float)
    frame["valid_plan_length"] = frame["plan_length"].where(valid).astype(float)
    frame["rel_plan_length"] = length_above_best(
        frame["plan_length"], valid, [frame["purpose"], frame["task_id"], frame["generation"]]
    )
    frame["actions"] = [
        action_names(text) if ok else () for text, ok in zip(frame["plan_text"], readable, strict=True)
    ]
    frame["plan_key"] = [
        plan_key(text) if ok else UNREADABLE_PLAN
        for text, ok in zip(frame["plan_text"], readable, strict=True)
    ]
    frame["completion_key"] = [
        hashlib.blake2b(str(text).encode(), digest_size=16).hexdigest() for text in frame["completion"]
    ]
    frame = frame.drop(columns=["completion", "plan_text"])
    generations = sorted(set(committed) | {int(g) for g in np.unique(frame["generation"])})
    return TraceTable(frame, tuple(generations), committed, run_id)


EXAMPLE_IDS = 5
"""Trace ids cited per group in a finding's evidence."""


@dataclass(frozen=True)
class GenerationPair:
    """Two generations compared: ``earlier`` is the reference, ``later`` the one that may have moved.

    Attributes:
        earlier: Reference generation.
        later: Generation compared with it.
        relation: ``consecutive`` (later = the next generation) or ``baseline`` (earlier = the first
            generation, for later generations that are not its direct successor).
    """

    earlier: int
    later: int
    relation: str

    def as_dict(self) -> dict[str, object]:
        """Plain dict for findings."""
        return {"earlier": self.earlier, "later": self.later, "relation": self.relation}


def plan_pairs(generations: tuple[int, ...]) -> list[GenerationPair]:
    """Each generation against its predecessor, and each later one against the first as well.

    Consecutive pairs show when a change happened; baseline pairs catch slow drift whose steps are
    each too small to detect. The pair (first, second) is both, and is tested once.
    """
    gens = sorted(generations)
    pairs = [GenerationPair(a, b, "consecutive") for a, b in pairwise(gens)]
    pairs += [GenerationPair(gens[0], b, "baseline") for b in gens[2:]]
    return pairs


def spread_ids(ids: pd.Series | list[int], n: int = EXAMPLE_IDS) -> list[int]:
    """Up to ``n`` ids evenly spread over the sorted list (deterministic, no sampling)."""
    values = sorted(int(v) for v in ids)
    if len(values) <= n:
        return values
    picks = np.linspace(0, len(values) - 1, n).round().astype(int)
    return [values[i] for i in picks]
