"""``iterdeploy tasks | plan``: the planning substrate from the shell.

``tasks`` writes generated problems; ``plan`` runs the reference planner. (``validate``, which
judges a plan file, has its own light module, :mod:`iterdeploy.simulator.cli.validate_cmd`, and is
importable from here as before.) Exit codes: 0 success (tasks written, plan found), 1 a negative
answer (no plan found), 2 input that could not be read (missing file, malformed PDDL, bad
parameters), 3 the planner itself is missing or failed.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import typer
from rich.console import Console

from iterdeploy.simulator.cli._common import err_console, fail, help_text, make_progress
from iterdeploy.simulator.cli.validate_cmd import validate
from iterdeploy.simulator.errors import IterdeployError
from iterdeploy.simulator.limits import MAX_PLANNER_MEMORY_MB, MAX_PLANNER_SECONDS, MAX_SEED, MAX_TASKS
from iterdeploy.simulator.plan_check import EXIT_NEGATIVE
from iterdeploy.simulator.planning import (
    GeneratorParamError,
    describe_generators,
    domain_names,
    domain_path,
    fast_downward_plan,
    generate_tasks,
    load_task,
    resolve_params,
    tag_optimal_length,
)

__all__ = ["EXIT_NEGATIVE", "EXIT_PLANNER", "plan", "register", "tasks", "validate"]

EXIT_PLANNER = 3


def _parse_sizes(domain: str, sizes: list[str]) -> dict[str, int]:
    params: dict[str, int] = {}
    for item in sizes:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"\s*-?\d+\s*", value):
            raise GeneratorParamError(f"--size {item!r}: expected PARAM=INTEGER, e.g. n_cars=3")
        params[key.strip()] = int(value)
    return resolve_params(domain, params)  # errors name the domain and the parameter


def tasks(
    domain: str = typer.Argument(..., help=f"Domain: {', '.join(domain_names())}."),
    sizes: list[str] = typer.Option(
        [], "--size", "-s", help="A size parameter PARAM=VALUE (repeatable); the others take their "
        "defaults, which follow the first parameter. Parameters per domain below."),
    n: int = typer.Option(10, "--n", "-n", min=1, max=MAX_TASKS,
                          help=f"Number of tasks (1 to {MAX_TASKS})."),
    seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED,
                             help=f"Seed, 0 to {MAX_SEED}; task i depends only on (seed, domain, i)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (created; files overwritten)."),
    optimal: bool = typer.Option(False, "--optimal", help="Find each task's optimal plan length "
                                 "(breadth-first search, then Fast Downward) and record it in the index."),
    time_limit: float = typer.Option(5.0, "--time-limit", min=0.1, max=MAX_PLANNER_SECONDS,
                                     help="Seconds per task for --optimal (0.1 to 3600)."),
) -> None:
    """Write N seeded, solvable tasks of DOMAIN as PDDL problems, with the domain file and an index.

    OUT gets domain.pddl, DOMAIN-001.pddl, ... and index.json: per task its file, name, params,
    witness_length (a valid plan known by construction) and optimal_length (null unless --optimal
    proved it).
    """
    console = Console(stderr=True)
    try:
        params = _parse_sizes(domain, sizes)
        out.mkdir(parents=True, exist_ok=True)
        progress, phase = make_progress(console)
        index: list[dict[str, object]] = []
        with progress:
            advance = phase(f"{domain} {' '.join(f'{k}={v}' for k, v in params.items())}"[:44], n)
            for generated in generate_tasks(domain, params, seed=seed, n=n):
                if optimal:
                    generated = tag_optimal_length(generated, time_limit_s=time_limit)
                path = out / f"{generated.name}.pddl"
                path.write_text(generated.problem_pddl, encoding="utf-8")
                index.append({"file": path.name, "name": generated.name, "domain": domain,
                              "params": dict(generated.params),
                              "witness_length": len(generated.witness_plan),
                              "optimal_length": generated.optimal_length})
                advance(1)
        shutil.copyfile(domain_path(domain), out / "domain.pddl")
        (out / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    except (IterdeployError, OSError) as exc:
        raise fail(exc if isinstance(exc, IterdeployError) else IterdeployError(str(exc))) from None
    proven = sum(1 for row in index if row["optimal_length"] is not None)
    note = f"; optimal length proven for {proven}/{n}" if optimal else ""
    typer.echo(f"wrote {n} {domain} task(s), domain.pddl and index.json to {out}{note}")


def plan(
    domain: Path = typer.Argument(..., help="PDDL domain file."),
    problem: Path = typer.Argument(..., help="PDDL problem file."),
    optimal: bool = typer.Option(False, "--optimal", help="Optimal plan (A* with LM-cut) instead of "
                                 "a quick satisficing one (LAMA, first plan)."),
    time_limit: float = typer.Option(10.0, "--time-limit", min=0.1, max=MAX_PLANNER_SECONDS,
                                     help="Wall-clock seconds (0.1 to 3600)."),
    memory_limit: int = typer.Option(2048, "--memory-limit", min=64, max=MAX_PLANNER_MEMORY_MB,
                                     help="Memory limit in MiB (64 to 1048576)."),
    as_json: bool = typer.Option(False, "--json", help="Print the planner result as JSON."),
) -> None:
    """Run the reference planner (Fast Downward) and print the plan, one '(action args)' a line.

    The plan is validated before it is printed. Exit 1 when no plan is found (time or memory
    limit, unsolvable task), 2 for unreadable input, 3 when the planner is missing or fails.
    """
    try:
        task = load_task(domain, problem)
    except IterdeployError as exc:
        raise fail(exc) from None
    result = fast_downward_plan(domain, problem, optimal=optimal, time_limit_s=time_limit,
                                memory_limit_mb=memory_limit, task=task)
    if as_json:
        typer.echo(json.dumps({**result.to_dict(), "domain_file": str(domain),
                               "problem_file": str(problem)}, indent=2))
    elif result.solved:
        for line in result.plan:
            typer.echo(line)
        kind = "optimal" if result.optimal else "not proven optimal"
        err_console.print(f"; {len(result.plan)} step(s), {kind} ({result.config}, {result.wall_s:.2f} s)",
                          highlight=False)
    if not result.solved:
        if not as_json:
            err_console.print(f"[bold red]no plan:[/] {result.message}", highlight=False, soft_wrap=True)
        code = EXIT_PLANNER if result.status in ("unavailable", "error", "invalid_plan") else EXIT_NEGATIVE
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Attach the commands."""
    app.command("tasks", help=help_text(tasks), epilog="Domains and their parameters (range, default):\n\n"
                + describe_generators())(tasks)
    app.command("plan", help=help_text(plan))(plan)

