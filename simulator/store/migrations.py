"""Steps that bring a run store written by an older schema version up to :data:`SCHEMA_VERSION`.

A run directory is a research artefact people keep for years; a new release must still read it.
Each step is plain SQL, runs in one transaction with the version bump, and never drops data.
"""

from __future__ import annotations

import sqlite3

from iterdeploy.simulator.store.schema import INDEXES, SCHEMA_VERSION, TABLES, create_table_sql

STEPS: dict[int, tuple[str, ...]] = {
    # 1 → 2: users with stochastic policies (their own keep probability, every group's) and the
    # population table. Old decisions came from the deterministic validity policy, so the user's
    # keep probability is exactly ``kept``.
    1: (
        "ALTER TABLE curation_decisions ADD COLUMN keep_prob REAL NOT NULL DEFAULT 0",
        "UPDATE curation_decisions SET keep_prob = CAST(kept AS REAL)",
        "ALTER TABLE curation_decisions ADD COLUMN group_probs_json TEXT NOT NULL DEFAULT '{}'",
    ),
    # 2 → 3: the prompt each task was given, stored with the task. Older tasks keep NULL, and the
    # loop renders their prompt again from the task's PDDL, as it always did.
    2: ("ALTER TABLE tasks ADD COLUMN prompt TEXT",),
    # 3 → 4: the deciding user's group on each decision (``user_group``: GROUP is an SQL keyword).
    # Older decisions keep NULL; readers map their users to groups through the population
    # records, as they always did.
    3: ("ALTER TABLE curation_decisions ADD COLUMN user_group TEXT",),
}
"""From-version → SQL statements that reach the next version."""


def migrate(conn: sqlite3.Connection, version: int) -> int:
    """Apply every step from ``version`` on; returns the version reached (``SCHEMA_VERSION``)."""
    while version < SCHEMA_VERSION:
        with conn:
            for statement in STEPS[version]:
                conn.execute(statement)
            version += 1
            for table in TABLES:
                conn.execute(create_table_sql(table))
            for index in INDEXES:
                conn.execute(index)
            conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))
    return version
