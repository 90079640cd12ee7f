"""Turn a run store into the plain tables the dashboard draws.

Everything here is a pure function of a :class:`~iterdeploy.simulator.store.RunReader` (or of a run directory
opened through one), so the numbers on the page are testable without Streamlit, and every number
of the summary comes from :func:`iterdeploy.simulator.store.summarize`, the same definition ``iterdeploy
summary`` prints (the per-group counts, which the summary does not have, are read here).
Nothing in this module writes to a run.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from iterdeploy.auditors.core.decisions import user_groups
from iterdeploy.auditors.payloads import ImplicitRewardNumbers, payload_or_none
from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.store import (
    DB_NAME,
    SIZE_FIELDS,
    FindingRow,
    GenerationSummary,
    RunReader,
    ShownStatus,
    summarize,
    writer_is_alive,
)

RUN_DIR_ENV = "ITERDEPLOY_RUN_DIR"
"""Environment variable naming the run directory when none is passed on the command line."""

SUMMARY_COLUMNS: tuple[str, ...] = tuple(
    name for name in GenerationSummary.model_fields if not name.endswith("_by_domain")
)
"""Columns of :func:`summary_frame`, in the order of :class:`GenerationSummary` (the per-domain
mappings are not columns)."""

SUMMARY_LABELS: dict[str, str] = {
    "generation": "generation",
    "evaluated": "eval tasks",
    "solved": "eval solved",
    "mean_plan_length": "mean valid plan length (eval)",
    "longest_plan_length": "longest valid plan (eval)",
    "train_size": "training-set size",
    "deploy_tasks": "deploy tasks",
    "deploy_solved": "deploy solved",
    "published": "published traces",
    "largest_solved_size": "largest solved size (eval)",
    "deploy_longest_plan_length": "longest valid plan (deploy)",
}
"""Human column headers for the summary table (stakeholders read the page, not the schema)."""

FINDING_COLUMNS: tuple[str, ...] = ("severity", "generation", "claim", "kind", "auditor")
"""Columns of :func:`findings_frame`."""

SEVERITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2, "info": 3}
"""Findings are listed most severe first, so the one a stakeholder must see is on top."""


@dataclass(frozen=True)
class RunOverview:
    """What the page header says about a run."""

    run_id: str
    name: str
    seed: int
    status: ShownStatus
    """The stored status, or ``interrupted`` when its writer died (``RunReader.run_status``)."""
    created_at: str


@dataclass(frozen=True)
class Headline:
    """The numbers of the metric tiles: the paper's claim is "last generation vs generation 0"."""

    n_generations: int
    last_generation: int
    evaluated: int
    solved_first: int
    solved_last: int
    longest_first: int | None
    longest_last: int | None

    @property
    def solved_delta(self) -> int:
        """Evaluation tasks solved by the last generation beyond generation 0."""
        return self.solved_last - self.solved_first

    @property
    def solved_ratio(self) -> float | None:
        """Last-generation solved / generation-0 solved (None when generation 0 solved none)."""
        if self.solved_first == 0:
            return None
        return self.solved_last / self.solved_first


@dataclass(frozen=True)
class RunData:
    """Everything the page shows, read in one go so the store is opened once per refresh."""

    run_dir: Path
    overview: RunOverview
    summary: pd.DataFrame
    findings: pd.DataFrame
    headline: Headline | None
    by_domain: pd.DataFrame | None = None
    """Solved evaluation tasks per generation and domain (:func:`domain_frame`)."""
    by_group: pd.DataFrame | None = None
    """Curation decisions and published traces per generation and user group
    (:func:`group_frame`)."""
    rewards: pd.DataFrame | None = None
    """The implicit reward inferred per generation, once audited (:func:`reward_frame`)."""


