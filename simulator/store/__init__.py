"""The run store: one directory per run, ``run.sqlite`` plus adapters and the scenario.

Only :class:`RunWriter` writes; everyone else reads through :class:`RunReader`.
"""

from simulator.store._writer import DB_NAME, GenerationBundle, RunWriter, dumps
from simulator.store.reader import RunReader
from simulator.store.schema import (
    SCHEMA_VERSION,
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
)
from simulator.store.summary import GenerationSummary, solved_by_size, summarize

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "CurationRow",
    "EvaluationRow",
    "FindingRow",
    "GenerationBundle",
    "GenerationRow",
    "GenerationSummary",
    "ModelRow",
    "PopulationRow",
    "RunReader",
    "RunRow",
    "RunStatus",
    "RunWriter",
    "TaskRow",
    "TraceRow",
    "TrainingExampleRow",
    "dumps",
    "solved_by_size",
    "summarize",
]
