"""Is a run store whole? Checked when it is opened, before anything is read from or written to it.

A run directory is an artefact people copy, archive and sometimes edit by hand. A garbled page, a
dropped table, a value of the wrong type or a JSON column that no longer parses used to surface as a
traceback deep inside ``summary``, ``audit`` or the dashboard, after ``audit`` may already have
written findings into the damaged file. Here every reader (:class:`~iterdeploy.simulator.store.RunReader`)
and writer (:class:`~iterdeploy.simulator.store.RunWriter`) checks the store on open and refuses it with one
line naming the table, and the row where one is to blame, so nothing is read from it and nothing
is written to it. Only SQL that reads is run, so checking changes no byte of the file.

The checks cost one pass over the file (SQLite's ``quick_check``) and one scan of each table with
the type of every column compared in SQL: about 40 ms for a 17 MB run.
"""

from __future__ import annotations

import json
import sqlite3
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from iterdeploy.simulator.errors import CorruptStoreError
from iterdeploy.simulator.store._oserrors import sqlite_error
from iterdeploy.simulator.store.schema import JSON_COLUMNS, TABLES

REMEDY = "restore the run directory from a copy, or run the scenario again into a new --out"
"""What to do about a damaged store (there is no repairing a run's rows from what is left)."""


def _quote(value: object, limit: int = 40) -> str:
    """A stored value for a message: its repr, cut so a message stays one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _column_rules(table: str, model: type[BaseModel]) -> list[tuple[str, str, str]]:
    """(column, SQL condition true for a good value, what a good value is) per column of
    ``table``, derived from its row model as the table itself is (``create_table_sql``)."""
    rules = []
    json_columns = JSON_COLUMNS.get(table, {})
    for name, info in model.model_fields.items():
        annotation: Any = info.annotation
        args = get_args(annotation)
        optional = get_origin(annotation) in (Union, types.UnionType) and type(None) in args
        if optional:
            annotation = next(a for a in args if a is not type(None))
        if annotation is bool:
            condition, expected = f"typeof({name}) = 'integer' AND {name} IN (0, 1)", "0 or 1"
        elif annotation is int:
            condition, expected = f"typeof({name}) = 'integer'", "an integer"
        elif annotation is float:
            condition, expected = f"typeof({name}) IN ('real', 'integer')", "a number"
        elif get_origin(annotation) is Literal:
            allowed = get_args(annotation)
            listed = ", ".join("'" + str(a).replace("'", "''") + "'" for a in allowed)
            condition = f"typeof({name}) = 'text' AND {name} IN ({listed})"
            expected = "one of " + ", ".join(map(str, allowed))
        elif name in json_columns:
            # CASE, not AND: SQLite may evaluate both sides of an AND, and json_type raises on
            # text that is not JSON
            shape = f"json_type({name}) = 'object'" if json_columns[name] else "1"
            condition = (f"CASE WHEN typeof({name}) = 'text' AND json_valid({name}) THEN {shape} "
                         "ELSE 0 END")
            expected = "a JSON object" if json_columns[name] else "valid JSON"
        else:
            condition, expected = f"typeof({name}) = 'text'", "text"
        if optional:
            condition, expected = f"{name} IS NULL OR ({condition})", f"{expected} or NULL"
        rules.append((name, f"COALESCE(({condition}), 0)", expected))
    return rules


def _python_json_functions(conn: sqlite3.Connection) -> None:
    """``json_valid`` and ``json_type`` for an SQLite built without its JSON functions (they are
    built in since 3.38): the same answers, computed in Python."""

    def parsed(text: object) -> tuple[bool, Any]:
        if not isinstance(text, str):
            return False, None
        try:
            return True, json.loads(text)
        except ValueError:
            return False, None

    def json_valid(text: object) -> int:
        return int(parsed(text)[0])

    def json_type(text: object) -> str | None:
        ok, value = parsed(text)
        return ("object" if isinstance(value, dict) else "array" if isinstance(value, list)
                else "other") if ok else None

    functions: list[tuple[str, Callable[[object], int | str | None]]] = [
        ("json_valid", json_valid), ("json_type", json_type)]
    for fn_name, fn in functions:
        conn.create_function(fn_name, 1, fn, deterministic=True)


def check_pages(conn: sqlite3.Connection, db: Path) -> None:
    """Refuse a file with garbled pages (SQLite's ``quick_check``), naming the damaged table.

    Raises:
        CorruptStoreError: Naming the table whose pages (or indexes) are damaged, and SQLite's
            account of the first problem.
    """
    try:
        problems = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        translated = sqlite_error(exc, db, "checking the file")
        if translated is not None and not isinstance(translated, CorruptStoreError):
            raise translated from None
        problems = [str(exc)]
    if problems == ["ok"]:
        return
    table = _damaged_table(conn)
    where = f"table {table} is damaged" if table else "the file is damaged"
    raise CorruptStoreError(f"{db}: {where} ({problems[0][:120]}); {REMEDY}")


def _damaged_table(conn: sqlite3.Connection) -> str | None:
    """The first table (the store's own, then any other) whose pages or indexes fail SQLite's
    check, or None when no one table is to blame (the file's header, its free pages)."""
    try:
        others = [str(r[0]) for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()]
    except sqlite3.DatabaseError:
        others = []
    for table in [*TABLES, "meta", *others]:
        try:
            found = [str(r[0]) for r in conn.execute(f'PRAGMA quick_check("{table}")').fetchall()]
        except sqlite3.DatabaseError:
            return table
        if found != ["ok"]:
            return table
    return None


def check_tables(conn: sqlite3.Connection, db: Path) -> None:
    """Refuse a store whose tables, columns or rows are not what the schema says.

    Every table of :data:`~iterdeploy.simulator.store.schema.TABLES` must exist with exactly its columns;
    every value must have its column's type (an integer, 0 or 1 for a flag, one of the allowed
    words, valid JSON in a JSON column, an object where one is read as an object); and the
    ``runs`` table holds at most one row, and one once any generation is committed.

    Raises:
        CorruptStoreError: Naming the table, and the row (by its key) and column at fault.
    """
    try:
        conn.execute("SELECT json_valid('{}'), json_type('{}')").fetchone()
    except sqlite3.OperationalError:
        _python_json_functions(conn)
    try:
        for table, (model, key) in TABLES.items():
            _check_columns(conn, db, table, model)
            _check_rows(conn, db, table, model, key)
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        if runs > 1:
            raise CorruptStoreError(f"{db}: table runs holds {runs} run rows, not one; {REMEDY}")
        if runs == 0:
            committed = conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
            if committed:
                raise CorruptStoreError(
                    f"{db}: table runs holds no run row, yet {committed} generation(s) are "
                    f"committed; {REMEDY}")
    except sqlite3.DatabaseError as exc:
        translated = sqlite_error(exc, db, "checking the tables")
        if translated is None:
            raise CorruptStoreError(f"{db}: the tables cannot be read ({exc}); {REMEDY}") from None
        raise translated from None


def _check_columns(conn: sqlite3.Connection, db: Path, table: str, model: type[BaseModel]) -> None:
    present = [str(r[1]) for r in conn.execute(f'PRAGMA table_info("{table}")').fetchall()]
    if not present:
        raise CorruptStoreError(f"{db}: table {table} is missing (dropped, or never created); "
                                f"{REMEDY}")
    expected = list(model.model_fields)
    missing = [c for c in expected if c not in present]
    extra = [c for c in present if c not in expected]
    if missing:
        raise CorruptStoreError(f"{db}: table {table} has no column {missing[0]}; {REMEDY}")
    if extra:
        raise CorruptStoreError(f"{db}: table {table} has a column {extra[0]} that this schema "
                                f"does not know; {REMEDY}")


def _check_rows(
    conn: sqlite3.Connection, db: Path, table: str, model: type[BaseModel], key: tuple[str, ...]
) -> None:
    """One scan of ``table`` for a row with any bad value; that row is then looked at column by
    column, to name the column."""
    rules = _column_rules(table, model)
    bad_any = " OR ".join(f"NOT {condition}" for _, condition, _ in rules)
    row = conn.execute(f"SELECT rowid FROM {table} WHERE {bad_any} LIMIT 1").fetchone()
    if row is None:
        return
    rowid = row[0]
    checks = ", ".join(condition for _, condition, _ in rules)
    verdicts = conn.execute(f"SELECT {checks} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
    column, _, expected = next(r for r, ok in zip(rules, verdicts, strict=True) if not ok)
    keys = conn.execute(f"SELECT {', '.join(key)}, typeof({column}), {column} FROM {table} "
                        "WHERE rowid = ?", (rowid,)).fetchone()
    where = ", ".join(f"{k}={_quote(v)}" for k, v in zip(key, keys[: len(key)], strict=True))
    kind, value = keys[len(key)], keys[len(key) + 1]
    shown = f"{kind} {_quote(value)}" if value is not None else "NULL"
    raise CorruptStoreError(f"{db}: table {table}, row {where}: column {column} holds {shown}, "
                            f"not {expected}; {REMEDY}")


def check_store(conn: sqlite3.Connection, db: Path) -> None:
    """Both checks: the file's pages, then its tables and rows."""
    check_pages(conn, db)
    check_tables(conn, db)
