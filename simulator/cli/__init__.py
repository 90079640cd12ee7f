"""The ``iterdeploy`` command: a thin shell over public functions.

Subcommands of the simulator live here; ``auditors`` and ``dashboards`` plug theirs in through the
entry-point group ``iterdeploy.commands`` (each entry is a ``register(app)`` function), so the
simulator never imports the layers above it.
"""

from __future__ import annotations

import importlib.metadata

import typer

from iterdeploy.simulator.cli import (
    compare_cmd,
    export_cmd,
    planning_cmd,
    pretrain_cmd,
    run_cmd,
    scenario_cmd,
    summary_cmd,
    sweep_cmd,
)
from iterdeploy.simulator.cli._common import DEBUG_ENV, RootGroup, set_debug

app = typer.Typer(
    name="iterdeploy",
    help="Simulate iterative deployment of a language model on planning tasks, and audit the "
    "implicit reward that curation puts into it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=RootGroup,  # ends an unexpected exception with one line (exit 1), not a traceback
)


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", envvar=DEBUG_ENV,
        help=f"Show Python tracebacks: for bad input (instead of the one error line) and for "
        f"bugs (instead of the one line asking for a report). Also {DEBUG_ENV}=1."),
) -> None:
    """Simulate iterative deployment of a language model on planning tasks, and audit the
    implicit reward that curation puts into it."""
    set_debug(debug)


run_cmd.register(app)
summary_cmd.register(app)
compare_cmd.register(app)
export_cmd.register(app)
scenario_cmd.register(app)
planning_cmd.register(app)
pretrain_cmd.register(app)
sweep_cmd.register(app)


_plugins_loaded = False


def _load_plugins() -> None:
    """Attach the commands of the upper layers (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in importlib.metadata.entry_points(group="iterdeploy.commands"):
        try:
            register = entry.load()
        except ImportError as exc:  # a broken plugin must not take the whole CLI down
            typer.echo(f"warning: command {entry.name!r} unavailable ({exc})", err=True)
            continue
        register(app)


def main() -> None:
    """Console entry point."""
    _load_plugins()
    app()
