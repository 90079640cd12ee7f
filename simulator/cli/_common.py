"""Shared bits of the CLI commands: error reporting and the progress display."""

from __future__ import annotations

from collections.abc import Callable

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from simulator.errors import IterdeployError

err_console = Console(stderr=True)


def fail(exc: IterdeployError) -> typer.Exit:
    """Print ``exc`` as a one-screen error and return the exit (code 2: bad input).

    The message is escaped: it quotes user input (a YAML key such as ``[/x]``), which rich would
    otherwise read as markup and fail on with a traceback of its own.
    """
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def make_progress(console: Console) -> tuple[Progress, Callable[[str, int], Callable[[int], None]]]:
    """A rich progress display and a ``phase(description, total) -> advance`` factory."""
    progress = Progress(
        TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=False,
    )

    def phase(description: str, total: int) -> Callable[[int], None]:
        task = progress.add_task(description, total=total)

        def advance(n: int) -> None:
            progress.advance(task, n)

        return advance

    return progress, phase
