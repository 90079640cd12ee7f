"""``iterdeploy scenario list|validate|show``: the shipped scenarios, and a scenario checked or
printed fully resolved.

Every scenario argument is a file or a shipped scenario's name, resolved by
:func:`iterdeploy.simulator.scenario_files.resolve_scenario` as ``iterdeploy run`` resolves it."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml
from rich.console import Console

from iterdeploy.simulator.cli._common import fail, skipped_note
from iterdeploy.simulator.errors import IterdeployError

scenario_app = typer.Typer(
    help="List the shipped scenarios, check scenario files and see every setting they resolve to.",
    no_args_is_help=True,
)


@scenario_app.command("list")
def list_scenarios() -> None:
    """List the scenarios shipped with iterdeploy, each with the question it asks (run one by its
    name: `iterdeploy run quickstart`)."""
    from rich.table import Table

    from iterdeploy.simulator.scenario_files import scenario_question, shipped_scenarios

    shipped = shipped_scenarios()
    table = Table(title=f"{len(shipped)} shipped scenarios (iterdeploy run NAME)", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("question")
    for name, file in shipped.items():
        table.add_row(name, scenario_question(file))
    Console().print(table)


@scenario_app.command("validate")
def validate(
    files: list[Path] = typer.Argument(..., help="Scenario YAML file(s) or shipped scenarios' names."),
) -> None:
    """Validate scenario files; exit 2 naming each bad key and its line, 0 when all are valid."""
    from iterdeploy.simulator.scenario import load_scenario
    from iterdeploy.simulator.scenario_files import resolve_scenario

    console = Console()
    bad = 0
    for file in files:
        try:
            spec, _ = load_scenario(resolve_scenario(file))
        except IterdeployError as exc:
            fail(exc)
            bad += 1
            continue
        groups = ", ".join(f"{u.name} ({u.weight:g})" for u in spec.users)
        domains = ", ".join(spec.deploy_tasks().domains)
        console.print(f"[green]ok[/] {file}: {spec.name}, {spec.generations} generations, "
                      f"domains: {domains}, model: {spec.model.name}, users: {groups}",
                      highlight=False)
        if spec.skipped_domains():
            console.print(f"   {skipped_note(spec)}", highlight=False)
    if bad:
        raise typer.Exit(code=2)


@scenario_app.command("show")
def show(
    file: Path = typer.Argument(..., help="Scenario YAML file or a shipped scenario's name."),
    sets: list[str] = typer.Option([], "--set", help="Apply KEY.PATH=VALUE overrides first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of YAML."),
) -> None:
    """Print the scenario with every default filled in: exactly what a run would use, as YAML that
    loads back to the same scenario."""
    from iterdeploy.simulator.cli.run_cmd import parse_sets
    from iterdeploy.simulator.scenario import load_scenario
    from iterdeploy.simulator.scenario_files import resolve_scenario

    try:
        spec, _ = load_scenario(resolve_scenario(file), parse_sets(sets))
    except IterdeployError as exc:
        raise fail(exc) from None
    data = spec.model_dump(mode="json")
    if spec.domains is not None:  # it replaces ``domain``, and a file may not give both
        del data["domain"]
    if as_json:
        typer.echo(json.dumps(data, sort_keys=True))
    else:
        if spec.skipped_domains():  # the file keeps naming them; the run leaves them out
            typer.echo(f"# {skipped_note(spec)}")
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)


def register(app: typer.Typer) -> None:
    """Attach the command group."""
    app.add_typer(scenario_app, name="scenario")
