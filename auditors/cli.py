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
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iterdeploy.auditors.registry import AUDITORS, REGISTRY, default_specs

if TYPE_CHECKING:
    from iterdeploy.simulator.store import FindingRow

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
    app.command("audit", help=f"Audit a run ({names}{opt_in}) and store the findings.")(audit_command)


def audit_command(
    run_dir: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_DIR", help="Run directory (the one holding run.sqlite).", show_default=False
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the findings as a JSON list instead of a table.")
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
            "except the opt-in ones" + (f" ({', '.join(sorted(OPT_IN))})" if OPT_IN else "") + ".",
        ),
    ] = None,
) -> None:
    """Run the auditors on RUN_DIR, store their findings and print them."""
    from iterdeploy.auditors.core.features import AuditorConfigError, InsufficientRunError
    from iterdeploy.auditors.core.findings import audit_and_store
    from iterdeploy.simulator.cli._common import fail
    from iterdeploy.simulator.errors import StoreError

    named = {str(choice) for choice in only or ()}
    chosen = [spec for spec in AUDITORS if (spec.command in named if named else not spec.opt_in)]
    found: dict[str, list[FindingRow]] = {}
    try:
        for spec in chosen:
            try:
                auditor = spec.make(seed=seed, n_bootstrap=n_bootstrap)
                found[spec.command] = audit_and_store(run_dir, auditor)
            except InsufficientRunError as exc:
                if named:  # asked for by name: an error like any other bad input
                    raise
                typer.echo(f"{spec.command} skipped: {exc}", err=True)
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
