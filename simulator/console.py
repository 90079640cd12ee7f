"""The ``iterdeploy`` console entry point: a plain ``validate`` call without typer, all else through it.

Why: a shell script may call ``iterdeploy validate`` once per plan, so the whole process counts.
typer converts every command-line value through a pydantic ``TypeAdapter``, and importing typer
and pydantic took more than half of such a call (``docs/benchmarks.md``, "``iterdeploy validate``
end to end"). So :func:`main` reads the one common form itself, ``validate DOMAIN PROBLEM PLAN
[PROBLEM PLAN]... [--json]`` (files and that flag, nothing else), and judges it through
:mod:`iterdeploy.simulator.plan_check`, the module the typer command prints through. Anything
else (another command, ``--help``, another option, an odd number of files, a file that cannot be
read or parsed) goes to the typer application (:func:`iterdeploy.simulator.cli.main`), which
prints its help or its one-line error exactly as it always has: the fast path never prints an
error of its own. ``tests/simulator/test_cli_lazy.py`` holds the two paths to the same output and
exit status, and the fast one to importing neither typer nor pydantic.
"""

from __future__ import annotations

import sys
from pathlib import Path


def plain_validate(args: list[str]) -> int | None:
    """Run ``validate ARGS`` if they are plain files and ``--json``: the exit status, having
    printed the verdicts; None, having printed nothing, when the typer command must handle it."""
    as_json = "--json" in args
    files = [a for a in args if a != "--json"]
    if len(files) < 3 or len(files) % 2 == 0 or any(a.startswith("-") for a in files):
        return None
    from iterdeploy.simulator.errors import IterdeployError
    from iterdeploy.simulator.plan_check import judge, pairs_of, report

    domain, problem, plan, *more = map(Path, files)
    try:
        judged = judge(domain, pairs_of(problem, plan, more))
    except IterdeployError:
        return None  # the typer command reports it, in its words
    text, code = report(domain, judged, as_json=as_json)
    print(text, flush=True)
    return code


def main() -> None:
    """``iterdeploy``: see the module's docstring."""
    args = sys.argv[1:]
    if args[:1] == ["validate"]:
        code = plain_validate(args[1:])
        if code is not None:
            raise SystemExit(code)
    from iterdeploy.simulator.cli import main as typer_main

    typer_main()
