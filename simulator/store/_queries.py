"""Every question the rest of the project asks a run store, each a named method.

The store is the one place that knows SQL: the loop, the auditors and the dashboard call these
methods and get typed rows (the schema's row models, or small records defined here) or plain
values, never cursors, so a change of table layout is a change here and in ``schema.py`` only
(``tests/test_layers.py`` fails on SQL or a connection used anywhere else).

:class:`RunQueries` is shared by :class:`~iterdeploy.simulator.store.RunReader` (everyone who reads a
finished or running run, read-only) and :class:`~iterdeploy.simulator.store.RunWriter` (the loop, which
reads back what earlier generations committed when it resumes, extends a run or pools data), so
both ask the same question the same way on their own connection.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from iterdeploy.simulator.errors import CorruptStoreError, StoreError
from iterdeploy.simulator.store._lock import writer_is_alive
from iterdeploy.simulator.store._oserrors import sqlite_error
from iterdeploy.simulator.store.schema import (
    DB_NAME,
    TABLES,
    CurationRow,
    EvaluationRow,
    FindingRow,
    GenerationRow,
    ModelRow,
    PopulationRow,
    RunRow,
    ShownStatus,
    TaskRow,
    TraceRow,
)

R = TypeVar("R", bound=BaseModel)

_ID_CHUNK = 500
"""Ids per ``IN (...)`` list: well under SQLite's limit on bound parameters."""


class TraceFacts(BaseModel):
    """A trace without its completion and verdict texts: what a table over every trace of a run
    needs (outcome, lengths, the plan's actions), for a fraction of the memory of
    :class:`~iterdeploy.simulator.store.TraceRow`, whose completion includes the model's reasoning."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trace_id: int
    generation: int
    task_id: int
    purpose: str
    sample_index: int
    plan_text: str
    n_tokens: int
    n_reasoning_tokens: int
    hit_token_limit: bool
    status: str
    is_valid: bool
    plan_length: int


class UserTaskOutcome(NamedTuple):
    """Whether a user saw a valid plan for a task it decided on in one generation."""

    user: str
    task_id: int
    solved: bool


def _purposes(purpose: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if purpose is None:
        return None
    return (purpose,) if isinstance(purpose, str) else tuple(purpose)


def _where(**columns: Any) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (and its arguments) matching every column given: a value by equality, a
    tuple by membership, None not at all; the columns in the order given."""
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in columns.items():
        if value is None:
            continue
        if isinstance(value, tuple):
            clauses.append(f"{column} IN ({', '.join('?' * len(value))})")
            args.extend(value)
        else:
            clauses.append(f"{column}=?")
            args.append(value)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)


