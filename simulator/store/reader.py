"""Read access to a run store: what auditors and dashboards use, never writing.

Readers open the database read-only, so a dashboard can watch a run that is still being written,
and check it before reading (``_check``): a damaged store is refused in one line naming the table
and row, and checking writes nothing. A run archived read-only without SQLite's ``-shm`` index is
opened as an immutable file (below). The questions themselves are the named methods of
:class:`~iterdeploy.simulator.store._queries.RunQueries`, which the writer shares.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from iterdeploy.simulator.errors import StorageError, StoreError
from iterdeploy.simulator.store._check import check_store
from iterdeploy.simulator.store._lock import writer_is_alive
from iterdeploy.simulator.store._oserrors import SQLITE_CANTOPEN, SQLITE_READONLY, os_error, sqlite_error
from iterdeploy.simulator.store._queries import RunQueries
from iterdeploy.simulator.store._writer import DB_NAME, RunWriter, connect, read_schema_version
from iterdeploy.simulator.store.schema import SCHEMA_VERSION

READ_REMEDY = "make it readable (chmod u+r, and u+x on directories), or read a copy"
"""What to do about a run directory or store file the reader may not open."""


def _is_store(run_dir: Path, db: Path) -> None:
    """Refuse, naming the path, a run directory that is not one or may not be read."""
    try:
        if not run_dir.exists():
            raise StoreError(f"{run_dir}: not a run directory (no such directory); pass the "
                             "directory that `iterdeploy run` printed")
        if not run_dir.is_dir():
            hint = f" (pass its directory, {run_dir.parent})" if run_dir.name == DB_NAME else ""
            raise StoreError(f"{run_dir}: not a directory; pass the run directory that holds "
                             f"{DB_NAME}{hint}")
        if not db.is_file():
            raise StoreError(f"{run_dir}: not a run directory (no {DB_NAME}); pass the directory "
                             "that `iterdeploy run` printed")
    except OSError as exc:
        raise (os_error(exc, "opening the run directory", READ_REMEDY, run_dir) or exc) from None
    if not os.access(db, os.R_OK):
        raise StorageError(f"{db}: permission denied (opening the run store); {READ_REMEDY}")


def _wal_size(db: Path) -> int:
    """Bytes in the store's write-ahead log (0 when there is none)."""
    try:
        return os.stat(db.with_name(db.name + "-wal")).st_size
    except FileNotFoundError:
        return 0


def open_read_only(run_dir: Path, db: Path) -> sqlite3.Connection:
    """A read-only connection to ``db``, whose first read has succeeded.

    A store in WAL mode needs its ``-shm`` index, which SQLite creates beside the database on
    first read. A run archived read-only (the directory, or the file system, cannot be written)
    whose ``-shm`` file was not kept cannot get one, and SQLite refuses even to read it
    (``SQLITE_READONLY_DIRECTORY`` or ``SQLITE_CANTOPEN``). When no write-ahead log is left to
    read either (no ``-wal`` file, or an empty one: every committed row is in the database file)
    and no writer holds the run, the file is opened with SQLite's own ``immutable=1``, which
    reads it as it stands, without the index and without locks. A non-empty ``-wal`` holds
    committed rows that only the index can find, so that case is refused with what to do.

    Raises:
        StorageError: When the file cannot be opened, or the archived log cannot be read.
        CorruptStoreError: When the file is not a readable database.
    """
    conn = connect(db, read_only=True)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.DatabaseError as exc:
        conn.close()
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        if code in (SQLITE_READONLY, SQLITE_CANTOPEN):
            if _wal_size(db) == 0 and not writer_is_alive(run_dir):
                return _open_immutable(db)
            if _wal_size(db) > 0:
                raise StorageError(
                    f"{db}: its write-ahead log {DB_NAME}-wal holds committed rows, but the "
                    f"{DB_NAME}-shm index is missing and the run directory cannot be written "
                    "to rebuild it; read a writable copy (cp -r RUN_DIR COPY)") from None
        raise (sqlite_error(exc, db, "opening the run store") or exc) from None


def _open_immutable(db: Path) -> sqlite3.Connection:
    conn = connect(db, read_only=True, immutable=True)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise (sqlite_error(exc, db, "opening the archived run store") or exc) from None
    return conn


class RunReader(RunQueries):
    """Read-only view of one run directory (the named reads are :class:`RunQueries`')."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        """Read-only connection, opened on first use after checking the directory and the store.

        Raises:
            StoreError: When the directory is not a run directory or its schema is unknown.
            CorruptStoreError: When the store is damaged (``_check``); nothing was read.
            StorageError: When the operating system refuses to open it.
        """
        if self._conn is None:
            db = self.run_dir / DB_NAME
            _is_store(self.run_dir, db)
            conn = open_read_only(self.run_dir, db)
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
                except StorageError as exc:
                    raise StoreError(
                        f"{db}: schema version {version} needs migrating to {SCHEMA_VERSION}, "
                        f"but the file cannot be written ({exc})"
                    ) from exc
                finally:
                    writer.close()
                conn = open_read_only(self.run_dir, db)
                version = read_schema_version(conn, db)
            if version != SCHEMA_VERSION:
                conn.close()
                raise StoreError(
                    f"{db}: schema version {version} is newer than this iterdeploy "
                    f"(version {SCHEMA_VERSION}); upgrade iterdeploy to read it"
                )
            try:
                check_store(conn, db)
            except BaseException:
                conn.close()
                raise
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

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run a read-only SQL query: the escape hatch for tests and ad-hoc analysis of a run.

        Outside the store, code in ``simulator/``, ``auditors/`` and ``dashboards/`` asks through
        the named methods instead (``tests/test_layers.py`` enforces it), so that every question
        the project asks the store is written, documented and tested once, in the store.
        """
        return [dict(r) for r in self.conn.execute(sql, args).fetchall()]
