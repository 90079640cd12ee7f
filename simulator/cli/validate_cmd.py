"""``iterdeploy validate``: judge a plan file as the deployment loop does.

Its own module, apart from ``tasks`` and ``plan`` (:mod:`iterdeploy.simulator.cli.planning_cmd`),
because a shell script may call it once per plan: it imports the PDDL reader and the validator
and nothing else of the toolkit (no generators, numpy, rich or pddlgym), so a call costs little
more than the interpreter's start (``docs/benchmarks.md``, "``iterdeploy validate`` end to end").
It takes several problem and plan files in one call as well, so that a script with many plans
pays for the interpreter once. Exit codes: 0 valid plan(s), 1 an invalid plan, 2 input that could
not be read (missing file, malformed PDDL).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from iterdeploy.simulator.cli._common import fail, help_text
from iterdeploy.simulator.errors import IterdeployError
from iterdeploy.simulator.planning._pddl import load_task
from iterdeploy.simulator.planning._task import GroundTask
from iterdeploy.simulator.planning._validate import Verdict, validate_plan

EXIT_NEGATIVE = 1


def _read_plan(path: Path) -> str:
    """Plan file text (undecodable bytes replaced: the validator judges what it can read)."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise IterdeployError(f"{path}: cannot read the plan file ({exc.strerror or exc})") from exc


def _verdict_lines(verdict: Verdict) -> list[str]:
    if verdict.is_valid:
        lines = [f"valid: {verdict.plan_length} step(s) reach the goal"]
    else:
        lines = [f"invalid ({verdict.status}): {verdict.message}"]
        if verdict.unmet_preconditions:
            lines.append("  unmet preconditions: " + " ".join(verdict.unmet_preconditions))
        if verdict.unmet_goals:
            lines.append("  unmet goals: " + " ".join(verdict.unmet_goals))
    if verdict.ignored_lines:
        lines.append(f"  ignored {len(verdict.ignored_lines)} line(s): "
                     + " | ".join(line[:60] for line in verdict.ignored_lines))
    return lines


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
    extra = list(more or [])
    if len(extra) % 2:
        raise fail(IterdeployError(f"{extra[-1]}: a problem file without its plan; after DOMAIN, "
                                   "give PROBLEM PLAN pairs"))
    pairs = [(problem, plan), *zip(extra[::2], extra[1::2], strict=True)]
    tasks: dict[Path, GroundTask] = {}
    verdicts: list[tuple[Path, Path, Verdict]] = []
    try:
        for problem_file, plan_file in pairs:
            if problem_file not in tasks:
                tasks[problem_file] = load_task(domain, problem_file)
            verdicts.append((problem_file, plan_file,
                             validate_plan(tasks[problem_file], _read_plan(plan_file))))
    except IterdeployError as exc:
        raise fail(exc) from None
    several = len(verdicts) > 1
    if as_json:
        payloads = [{**verdict.to_dict(), "domain_file": str(domain), "problem_file": str(problem_file),
                     "plan_file": str(plan_file)} for problem_file, plan_file, verdict in verdicts]
        typer.echo(json.dumps(payloads if several else payloads[0], indent=2))
    else:
        for _, plan_file, verdict in verdicts:
            lines = _verdict_lines(verdict)
            if several:
                lines[0] = f"{plan_file}: {lines[0]}"
            for line in lines:
                typer.echo(line)
    raise typer.Exit(0 if all(v.is_valid for _, _, v in verdicts) else EXIT_NEGATIVE)


def register(app: typer.Typer) -> None:
    """Attach the command."""
    app.command("validate", help=help_text(validate))(validate)