def resolve_run_dir(argv: Sequence[str], environ: Mapping[str, str]) -> Path | None:
    """The run directory the page was started for.

    ``streamlit run dashboards/app.py -- RUN_DIR`` puts RUN_DIR in ``sys.argv[1]``; the environment
    variable is the fallback for hosts that cannot pass script arguments.

    Args:
        argv: The script's ``sys.argv`` (program name first).
        environ: The process environment.

    Returns:
        The path, or None when neither names one.
    """
    if len(argv) > 1 and argv[1].strip():
        return Path(argv[1])
    value = environ.get(RUN_DIR_ENV, "").strip()
    return Path(value) if value else None


def resolve_run_dirs(argv: Sequence[str], environ: Mapping[str, str]) -> list[Path]:
    """Every run directory the dashboard was started for, in the order given.

    ``streamlit run dashboards/app.py -- RUN_DIR [RUN_DIR...]`` puts them in ``sys.argv[1:]``;
    the environment variable (several directories separated by ``os.pathsep``) is the fallback
    for hosts that cannot pass script arguments. Blank entries are ignored.

    Returns:
        The paths; empty when neither names one.
    """
    named = [Path(a) for a in argv[1:] if a.strip()]
    if named:
        return named
    return [Path(v) for v in environ.get(RUN_DIR_ENV, "").split(os.pathsep) if v.strip()]


def store_version(run_dir: Path) -> tuple[int, int, int, int, int]:
    """A key that changes whenever what the page shows may have changed.

    A run being written is in WAL mode: committed generations land in ``run.sqlite-wal`` and reach
    ``run.sqlite`` only at a checkpoint, so the database file's mtime alone would keep a stale page.
    The key therefore combines mtime and size of both files, and whether a writer holds the run's
    lock: a writer killed with ``-9`` changes no file, yet its run must turn from "in progress"
    to ``interrupted`` (:meth:`~iterdeploy.simulator.store.RunQueries.run_status`).

    Args:
        run_dir: The run directory.

    Returns:
        ``(db mtime_ns, db size, wal mtime_ns, wal size, writer alive)``; zeros for a missing file.
    """
    parts: list[int] = []
    for name in (DB_NAME, f"{DB_NAME}-wal"):
        try:
            st = os.stat(run_dir / name)
        except OSError:
            parts += [0, 0]
        else:
            parts += [st.st_mtime_ns, st.st_size]
    return parts[0], parts[1], parts[2], parts[3], int(writer_is_alive(run_dir))


def check_run_dir(run_dir: Path) -> None:
    """Fail early with a message that names the problem with ``run_dir``.

    Args:
        run_dir: The directory to check.

    Raises:
        StoreError: The path is missing or not a directory (the store itself is checked by
            :class:`RunReader` on open).
    """
    try:
        if not run_dir.exists():
            raise StoreError(f"{run_dir}: no such directory; pass the directory `iterdeploy run` printed")
        if not run_dir.is_dir():
            raise StoreError(f"{run_dir}: not a directory; pass the run directory, not a file in it")
        if not (run_dir / DB_NAME).is_file():
            raise StoreError(
                f"{run_dir}: not a run directory (no {DB_NAME}); pass the directory `iterdeploy run` printed"
            )
    except OSError as exc:  # a directory we may not look into: the same one line as the reader's
        raise StoreError(f"{run_dir}: cannot open the run directory ({exc.strerror or exc}); make "
                         "it readable, or read a copy") from None


def overview(reader: RunReader) -> RunOverview:
    """The header facts of the run."""
    run = reader.run()
    return RunOverview(
        run_id=run.run_id, name=run.name, seed=run.seed, status=reader.run_status(),
        created_at=run.created_at,
    )


DOMAIN_COLUMNS: tuple[str, ...] = ("generation", "domain", "evaluated", "solved")
"""Columns of :func:`domain_frame`."""