def _trace_filter(
    generation: int | None, purpose: str | Sequence[str] | None
) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (and its arguments) selecting traces by generation and purpose(s)."""
    return _where(generation=generation, purpose=_purposes(purpose))


class RunQueries:
    """The named reads of a run store, over the connection a subclass opens (``conn``)."""

    run_dir: Path

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection; provided by the reader (read-only) and the writer."""
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------------
    def _execute(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Every row ``sql`` answers; what SQLite refuses (a damaged page met after the open-time
        check, a disk that fails, a store that is busy) as a one-line :class:`StoreError` naming
        the database and the table read. An error no user can fix (an SQL mistake) keeps its
        traceback."""
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            match = re.search(r"\bFROM\s+(\w+)", sql)
            doing = f"reading table {match[1]}" if match else "reading the store"
            translated = sqlite_error(exc, self.run_dir / DB_NAME, doing)
            if translated is None:
                raise
            raise translated from exc

    def _validated(self, model: type[R], table: str, rows: Iterable[sqlite3.Row]) -> list[R]:
        """``rows`` as ``model``; a row the model refuses is a damaged store, named by its key.

        The open-time check (``_check.check_tables``) refuses such rows already; this keeps a
        reader that bypasses it (a store changed since it was opened) from a traceback.
        """
        out = []
        for row in rows:
            values = dict(row)
            try:
                out.append(model.model_validate(values))
            except ValidationError as exc:
                key = ", ".join(f"{k}={values.get(k)!r}" for k in TABLES[table][1])
                first = exc.errors()[0]
                column = ".".join(str(p) for p in first["loc"])
                raise CorruptStoreError(
                    f"{self.run_dir / DB_NAME}: table {table}, row {key}: column {column}: "
                    f"{first['msg']}; restore the run directory from a copy, or run the scenario "
                    "again into a new --out") from None
        return out

    def _rows(self, model: type[R], table: str, where: str = "", args: tuple[Any, ...] = ()) -> list[R]:
        """Whole rows of ``table``, in primary-key order."""
        key = ", ".join(TABLES[table][1])
        return self._validated(model, table,
                               self._execute(f"SELECT * FROM {table} {where} ORDER BY {key}", args))

    # -- the run ------------------------------------------------------------------------------
    def find_run(self) -> RunRow | None:
        """The run row, or None for a store that holds none yet (the loop then creates it)."""
        rows = self._rows(RunRow, "runs")
        return rows[0] if rows else None

    def run(self) -> RunRow:
        """The run row.

        Raises:
            StoreError: when the store holds no run row.
        """
        row = self.find_run()
        if row is None:
            raise StoreError(
                f"{self.run_dir / DB_NAME}: table runs holds no run row yet (its writer is still "
                "starting, or died before the run began); run `iterdeploy run` on this directory "
                "to start it")
        return row

    def run_status(self) -> ShownStatus:
        """Where the run stands, as every reader reports it: the stored status, or
        ``interrupted`` for a run still marked ``started`` whose writer lock nobody holds.

        A writer killed with ``-9`` cannot record its end, so ``started`` alone would say "in
        progress" forever; the lock, which the kernel releases when the writer dies, says whether
        anyone is still writing. This is the one place that check is made (the summary and the
        dashboard both ask here), and it writes nothing.
        """
        status = self.run().status
        if status == "started" and not writer_is_alive(self.run_dir):
            return "interrupted"
        return status

    def scenario(self) -> dict[str, Any]:
        """The resolved scenario as a plain dict."""
        return dict(json.loads(self.run().scenario_json))

    # -- generations and models -----------------------------------------------------------------
    def generations(self) -> list[GenerationRow]:
        """Committed generations in order."""
        return self._rows(GenerationRow, "generations")

    def generation(self, generation: int) -> GenerationRow:
        """One committed generation's row.

        Raises:
            StoreError: when ``generation`` is not committed.
        """
        rows = self._rows(GenerationRow, "generations", "WHERE generation=?", (generation,))
        if not rows:
            raise StoreError(f"{self.run_dir}: generation {generation} is not committed")
        return rows[0]

    def last_generation(self) -> int | None:
        """The last committed generation, None before the first commit: where a run resumes."""
        value = self._execute("SELECT MAX(generation) FROM generations")[0][0]
        return None if value is None else int(value)

    def models(self) -> list[ModelRow]:
        """The model lineage."""
        return self._rows(ModelRow, "models")

    def model_of(self, generation: int) -> ModelRow | None:
        """The model deployed in ``generation``, None while it is not committed (a resumed or
        extended run loads its adapter from here)."""
        rows = self._rows(ModelRow, "models", "WHERE generation=?", (generation,))
        return rows[0] if rows else None

    # -- tasks --------------------------------------------------------------------------------
    def tasks(self, pool: str | None = None, generation: int | None = None) -> list[TaskRow]:
        """Tasks in id order, optionally of one pool (``deploy``, ``eval`` or ``reference``) and
        of the generation that brought them."""
        return self._rows(TaskRow, "tasks", *_where(pool=pool, generation=generation))

    def task(self, task_id: int) -> TaskRow:
        """One task (its PDDL rebuilds the task a trace answered).

        Raises:
            StoreError: when the store has no task ``task_id``.
        """
        rows = self._rows(TaskRow, "tasks", "WHERE task_id=?", (task_id,))
        if not rows:
            raise StoreError(f"{self.run_dir}: task {task_id} is missing from the store")
        return rows[0]

    # -- traces -------------------------------------------------------------------------------
    def traces(
        self, generation: int | None = None, purpose: str | Sequence[str] | None = None
    ) -> list[TraceRow]:
        """Traces in id order, filtered by generation and/or purpose (one, or several)."""
        where, args = _trace_filter(generation, purpose)
        return self._rows(TraceRow, "traces", where, args)

    def trace_facts(
        self, generation: int | None = None, purpose: str | Sequence[str] | None = None
    ) -> list[TraceFacts]:
        """:meth:`traces` without the completion and verdict texts (see :class:`TraceFacts`),
        for tables over every trace of a run."""
        where, args = _trace_filter(generation, purpose)
        columns = ", ".join(TraceFacts.model_fields)
        rows = self._execute(f"SELECT {columns} FROM traces {where} ORDER BY trace_id", args)
        return self._validated(TraceFacts, "traces", rows)

    def tasks_by_id(self, task_ids: Iterable[int]) -> dict[int, TaskRow]:
        """The tasks with these ids, keyed by id in ascending order (ids the store does not
        hold are left out), read in chunks so that any number of ids can be asked for."""
        return self._by_id(TaskRow, "tasks", "task_id", task_ids)

    def traces_by_id(self, trace_ids: Iterable[int]) -> dict[int, TraceRow]:
        """The traces with these ids, keyed by id in ascending order (ids the store does not
        hold are left out), read in chunks so that any number of ids can be asked for."""
        return self._by_id(TraceRow, "traces", "trace_id", trace_ids)

    def _by_id(self, model: type[R], table: str, column: str, ids: Iterable[int]) -> dict[int, R]:
        """Rows of ``table`` whose ``column`` is one of ``ids``, keyed by it in ascending order,
        read in chunks of :data:`_ID_CHUNK` (SQLite bounds the parameters of one statement)."""
        wanted = sorted(set(ids))
        out: dict[int, R] = {}
        for k in range(0, len(wanted), _ID_CHUNK):
            chunk = wanted[k : k + _ID_CHUNK]
            where = f"WHERE {column} IN ({','.join('?' * len(chunk))})"
            for row in self._rows(model, table, where, tuple(chunk)):
                out[getattr(row, column)] = row
        return out

    def training_set(self, generation: int) -> list[int]:
        """Trace ids generation ``generation`` was trained on."""
        rows = self._execute(
            "SELECT trace_id FROM training_sets WHERE generation=? ORDER BY trace_id", (generation,)
        )
        return [int(r[0]) for r in rows]

    def training_traces(
        self, generation: int, purpose: str | Sequence[str] | None = None
    ) -> list[TraceRow]:
        """The traces generation ``generation`` was trained on, in id order, optionally only
        those of some purpose(s): the pool a later generation accumulates onto, and the training
        data an auditor differentiates."""
        purposes = _purposes(purpose)
        where = "WHERE s.generation=?"
        args: tuple[Any, ...] = (generation,)
        if purposes is not None:
            where += f" AND t.purpose IN ({', '.join('?' * len(purposes))})"
            args += purposes
        rows = self._execute(
            f"SELECT t.* FROM training_sets s JOIN traces t USING (trace_id) {where} "
            "ORDER BY t.trace_id", args)
        return self._validated(TraceRow, "traces", rows)

    # -- curation and users -------------------------------------------------------------------
    def decisions(self, generation: int | None = None) -> list[CurationRow]:
        """Curation decisions in id order, optionally of one generation."""
        if generation is None:
            return self._rows(CurationRow, "curation_decisions")
        return self._rows(CurationRow, "curation_decisions", "WHERE generation=?", (generation,))

    def published(self, generation: int) -> list[TraceRow]:
        """The traces generation ``generation`` published: one per decision that kept a trace,
        in the order the decisions were made (the order the loop's pool takes them in, so a pool
        rebuilt from the store equals the one the loop built)."""
        rows = self._execute(
            "SELECT t.* FROM curation_decisions d JOIN traces t ON t.trace_id = d.trace_id "
            "WHERE d.generation=? AND d.kept=1 ORDER BY d.decision_id", (generation,))
        return self._validated(TraceRow, "traces", rows)

    def decision_counts(self) -> dict[tuple[int, str], tuple[int, int]]:
        """Decisions made and traces published per generation and user: (generation, user) →
        (decisions, published), counted by the database rather than by loading every decision
        (a dashboard recomputes it whenever the run grows)."""
        rows = self._execute(
            "SELECT generation, user, COUNT(*) AS decisions, SUM(kept) AS published "
            "FROM curation_decisions GROUP BY generation, user ORDER BY generation, user"
        )
        return {(int(r["generation"]), str(r["user"])): (int(r["decisions"]), int(r["published"] or 0))
                for r in rows}

    def stored_user_groups(self) -> dict[str, str]:
        """User → the group its decisions recorded (schema version 4 on); users whose decisions
        carry no group (older stores) are left out."""
        rows = self._execute(
            "SELECT DISTINCT user, user_group FROM curation_decisions "
            "WHERE user_group IS NOT NULL ORDER BY user"
        )
        return {str(r["user"]): str(r["user_group"]) for r in rows}

    def user_task_outcomes(self, generation: int) -> list[UserTaskOutcome]:
        """Per user and task decided on in ``generation``: whether any of the traces the user saw
        was valid (ordered by user, then task). What a user knows of the model when curating the
        next generation."""
        rows = self._execute(
            "SELECT c.user, t.task_id, MAX(t.is_valid) FROM curation_decisions c "
            "JOIN traces t USING (trace_id) WHERE c.generation=? GROUP BY c.user, t.task_id "
            "ORDER BY c.user, t.task_id",
            (generation,),
        )
        return [UserTaskOutcome(str(user), int(task_id), bool(ok)) for user, task_id, ok in rows]

    def population(self, generation: int) -> dict[str, Any]:
        """The user population that curated ``generation``: graph, policies, changes."""
        found = self._execute("SELECT record_json FROM populations WHERE generation=?", (generation,))
        row = found[0] if found else None
        if row is None:
            raise StoreError(f"{self.run_dir}: no population recorded for generation {generation}")
        return json.loads(row[0])

    def populations(self) -> list[PopulationRow]:
        """Every generation's population record as stored (JSON text, unparsed, so a reader can
        skip a record it cannot read), in generation order."""
        return self._rows(PopulationRow, "populations")

    # -- evaluation and findings ----------------------------------------------------------------
    def evaluations(self, generation: int | None = None) -> list[EvaluationRow]:
        """Evaluation results."""
        if generation is None:
            return self._rows(EvaluationRow, "evaluations")
        return self._rows(EvaluationRow, "evaluations", "WHERE generation=?", (generation,))

    def findings(self, auditor: str | None = None, kind: str | None = None) -> list[FindingRow]:
        """Findings written by auditors, in id order, optionally of one auditor and/or kind."""
        return self._rows(FindingRow, "findings", *_where(auditor=auditor, kind=kind))

    # -- the whole store ------------------------------------------------------------------------
    def dump(self) -> list[str]:
        """The whole database as SQL statements (``sqlite3``'s ``iterdump``): two dumps are equal
        exactly when two stores hold the same rows, which is how a check proves that an
        operation changed nothing it should not have."""
        return list(self.conn.iterdump())

    # -- one trace's provenance -------------------------------------------------------------------
    def decisions_on_trace(self, trace_id: int) -> list[CurationRow]:
        """The curation decisions taken on one trace (who saw it, and whether they kept it), in
        id order: the first half of a trace's provenance, for the dashboard's trace browser."""
        return self._rows(CurationRow, "curation_decisions", "WHERE trace_id=?", (trace_id,))

    def training_generations_of(self, trace_id: int) -> list[int]:
        """The generations whose training set holds ``trace_id`` (the models trained on it), in
        order: the second half of a trace's provenance."""
        rows = self._execute(
            "SELECT generation FROM training_sets WHERE trace_id=? ORDER BY generation", (trace_id,))
        return [int(r[0]) for r in rows]

