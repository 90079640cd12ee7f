"""The root command group that imports a command's module only when that command runs.

Why: the command modules import what their commands need (torch through the loop, pandas,
matplotlib, the generators), and importing all of them took most of the two seconds that
``iterdeploy validate`` used to spend on one plan. The console entry point therefore builds the
root group from the callback alone; :class:`LazyRootGroup` knows which module holds which command
(:data:`COMMAND_MODULES`), imports it when that command is asked for, and loads every module and
the plugins of the upper layers (entry-point group ``iterdeploy.commands``) only when it must list
them all: for ``iterdeploy --help``, for a name no module claims (a plugin's command, or a typo
that gets the did-you-mean), and for shell completion. Each module's ``register(app)`` runs on a
fresh ``typer.Typer`` whose commands are moved over, so the modules and the plugins are used
exactly as they are by the eagerly built ``app`` (``iterdeploy.simulator.cli.app``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

from iterdeploy.simulator.cli._common import RootGroup

COMMAND_MODULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("run_cmd", ("run",)),
    ("summary_cmd", ("summary",)),
    ("compare_cmd", ("compare",)),
    ("export_cmd", ("export",)),
    ("scenario_cmd", ("scenario",)),
    ("validate_cmd", ("validate",)),
    ("planning_cmd", ("tasks", "plan")),
    ("pretrain_cmd", ("pretrain",)),
    ("sweep_cmd", ("sweep",)),
)
"""The simulator's command modules in the order ``--help`` lists them, each with the commands its
``register`` attaches (``tests/simulator/test_cli_lazy.py`` checks the claim against the modules)."""

_ROUTES = {name: module for module, names in COMMAND_MODULES for name in names}

PLUGIN_GROUP = "iterdeploy.commands"
"""Entry-point group through which the upper layers plug in their commands (``register(app)``)."""

Register = Callable[[typer.Typer], None]


def command_module(module: str) -> Register:
    """The ``register`` function of ``iterdeploy.simulator.cli.<module>``."""
    loaded = importlib.import_module(f"iterdeploy.simulator.cli.{module}")
    register: Register = loaded.register
    return register


def plugins() -> list[Register]:
    """The upper layers' ``register`` functions; one that cannot be imported is reported on
    standard error and left out, so a broken plugin never takes the other commands down."""
    import importlib.metadata  # scanning the installed distributions costs tens of milliseconds

    found: list[Register] = []
    for entry in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        try:
            found.append(entry.load())
        except ImportError as exc:
            typer.echo(f"warning: command {entry.name!r} unavailable ({exc})", err=True)
    return found


class LazyRootGroup(RootGroup):
    """The ``iterdeploy`` group of the console entry point: commands imported on demand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: set[str] = set()
        self._complete = False

    def _attach(self, register: Register) -> None:
        sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        register(sub)
        for name, command in typer.main.get_group(sub).commands.items():
            self.commands.setdefault(name, command)

    def _load(self, module: str) -> None:
        if module not in self._loaded:
            self._loaded.add(module)
            self._attach(command_module(module))

    def load_all(self) -> None:
        """Every command module, then the plugins, in the order the eager ``app`` lists them
        (typer lists plain commands in registration order, then the groups, such as
        ``scenario``)."""
        if self._complete:
            return
        self._complete = True
        for module, _ in COMMAND_MODULES:
            self._load(module)
        for register in plugins():
            self._attach(register)
        order = [name for _, names in COMMAND_MODULES for name in names]
        rank = {name: i for i, name in enumerate(order)}
        plugged = [name for name in self.commands if name not in rank]
        rank.update((name, len(order) + i) for i, name in enumerate(plugged))
        self.commands = dict(sorted(self.commands.items(), key=lambda item: (
            isinstance(item[1], TyperGroup), rank[item[0]])))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command ``cmd_name``, importing only its module when the name is a known one."""
        if cmd_name not in self.commands and cmd_name in _ROUTES:
            self._load(_ROUTES[cmd_name])
        if cmd_name not in self.commands:
            self.load_all()
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command, for ``--help`` and completion."""
        self.load_all()
        return super().list_commands(ctx)
