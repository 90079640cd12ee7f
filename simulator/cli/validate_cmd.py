"""``iterdeploy validate``: judge a plan file as the deployment loop does.

Its own module, apart from ``tasks`` and ``plan`` (:mod:`iterdeploy.simulator.cli.planning_cmd`),
because a shell script may call it once per plan: it imports the PDDL reader and the validator
and nothing else of the toolkit (no generators, numpy, rich or pddlgym), so a call costs little
more than the interpreter's start (``docs/benchmarks.md``, "``iterdeploy validate`` end to end").
It takes several problem and plan files in one call as well, so that a script with many plans
pays for the interpreter once. What it prints is :mod:`iterdeploy.simulator.plan_check`'s; a plain
call (files and ``--json`` only) is run through that module by the console entry point without
typer (:mod:`iterdeploy.simulator.console`), anything else (``--help``, a mistake) through here.
Exit codes: 0 valid plan(s), 1 an invalid plan, 2 input that could not be read (missing file,
malformed PDDL).
"""

from __future__ import annotations

from pathlib import Path

import typer

from iterdeploy.simulator.cli._common import fail, help_text
from iterdeploy.simulator.errors import IterdeployError
from iterdeploy.simulator.plan_check import judge, pairs_of, report


def validate(
    domain: Path = typer.Argument(..., help="PDDL domain file."),
    problem: Path = typer.Argument(..., help="PDDL problem file."),
    plan: Path = typer.Argument(..., help="Plan: one action a line, '(pickup b1)' or 'pickup b1'; "
                                "numbering, bullets and ';' comments are tolerated."),
    more: list[Path] | None = typer.Argument(
        None, metavar="PAIRS", show_default=False,
        help="More PROBLEM PLAN files, in pairs: each plan is judged against the problem before "
        "it, all in one process (the domain is read once, each problem once)."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as a JSON object (a list of "
                                 "them for several plans)."),
) -> None:
    """Check a plan against a task by replaying it: exit 0 valid, 1 invalid, 2 unreadable input.

    The verdict says why a plan fails: the first step whose preconditions do not hold (and which),
    an unknown action or object, a wrong number of arguments, or the goal atoms still unmet.

    With several PROBLEM PLAN pairs each verdict line starts with its plan file, and the exit
    status is 0 only when every plan is valid; a file that cannot be read stops it with exit 2.
    """
    try:
        judged = judge(domain, pairs_of(problem, plan, more or []))
    except IterdeployError as exc:
        raise fail(exc) from None
    text, code = report(domain, judged, as_json=as_json)
    typer.echo(text)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Attach the command."""
    app.command("validate", help=help_text(validate))(validate)