def domain_frame(reader: RunReader) -> pd.DataFrame:
    """Solved evaluation tasks per generation and domain, one row each (long format, for a chart
    with one line per domain); the same numbers as the summary's ``solved_by_domain``."""
    rows = [
        (r.generation, domain, n, r.solved_by_domain.get(domain, 0))
        for r in summarize(reader)
        for domain, n in r.evaluated_by_domain.items()
    ]
    return pd.DataFrame(rows, columns=list(DOMAIN_COLUMNS))


GROUP_COLUMNS: tuple[str, ...] = ("generation", "group", "decisions", "published")
"""Columns of :func:`group_frame`."""


def group_frame(reader: RunReader) -> pd.DataFrame:
    """Curation decisions and published traces per generation and user group, one row each (long
    format): whose taste the next training set carries. A group is a population's family (the
    twenty members of a polarized population are two families), as the auditors group users
    (:func:`iterdeploy.auditors.core.decisions.user_groups`). Summed over the groups, ``published`` is the
    summary's ``published`` column."""
    per_user = reader.decision_counts()
    family = user_groups(reader, sorted({user for _, user in per_user}))
    counts: dict[tuple[int, str], list[int]] = {}
    for (generation, user), (decisions, published) in per_user.items():
        total = counts.setdefault((generation, family[user]), [0, 0])
        total[0] += decisions
        total[1] += published
    return pd.DataFrame(
        [(g, group, n, kept) for (g, group), (n, kept) in sorted(counts.items())],
        columns=list(GROUP_COLUMNS),
    )


REWARD_COLUMNS: tuple[str, ...] = ("generation", "feature", "weight", "ci_low", "ci_high")
"""Columns of :func:`reward_frame`."""


def reward_frame(reader: RunReader) -> pd.DataFrame:
    """The implicit reward the white-box auditor inferred for each generation, one row per
    feature: its weight (log-odds of being kept per standard deviation of the feature, so features
    compare) and bootstrap interval, read from the stored findings. Empty until ``iterdeploy
    audit`` has run; a feature without a fit (constant, or no kept trace) is left out."""
    from iterdeploy.auditors.reward.implicit_reward import (  # the auditor's own names; imported
        AUDITOR_NAME,
        KIND,
    )
    # here so that loading the page's tables does not load the auditors' statistics stack

    per_generation = sorted(
        (f for f in reader.findings(auditor=AUDITOR_NAME, kind=KIND) if f.generation is not None),
        key=lambda f: f.generation or 0,
    )
    rows = []
    for f in per_generation:
        # a finding whose numbers do not fit the kind's model is skipped rather than drawn wrong
        numbers = payload_or_none(f, ImplicitRewardNumbers)
        features = (numbers.features if numbers is not None else None) or {}
        for feature, effect in sorted(features.items()):
            if effect.weight is not None:
                rows.append((f.generation, feature, effect.weight, effect.ci_low, effect.ci_high))
    return pd.DataFrame(rows, columns=list(REWARD_COLUMNS))


def summary_frame(reader: RunReader) -> pd.DataFrame:
    """The per-generation summary as a DataFrame, one row per committed generation.

    Missing numbers (no valid plan in a generation) stay missing (NaN/None) rather than 0, so a
    chart shows a gap instead of a fake drop.
    """
    rows = [r.model_dump() for r in summarize(reader)]
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def findings_frame(reader: RunReader) -> pd.DataFrame:
    """Auditor findings, most severe first, then by generation (whole-run findings last).

    Returns:
        Columns :data:`FINDING_COLUMNS`; ``generation`` is a nullable integer.
    """
    rows = [
        {"severity": f.severity, "generation": f.generation, "claim": f.claim, "kind": f.kind,
         "auditor": f.auditor, "_id": f.finding_id}
        for f in reader.findings()
    ]
    rows.sort(key=lambda r: (
        SEVERITY_ORDER.get(str(r["severity"]), len(SEVERITY_ORDER)),
        r["generation"] is None,
        r["generation"] if r["generation"] is not None else 0,
        r["_id"],
    ))
    frame = pd.DataFrame(rows, columns=[*FINDING_COLUMNS, "_id"]).drop(columns="_id")
    frame["generation"] = frame["generation"].astype("Int64")
    return frame.reset_index(drop=True)


