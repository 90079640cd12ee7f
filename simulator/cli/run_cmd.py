"""``iterdeploy run SCENARIO``: run (or resume) a scenario and print the summary."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from iterdeploy.simulator.cli._common import fail, make_progress, skipped_note
from iterdeploy.simulator.cli.summary_cmd import summary_table
from iterdeploy.simulator.errors import IterdeployError, ScenarioError
from iterdeploy.simulator.limits import MAX_GENERATIONS, MAX_SEED, MAX_SWEEP_SEEDS
from iterdeploy.simulator.scenario_rules import default_run_dir
from iterdeploy.simulator.scenario_yaml import parse_yaml

if TYPE_CHECKING:
    pass


def parse_sets(values: list[str]) -> dict[str, Any]:
    """``--set KEY.PATH=VALUE`` items → overrides, each VALUE read as YAML by the scenario's own
    reader (so the same refusals and one-line messages apply)."""
    out: dict[str, Any] = {}
    for item in values:
        if "=" not in item:
            raise ScenarioError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. deploy.temperature=0.7")
        key, raw = item.split("=", 1)
        out[key.strip()] = parse_yaml(raw, f"--set {key.strip()}")[1]
    return out


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"``, ``"0-4"`` or a mix → the seeds in order, without repeats.

    Each seed is checked against the scenario's range (0 to :data:`MAX_SEED`) and the sweep's
    size against :data:`MAX_SWEEP_SEEDS` before any range is expanded, so ``0-99999999999`` is
    refused at once instead of filling memory with seeds.

    Examples:
        >>> parse_seeds("0-2,7,1")
        [0, 1, 2, 7]

    Raises:
        ScenarioError: Naming ``--seeds`` and the part that is malformed or out of range.
    """
    seeds: dict[int, None] = {}
    for part in text.split(","):
        match = re.fullmatch(r"\s*([0-9]{1,30})\s*(?:-\s*([0-9]{1,30})\s*)?", part)
        if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
            raise ScenarioError(f"--seeds {text[:60]!r}: expected seeds like 0,1,2 or 0-4 "
                                f"(got {part[:40]!r})")
        low, high = int(match[1]), int(match[2] or match[1])
        if high > MAX_SEED:
            raise ScenarioError(f"--seeds: seed {high} is out of range; a seed is 0 to {MAX_SEED}")
        if high - low + 1 > MAX_SWEEP_SEEDS:  # checked before the range is expanded
            raise ScenarioError(f"--seeds: {part.strip()!r} names more than {MAX_SWEEP_SEEDS} seeds; "
                                "a sweep runs each seed in full, so split it into smaller sweeps")
        seeds.update(dict.fromkeys(range(low, high + 1)))
        if len(seeds) > MAX_SWEEP_SEEDS:
            raise ScenarioError(f"--seeds: more than {MAX_SWEEP_SEEDS} seeds in one sweep; "
                                "a sweep runs each seed in full, so split it into smaller sweeps")
    return list(seeds)


def run(
    scenario: Path = typer.Argument(
        ..., help="Scenario YAML file, or the name of a shipped scenario (quickstart; "
        "`iterdeploy scenario list`). A file that exists wins over a name."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run directory (default: runs/<scenario>-seed<seed>). "
        "An existing run directory of the same scenario is resumed. With --seeds, the parent "
        "directory of one <scenario>-seed<seed> directory per seed."),
    seed: int | None = typer.Option(None, min=0, max=MAX_SEED,
                                    help=f"Override the scenario's seed (0 to {MAX_SEED})."),
    seeds: str | None = typer.Option(
        None, help=f"Run a sweep, one run per seed: 0,1,2 or 0-9 (at most {MAX_SWEEP_SEEDS} seeds, "
        f"each 0 to {MAX_SEED}). Each run is resumable on its own."),
    generations: int | None = typer.Option(
        None, min=0, max=MAX_GENERATIONS,
        help=f"Override the number of fine-tuned generations (0 to {MAX_GENERATIONS}). On an "
        "existing run directory "
        "a larger number extends the run: it ends as if it had asked for them from the start."),
    sets: list[str] = typer.Option([], "--set", help="Override any setting: KEY.PATH=VALUE (repeatable)."),
    workers: str | None = typer.Option(
        None, "--workers", metavar="N|auto",
        help="Processes that sample the embedded model's batches on the CPU, one core each "
        "(default: ITERDEPLOY_SAMPLE_WORKERS, else auto: one per usable CPU). The run is the "
        "same whatever the number; 1 samples in this process."),
) -> None:
    """Run a scenario: deploy, validate, curate, pool and train, generation after generation."""
    from iterdeploy.simulator.loop import run_scenario
    from iterdeploy.simulator.models.sampling_pool import configured_workers, parse_workers, sample_workers
    from iterdeploy.simulator.scenario import load_scenario
    from iterdeploy.simulator.scenario_files import resolve_scenario

    console = Console()
    try:
        n_workers = configured_workers() if workers is None else parse_workers(workers, source="--workers")
        if seed is not None and seeds is not None:
            raise ScenarioError("give --seed or --seeds, not both")
        file = resolve_scenario(scenario)
        overrides = parse_sets(sets)
        if generations is not None:
            overrides["generations"] = generations
        sweep = parse_seeds(seeds) if seeds is not None else [seed]
        plans = []
        for s in sweep:
            if s is not None:
                overrides["seed"] = s
            spec, text = load_scenario(file, overrides)
            if seeds is not None:
                run_dir = default_run_dir(out or Path("runs"), spec)
            else:
                run_dir = out or default_run_dir(Path("runs"), spec)
            plans.append((spec, text, run_dir))
        for spec, text, run_dir in plans:
            console.print(f"[bold]{spec.name}[/] seed {spec.seed}: generation 0 + "
                          f"{spec.generations} fine-tuned generations → {run_dir}")
            if spec.skipped_domains():
                console.print(skipped_note(spec), highlight=False)
            progress, phase = make_progress(console)
            with progress, sample_workers(n_workers):
                rows = run_scenario(spec, text, run_dir, phase=phase,
                                    log=lambda msg, p=progress: p.console.print(msg))
            console.print(summary_table(rows, f"{spec.name}: {run_dir}",
                                        fixed_pool=spec.deploy.pool == "fixed"))
            console.print(f"next: iterdeploy audit {run_dir}  ·  iterdeploy dashboard {run_dir}")
    except IterdeployError as exc:
        raise fail(exc) from None


def register(app: typer.Typer) -> None:
    """Attach the command."""
    app.command("run")(run)
