"""``iterdeploy audit``: audit a run and store the findings.

The main CLI lives in the simulator, which must not import auditors, so it loads this command
through the ``iterdeploy.commands`` entry-point group (name ``audit``, value
``iterdeploy.auditors.cli:register``). Entry points are loaded on every ``iterdeploy`` invocation, so this
module imports only typer and the registry (standard library only) at the top; scikit-learn, scipy
and pandas (about two seconds) are imported when an auditor actually runs.

The auditors, their order, the opt-in ones and their printers come from
:data:`iterdeploy.auditors.registry.AUDITORS`. By default the command runs every auditor that is not opt-in,
in that order; each replaces only its own earlier findings in the store. ``--only`` (repeatable)
runs the ones named.

Given several runs (the seeds of a study), it audits each in turn exactly as one, storing each
run's findings in that run, and then prints the findings pooled across seeds
(:mod:`iterdeploy.auditors.pooling`: the inferred reward across seeds and how often each finding
recurs). Every run is read and the runs checked to be poolable before the first audit starts, so a
mistyped path or a duplicated seed fails at once, not after minutes of auditing. ``--pool-only``
pools the findings already stored, auditing nothing.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iterdeploy.auditors.registry import AUDITORS, REGISTRY, default_specs, run_auditors

if TYPE_CHECKING:
    pass

EXIT_BAD_INPUT = 2
"""Exit status for a run directory or option the auditor cannot use (as click's usage errors;
the simulator's ``fail`` gives it)."""

AuditorChoice = StrEnum(  # type: ignore[misc]  # members from the registry, which mypy cannot see
    "AuditorChoice", [(spec.command, spec.command) for spec in AUDITORS]
)
"""Auditors ``--only`` can select (the registry's command names, without versions)."""

OPT_IN: frozenset[str] = frozenset(spec.command for spec in AUDITORS if spec.opt_in)
"""Auditors that run only when ``--only`` names them (they load models: minutes, not seconds)."""


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command to ``app``; the ``iterdeploy.commands`` entry point.

    Args:
        app: The ``iterdeploy`` typer application.
    """
    names = ", ".join(spec.command for spec in default_specs())
    opt_in = f"; {', '.join(sorted(OPT_IN))} when named" if OPT_IN else ""
    app.command("audit", help=f"Audit a run ({names}{opt_in}) and store the findings; given several "
                "runs (seeds), audit each and pool their findings.")(audit_command)


def audit_command(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN_DIR",
            help="Run directory (the one holding run.sqlite); several (the seeds of a study) are "
            "audited one by one and their findings pooled.",
            show_default=False,
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the findings as a JSON list instead of a table (with "
                           "several runs: the pooled result as a JSON object).")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    n_bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples per fit.")
    ] = 200,
    only: Annotated[
        list[AuditorChoice] | None,
        typer.Option(
            "--only", case_sensitive=False,
            help="Run only this auditor (repeat the option for several). Default: every auditor "
            "except the opt-in ones" + (f" ({', '.join(sorted(OPT_IN))})" if OPT_IN else "") + ". "
            "With --pool-only: pool only this auditor's stored findings.",
        ),
    ] = None,
    pool_only: Annotated[
        bool,
        typer.Option(
            "--pool-only",
            help="Audit nothing: pool the findings already stored in the runs (each must hold some); "
            "--seed and --bootstrap are then unused.",
        ),
    ] = False,
) -> None:
    """Run the auditors on RUN_DIR, store their findings and print them; with several runs, pool
    their findings across seeds (or, with --pool-only, pool what they already hold)."""
    from iterdeploy.simulator.cli._common import fail
    from iterdeploy.simulator.errors import IterdeployError

    named = {str(choice) for choice in only or ()}
    if len(run_dirs) == 1 and not pool_only:
        _audit_one(run_dirs[0], named, as_json=as_json, seed=seed, n_bootstrap=n_bootstrap)
        return
    from iterdeploy.auditors.pooling import check_runs, pool_runs

    try:
        if not pool_only:
            check_runs(run_dirs)  # every path a run, the runs poolable, before minutes of auditing
            for run_dir in run_dirs:
                found = run_auditors(run_dir, named, seed=seed, n_bootstrap=n_bootstrap, on_skip=_skipped)
                counts = ", ".join(f"{command} {len(rows)}" for command, rows in found.items())
                typer.echo(f"audited {run_dir}: {sum(map(len, found.values()))} findings stored ({counts})",
                           err=as_json)
        pooled = pool_runs(run_dirs, only=sorted(named))
    except IterdeployError as exc:  # a store, an auditor's settings, runs that cannot be pooled
        raise fail(exc) from None
    if as_json:
        typer.echo(pooled.model_dump_json(indent=2))
        return
    from iterdeploy.auditors.printers import print_pooled

    print_pooled(pooled)


def _skipped(command: str, exc: Exception) -> None:
    typer.echo(f"{command} skipped: {exc}", err=True)


def _audit_one(
    run_dir: Path, named: set[str], *, as_json: bool, seed: int, n_bootstrap: int
) -> None:
    """One run: audit it, store and print its findings (each auditor's own printer, or JSON)."""
    from iterdeploy.auditors.core.features import AuditorConfigError
    from iterdeploy.simulator.cli._common import fail
    from iterdeploy.simulator.errors import StoreError

    try:
        found = run_auditors(run_dir, named, seed=seed, n_bootstrap=n_bootstrap, on_skip=_skipped)
    except (StoreError, AuditorConfigError) as exc:
        # the simulator's CLI helper (auditors may import the simulator, never the reverse):
        # one line and exit 2, or the traceback under ``iterdeploy --debug``; anything else is
        # a bug, which the root command reports in one line (exit 1)
        raise fail(exc) from None
    if as_json:
        from iterdeploy.auditors.core.findings import findings_to_json

        typer.echo(findings_to_json([f for rows in found.values() for f in rows]))
        return
    for command, rows in found.items():
        REGISTRY[command].load_printer()(rows, run_dir, command)
