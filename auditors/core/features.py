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

from iterdeploy.auditors.core.plans import action_names
from iterdeploy.simulator.errors import IterdeployError
from iterdeploy.simulator.store import RunReader, TaskRow

RELATIVE_FEATURES: tuple[str, ...] = (
    "is_valid",
    "length_above_best",
    "is_task_shortest",
    "is_task_longest",
    "tokens_above_best",
    "valid_ranked_before",
    "invalid_ranked_before",
    "is_bloated",
    "is_unparseable",
    "hit_token_limit",
)
"""The features that compare a trace with its task's other traces (plus the kinds of failure)."""

FIT_FEATURES: tuple[str, ...] = (
    *RELATIVE_FEATURES, "plan_length", "n_tokens", "task_size", "rel_plan_length"
)
"""Numeric columns an auditor may regress ``kept`` on, plus :data:`ACTION_SHARES`.

The :data:`RELATIVE_FEATURES` are *relative to the task's other traces in the same
generation*, because that is what a curator compares: ``length_above_best`` (steps above the
task's shortest valid plan),
``is_task_shortest`` and ``is_task_longest`` (at the task's shortest or, when valid lengths differ,
longest valid length), ``tokens_above_best`` (tokens above the fewest among the task's valid plans
of the same length: the paper's tie-break). A within-task fit sees only within-task variation, so
``task_size`` drops out there; it stays for the cross-task fits of older auditors.
``rel_plan_length`` is the old name of ``length_above_best`` (same values), kept while stored
findings use it.

``acceptance_prob`` is deliberately absent: it is the scenario's ground truth that auditors try to
recover, so using it as a predictor would be circular.
"""

ACTION_SHARES = "action_shares"
"""Pseudo-feature: one column ``share_<action>`` per action name that occurs in a valid plan of the
run (the share of the plan's steps that are that action; 0 for an unreadable plan)."""

WITHIN_TASK_FEATURES: tuple[str, ...] = (*RELATIVE_FEATURES, ACTION_SHARES)
"""What the white-box reward auditors fit by default: the features relative to the task, the kinds
of failure and the action mix (the absolute lengths and the task size do not vary within a task,
or only with the relative ones)."""

UNPARSEABLE_STATUSES: frozenset[str] = frozenset({"unparseable", "empty"})
"""Validator statuses counted as "no plan could be read" (``n_unparseable``)."""

COLUMNS: tuple[str, ...] = (
    "trace_id",
    "generation",
    "task_id",
    "task_key",
    "kept",
    "is_valid",
    "plan_length",
    "rel_plan_length",
    "length_above_best",
    "is_task_shortest",
    "is_task_longest",
    "tokens_above_best",
    "valid_ranked_before",
    "invalid_ranked_before",
    "is_bloated",
    "n_tokens",
    "task_size",
    "hit_token_limit",
    "is_unparseable",
    "status",
    "n_decisions",
    "acceptance_prob",
    "user",
    "group",
    "actions",
    "p_decl",
    "declared_kept",
)
"""Column order of :attr:`FeatureTable.frame`, before the ``share_<action>`` columns.

``task_key`` (``"<task_id>/<generation>"``) names a choice situation: the candidates one user
decided on together. ``user`` and ``group`` are the deciding user and its group (the scenario's
``users[].name``). ``p_decl`` is the probability that a user following the declared objective keeps
the trace among the same candidates, and ``declared_kept`` that user's decision
(:mod:`iterdeploy.auditors.core.declared_decisions`).
"""

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
        action_columns: The ``share_<action>`` columns, sorted.
        declared_objective: The declared objective's canonical policy name (``validity-v1``).
    """

    frame: pd.DataFrame
    generations: tuple[int, ...]
    n_undecided_by_generation: dict[int, int]
    action_columns: tuple[str, ...] = ()
    declared_objective: str = "validity"

    def expand(self, features: tuple[str, ...]) -> tuple[str, ...]:
        """Feature names with :data:`ACTION_SHARES` replaced by this run's ``share_<action>`` columns."""
        out: list[str] = []
        for f in features:
            out += list(self.action_columns) if f == ACTION_SHARES else [f]
        return tuple(out)

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
    known = (*FIT_FEATURES, ACTION_SHARES)
    unknown = [f for f in features if f not in known and not f.startswith("share_")]
    if unknown:
        raise AuditorConfigError(
            f"unknown feature(s) {unknown}; choose from {list(known)} or share_<action>"
            + (
                " (acceptance_prob is the ground truth, not a feature)"
                if "acceptance_prob" in unknown
                else ""
            )
        )
    if not features:
        raise AuditorConfigError(f"no features given; choose from {list(known)}")
    if len(set(features)) != len(features):
        raise AuditorConfigError(f"features repeat a name: {list(features)}")


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})