def headline(summary: pd.DataFrame) -> Headline | None:
    """The metric-tile numbers, or None when no generation has been committed yet."""
    if summary.empty:
        return None
    first, last = summary.iloc[0], summary.iloc[-1]

    def _opt_int(value: float | None) -> int | None:
        return None if value is None or pd.isna(value) else int(value)

    return Headline(
        n_generations=len(summary),
        last_generation=int(last["generation"]),
        evaluated=int(last["evaluated"]),
        solved_first=int(first["solved"]),
        solved_last=int(last["solved"]),
        longest_first=_opt_int(first["longest_plan_length"]),
        longest_last=_opt_int(last["longest_plan_length"]),
    )


def display_summary(summary: pd.DataFrame, *, several_domains: bool = False) -> pd.DataFrame:
    """The summary with readable headers, indexed by generation, for the page's table.

    Count columns that may be missing become nullable integers, so a table shows ``12``, not
    ``12.0``, and an empty cell where a generation wrote no valid plan. With
    ``several_domains`` the size columns are left out: their maximum over blocks, waypoints and
    boxes means nothing, and the page gives each domain's sizes in its own table.
    """
    frame = summary.copy()
    for col in SUMMARY_COLUMNS:
        if col != "mean_plan_length":
            frame[col] = frame[col].astype("Int64")
    frame["mean_plan_length"] = frame["mean_plan_length"].astype("Float64").round(2)
    if several_domains:
        frame = frame.drop(columns=[c for c in SIZE_FIELDS if c in frame.columns])
    return frame.rename(columns=SUMMARY_LABELS).set_index(SUMMARY_LABELS["generation"])


def display_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings with readable cells: ``whole run`` where a finding is about no one generation."""
    frame = findings.copy()
    frame["generation"] = [
        "whole run" if pd.isna(g) else str(int(g)) for g in frame["generation"]
    ]
    return frame.reset_index(drop=True)


def load_run(run_dir: Path) -> RunData:
    """Read everything the page shows from ``run_dir``, read-only, and close the store.

    Args:
        run_dir: A run directory written by ``iterdeploy run``.

    Returns:
        The run's overview, summary, findings and headline numbers.

    Raises:
        StoreError: The directory is not a readable run store; the message names the problem.
    """
    check_run_dir(run_dir)
    try:
        with RunReader(run_dir) as reader:
            ov = overview(reader)
            summary = summary_frame(reader)
            by_domain = domain_frame(reader)
            by_group = group_frame(reader)
            rewards = reward_frame(reader)
            findings = findings_frame(reader)
    except sqlite3.Error as exc:
        raise StoreError(f"{run_dir / DB_NAME}: cannot read the run store ({exc})") from exc
    except ValidationError as exc:
        raise StoreError(
            f"{run_dir / DB_NAME}: a row does not match the store schema "
            f"({exc.error_count()} error(s), first: {exc.errors()[0]['msg']})"
        ) from exc
    return RunData(run_dir=run_dir, overview=ov, summary=summary, findings=findings,
                   headline=headline(summary), by_domain=by_domain, by_group=by_group, rewards=rewards)


def finding_numbers(finding: FindingRow) -> dict[str, Any]:
    """A finding's numbers as stored, whatever its kind, as a dict (a value of another shape gives
    an empty one): the raw view a page shows beside the claim, and the counts every kind keeps
    under ``denominators``. A view that reads a kind's own numbers asks
    :func:`iterdeploy.auditors.payloads.payload` for its typed model instead."""
    return _json_object(finding.numbers_json)


def finding_evidence(finding: FindingRow) -> dict[str, Any]:
    """A finding's evidence as a dict (a value of another shape gives an empty one)."""
    return _json_object(finding.evidence_json)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
