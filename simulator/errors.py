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


class ModelError(IterdeployError):
    """A model cannot be loaded or used; the message says how to fix it."""
