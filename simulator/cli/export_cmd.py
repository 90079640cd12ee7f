"""``iterdeploy export RUN_DIR --out DIR``: a run's training sets, traces and decisions as files
that pandas, Hugging Face ``datasets`` and TRL read, or its evaluation pool as Inspect eval logs
(:mod:`iterdeploy.simulator.studies.export`)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from iterdeploy.simulator.cli._common import fail
from iterdeploy.simulator.errors import IterdeployError


class ExportFormat(StrEnum):
    """The file formats of ``iterdeploy export``."""

    jsonl = "jsonl"
    parquet = "parquet"
    hf = "hf"
    inspect = "inspect"


def export(
    run_dir: Path = typer.Argument(..., help="Run directory written by `iterdeploy run`."),
    out: Path = typer.Option(..., "--out", "-o", help="New (or empty) directory to write to."),
    fmt: ExportFormat = typer.Option(
        ExportFormat.jsonl, "--format", "-f",
        help="jsonl (JSON Lines, always available), parquet (needs pyarrow), hf (a datasets "
             "DatasetDict per table, saved to disk; extra `hf`) or inspect (one Inspect eval log "
             "per generation's evaluation pool; extra `inspect`)."),
) -> None:
    """Export a run's training sets, traces, curation decisions and tasks, with a dataset card.

    One training file per fine-tuned generation (prompt and completion, with provenance); the
    card (DIR/README.md) names the run, scenario, seed, generations and columns. With
    --format inspect: one Inspect eval log per generation, its evaluation pool's samples with
    validity and plan length as scores (open them with `inspect view --log-dir DIR`).

    The run store is opened read-only and never changed; DIR must be new or empty.
    """
    from iterdeploy.simulator.studies.export import export_run

    try:
        result = export_run(run_dir, out, fmt.value)
    except IterdeployError as exc:
        raise fail(exc) from None
    if result.format == "inspect":
        for f in result.files:
            typer.echo(f"{f.rows:>8} samples  {result.out_dir / f.path}")
        typer.echo(f"wrote {len(result.files)} Inspect eval logs; view them with: "
                   f"inspect view --log-dir {result.out_dir}")
        return
    unit = "dataset splits" if result.format == "hf" else "files"
    for f in result.files:
        typer.echo(f"{f.rows:>8} rows  {result.out_dir / f.path}")
    typer.echo(f"wrote {len(result.files)} {unit} and the dataset card {result.out_dir / 'README.md'}")


def register(app: typer.Typer) -> None:
    """Attach the command."""
    app.command("export")(export)
