"""``iterdeploy sweep SCENARIO...``: scenarios × seeds × a grid of settings, one run each, on Ray.

A thin shell over :mod:`iterdeploy.simulator.sweep`: parse the flags, plan and validate every run, skip the
complete ones, run the rest (on Ray, or ``--serial`` in this process), print a line per finished
run and a table at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from iterdeploy.simulator.cli._common import err_console, fail, make_progress
from iterdeploy.simulator.cli.run_cmd import parse_seeds, parse_sets
from iterdeploy.simulator.errors import IterdeployError
from iterdeploy.simulator.limits import MAX_SWEEP_SEEDS

if TYPE_CHECKING:
    from iterdeploy.simulator.store import GenerationSummary
    from iterdeploy.simulator.sweep import PlannedRun, RunOutcome

EXIT_RUNS_FAILED = 1
"""Exit code when every run was attempted and at least one failed."""


def _solved(run: PlannedRun, outcome: RunOutcome) -> str:
    """``first → last`` solved count: on the fixed pool for ``deploy.pool: fixed`` (the paper's
    count), else on the evaluation pool."""
    if not outcome.summary:
        return "-"
    fixed = run.spec.deploy.pool == "fixed"

    def cell(row: GenerationSummary) -> str:
        return f"{row.deploy_solved}/{row.deploy_tasks}" if fixed else f"{row.solved}/{row.evaluated}"

    first, last = outcome.summary[0], outcome.summary[-1]
    return cell(first) if first is last else f"{cell(first)} → {cell(last)}"


def results_table(pairs: list[tuple[PlannedRun, RunOutcome]], title: str) -> Table:
    """One row per run: its directory's name, status, wall time, generations, solved."""
    table = Table(title=title, caption="solved: gen 0 → last, on the fixed deployment pool "
                  "(deploy.pool: fixed), else on the evaluation pool")
    table.add_column("run directory", overflow="fold")
    table.add_column("status")
    for col in ("wall", "gens", "solved"):
        table.add_column(col, justify="right", no_wrap=True)
    style = {"completed": "green", "skipped": "dim", "failed": "bold red"}
    for run, outcome in pairs:
        status = "complete before" if outcome.status == "skipped" else outcome.status
        table.add_row(
            escape(run.run_dir.name), f"[{style[outcome.status]}]{status}[/]",
            "-" if outcome.status == "skipped" else f"{outcome.wall_s:.0f}s",
            str(len(outcome.summary)) if outcome.summary else "-", _solved(run, outcome))
    return table


