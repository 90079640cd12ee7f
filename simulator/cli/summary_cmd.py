"""``iterdeploy summary RUN_DIR``: the per-generation table, from the store alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console, Group
from rich.table import Table

from iterdeploy.simulator.cli._common import fail
from iterdeploy.simulator.errors import IterdeployError
from iterdeploy.simulator.store import GenerationSummary, RunReader, summarize


def _or_dash(value: float | None, fmt: str = "{}") -> str:
    """A table cell: the number, or ``-`` where a generation wrote no valid plan."""
    return "-" if value is None else fmt.format(value)


def summary_table(rows: list[GenerationSummary], title: str, fixed_pool: bool = False) -> Group:
    """The summary as rich tables (shared by ``run`` and ``summary``): one row per generation,
    then, for a run over several domains, solved tasks and the largest size solved per domain (a
    second table, so the first keeps its width on an 80-column terminal). The first table's
    "largest size" is then left out: blocks, waypoints and boxes have no common maximum.

    With ``fixed_pool`` (``deploy.pool: fixed``, the paper's protocol) the deployment pool is the
    same every generation, so its solved count is the headline ("pool solved") and the
    evaluation pool is labelled as what it then is, the held-out check.
    """
    eval_name, deploy_name = ("held-out", "pool") if fixed_pool else ("eval", "deploy")
    domains = sorted({d for r in rows for d in r.evaluated_by_domain})
    one_domain = len(domains) < 2
    table = Table(title=title, caption=(
        f"mean len, longest{', largest size' if one_domain else ''}: valid plans on the "
        f"{eval_name} tasks"))
    columns: dict[str, Callable[[GenerationSummary], str]] = {
        "gen": lambda r: str(r.generation),
        f"{eval_name} solved": lambda r: f"{r.solved}/{r.evaluated}",
        "mean len": lambda r: _or_dash(r.mean_plan_length, "{:.1f}"),
        "longest": lambda r: _or_dash(r.longest_plan_length),
        "largest size": lambda r: _or_dash(r.largest_solved_size),
        "train size": lambda r: str(r.train_size),
        f"{deploy_name} solved": lambda r: f"{r.deploy_solved}/{r.deploy_tasks}",
        f"{deploy_name} longest": lambda r: _or_dash(r.deploy_longest_plan_length),
    }
    if not one_domain:
        del columns["largest size"]
    for col in columns:
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(*(cell(r) for cell in columns.values()))
    if one_domain:
        return Group(table)
    by_domain = Table(title=f"solved tasks per domain ({deploy_name}; {eval_name})",
                      caption=f"in brackets: the largest {eval_name} task size solved, in the "
                              "domain's own unit")
    for col in ("gen", *domains):
        by_domain.add_column(col, justify="right")
    for r in rows:
        by_domain.add_row(str(r.generation), *(
            f"{r.deploy_solved_by_domain.get(d, 0)}/{r.deploy_tasks_by_domain.get(d, 0)}; "
            f"{r.solved_by_domain.get(d, 0)}/{r.evaluated_by_domain.get(d, 0)} "
            f"({_or_dash(r.largest_solved_size_by_domain.get(d))})" for d in domains))
    return Group(table, by_domain)


def summary(
    run_dir: Path = typer.Argument(..., help="Run directory written by `iterdeploy run`."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of objects instead."),
) -> None:
    """Print the per-generation summary of a run (solved tasks, plan lengths, training set).

    The title gives the run's status as the dashboard does: ``interrupted`` for a run whose
    writer died without finishing (resume it with the same ``iterdeploy run``).
    """
    try:
        with RunReader(run_dir) as reader:
            rows = summarize(reader)
            run = reader.run()
            status = reader.run_status()
            deploy = reader.scenario().get("deploy")
            fixed = isinstance(deploy, dict) and deploy.get("pool") == "fixed"
    except IterdeployError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps([r.model_dump() for r in rows], indent=2))
    else:
        Console().print(summary_table(rows, f"{run.name} ({status}): {run_dir}", fixed_pool=fixed))


def register(app: typer.Typer) -> None:
    """Attach the command."""
    app.command("summary")(summary)
