"""Studies: what is read across runs and what leaves a run for other tools.

- :mod:`.compare`: the per-generation summary of several runs (the seeds of one scenario) as mean
  and spread, grouped by scenario, from :func:`iterdeploy.simulator.store.summarize`'s rows;
- :mod:`.export`: a run's training sets, traces, decisions and tasks as JSON Lines or Parquet
  files with a dataset card, for pandas, Hugging Face ``datasets`` and TRL; :mod:`.hf_export`
  the same tables as ``datasets.DatasetDict``s and :mod:`.inspect_export` the evaluation pool as
  Inspect eval logs (optional extras, imported only for their format).

Both read run stores through :class:`~iterdeploy.simulator.store.RunReader` only, and neither writes to a run.
"""

from iterdeploy.simulator.studies.compare import (
    ComparedRun,
    Comparison,
    GenerationStats,
    RunRows,
    ScenarioGroup,
    Spread,
    compare_runs,
    compare_summaries,
    spread,
)
from iterdeploy.simulator.studies.export import EXPORT_FORMATS, ExportedFile, ExportResult, export_run

__all__ = [
    "EXPORT_FORMATS",
    "ComparedRun",
    "Comparison",
    "ExportResult",
    "ExportedFile",
    "GenerationStats",
    "RunRows",
    "ScenarioGroup",
    "Spread",
    "compare_runs",
    "compare_summaries",
    "export_run",
    "spread",
]
