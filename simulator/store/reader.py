"""Read access to a run store: what auditors and dashboards use, never writing.

Readers open the database read-only, so a dashboard can watch a run that is still being written.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, TypeVar

from simulator.errors import StoreError
from simulator.store._writer import DB_NAME, RunWriter, connect, read_schema_version
from simulator.store.schema import (
    SCHEMA_VERSION,
    TABLES,
    CurationRow,
    EvaluationRow,
    FindingRow,
    GenerationRow,
    ModelRow,
    RunRow,
    TaskRow,
    TraceRow,
    _Row,
)

R = TypeVar("R", bound=_Row)


class RunReader:
    """Read-only view of one run directory."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        """Read-only connection, opened on first use after checking the directory."""
        if self._conn is None:
            db = self.run_dir / DB_NAME
            if not db.is_file():
                raise StoreError(
                    f"{self.run_dir}: not a run directory (no {DB_NAME}); "
                    "pass the directory that `iterdeploy run` printed"
                )
            conn = connect(db, read_only=True)
            version = read_schema_version(conn, db)
            if version is None:
                conn.close()
                raise StoreError(
                    f"{db}: not a readable run store (it records no schema version, so "
                    "iterdeploy did not write it)"
                )
            if version < SCHEMA_VERSION:
                # an older store: bring it up to date once (a writer opens it read-write)
                conn.close()
                writer = RunWriter(self.run_dir)
                try:
                    writer.conn  # noqa: B018 - opening migrates
                except sqlite3.OperationalError as exc:
                    raise StoreError(
                        f"{db}: schema version {version} needs migrating to {SCHEMA_VERSION}, "
                        f"but the file cannot be written ({exc})"
                    ) from exc
                finally:
                    writer.close()
                conn = connect(db, read_only=True)
                version = read_schema_version(conn, db)
            if version != SCHEMA_VERSION:
                conn.close()
                raise StoreError(
                    f"{db}: schema version {version} is newer than this iterdeploy "
                    f"(version {SCHEMA_VERSION}); upgrade iterdeploy to read it"
                )
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> RunReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, model: type[R], table: str, where: str = "", args: tuple[Any, ...] = ()) -> list[R]:
        key = ", ".join(TABLES[table][1])
        cur = self.conn.execute(f"SELECT * FROM {table} {where} ORDER BY {key}", args)
        return [model.model_validate(dict(r)) for r in cur.fetchall()]

    def run(self) -> RunRow:
        """The run row."""
        rows = self._rows(RunRow, "runs")
        if not rows:
            raise StoreError(f"{self.run_dir}: the store holds no run row")
        return rows[0]

    def scenario(self) -> dict[str, Any]:
        """The resolved scenario as a plain dict."""
        return dict(json.loads(self.run().scenario_json))

    def generations(self) -> list[GenerationRow]:
        """Committed generations in order."""
        return self._rows(GenerationRow, "generations")

    def tasks(self, pool: str | None = None) -> list[TaskRow]:
        """Tasks, optionally of one pool (``deploy`` or ``eval``)."""
        if pool is None:
            return self._rows(TaskRow, "tasks")
        return self._rows(TaskRow, "tasks", "WHERE pool=?", (pool,))

    def traces(self, generation: int | None = None, purpose: str | None = None) -> list[TraceRow]:
        """Traces, filtered by generation and/or purpose."""
        clauses: list[str] = []
        args: list[object] = []
        if generation is not None:
            clauses.append("generation=?")
            args.append(generation)
        if purpose is not None:
            clauses.append("purpose=?")
            args.append(purpose)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._rows(TraceRow, "traces", where, tuple(args))

    def decisions(self, generation: int | None = None) -> list[CurationRow]:
        """Curation decisions, optionally of one generation."""
        if generation is None:
            return self._rows(CurationRow, "curation_decisions")
        return self._rows(CurationRow, "curation_decisions", "WHERE generation=?", (generation,))

    def population(self, generation: int) -> dict[str, Any]:
        """The user population that curated ``generation``: graph, policies, changes."""
        row = self.conn.execute(
            "SELECT record_json FROM populations WHERE generation=?", (generation,)
        ).fetchone()
        if row is None:
            raise StoreError(f"{self.run_dir}: no population recorded for generation {generation}")
        return json.loads(row[0])

    def training_set(self, generation: int) -> list[int]:
        """Trace ids generation ``generation`` was trained on."""
        cur = self.conn.execute(
            "SELECT trace_id FROM training_sets WHERE generation=? ORDER BY trace_id", (generation,)
        )
        return [int(r[0]) for r in cur.fetchall()]

    def models(self) -> list[ModelRow]:
        """The model lineage."""
        return self._rows(ModelRow, "models")

    def evaluations(self, generation: int | None = None) -> list[EvaluationRow]:
        """Evaluation results."""
        if generation is None:
            return self._rows(EvaluationRow, "evaluations")
        return self._rows(EvaluationRow, "evaluations", "WHERE generation=?", (generation,))

    def findings(self) -> list[FindingRow]:
        """Findings written by auditors."""
        return self._rows(FindingRow, "findings")

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run a read-only SQL query (for dashboards and ad-hoc analysis)."""
        return [dict(r) for r in self.conn.execute(sql, args).fetchall()]