def sweep(
    scenarios: list[Path] = typer.Argument(
        ..., help="Scenario YAML files, or names of shipped scenarios (`iterdeploy scenario "
        "list`); a file that exists wins over a name."),
    seeds: str | None = typer.Option(
        None, help=f"Seeds to run each scenario with: 0,1,2 or 0-4 (at most {MAX_SWEEP_SEEDS}); "
        "default: each scenario's own seed."),
    sets: list[str] = typer.Option(
        [], "--set", help="Override a setting in every run: KEY.PATH=VALUE (repeatable)."),
    grid: list[str] = typer.Option(
        [], "--grid", help="Sweep a setting: KEY.PATH=V1,V2,... (repeatable; the runs are the "
        "cartesian product of every --grid, times the scenarios and seeds)."),
    out: Path = typer.Option(
        Path("runs"), "--out", "-o", help="Parent of the run directories: <scenario>-seed<seed> "
        "as `iterdeploy run --seeds` names them, plus -KEY=VALUE for each grid value."),
    serial: bool = typer.Option(
        False, "--serial", help="No Ray: one run after another in this process."),
    address: str | None = typer.Option(
        None, "--address", help="Join an existing Ray cluster (auto, HOST:PORT or "
        "ray://HOST:PORT) instead of starting a local instance; its nodes need iterdeploy and "
        "must see --out at the same path."),
    cpus: int | None = typer.Option(
        None, "--cpus", min=1, help="CPUs of the local Ray instance (default: this machine's "
        "cores)."),
    cpus_per_run: int = typer.Option(
        1, "--cpus-per-run", min=1, help="CPUs each run declares to Ray, and its torch threads."),
    gpus_per_run: float = typer.Option(
        0.0, "--gpus-per-run", min=0.0, help="GPUs each run declares to Ray (fractions share a "
        "GPU); with 0 a run sees no GPU."),
) -> None:
    """Run scenarios × seeds × a grid of settings, one resumable run each, in parallel on Ray.

    Every run is written to its own run directory as `iterdeploy run` would write it. Runs
    already complete are skipped and unfinished ones resumed, so a sweep that was stopped
    finishes when started again. Exit 0 when every run completed, 1 when any failed, 2 for bad
    input (nothing is started).
    """
    from iterdeploy.simulator.cpus import usable_cpus
    from iterdeploy.simulator.scenario_files import resolve_scenario
    from iterdeploy.simulator.sweep import (
        Executor,
        RayExecutor,
        SerialExecutor,
        parse_grid,
        pending_runs,
        plan_sweep,
        run_sweep,
    )

    console = Console()
    try:
        executor: Executor
        if serial:
            given = [flag for flag, value in (("--address", address), ("--cpus", cpus),
                                              ("--gpus-per-run", gpus_per_run or None))
                     if value is not None]
            if given:
                raise IterdeployError(f"{', '.join(given)}: Ray settings, but --serial runs "
                                      "without Ray; drop one")
            executor = SerialExecutor(cpus_per_run)
            where = f"serially in this process, {cpus_per_run} torch thread(s) per run"
        else:
            ray_executor = RayExecutor(cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                                       address=address, cpus=cpus)
            executor = ray_executor
            place = (f"the Ray cluster at {address}" if address else
                     f"a local Ray instance with {cpus or usable_cpus()} CPU(s)")
            where = f"on {place}, {cpus_per_run} CPU(s) and {gpus_per_run:g} GPU(s) per run"
        files = [resolve_scenario(scenario) for scenario in scenarios]
        runs = plan_sweep(files, parse_seeds(seeds) if seeds is not None else None,
                          sets=parse_sets(sets), grid=parse_grid(grid), out=out)
        if not serial and not gpus_per_run:
            for run in runs:
                if run.spec.model.device.startswith("cuda"):
                    raise IterdeployError(
                        f"{run.scenario}: model.device is {run.spec.model.device}, but the runs "
                        "declare no GPU; give --gpus-per-run 1 (or a fraction)")
        to_run, complete = pending_runs(runs)
    except IterdeployError as exc:
        raise fail(exc) from None

    console.print(f"[bold]sweep[/]: {len(runs)} runs, {len(complete)} complete already, "
                  f"{len(to_run)} to run {escape(where)} → {escape(str(out))}", soft_wrap=True)
    pairs: dict[Path, tuple[PlannedRun, RunOutcome]] = {}
    progress, phase = make_progress(console)
    advance = phase("runs", len(runs))

    def on_done(run: PlannedRun, outcome: RunOutcome) -> None:
        pairs[run.run_dir] = (run, outcome)
        advance(1)
        if outcome.status == "skipped":
            return
        mark = "[green]✓[/]" if outcome.status == "completed" else "[bold red]✗[/]"
        why = f": {escape(outcome.error)}" if outcome.error else ""
        progress.console.print(f"{mark} {escape(str(run.run_dir))}  {outcome.status}  "
                               f"{outcome.wall_s:.0f}s{why}", highlight=False, soft_wrap=True)

    try:
        with progress:
            run_sweep(runs, executor, on_done, pending=(to_run, complete))
    except IterdeployError as exc:
        raise fail(exc) from None
    ordered = [pairs[run.run_dir] for run in runs if run.run_dir in pairs]
    failed = [run for run, outcome in ordered if outcome.status == "failed"]
    console.print(results_table(ordered, f"sweep: {len(runs) - len(failed)} of {len(runs)} runs "
                                         f"complete, in {escape(str(out))}"))
    if failed:
        err_console.print(f"[bold red]error:[/] {len(failed)} of {len(runs)} runs failed (see "
                          "above); run the same command again to retry them (complete runs are "
                          "skipped)", highlight=False, soft_wrap=True)
        raise typer.Exit(code=EXIT_RUNS_FAILED)


def register(app: typer.Typer) -> None:
    """Attach the command."""
    app.command("sweep")(sweep)
