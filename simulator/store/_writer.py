"""The only code that writes a run store.

Like every module of ``simulator/store/``, it may hold SQL; nothing outside the store does.

A generation's rows (tasks, traces, decisions, training set, model, evaluations, the generation row
itself) are written in one SQLite transaction, so a run killed at any moment holds whole
generations only and resumes from the last committed one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from iterdeploy.simulator.errors import CorruptStoreError, StorageError, StoreError
from iterdeploy.simulator.store._check import REMEDY, check_pages, check_tables
from iterdeploy.simulator.store._oserrors import os_error, sqlite_error
from iterdeploy.simulator.store._queries import RunQueries
from iterdeploy.simulator.store.migrations import migrate
from iterdeploy.simulator.store.schema import (
    DB_NAME,
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


def connect(db_path: Path, *, read_only: bool = False, immutable: bool = False) -> sqlite3.Connection:
    """Open the store database (WAL mode for writers, URI read-only mode for readers).

    The reader's URI is built by :meth:`~pathlib.Path.as_uri`, which percent-encodes the path: a
    run directory named ``a#b`` or ``a?b`` would otherwise be cut at the ``#`` or ``?`` and
    SQLite would open another file. ``immutable`` (SQLite's ``immutable=1``) is for a run archived
    read-only whose write-ahead log is gone, which SQLite cannot otherwise open (see
    :class:`~iterdeploy.simulator.store.RunReader`).
    """
    if read_only:
        uri = db_path.absolute().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
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
        CorruptStoreError: when the file is not an SQLite database (damaged, or something else)
            or its version is not a number; the connection is closed first.
        StorageError: when the operating system refuses to read it.
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
        translated = sqlite_error(exc, db_path, "reading the schema version")
        if isinstance(translated, StorageError):
            raise translated from None
        raise CorruptStoreError(
            f"{db_path}: not a readable run store ({exc}); the file is damaged or is not a run "
            f"store: {REMEDY}") from None
    if row is None:
        return None
    try:
        return int(row[0])
    except (TypeError, ValueError):
        conn.close()
        raise CorruptStoreError(f"{db_path}: table meta, row key='schema_version': holds "
                                f"{row[0]!r:.40}, not a version number; {REMEDY}") from None


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
        """The open connection (opened, checked and migrated on first use).

        An existing store is checked before anything is written to it (its pages before a
        migration, its tables and rows after), so a damaged store is refused, never extended
        with new rows or recreated tables (``_check``).

        Raises:
            CorruptStoreError: When the store is damaged; nothing was written.
            StorageError: When the directory or the file cannot be created, opened or written.
        """
        if self._conn is None:
            db = self.run_dir / DB_NAME
            if self.run_dir.exists() and not self.run_dir.is_dir():
                raise StorageError(f"{self.run_dir}: not a directory; pass a run directory (or a "
                                   "new path) with --out")
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise (os_error(exc, "creating the run directory",
                                "pass a writable directory with --out", self.run_dir)
                       or exc) from None
            try:
                conn = connect(db)
            except sqlite3.DatabaseError as exc:
                raise self._refusal(exc, "opening the run store") from exc
            version = read_schema_version(conn, db)
            try:
                self._prepare(conn, db, version)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _prepare(self, conn: sqlite3.Connection, db: Path, version: int | None) -> None:
        """Check an existing store, migrate an old one, and create what a new one lacks."""
        try:
            if version is not None:
                check_pages(conn, db)
            if version is not None and version < SCHEMA_VERSION:
                version = migrate(conn, version)
            if version is not None and version != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.run_dir}: store schema version {version} is newer than this "
                    f"iterdeploy (version {SCHEMA_VERSION}); upgrade iterdeploy to open it"
                )
            if version is not None:
                check_tables(conn, db)
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
        except sqlite3.DatabaseError as exc:
            raise self._refusal(exc, "opening the run store") from exc

    def _refusal(self, exc: sqlite3.Error, doing: str) -> StoreError:
        """``exc`` as the one-line error a user sees (a damaged file when SQLite names no cause
        a user can fix)."""
        db = self.run_dir / DB_NAME
        return sqlite_error(exc, db, doing) or CorruptStoreError(
            f"{db}: not a readable run store ({doing}: {exc}); {REMEDY}")

    @contextmanager
    def _writing(self, doing: str) -> Iterator[None]:
        """Report what SQLite refuses while writing (a full disk, a read-only file, a busy store)
        in one line naming the database and ``doing``; nothing of the transaction is kept."""
        try:
            yield
        except sqlite3.Error as exc:
            translated = sqlite_error(exc, self.run_dir / DB_NAME, doing)
            if translated is None:
                raise
            raise translated from exc

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
        with self._writing("recording the run"), self.conn:
            self._insert("runs", [run])

    def set_status(self, status: RunStatus) -> None:
        """Move the run to ``status``."""
        with self._writing(f"recording the run's status {status!r}"), self.conn:
            self.conn.execute("UPDATE runs SET status=?", (status,))

    def commit_generation(self, bundle: GenerationBundle) -> None:
        """Write one generation atomically: all of it or, on any error, none of it."""
        doing = f"committing generation {bundle.generation.generation}"
        with self._writing(doing), self.conn:
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
        with self._writing("extending the run"), self.conn:
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
        with self._writing(f"storing the findings of {auditor}"), self.conn:
            self.conn.execute("DELETE FROM findings WHERE auditor=?", (auditor,))
            start = self.conn.execute("SELECT COALESCE(MAX(finding_id), 0) FROM findings").fetchone()[0]
            rows = [f.model_copy(update={"finding_id": start + i + 1}) for i, f in enumerate(findings)]
            self._insert("findings", rows)

    def next_id(self, table: str, column: str) -> int:
        """Next counter id for ``table`` (ids are counters, never random)."""
        value = self._execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")[0][0]
        return int(value) + 1


def dumps(value: object) -> str:
    """Canonical JSON for store columns (sorted keys, so equal data gives equal bytes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
