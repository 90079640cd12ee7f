"""``iterdeploy run SCENARIO``: run (or resume) a scenario and print the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console

from simulator.cli._common import fail, make_progress
from simulator.cli.summary_cmd import summary_table
from simulator.errors import IterdeployError, ScenarioError


def _parse_sets(values: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        if "=" not in item:
            raise ScenarioError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. deploy.temperature=0.7")
        key, raw = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(raw)
    return out


def run(
    scenario: Path = typer.Argument(..., help="Scenario YAML file (see scenarios/)."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run directory (default: runs/<scenario>-seed<seed>). "
        "An existing run directory of the same scenario is resumed."),
    seed: int | None = typer.Option(None, help="Override the scenario's seed."),
    generations: int | None = typer.Option(None, help="Override the number of fine-tuned generations."),
    sets: list[str] = typer.Option([], "--set", help="Override any setting: KEY.PATH=VALUE (repeatable)."),
) -> None:
    """Run a scenario: deploy, validate, curate, pool and train, generation after generation."""
    from simulator.loop import run_scenario
    from simulator.scenario import load_scenario

    console = Console()
    try:
        overrides = _parse_sets(sets)
        if seed is not None:
            overrides["seed"] = seed
        if generations is not None:
            overrides["generations"] = generations
        spec, text = load_scenario(scenario, overrides)
        run_dir = out or Path("runs") / f"{spec.name}-seed{spec.seed}"
        console.print(f"[bold]{spec.name}[/] seed {spec.seed}: generation 0 + {spec.generations} "
                      f"fine-tuned generations → {run_dir}")
        progress, phase = make_progress(console)
        with progress:
            rows = run_scenario(spec, text, run_dir, phase=phase,
                                log=lambda msg: progress.console.print(msg))
    except IterdeployError as exc:
        raise fail(exc) from None
    console.print(summary_table(rows, f"{spec.name}: {run_dir}"))
    console.print(f"next: iterdeploy audit {run_dir}  ·  iterdeploy dashboard {run_dir}")


def register(app: typer.Typer) -> None:
    """Attach the command."""
    app.command("run")(run)
