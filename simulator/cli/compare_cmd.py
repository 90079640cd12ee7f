"""``iterdeploy compare RUN_DIR...``: the summary across runs, as mean and spread per generation.

The numbers come from :mod:`iterdeploy.simulator.studies.compare`; this module only lays them out: rich
tables for a terminal, or CSV, JSON or Markdown for scripts and documents.
"""

from __future__ import annotations

import csv
import io
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from iterdeploy.simulator.cli._common import fail
from iterdeploy.simulator.errors import IterdeployError
from iterdeploy.simulator.studies.compare import Comparison, ScenarioGroup, Spread, compare_runs


class CompareFormat(StrEnum):
    """How ``iterdeploy compare`` prints."""

    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("solved", "evaluated"), ("mean_plan_length", None), ("longest_plan_length", None),
    ("largest_solved_size", None), ("train_size", None), ("deploy_solved", "deploy_tasks"),
    ("deploy_longest_plan_length", None),
)
"""The table's quantities (the columns of ``iterdeploy summary``), each with its denominator."""

CSV_FIELDS = ("scenario", "name", "generation", "quantity", "runs", "n", "mean", "sd", "min", "max",
              "ci95_low", "ci95_high", "seeds", "runs_in_group", "flagged_runs")
"""The columns of ``--format csv``: one row per scenario, generation and quantity."""


def _headers(group: ScenarioGroup) -> list[str]:
    eval_name, deploy_name = ("held-out", "pool") if group.fixed_pool else ("eval", "deploy")
    names = {"solved": f"{eval_name} solved", "mean_plan_length": "mean len",
             "longest_plan_length": "longest", "largest_solved_size": "largest size",
             "train_size": "train size", "deploy_solved": f"{deploy_name} solved",
             "deploy_longest_plan_length": f"{deploy_name} longest"}
    return [names[q] + _of(group, denominator) for q, denominator in COLUMNS]


def _of(group: ScenarioGroup, denominator: str | None) -> str:
    """`` (of 96)`` where every run and generation has the same denominator, else its range."""
    if denominator is None:
        return ""
    values = {v for g in group.generations for v in g.quantities[denominator].values if v is not None}
    if not values:
        return ""
    low, high = min(values), max(values)
    return f" (of {low:g})" if low == high else f" (of {low:g}–{high:g})"


