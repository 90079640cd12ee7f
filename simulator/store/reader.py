"""Read access to a run store: what auditors and dashboards use, never writing.

Readers open the database read-only, so a dashboard can watch a run that is still being written.
The questions themselves are the named methods of :class:`~simulator.store._queries.RunQueries`,
which the writer shares.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from simulator.errors import StoreError
from simulator.store._queries import RunQueries
from simulator.store._writer import DB_NAME, RunWriter, connect, read_schema_version
from simulator.store.schema import SCHEMA_VERSION


class RunReader(RunQueries):
    """Read-only view of one run directory (the named reads are :class:`RunQueries`')."""

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

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run a read-only SQL query: the escape hatch for tests and ad-hoc analysis of a run.

        Outside the store, code in ``simulator/``, ``auditors/`` and ``dashboards/`` asks through
        the named methods instead (``tests/test_layers.py`` enforces it), so that every question
        the project asks the store is written, documented and tested once, in the store.
        """
        return [dict(r) for r in self.conn.execute(sql, args).fetchall()]
