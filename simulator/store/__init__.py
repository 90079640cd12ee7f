"""The run store: one directory per run, ``run.sqlite`` plus adapters and the scenario.

Only :class:`RunWriter` writes, and only one process at a time writes a run (the loop holds
:func:`writer_lock`); everyone else reads through :class:`RunReader`, never blocked by it. This package is
the one place that holds SQL: every read is a named method (:class:`RunQueries`, shared by the
reader and the writer) returning typed rows or plain values, and ``tests/test_layers.py`` fails
on SQL or a database connection used anywhere else in ``simulator/``, ``auditors/`` or
``dashboards/``.
"""

from iterdeploy.simulator.store._lock import LOCK_NAME, RunLockedError, writer_is_alive, writer_lock
from iterdeploy.simulator.store._oserrors import os_error
from iterdeploy.simulator.store._queries import RunQueries, TraceFacts, UserTaskOutcome
from iterdeploy.simulator.store._writer import DB_NAME, GenerationBundle, RunWriter, dumps
from iterdeploy.simulator.store.reader import RunReader
from iterdeploy.simulator.store.schema import (
    SCHEMA_VERSION,
    CurationRow,
    EvaluationRow,
    FindingRow,
    GenerationRow,
    ModelRow,
    PopulationRow,
    RunRow,
    RunStatus,
    ShownStatus,
    StoredVerdict,
    StoredVerdictError,
    TaskRow,
    TraceRow,
    TrainingExampleRow,
    parse_stored_verdict,
)
from iterdeploy.simulator.store.summary import (
    FIRST_STEP,
    SIZE_FIELDS,
    GenerationSummary,
    deploy_status_by_size,
    solved_by_size,
    summarize,
    valid_deploy_samples,
)

__all__ = [
    "DB_NAME",
    "FIRST_STEP",
    "LOCK_NAME",
    "SCHEMA_VERSION",
    "SIZE_FIELDS",
    "CurationRow",
    "EvaluationRow",
    "FindingRow",
    "GenerationBundle",
    "GenerationRow",
    "GenerationSummary",
    "ModelRow",
    "PopulationRow",
    "RunLockedError",
    "RunQueries",
    "RunReader",
    "RunRow",
    "RunStatus",
    "RunWriter",
    "ShownStatus",
    "StoredVerdict",
    "StoredVerdictError",
    "TaskRow",
    "TraceFacts",
    "TraceRow",
    "TrainingExampleRow",
    "UserTaskOutcome",
    "deploy_status_by_size",
    "dumps",
    "os_error",
    "parse_stored_verdict",
    "solved_by_size",
    "summarize",
    "valid_deploy_samples",
    "writer_is_alive",
    "writer_lock",
]