def build_feature_table(reader: RunReader) -> FeatureTable:
    """Build the feature table of the run behind ``reader``.

    Traces are read with :meth:`RunReader.trace_facts` rather than :meth:`RunReader.traces`, which
    would load every completion text (reasoning included) only to throw it away; the plan text is
    read, for the action mix. Decisions are aggregated here, after sorting by ``decision_id``, rather than
    in SQL: SQLite's ``AVG`` sums in scan order, which depends on insertion order, and the table
    must not.

    Args:
        reader: An open run store; only read.

    Returns:
        The table; empty (with all columns) when the run has no curated deployment traces.

    Raises:
        iterdeploy.simulator.errors.StoreError: When the run directory is not a readable store, or its
        declared
            objective cannot be read.
    """
    from iterdeploy.auditors.core.declared_decisions import declared_decisions, declared_name

    generations = tuple(g.generation for g in reader.generations())
    declared = declared_name(reader)
    traces = _deploy_traces(reader)
    decisions = _decisions_with_acceptance(reader)
    tasks = {t.task_id: t for t in reader.tasks()}

    if traces.empty:
        return FeatureTable(_empty_frame(), generations, {}, declared_objective=declared)

    decided_ids = set(decisions["trace_id"].tolist())
    undecided = traces[~traces["trace_id"].isin(decided_ids)]
    n_undecided = {int(g): int(n) for g, n in undecided.groupby("generation").size().items()}

    frame = traces.merge(_per_trace(decisions), on="trace_id", how="inner").sort_values("trace_id")
    if frame.empty:
        return FeatureTable(_empty_frame(), generations, n_undecided, declared_objective=declared)
    frame = frame.reset_index(drop=True)
    _add_trace_features(frame, tasks)
    _add_within_task(frame)
    p_decl, kept_decl = declared_decisions(frame, reader, tasks)
    frame["p_decl"] = p_decl
    frame["declared_kept"] = kept_decl.astype(int)
    action_columns = _add_action_shares(frame)
    frame = frame[[*COLUMNS, *action_columns]]
    return FeatureTable(frame, generations, n_undecided, action_columns, declared)


def _deploy_traces(reader: RunReader) -> pd.DataFrame:
    """The run's deployment traces, one row each with the columns the features come from."""
    trace_columns = ["trace_id", "generation", "task_id", "is_valid", "status", "plan_length",
                     "n_tokens", "hit_token_limit", "plan_text"]
    return pd.DataFrame(
        [{c: getattr(t, c) for c in trace_columns} for t in reader.trace_facts(purpose="deploy")],
        columns=trace_columns,
    )


def _decisions_with_acceptance(reader: RunReader) -> pd.DataFrame:
    """Every curation decision (:func:`iterdeploy.auditors.core.decisions.decision_table`) with the acceptance
    probability A(τ) the user decided with."""
    from iterdeploy.auditors.core.decisions import decision_table

    decisions = decision_table(reader)
    acceptance = pd.DataFrame(
        [(d.decision_id, d.acceptance_prob) for d in reader.decisions()],
        columns=["decision_id", "acceptance_prob"],
    )
    return decisions.merge(acceptance, on="decision_id", how="left")


def _per_trace(decisions: pd.DataFrame) -> pd.DataFrame:
    """The decisions aggregated per trace, in ``decision_id`` order (so the mean of A(τ) does not
    depend on the order rows were stored in): kept by anyone, how many decided, mean A(τ), and the
    first decider's user and group."""
    return (
        decisions.sort_values(["trace_id", "decision_id"])
        .groupby("trace_id", sort=True)
        .agg(
            kept=("kept", "max"),
            n_decisions=("kept", "size"),
            acceptance_prob=("acceptance_prob", "mean"),
            user=("user", "first"),
            group=("group", "first"),
        )
        .reset_index()
    )


def _add_trace_features(frame: pd.DataFrame, tasks: dict[int, TaskRow]) -> None:
    """The per-trace features (in place): 0/1 columns as ints, whether the plan was unparseable,
    the task's size and optimal length, the (task, generation) key, and the plan's actions."""
    frame["is_valid"] = frame["is_valid"].astype(int)
    frame["hit_token_limit"] = frame["hit_token_limit"].astype(int)
    frame["kept"] = frame["kept"].astype(int)
    frame["is_unparseable"] = frame["status"].isin(UNPARSEABLE_STATUSES).astype(int)
    frame["task_size"] = frame["task_id"].map(lambda t: tasks[t].size if t in tasks else np.nan)
    frame["task_size"] = frame["task_size"].astype("float64")
    frame["task_key"] = frame["task_id"].astype(str) + "/" + frame["generation"].astype(str)
    optimal = {t.task_id: t.optimal_length for t in tasks.values()}
    frame["optimal_length"] = frame["task_id"].map(lambda t: optimal.get(t) or np.nan).astype(float)
    readable = frame["is_unparseable"] == 0
    frame["actions"] = [
        action_names(text) if ok else () for text, ok in zip(frame["plan_text"], readable, strict=True)
    ]


