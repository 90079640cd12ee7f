"""``iterdeploy calibrate``: run a suite of scenarios whose truth is known, audit, score, report.

A command rather than a ``benchmarks/`` script because calibration is part of using the auditors,
not a measurement of their speed: a researcher who adds an auditor, or a scenario with a planted
bias of their own, runs the same command on their suite. Loaded through the ``iterdeploy.commands``
entry point (name ``calibrate``), so it imports only typer until it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from iterdeploy.auditors.calibration.suite import Suite

EXIT_BAD_INPUT = 2


def register(app: typer.Typer) -> None:
    """Add the ``calibrate`` command to ``app``; the ``iterdeploy.commands`` entry point."""
    app.command(
        "calibrate",
        help="Run a calibration suite (scenarios with a known truth, several seeds), audit every run "
        "with every default auditor, score the findings against the truth and write a report "
        "(docs/calibration.md with its figures and raw scores).",
    )(calibrate_command)


def calibrate_command(
    suite_path: Annotated[
        Path,
        typer.Argument(metavar="SUITE", help="Suite file (YAML), or a shipped suite's name "
                       "(calibration: scenarios/calibration/suite.yaml).", show_default=True),
    ] = Path("calibration"),
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Parent directory of the runs (<scenario>/seed<N>).")
    ] = Path("runs/calibration"),
    doc: Annotated[
        Path, typer.Option("--doc", help="Report to write; figures and <doc>.json go beside it.")
    ] = Path("docs/calibration.md"),
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Override the suite's seeds: 0,1,2 or 0-4.")
    ] = None,
    cases: Annotated[
        list[str] | None,
        typer.Option("--case", help="Only this scenario (its name; repeat for several). Default: all."),
    ] = None,
    no_run: Annotated[
        bool,
        typer.Option("--no-run", help="Do not run missing or unfinished runs; score those that are "
                     "finished and say which are missing."),
    ] = False,
    reuse_findings: Annotated[
        bool,
        typer.Option("--reuse-findings", help="Score the findings already stored instead of auditing "
                     "again (use after changing only the report)."),
    ] = False,
) -> None:
    """Calibrate the auditors on a suite and write the report."""
    from rich.console import Console

    from iterdeploy.auditors.calibration.suite import SuiteError, load_suite
    from iterdeploy.simulator.errors import IterdeployError
    from iterdeploy.simulator.scenario_files import resolve_suite

    console = Console(stderr=True)
    try:
        suite, base = load_suite(resolve_suite(suite_path))
        if seeds is not None:
            from iterdeploy.simulator.cli.run_cmd import parse_seeds

            suite = suite.model_copy(update={"seeds": tuple(parse_seeds(seeds))})
        _calibrate(suite, base, out, doc, cases, no_run, reuse_findings, console, suite_path, seeds)
    except (SuiteError, IterdeployError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=EXIT_BAD_INPUT) from exc


def _calibrate(
    suite: Suite, base: Path, out: Path, doc: Path, cases: list[str] | None, no_run: bool,
    reuse_findings: bool, console: Console, suite_path: Path, seeds: str | None,
) -> None:
    """Run, audit and score every (case, seed) of ``suite``, then write the report."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from iterdeploy.auditors.calibration.report import Report, write_report
    from iterdeploy.auditors.calibration.runner import audit_case, plan_runs, run_case, score_case
    from iterdeploy.auditors.calibration.suite import SuiteError
    from iterdeploy.auditors.registry import default_specs

    plans = plan_runs(suite, base, out)
    if cases:
        unknown = sorted(set(cases) - {p.name for p in plans})
        if unknown:
            raise SuiteError(f"--case {unknown}: not in the suite; its scenarios: "
                             f"{sorted({p.name for p in plans})}")
        plans = [p for p in plans if p.name in cases]
    specs = default_specs()
    scores, missing = [], []
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("calibrating", total=len(plans))
        for plan in plans:
            label = f"{plan.name} seed {plan.seed}"
            if not _finished(plan.run_dir):
                if no_run:
                    missing.append(label)
                    progress.advance(task)
                    continue
                progress.update(task, description=f"running {label}")
                run_case(plan, suite, log=lambda msg: progress.console.print(f"  {msg}"))
            if not reuse_findings:
                progress.update(task, description=f"auditing {label}")
                audit_case(plan, suite, specs, log=lambda msg: progress.console.print(f"  {msg}"))
            score = score_case(plan, specs)
            scores.append(score)
            progress.console.print(f"{label}: {score.n_alarms()} medium/high findings", markup=False)
            progress.advance(task)
    if not scores:
        why = f" (missing: {', '.join(missing)})" if missing else ""
        raise SuiteError(f"no finished run to score{why}")
    versions = {spec.command: spec.load().name for spec in specs}
    case_of = {p.name: p.case for p in plans}
    command = "iterdeploy calibrate " + " ".join(
        [str(suite_path), "--out", str(out), "--doc", str(doc)] + (["--seeds", seeds] if seeds else [])
        + [a for c in cases or [] for a in ("--case", c)])
    report = Report(suite, scores, [s.command for s in specs], versions, case_of)
    written = write_report(report, doc, command)
    for target, measured, met in report.target_rows():
        console.print(f"{'✓' if met == 'yes' else '✗'} {target}: {measured}", markup=False)
    if missing:
        console.print(f"not scored (not finished, --no-run): {', '.join(missing)}", markup=False)
    typer.echo("\n".join(str(p) for p in written))


def _finished(run_dir: Path) -> bool:
    """True when the run directory holds a completed run."""
    from iterdeploy.simulator.errors import StoreError
    from iterdeploy.simulator.store import RunReader

    if not (run_dir / "run.sqlite").exists():
        return False
    try:
        with RunReader(run_dir) as reader:
            return reader.run().status == "completed"
    except StoreError:
        return False