def _number(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _value(x: float | None) -> str:
    """A run's value: a whole number as one, else one decimal (mean plan lengths)."""
    if x is None:
        return "-"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def cell(s: Spread, sep: str = "\n") -> str:
    """A table cell: ``mean ± sd`` and, after ``sep``, ``min–max``; one value as itself; ``-``
    where no run has a value."""
    if s.n == 0 or s.mean is None:
        return "-"
    if s.n == 1:
        return _value(s.mean)
    spread = f"{_value(s.min)}–{_value(s.max)}"
    return f"{_number(s.mean)} ± {_number(s.sd)}{sep}{spread}"


def _runs_cell(group: ScenarioGroup, n: int) -> str:
    return str(n) if n == len(group.runs) else f"{n} of {len(group.runs)}"


def _title(group: ScenarioGroup) -> str:
    seeds = ", ".join(str(r.seed) for r in group.runs)
    plural = "run" if len(group.runs) == 1 else "runs"
    return f"{group.label}: {len(group.runs)} {plural} (seed{'s' if len(group.runs) > 1 else ''} {seeds})"


def flag_lines(group: ScenarioGroup) -> list[str]:
    """One line per run that is not completed: which, and what it contributes."""
    out = []
    for r in group.runs:
        if not r.flagged:
            continue
        got = "no generation" if r.last_generation is None else f"generations 0–{r.last_generation}"
        planned = "" if r.planned_generations is None else f" of 0–{r.planned_generations}"
        out.append(f"seed {r.seed} ({r.run_dir}) is {r.status}: {got}{planned} included")
    return out


def _group_tables(group: ScenarioGroup) -> list[Table]:
    caption = ["mean ± sd over runs, min–max below; runs: those that committed the generation"]
    caption += [f"flagged: {line}" for line in flag_lines(group)]
    table = Table(title=escape(_title(group)), caption=escape("\n".join(caption)))
    for name in ("gen", "runs", *_headers(group)):
        table.add_column(name, justify="right")
    for g in group.generations:
        table.add_row(str(g.generation), _runs_cell(group, g.n_runs),
                      *(cell(g.quantities[q]) for q, _ in COLUMNS))
    tables = [table]
    domains = sorted({q.split(".", 1)[1] for q in group.quantities if "." in q})
    if domains:
        deploy_name, eval_name = ("pool", "held-out") if group.fixed_pool else ("deploy", "eval")
        by_domain = Table(
            title=escape(f"{group.label}: solved tasks per domain ({deploy_name}; {eval_name})"))
        for name in ("gen", *domains):
            by_domain.add_column(name, justify="right")
        for g in group.generations:
            by_domain.add_row(str(g.generation), *(
                f"{inline(g.quantities[f'deploy_solved_by_domain.{d}'])}\n"
                f"{inline(g.quantities[f'solved_by_domain.{d}'])}" for d in domains))
        tables.append(by_domain)
    return tables


def _headline(group: ScenarioGroup, g: int, sep: str) -> str:
    """A group's solved counts in generation ``g`` (the deployment pool's, then the evaluation
    pool's), for the table that sets scenarios side by side."""
    stats = next((s for s in group.generations if s.generation == g), None)
    if stats is None:
        return "-"
    deploy_name, eval_name = ("pool", "held-out") if group.fixed_pool else ("deploy", "eval")
    return (f"{deploy_name} {inline(stats.quantities['deploy_solved'])}{sep}"
            f"{eval_name} {inline(stats.quantities['solved'])}")


def _generations(comparison: Comparison) -> list[int]:
    return sorted({g.generation for group in comparison.groups for g in group.generations})


def comparison_table(comparison: Comparison) -> Table:
    """Scenarios side by side: solved tasks per generation, mean ± sd and min–max."""
    table = Table(title="scenarios compared: solved tasks, mean ± sd (min–max)")
    table.add_column("gen", justify="right")
    for group in comparison.groups:
        table.add_column(escape(group.label), justify="right")
    for g in _generations(comparison):
        table.add_row(str(g), *(_headline(group, g, "\n") for group in comparison.groups))
    return table


def render_table(comparison: Comparison) -> Group:
    """Everything ``iterdeploy compare`` prints by default."""
    parts: list[Table] = [t for group in comparison.groups for t in _group_tables(group)]
    if len(comparison.groups) > 1:
        parts.append(comparison_table(comparison))
    return Group(*parts)


def render_markdown(comparison: Comparison) -> str:
    """The same tables in Markdown (cells ``mean ± sd (min–max)``)."""
    lines: list[str] = []
    for group in comparison.groups:
        lines += [f"### {_title(group)}", ""]
        lines.append("| gen | runs | " + " | ".join(_headers(group)) + " |")
        lines.append("|" + "---|" * (len(COLUMNS) + 2))
        for g in group.generations:
            cells = [inline(g.quantities[q]) for q, _ in COLUMNS]
            lines.append(f"| {g.generation} | {_runs_cell(group, g.n_runs)} | " + " | ".join(cells) + " |")
        lines.append("")
        flags = flag_lines(group)
        if flags:
            lines += [*(f"- flagged: {line}" for line in flags), ""]
    if len(comparison.groups) > 1:
        lines += ["### Scenarios compared: solved tasks", ""]
        lines.append("| gen | " + " | ".join(group.label for group in comparison.groups) + " |")
        lines.append("|" + "---|" * (len(comparison.groups) + 1))
        for gen in _generations(comparison):
            lines.append(f"| {gen} | " + " | ".join(_markdown_headline(group, gen)
                                                      for group in comparison.groups) + " |")
        lines.append("")
    lines.append("Cells: mean ± sample standard deviation (min–max) over runs. `--format json` and "
                 "`--format csv` add a 95% Student-t interval for the mean.")
    return "\n".join(lines)


def inline(s: Spread) -> str:
    """A cell on one line: ``mean ± sd (min–max)``."""
    text = cell(s, " (")
    return text + ")" if " (" in text else text


def _markdown_headline(group: ScenarioGroup, g: int) -> str:
    return _headline(group, g, "; ").replace("\n", " ")


def render_csv(comparison: Comparison) -> str:
    """One row per scenario, generation and quantity (:data:`CSV_FIELDS`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for group in comparison.groups:
        flagged = sum(r.flagged for r in group.runs)
        for g in group.generations:
            for q in group.quantities:
                s = g.quantities[q]
                writer.writerow([group.label, group.name, g.generation, q, g.n_runs, s.n,
                                 *(_csv(x) for x in (s.mean, s.sd, s.min, s.max, s.ci95_low, s.ci95_high)),
                                 " ".join(str(seed) for seed in g.seeds), len(group.runs), flagged])
    return out.getvalue()


def _csv(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def compare(
    run_dirs: list[Path] = typer.Argument(
        None, help="Run directories written by `iterdeploy run` (e.g. runs/quickstart-seed*)."),
    fmt: CompareFormat = typer.Option(
        CompareFormat.table, "--format", "-f",
        help="table (rich, for a terminal), csv (one row per scenario, generation and quantity), "
        "json (everything, with each run's values and 95% t intervals) or markdown."),
) -> None:
    """Compare runs: the summary per generation, as mean ± sd and min–max over each scenario's seeds.

    Scenarios stand side by side. Runs are grouped by the scenario they stored, seed and number
    of generations aside; runs of the same name made with other settings are a group of their
    own, labelled with the settings that differ. A run that is not completed (interrupted,
    running) counts with the generations it committed and is flagged.
    """
    try:
        comparison = compare_runs(run_dirs or [])
    except IterdeployError as exc:
        raise fail(exc) from None
    if fmt is CompareFormat.json:
        typer.echo(comparison.model_dump_json(indent=2))
    elif fmt is CompareFormat.csv:
        typer.echo(render_csv(comparison), nl=False)
    elif fmt is CompareFormat.markdown:
        typer.echo(render_markdown(comparison))
    else:
        Console().print(render_table(comparison))


def register(app: typer.Typer) -> None:
    """Attach the command."""
    app.command("compare")(compare)