def length_above_best(plan_length: pd.Series, valid: pd.Series, keys: list[pd.Series]) -> pd.Series:
    """Steps above the shortest valid plan among the traces that share ``keys`` (a task within a
    generation); NaN for an invalid trace, which has no place in the valid ranking.

    The one definition of ``length_above_best`` and of its older name ``rel_plan_length``: the
    regression table here writes 0 for invalid traces (every column numeric, validity being
    ``is_valid``), the drift auditor's table keeps NaN (its length tests compare valid plans only).
    """
    lengths = plan_length.where(valid).astype("float64")
    return lengths - lengths.groupby(keys).transform("min")


def _add_within_task(frame: pd.DataFrame) -> None:
    """The features relative to the task's other traces of the same generation (in place).

    A curator compares a trace with its siblings, so these are the features a within-task fit can
    express a rule like "the shortest valid plan, then the fewest tokens" in. Invalid traces have
    no place in the valid ranking: their relative features are 0 (validity itself is
    ``is_valid``), so every column stays numeric.

    ``valid_ranked_before`` and ``invalid_ranked_before`` count the task's traces a shortest-first
    ranking puts ahead of this one: plan length, then tokens, then the order the samples were drawn
    in (a user who reads the candidates in order and meets two equal ones takes the first). A rule
    that checks each trace on its own and then keeps the first that passed (a fallible validator, a
    user who sometimes does not check) keeps trace i with probability q_i · Π over those ahead of
    (1 − q_j), whose logarithm is linear in exactly these counts and validity: the rule is then
    inside the model, not approximated by it. ``is_bloated`` marks a valid plan at least twice as
    long as needed (the task's optimal length when known, else its shortest valid plan).
    """
    valid = frame["is_valid"] == 1
    keys = [frame["task_key"]]
    lengths = frame["plan_length"].where(valid)
    best = lengths.groupby(keys).transform("min")
    worst = lengths.groupby(keys).transform("max")
    above = length_above_best(frame["plan_length"], valid, keys).fillna(0.0).astype("float64")
    frame["length_above_best"] = above
    frame["rel_plan_length"] = above
    frame["is_task_shortest"] = (valid & (frame["plan_length"] == best)).astype(int)
    frame["is_task_longest"] = (valid & (frame["plan_length"] == worst) & (worst > best)).astype(int)
    tokens = frame["n_tokens"].where(valid)
    fewest = tokens.groupby([frame["task_key"], lengths]).transform("min")
    frame["tokens_above_best"] = (frame["n_tokens"] - fewest).where(valid).fillna(0.0).astype("float64")
    ahead_valid = np.zeros(len(frame))
    ahead_invalid = np.zeros(len(frame))
    length = frame["plan_length"].to_numpy(dtype=float)
    tok = frame["n_tokens"].to_numpy(dtype=float)
    order = frame["trace_id"].to_numpy(dtype=float)
    ok = valid.to_numpy()
    for positions in frame.groupby("task_key", sort=False).indices.values():
        lp, tp, ip, vp = length[positions], tok[positions], order[positions], ok[positions]
        same_length = lp[None, :] == lp[:, None]
        same_tokens = same_length & (tp[None, :] == tp[:, None])
        before = ((lp[None, :] < lp[:, None]) | (same_length & (tp[None, :] < tp[:, None]))
                  | (same_tokens & (ip[None, :] < ip[:, None])))
        ahead_valid[positions] = (before & vp[None, :]).sum(axis=1)
        ahead_invalid[positions] = (before & ~vp[None, :]).sum(axis=1)
    frame["valid_ranked_before"] = ahead_valid
    frame["invalid_ranked_before"] = ahead_invalid
    reference = frame["optimal_length"].astype(float).where(frame["optimal_length"] > 0, best)
    frame["is_bloated"] = (valid & (frame["plan_length"] >= 2 * reference)).astype(int)


def _add_action_shares(frame: pd.DataFrame) -> tuple[str, ...]:
    """One ``share_<action>`` column per action of a valid plan (in place); returns their names.

    Every action is kept (no reference level is dropped): the within-task fit is penalised, so
    shares that sum to one stay estimable, and a stakeholder asking about ``unstack`` finds it
    whichever action happens to be the most frequent.
    """
    pairs = zip(frame["actions"], frame["is_valid"], strict=True)
    names = sorted({a for acts, ok in pairs if ok for a in acts})
    lengths = frame["actions"].map(len).to_numpy()
    columns = []
    for name in names:
        hits = frame["actions"].map(lambda acts, n=name: sum(1 for a in acts if a == n)).to_numpy()
        column = f"share_{name}"
        frame[column] = np.divide(hits, lengths, out=np.zeros(len(frame)), where=lengths > 0)
        columns.append(column)
    return tuple(columns)
