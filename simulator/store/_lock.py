"""One writer per run directory: an OS lock on ``RUN_DIR/writer.lock``.

Two processes running the same run directory used to race: both opened the store, the loser died
on a duplicate row and then marked the winner's run ``error``. The writer now holds an exclusive
:func:`fcntl.flock` on a lock file in the directory for as long as it runs, and a second writer is
refused before it opens the store, so it changes nothing. The kernel releases the lock when the
process exits in any way (``kill -9`` included), so there is never a stale lock to clean up; and
for the same reason a run whose status is still ``started`` but whose lock nobody holds was
abandoned by a dead writer (:func:`writer_is_alive`).

Readers never take this lock. Only the loop's run, resume and extend path does; auditors add
findings through SQLite's own locking and are not refused either.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.store._oserrors import os_error

LOCK_NAME = "writer.lock"
"""The lock file inside a run directory (empty but for the holder's pid; never deleted)."""

ACQUIRE_GRACE_S = 0.5
"""How long a writer retries a lock it cannot get at once. A reader asking whether a writer is
alive holds a shared lock for microseconds; the grace keeps such a probe from ever refusing a
writer, and is short enough that a refused writer is still told at once."""


class RunLockedError(StoreError):
    """Another live process is writing this run directory."""


def _holder_pid(path: Path) -> str:
    """`` (pid N)`` for the message when the holder wrote its pid, else nothing."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""


def _try_flock(fd: int, operation: int, grace_s: float) -> bool:
    """``flock(fd, operation | LOCK_NB)``, retried for ``grace_s``; True once it is held."""
    deadline = time.monotonic() + grace_s
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


@contextmanager
def writer_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold the run directory's writer lock for the block (creating the directory if needed).

    Raises:
        RunLockedError: At once (after :data:`ACQUIRE_GRACE_S`), when another process holds it;
            nothing in the directory is changed.
        StoreError: When the directory or its lock file cannot be created or opened.
    """
    directory = Path(run_dir)
    path = directory / LOCK_NAME
    try:
        if directory.exists() and not directory.is_dir():
            raise StoreError(f"{directory}: not a directory; pass a run directory (or a new path) "
                             "with --out")
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        translated = os_error(exc, f"opening the run directory's lock file {path.name}",
                              "pass a writable directory with --out", path)
        raise translated or StoreError(
            f"{directory}: cannot open the run directory's lock file {path.name} "
            f"({exc.strerror or exc}); pass a writable directory with --out"
        ) from None
    try:
        if not _try_flock(fd, fcntl.LOCK_EX, ACQUIRE_GRACE_S):
            raise RunLockedError(
                f"{directory}: another process{_holder_pid(path)} is writing this run directory; "
                "wait for it to finish, or use another --out directory"
            )
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            pass  # the pid only makes a refusal's message friendlier; a full disk is reported
            # where it matters, by the store
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def writer_is_alive(run_dir: str | Path) -> bool:
    """Whether some process holds ``run_dir``'s writer lock now; changes nothing on disk.

    A directory without a lock file has no live writer. When the lock file exists but cannot be
    opened, the answer is True: we cannot tell, and calling a live run interrupted is the worse
    mistake.
    """
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        if _try_flock(fd, fcntl.LOCK_SH, 0.0):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)
