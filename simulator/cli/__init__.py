"""The ``iterdeploy`` command: a thin shell over public functions.

Subcommands of the simulator live in one module each; ``auditors`` and ``dashboards`` plug theirs
in through the entry-point group ``iterdeploy.commands`` (each entry is a ``register(app)``
function), so the simulator never imports the layers above it.

Two ways in, one set of commands:

* :func:`main`, the console entry point (and ``python -m iterdeploy.simulator.cli``), builds the
  root group from the callback alone and imports a command's module when that command runs
  (:class:`~iterdeploy.simulator.cli._lazy.LazyRootGroup`): ``iterdeploy validate`` imports the
  PDDL reader and the validator, not torch, pandas or the generators. ``--help`` still lists
  every command, plugins included, by loading them all.
* ``app``, the whole ``typer.Typer`` with every simulator command registered (plugins after
  :func:`_load_plugins`), for tests and for code that drives the CLI in-process. It is built on
  first access, since building it imports every command module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from iterdeploy.simulator.cli._common import DEBUG_ENV, RootGroup, set_debug
from iterdeploy.simulator.cli._lazy import COMMAND_MODULES, LazyRootGroup, command_module, plugins

if TYPE_CHECKING:
    app: typer.Typer

HELP = ("Simulate iterative deployment of a language model on planning tasks, and audit the "
        "implicit reward that curation puts into it.")


def _root(
    debug: bool = typer.Option(
        False, "--debug", envvar=DEBUG_ENV,
        help=f"Show Python tracebacks: for bad input (instead of the one error line) and for "
        f"bugs (instead of the one line asking for a report). Also {DEBUG_ENV}=1."),
) -> None:
    """Simulate iterative deployment of a language model on planning tasks, and audit the
    implicit reward that curation puts into it."""
    set_debug(debug)


def _new_app(group: type[RootGroup]) -> typer.Typer:
    """The root application with its callback and no commands yet."""
    root = typer.Typer(
        name="iterdeploy",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        cls=group,  # ends an unexpected exception with one line (exit 1), not a traceback
    )
    root.callback()(_root)
    return root


def _build_app() -> typer.Typer:
    """Every simulator command registered, in :data:`COMMAND_MODULES` order."""
    full = _new_app(RootGroup)
    for module, _ in COMMAND_MODULES:
        command_module(module)(full)
    return full


def __getattr__(name: str) -> Any:
    """``app``, built on first access (it imports every command module)."""
    if name == "app":
        built = _build_app()
        globals()["app"] = built
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_plugins_loaded = False


def _load_plugins() -> None:
    """Attach the commands of the upper layers to ``app`` (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    full: typer.Typer = __getattr__("app") if "app" not in globals() else globals()["app"]
    for register in plugins():
        register(full)


def main() -> None:
    """Console entry point: the root group with commands imported on demand."""
    _new_app(LazyRootGroup)()
