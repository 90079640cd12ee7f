"""The project's errors: one base class, narrow subclasses, messages that say how to fix things."""

from __future__ import annotations


class IterdeployError(Exception):
    """Base of every error iterdeploy raises on purpose."""


class PddlError(IterdeployError):
    """A PDDL file is missing or malformed; the message names the file and line."""


class ScenarioError(IterdeployError):
    """A scenario file is invalid; the message names the key path and line."""


class TaskSupplyError(ScenarioError):
    """A scenario's sizes cannot supply the distinct tasks a run needs (the loop never repeats a
    task); the message names the sizes, how many tasks were found, and what to change."""


class StoreError(IterdeployError):
    """A run directory is missing, incomplete or of an unknown schema version."""


class CorruptStoreError(StoreError):
    """A run store is damaged or inconsistent: a garbled page, a missing table or column, a row of
    the wrong type, bad JSON in a JSON column, a missing or second run row. The message names the
    table (and the row where one is to blame). Raised when the store is opened, before anything is
    read or written, so a damaged store is refused by every reader and writer and never changed."""


class StorageError(StoreError):
    """The operating system refused to read or write a file of a run or of the model cache
    (permission denied, a read-only file system, a full disk, a path that is a file). The message
    names the path and what to do. A :class:`StoreError`, so every command that reports store
    errors in one line reports these too."""


class ModelError(IterdeployError):
    """A model cannot be loaded or used; the message says how to fix it."""
