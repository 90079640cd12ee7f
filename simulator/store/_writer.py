"""The only code that writes a run store.

Like every module of ``simulator/store/``, it may hold SQL; nothing outside the store does.

A generation's rows (tasks, traces, decisions, training set, model, evaluations, the generation row
itself) are written in one SQLite transaction, so a run killed at any moment holds whole
generations only and resumes from the last committed one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from simulator.errors import StoreError
from simulator.store._queries import RunQueries
from simulator.store.migrations import migrate
from simulator.store.schema import (
    INDEXES,
    SCHEMA_VERSION,
    TABLES,
    CurationRow,
    EvaluationRow,
    FindingRow,
    GenerationRow,
    ModelRow,
    PopulationRow,
    RunRow,
    RunStatus,
    TaskRow,
    TraceRow,
    TrainingExampleRow,
    _Row,
    create_table_sql,
)

DB_NAME = "run.sqlite"


def connect(db_path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open the store database (WAL mode for writers, URI read-only mode for readers)."""
    if read_only:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(db_path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.row_factory = sqlite3.Row
    return conn


def read_schema_version(conn: sqlite3.Connection, db_path: Path) -> int | None:
    """The store's schema version, or None for a database that has none yet.

    Shared by the writer and the reader so both treat a damaged file the same way.

    Raises:
        StoreError: when the file is not an SQLite database (corrupt, or something else); the
            connection is closed first.
    """
    try:
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        row = (
            conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if has_meta else None
        )
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{db_path}: not a readable run store ({exc})") from exc
    return int(row[0]) if row else None


@dataclass
class GenerationBundle:
    """Everything one generation produced, committed together."""

    generation: GenerationRow
    tasks: list[TaskRow] = field(default_factory=list)
    traces: list[TraceRow] = field(default_factory=list)
    decisions: list[CurationRow] = field(default_factory=list)
    population: list[PopulationRow] = field(default_factory=list)
    training_set: list[TrainingExampleRow] = field(default_factory=list)
    models: list[ModelRow] = field(default_factory=list)
    evaluations: list[EvaluationRow] = field(default_factory=list)


class RunWriter(RunQueries):
    """Creates a run store and appends whole generations to it.

    It also answers the named reads of :class:`RunQueries` on its own connection: the loop reads
    back what earlier generations committed (to resume, extend a run, or pool data) through the
    same methods as every reader.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection (opened and migrated on first use)."""
        if self._conn is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            db = self.run_dir / DB_NAME
            try:
                conn = connect(db)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{db}: not a readable run store ({exc})") from exc
            version = read_schema_version(conn, db)
            if version is not None and version < SCHEMA_VERSION:
                version = migrate(conn, version)
            if version is not None and version != SCHEMA_VERSION:
                conn.close()
                raise StoreError(
                    f"{self.run_dir}: store schema version {version} is newer than this "
                    f"iterdeploy (version {SCHEMA_VERSION}); upgrade iterdeploy to open it"
                )
            with conn:
                if version is None:
                    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                    conn.execute(
                        "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                    )
                for table in TABLES:
                    conn.execute(create_table_sql(table))
                for index in INDEXES:
                    conn.execute(index)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _insert(self, table: str, rows: Sequence[_Row]) -> None:
        if not rows:
            return
        cols = list(TABLES[table][0].model_fields)
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        self.conn.executemany(sql, [tuple(getattr(r, c) for c in cols) for r in rows])

    def create_run(self, run: RunRow) -> None:
        """Record the run row (once)."""
        with self.conn:
            self._insert("runs", [run])

    def set_status(self, status: RunStatus) -> None:
        """Move the run to ``status``."""
        with self.conn:
            self.conn.execute("UPDATE runs SET status=?", (status,))

    def commit_generation(self, bundle: GenerationBundle) -> None:
        """Write one generation atomically: all of it or, on any error, none of it."""
        with self.conn:
            self._insert("tasks", bundle.tasks)
            self._insert("traces", bundle.traces)
            self._insert("curation_decisions", bundle.decisions)
            self._insert("populations", bundle.population)
            self._insert("training_sets", bundle.training_set)
            self._insert("models", bundle.models)
            self._insert("evaluations", bundle.evaluations)
            self._insert("generations", [bundle.generation])

    def extend_run(
        self, scenario_json: str, scenario_yaml: str, finished: GenerationBundle | None
    ) -> None:
        """Give the run its new, larger scenario and, for a run whose last generation trained no
        model, that generation's completion (``finished``: reference tasks and traces, the next
        model's training set and row, and its generation row with the new training-set size),
        in one transaction: a crash leaves the run as it was."""
        with self.conn:
            if finished is not None:
                self._insert("tasks", finished.tasks)
                self._insert("traces", finished.traces)
                self._insert("training_sets", finished.training_set)
                self._insert("models", finished.models)
                self.conn.execute("UPDATE generations SET train_size=? WHERE generation=?",
                                  (finished.generation.train_size, finished.generation.generation))
            self.conn.execute("UPDATE runs SET scenario_json=?, scenario_yaml=?",
                              (scenario_json, scenario_yaml))

    def replace_findings(self, auditor: str, findings: Sequence[FindingRow]) -> None:
        """Replace every finding of ``auditor`` with ``findings`` (re-auditing is idempotent)."""
        with self.conn:
            self.conn.execute("DELETE FROM findings WHERE auditor=?", (auditor,))
            start = self.conn.execute("SELECT COALESCE(MAX(finding_id), 0) FROM findings").fetchone()[0]
            rows = [f.model_copy(update={"finding_id": start + i + 1}) for i, f in enumerate(findings)]
            self._insert("findings", rows)

    def next_id(self, table: str, column: str) -> int:
        """Next counter id for ``table`` (ids are counters, never random)."""
        value = self.conn.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}").fetchone()[0]
        return int(value) + 1


def dumps(value: object) -> str:
    """Canonical JSON for store columns (sorted keys, so equal data gives equal bytes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
