"""OS and SQLite errors as one-line messages that name the path and what to do.

A full disk, a read-only file system or a directory without write permission is the user's to
fix, not a bug, so it must read as ``error: PATH: no space left on the device (committing
generation 3); free space ..., then run the same command again`` rather than as a traceback of
``sqlite3.OperationalError: database or disk is full``. SQLite reports these as error codes
(``SQLITE_FULL``, ``SQLITE_READONLY``, ...), Python as ``errno`` values; both are mapped here, in
one place, for the store's reader and writer and for the loop (which also writes adapters and,
through the model code, the model cache).

Only the errors a user can act on are translated; anything else (a programming error, an SQL
mistake) is returned as None and the caller re-raises it, so real bugs keep their traceback.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from iterdeploy.simulator.errors import CorruptStoreError, StorageError, StoreError

RESUME_HINT = "then run the same `iterdeploy run` again: it resumes from the last committed generation"
"""What to do after fixing the disk during a run: nothing committed is lost."""

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_NOT_ALLOWED = (errno.EACCES, errno.EPERM)

# SQLite's primary result codes (the low byte of an extended code), https://sqlite.org/rescode.html
SQLITE_PERM = 3
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26


def os_error(exc: OSError, doing: str, remedy: str, path: str | Path | None = None) -> StorageError | None:
    """``exc`` as a :class:`StorageError` naming its path, or None when it is not one a user fixes.

    Args:
        exc: The error the operating system raised.
        doing: What was being done, in a few words (``saving the adapter of generation 2``).
        remedy: What to do about a directory that cannot be written (``pass another --out``).
        path: The path to name when ``exc`` carries none.
    """
    where = exc.filename if exc.filename is not None else path
    reason = exc.strerror or str(exc)
    if exc.errno in _NO_SPACE:
        return StorageError(f"{where}: no space left on the device ({doing}); free space on it, "
                            f"{RESUME_HINT}")
    if exc.errno == errno.EROFS:
        return StorageError(f"{where}: the file system is read-only ({doing}); {remedy}")
    if exc.errno in _NOT_ALLOWED:
        return StorageError(f"{where}: permission denied ({doing}); {remedy}")
    if exc.errno in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
        return StorageError(f"{where}: {reason} ({doing}); a path in the run directory is a file "
                            f"where a directory belongs, or the reverse: {remedy}")
    if exc.errno in (errno.EIO, errno.ENAMETOOLONG, errno.ELOOP, errno.EMFILE, errno.ENFILE):
        return StorageError(f"{where}: {reason} ({doing}); check the disk and the path")
    return None


def sqlite_error(exc: sqlite3.Error, db: Path, doing: str) -> StoreError | None:
    """``exc`` as a one-line :class:`StoreError` naming ``db``, or None for a programming error.

    Args:
        exc: What :mod:`sqlite3` raised (its ``sqlite_errorcode`` tells the cause).
        db: The database file.
        doing: What was being done (``reading table traces``, ``committing generation 1``).
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    if primary == SQLITE_FULL:
        return StorageError(f"{db}: no space left on the device ({doing}: {exc}); free space on it, "
                            f"{RESUME_HINT}")
    if primary in (SQLITE_READONLY, SQLITE_PERM):
        return StorageError(f"{db}: cannot write the run store ({doing}: {exc}); make the run "
                            "directory and its files writable, or work on a copy (cp -r)")
    if primary == SQLITE_CANTOPEN:
        return StorageError(f"{db}: cannot open the run store ({doing}: {exc}); check that the run "
                            "directory and its files exist and are readable")
    if primary == SQLITE_IOERR:
        return StorageError(f"{db}: the disk failed to read or write ({doing}: {exc}); check the "
                            "disk, then try again")
    if primary in (SQLITE_BUSY, SQLITE_LOCKED):
        return StoreError(f"{db}: the run store is busy ({doing}: {exc}); another process is "
                          "writing it, try again when it is done")
    if primary in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return CorruptStoreError(f"{db}: not a readable run store, the file is damaged ({doing}: "
                                 f"{exc}); restore the run directory from a copy, or run the "
                                 "scenario again into a new --out")
    return None
