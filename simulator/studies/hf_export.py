"""A run's tables as Hugging Face ``datasets`` saved to disk (``iterdeploy export --format hf``).

One ``DatasetDict`` per table, each written with ``save_to_disk`` so that
``datasets.load_from_disk(DIR / "training")`` gives it back with its column types and without
touching the ``datasets`` cache or the network: ``training`` (a split per fine-tuned generation,
``generation_<g>``), ``traces``, ``decisions`` and ``tasks`` (one ``train`` split each). The rows
and columns are exactly the Parquet export's (:mod:`.export`), which is written first into the
staging directory and read back as Arrow tables, so the two forms cannot drift apart; every
split's ``info.description`` names the run it came from, so the provenance travels with the data
when a split is copied elsewhere.

``datasets`` is an optional extra (``pip install 'iterdeploy[hf]'``); this module is imported only
when the format is asked for.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq
from datasets import Dataset, DatasetDict, DatasetInfo
from datasets.table import InMemoryTable
from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

from iterdeploy.simulator.store import RunReader
from iterdeploy.simulator.studies.export import EXPORT_TABLES, ExportedFile, column_sections, write_tables

_PARQUET = ".parquet-tables"
"""The staging subdirectory the Parquet tables are written to before conversion (removed)."""


def write_hf_datasets(reader: RunReader, staging: Path) -> list[ExportedFile]:
    """Write one ``DatasetDict`` per table, and a card, into ``staging`` (created here); return
    one entry per split, its path the split's directory."""
    staging.mkdir()
    tables = write_tables(reader, staging / _PARQUET, "parquet")
    run = reader.run()
    origin = (f"iterdeploy run `{run.name}`, seed {run.seed}, run id {run.run_id}, exported from "
              f"{reader.run_dir}")
    files: list[ExportedFile] = []
    for config, (what, _) in EXPORT_TABLES.items():
        splits = [f for f in tables if f.config == config]
        if not splits:
            continue
        info = DatasetInfo(description=f"{origin}: {what}.", config_name=config,
                           dataset_name=f"iterdeploy-{run.name}-seed{run.seed}")
        parts = {f.split: Dataset(InMemoryTable(pq.read_table(staging / _PARQUET / f.path)),
                                  info=info) for f in splits}
        _quietly_save(DatasetDict(parts), staging / config)
        files += [ExportedFile(f"{config}/{f.split}", f.rows, config, f.split) for f in splits]
    shutil.rmtree(staging / _PARQUET)
    _card(reader, staging, files)
    return files


def _quietly_save(data: DatasetDict, path: Path) -> None:
    """``save_to_disk`` without its progress bar per split (the command prints one line per
    split instead), leaving the caller's progress-bar setting as it was."""
    quiet = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        data.save_to_disk(str(path))
    finally:
        if not quiet:
            enable_progress_bars()


def _card(reader: RunReader, staging: Path, files: Sequence[ExportedFile]) -> None:
    """The dataset card: what run the datasets came from, each split's rows, how to load them and
    every column (the same columns as the Parquet export's card)."""
    run, status = reader.run(), reader.run_status()
    generations = [g.generation for g in reader.generations()]
    span = f"generations {generations[0]}–{generations[-1]}" if generations else "no generation"
    lines = [
        f"# iterdeploy run `{run.name}`, seed {run.seed}", "",
        f"Exported by `iterdeploy export --format hf` from the run store `{reader.run_dir}` (run id "
        f"`{run.run_id}`, created {run.created_at}): status `{status}`, {span} committed. Each "
        "directory is a Hugging Face `DatasetDict` written with `save_to_disk`; the run store was "
        "only read.", "",
        "| dataset | split | rows |", "|---|---|---|",
        *(f"| `{f.config}` | `{f.split}` | {f.rows} |" for f in files), "",
        "## Loading", "", "```python", "from datasets import load_from_disk",
        "training = load_from_disk('DIR/training')  # a split per fine-tuned generation",
        "traces = load_from_disk('DIR/traces')['train']", "```", "",
    ]
    lines += column_sections(files)
    lines += ["## Provenance", "",
              "Every row names its run-store ids (`trace_id`, `task_id`, `decision_id`), and every "
              "split's `info.description` names the run. `acceptance_prob` is A(τ), the "
              "scenario's ground-truth implicit reward.", ""]
    (staging / "README.md").write_text("\n".join(lines), encoding="utf-8")
