"""Shared bits of the CLI commands: error reporting and the progress display.

Every command ends in one of three ways, and this module is where the two failures are told
apart (the upper layers' commands, ``audit``, ``calibrate`` and ``dashboard``, import it too; the
simulator never imports them):

* **bad input** (an :class:`~iterdeploy.simulator.errors.IterdeployError`: a file, a flag, a store the user
  can fix): one ``error:`` line and exit code 2, through :func:`fail`;
* **a bug** (any other exception reaching the root command): one line saying it is a bug, where
  to report it and how to see the traceback, exit code 1, through :class:`RootGroup`;
* with ``iterdeploy --debug`` (or ``ITERDEPLOY_DEBUG=1``) neither is caught: Python prints the
  traceback and a debugger (``python -m pdb -m iterdeploy.simulator.cli --debug ...``) stops at it.

rich is imported when something is printed through it, not with this module: every command
imports this module, and ``iterdeploy validate`` prints its verdict with plain ``typer.echo``.
"""

from __future__ import annotations

import errno
import inspect
import os
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from iterdeploy.simulator.errors import IterdeployError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from iterdeploy.simulator.scenario import ScenarioSpec

    err_console: Console
    """The standard-error console every command prints its errors and notes to."""


def __getattr__(name: str) -> Any:
    """``err_console``, made on first use (importing rich costs a tenth of a second)."""
    if name == "err_console":
        from rich.console import Console

        console = Console(stderr=True)
        globals()["err_console"] = console
        return console
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _err_console() -> Console:
    console = globals().get("err_console") or __getattr__("err_console")
    return cast("Console", console)

EXIT_BAD_INPUT = 2
"""Exit code for input the user can fix (as typer's own usage errors)."""

EXIT_BUG = 1
"""Exit code for an unexpected exception: a bug in iterdeploy, not the user's input."""

DEBUG_ENV = "ITERDEPLOY_DEBUG"
"""Environment variable that turns ``--debug`` on (``1``, ``true``, ``yes``, ``on``)."""

REPORT_TO = "the iterdeploy maintainers as an issue"
"""Where a bug report goes, named in the bug line (the project has no public tracker URL yet;
change this when it does)."""

_debug: bool | None = None
"""``--debug`` as the root command read it for this invocation; None outside the CLI."""


def set_debug(value: bool | None) -> None:
    """Record ``--debug`` for this invocation (the root callback calls it on every command, and
    :class:`RootGroup` clears it when the command ends, so a value never leaks from one
    ``CliRunner`` invocation into the next)."""
    global _debug
    _debug = value


def debug_enabled() -> bool:
    """Whether tracebacks are wanted: ``--debug``, or ``ITERDEPLOY_DEBUG`` when the root command
    has not run (a command function called directly, as some tests do)."""
    if _debug is not None:
        return _debug
    return os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def fail(exc: IterdeployError) -> typer.Exit:
    """Print ``exc`` as a one-line error and return the exit (code 2: bad input).

    With ``--debug`` it re-raises ``exc`` instead, so the traceback shows where the refusal came
    from (call it inside the ``except`` block that caught ``exc``). The message is escaped: it
    quotes user input (a YAML key such as ``[/x]``), which rich would otherwise read as markup and
    fail on with a traceback of its own.
    """
    if debug_enabled():
        raise exc
    from rich.markup import escape

    _err_console().print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(code=EXIT_BAD_INPUT)


def bug_line(exc: BaseException) -> str:
    """The one line an unexpected exception gets without ``--debug``: what it was, where it was
    raised (the innermost frame, so a report is useful even without the traceback), where to
    report it and how to see the whole traceback."""
    message = re.sub(r"\s+", " ", str(exc)).strip()
    if len(message) > 300:  # a message may quote a whole input
        message = message[:297] + "..."
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" at {Path(last.filename).name}:{last.lineno} in {last.name}"
    what = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return (f"internal error ({what}{where}); this is a bug in iterdeploy, not a problem with "
            f"your input: please report it to {REPORT_TO} with the command you ran, and rerun "
            f"it with --debug (iterdeploy --debug COMMAND ..., or {DEBUG_ENV}=1) for the traceback")


class RootGroup(TyperGroup):
    """The ``iterdeploy`` command group: the one place an exception no command expected ends.

    Commands turn bad input into :func:`fail` themselves; what still reaches here is either an
    :class:`IterdeployError` a command did not catch (still bad input: exit 2) or a bug (exit 1,
    one line from :func:`bug_line`). Plugged-in commands (``audit``, ``calibrate``,
    ``dashboard``) are subcommands of this group, so they end the same way without importing
    anything new. Typer's own exits, usage errors and aborts pass through untouched, as does a
    broken pipe (``iterdeploy summary RUN | head``), which typer ends quietly.
    """

    def invoke(self, ctx: Any) -> Any:
        """Run the command, ending an unexpected exception with one line (or, with ``--debug``,
        letting it through with its traceback)."""
        set_debug(None)  # until the root callback reads the flag of this invocation
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):  # typer's own endings (usage errors)
            raise
        except IterdeployError as exc:
            if debug_enabled():
                raise
            raise fail(exc) from None
        except Exception as exc:
            if debug_enabled() or (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
                raise
            report_bug(exc)
        finally:
            set_debug(None)


def report_bug(exc: BaseException) -> NoReturn:
    """Print :func:`bug_line` for ``exc`` and exit with :data:`EXIT_BUG`."""
    from rich.markup import escape

    _err_console().print(f"[bold red]error:[/] {escape(bug_line(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=EXIT_BUG) from None


def help_text(command: Callable[..., None]) -> str:
    """A command's docstring with its paragraphs unwrapped (the terminal wraps them)."""
    paragraphs = inspect.cleandoc(command.__doc__ or "").split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def skipped_note(spec: ScenarioSpec) -> str:
    """One line naming the domains a scenario runs without (``unreadable_domains: skip``) and
    why, so that a run on fewer domains than its file names never passes unremarked."""
    skipped = spec.skipped_domains()
    return (f"skipping {len(skipped)} of the scenario's domains, which {spec.model.name} has no "
            f"prompt format for (unreadable_domains: skip): {', '.join(skipped)}; running "
            f"{', '.join(spec.deploy_tasks().domains)}")


def make_progress(console: Console) -> tuple[Progress, Callable[[str, int], Callable[[int], None]]]:
    """A rich progress display and a ``phase(description, total) -> advance`` factory."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
