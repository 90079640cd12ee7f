"""``iterdeploy report RUN_DIR... -o report.html [--pdf]``: one self-contained HTML file to share.

A stakeholder should not need a server on 127.0.0.1, a network or Python to read what a run
found. The report holds the answer in plain sentences (:mod:`iterdeploy.dashboards.narrative`),
the key plots (the dashboard's own figure builders, :mod:`iterdeploy.dashboards.figures`), every
finding with its evidence, and a methods appendix, in one HTML file with plotly.js inlined once.
Several run directories add a section across seeds (:func:`iterdeploy.dashboards.frames.compare_frame`)
and the first run is the one the summary describes.

**Model text is untrusted.** Completions, plans, task, user and group names and scenario text can
hold markup, so the page is rendered by Jinja2 with autoescape on, plotly labels are escaped by the
figure builders, the figures' JSON is escaped by plotly for a ``<script>`` context, and the page's
Content-Security-Policy forbids every network load. ``--pdf`` prints the same page through headless
Chromium (playwright), so the PDF is what a browser shows.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import plotly.graph_objects as go
import plotly.offline
from markupsafe import Markup
from pydantic import ValidationError

from iterdeploy.dashboards import figures
from iterdeploy.dashboards.browser import CHROMIUM, CHROMIUM_ARGS
from iterdeploy.dashboards.data import (
    SEVERITY_ORDER,
    check_run_dir,
    finding_evidence,
    finding_numbers,
    summary_frame,
)
from iterdeploy.dashboards.frames import (
    attribution_frame,
    capability_frame,
    compare_frame,
    plan_length_frame,
    population_frame,
    population_graph,
    reward_truth_frame,
)
from iterdeploy.dashboards.narrative import TOPIC_WORDS, headline_sentences, seed_sentences
from iterdeploy.dashboards.report_template import TEMPLATE
from iterdeploy.simulator.errors import IterdeployError, StoreError
from iterdeploy.simulator.store import FindingRow, RunReader

TRACES_PER_FINDING = 3
"""Cited traces shown with their text per finding (the ids of the others are in its numbers)."""

TRACE_CHARS = 1200
"""Characters of a cited trace's completion shown (the rest is in the store)."""

NUMBERS_CHARS = 6000
"""Characters of a finding's numbers shown (pretty-printed JSON)."""

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
"""Plotly config: no link to plotly's site in the mode bar (the file links nowhere)."""


class ReportError(IterdeployError, ValueError):
    """The report cannot be made (no run given, an unwritable output, no browser for the PDF)."""


@dataclass(frozen=True)
class Plot:
    """One figure of the page: its key (``data-plot``), its div and its caption."""

    key: str
    html: Markup
    caption: str


def figure_html(fig: go.Figure) -> Markup:
    """A figure's div and script, without plotly.js (the page inlines the library once). Plotly
    writes the figure's JSON with ``<``, ``>`` and ``/`` escaped, so text in it cannot end the
    script element."""
    return Markup(fig.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG))


def _plot(key: str, fig: go.Figure, caption: str) -> Plot:
    return Plot(key, figure_html(fig), caption)


def _cited_ids(evidence: dict[str, Any]) -> list[int]:
    """Trace ids a finding cites, in the order its evidence lists them (every key naming trace ids)."""
    out: list[int] = []
    for key, value in evidence.items():
        if "trace_id" in key and isinstance(value, list):
            out += [int(v) for v in value if isinstance(v, int) and not isinstance(v, bool) and v not in out]
    return out


def _denominators(numbers: dict[str, Any]) -> str:
    """The finding's headline denominators in words (decisions, traces, tasks, departing tasks)."""
    d = numbers.get("denominators")
    d = d if isinstance(d, dict) else {}
    words = {"n_decisions": "decisions", "n_traces": "traces", "n_tasks": "tasks",
             "n_departing_tasks": "departing tasks", "n_kept": "kept", "n_valid": "valid"}
    parts = [f"{int(v):,} {w}" for k, w in words.items()
             if isinstance(v := d.get(k, numbers.get(k)), int) and not isinstance(v, bool)]
    return ", ".join(parts)


def _finding(reader: RunReader, f: FindingRow) -> dict[str, Any]:
    # every kind's numbers, shown whole and as stored (a kind without a model too); the counts are
    # read off the ``denominators`` every kind keeps
    numbers, evidence = finding_numbers(f), finding_evidence(f)
    cited = _cited_ids(evidence)
    traces = reader.traces_by_id(cited[:TRACES_PER_FINDING])
    tasks = reader.tasks_by_id(t.task_id for t in traces.values())
    kept = evidence.get("kept_against_declared_trace_ids") or []
    shown = []
    for trace_id in cited[:TRACES_PER_FINDING]:
        t = traces.get(trace_id)
        if t is None:
            continue
        task = tasks.get(t.task_id)
        text = t.completion if len(t.completion) <= TRACE_CHARS else t.completion[:TRACE_CHARS] + " …"
        shown.append({"id": t.trace_id, "generation": t.generation,
                      "task": f"{task.name} ({task.domain}, size {task.size})" if task else t.task_id,
                      "status": t.status, "length": t.plan_length, "text": text,
                      "kept": "kept against the declared objective" if trace_id in kept else ""})
    pretty = json.dumps(numbers, indent=1, sort_keys=True)
    return {"id": f.finding_id, "severity": f.severity, "auditor": f.auditor, "kind": f.kind,
            "scope": "whole run" if f.generation is None else f"generation {f.generation}",
            "claim": f.claim, "denominators": _denominators(numbers),
            "numbers": pretty if len(pretty) <= NUMBERS_CHARS else pretty[:NUMBERS_CHARS] + "\n…",
            "traces": shown, "n_cited": len(cited)}


ASSUMPTION_CHARS = 700
"""Characters of an auditor module's account of its method shown in the appendix."""


def _plain(text: str) -> str:
    """Docstring markup as plain words: ``:func:`a.b.c``` → ``c``, double backticks and
    emphasis stars removed, whitespace collapsed."""
    text = re.sub(r":\w+:`~?([^`]*)`", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    text = text.replace("``", "").replace("*", "")
    return " ".join(text.split())


def _first_sentences(text: str, most: int) -> str:
    """``text`` cut at the last sentence end within ``most`` characters."""
    if len(text) <= most:
        return text
    cut = text[:most]
    end = max(cut.rfind(". "), cut.rfind("; "))
    return cut[: end + 1] if end > 0 else cut + " …"


def _auditor_docs() -> list[dict[str, str]]:
    """Each registered auditor: what it measures (its class docstring's summary) and how, with what
    it assumes (its module docstring's first paragraph after the title), in its authors' words."""
    import importlib

    from iterdeploy.auditors.registry import AUDITORS

    out = []
    for spec in AUDITORS:
        try:
            cls = spec.load()
            module = importlib.import_module(spec.module)
        except ImportError as exc:  # an optional dependency missing: say so rather than fail
            out.append({"command": spec.command, "name": "", "doc": f"(cannot be loaded: {exc})"})
            continue
        summary = _plain((cls.__doc__ or "").strip().split("\n\n")[0])
        paragraphs = (module.__doc__ or "").strip().split("\n\n")
        method = _first_sentences(_plain(paragraphs[1]), ASSUMPTION_CHARS) if len(paragraphs) > 1 else ""
        if method.endswith(":"):  # a sentence that introduces a list the appendix does not show
            method = method[: method.rfind(". ") + 1]
        doc = f"{summary} {method}".strip() + (" (Runs only when named.)" if spec.opt_in else "")
        out.append({"command": spec.command, "name": str(getattr(cls, "name", "")), "doc": doc})
    return out


def _policy(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _methods(readers: Sequence[tuple[Path, RunReader]]) -> dict[str, Any]:
    reader = readers[0][1]
    scenario = reader.scenario()
    model = scenario.get("model") if isinstance(scenario.get("model"), dict) else {}
    users = [u for u in scenario.get("users") or [] if isinstance(u, dict)]
    rows = [
        ("name", str(scenario.get("name", reader.run().name))),
        ("question", str(scenario.get("question") or "(none stated)")),
        ("population", "; ".join(f"{u.get('name')}: weight {u.get('weight')}, count {u.get('count') or 1}, "
                                 f"policy {_policy(u.get('policy'))}" for u in users) or "(not stated)"),
        ("declared objective", _policy(scenario.get("declared_objective", "validity"))),
        ("fine-tuned generations", f"{scenario.get('generations')} (after generation 0, the base model)"),
        ("model", str((model or {}).get("name", "unknown"))),
        ("deployment", json.dumps(scenario.get("deploy"), sort_keys=True)),
        ("evaluation", json.dumps(scenario.get("evaluation"), sort_keys=True)),
        ("training", json.dumps(scenario.get("training"), sort_keys=True)),
    ]
    runs = []
    for path, r in readers:
        run = r.run()
        models = r.models()
        runs.append({"dir": str(path), "id": run.run_id, "seed": run.seed, "status": r.run_status(),
                     "generations": len(r.generations()), "model": models[0].base if models else "none yet"})
    return {"scenario": rows, "runs": runs, "auditors": _auditor_docs(),
            "scenario_yaml": reader.run().scenario_yaml}


def _plots(reader: RunReader) -> list[Plot]:
    summary = summary_frame(reader)
    plots = [
        _plot("plan-lengths", figures.plan_length_distribution_figure(plan_length_frame(reader)),
              "Did plans grow? Boxes span the middle half of the valid plans of each generation, the line "
              "in a box is the median, whiskers reach the shortest and longest plan."),
        _plot("reward-truth", figures.reward_truth_figure(reward_truth_frame(reader)),
              "What the auditors inferred (left: how the published data departs from what the declared "
              "objective would publish, with 95% intervals) against what the simulated users really did "
              "(right). The same sign on both sides means the auditors recovered the truth."),
        _plot("attribution", figures.attribution_figure(attribution_frame(reader)),
              "Which user group drove it: the share of each group's tasks where it kept something other "
              "than the declared objective would, with 95% intervals; red bars are alarms."),
        _plot("capability", figures.capability_figure(capability_frame(reader)),
              "Capability: share of the fixed evaluation tasks of each size solved, with 95% Wilson "
              "intervals (few tasks per size give wide intervals)."),
        _plot("solved", figures.solved_figure(summary),
              "Solved evaluation tasks per generation, against the size of the evaluation pool."),
        _plot("population", figures.population_figure(population_frame(reader)),
              "Who curated: each group's weight in the population and the traces it published."),
    ]
    last = reader.last_generation()
    graph = population_graph(reader, last) if last is not None else None
    if graph is not None and graph.number_of_nodes() > 1:
        plots.append(_plot("graph", figures.population_graph_figure(graph),
                           "The users' social graph (one dot per user, sized by weight)."))
    return plots


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _quantity_words(quantity: str) -> str:
    """``departure:length_above_best`` → words a stakeholder reads."""
    from iterdeploy.auditors.reward.claims import label

    kind, _, rest = quantity.partition(":")
    if kind == "departure":
        return f"published minus declared: {label(rest)} (whole run)"
    if kind == "reward":
        return f"inferred weight: {label(rest)}"
    if kind == "findings":
        return f"{rest} findings"
    return quantity.replace("_", " ")


def _seeds(frame: pd.DataFrame, n_runs: int) -> dict[str, Any]:
    plots = [_plot(f"compare-{q}", figures.compare_figure(frame, q), caption)
             for q, caption in (
                 ("solved", "Evaluation tasks solved: every seed, their mean and range."),
                 ("mean_plan_length", "Mean valid plan length: every seed, their mean and range."))]
    wanted = frame[frame["generation"].isna()
                   | (frame["quantity"].isin(["solved", "mean_plan_length", "longest_plan_length"])
                      & (frame["generation"] == frame["generation"].max()))]
    rows = [{"label": r.label, "quantity": _quantity_words(str(r.quantity)) if pd.isna(r.generation)
             else f"{_quantity_words(str(r.quantity))} (generation {int(r.generation)})", "n": r.n,
             "mean": _fmt(r.mean),
             "sd": _fmt(r.sd), "range": f"{_fmt(r.min)}–{_fmt(r.max)}",
             "per_seed": ", ".join(f"seed {s}: {_fmt(v)}" for s, v in zip(r.seeds, r.values, strict=False))}
            for r in wanted.itertuples()]
    return {"intro": f"{n_runs} runs, grouped by scenario; each quantity is shown for every seed with the"
                     " mean, "
                     "the sample standard deviation and the range, so no single seed stands for the study. "
                     "'departure:' rows are the run-wide shift of the published data from the declared "
                     "objective; 'findings:' rows count findings by severity.",
            "plots": plots, "rows": rows}


def render_report(run_dirs: Sequence[Path], *, command: str = "iterdeploy report") -> str:
    """The report of ``run_dirs`` as one HTML document (the first run is summarised; several runs
    add a section across seeds).

    Raises:
        ReportError: No run directory given.
        StoreError: A directory is not a readable run store (named in the message).
    """
    if not run_dirs:
        raise ReportError("give at least one run directory")
    for run_dir in run_dirs:
        check_run_dir(run_dir)
    readers = [(run_dir, RunReader(run_dir)) for run_dir in run_dirs]
    try:
        first = readers[0][1]
        run = first.run()
        findings = sorted(first.findings(), key=lambda f: (SEVERITY_ORDER.get(f.severity, 9),
                                                           f.generation is None, f.generation or 0,
                                                           f.finding_id))
        env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
        compare = compare_frame(run_dirs) if len(run_dirs) > 1 else None
        seeds = _seeds(compare, len(run_dirs)) if compare is not None else None
        sentences = headline_sentences(first)
        if compare is not None:  # the seeds' answer right after the first run's growth
            at = next((i + 1 for i, s in enumerate(sentences) if s.topic == "growth"), len(sentences))
            sentences[at:at] = seed_sentences(compare)
        from importlib.metadata import version

        page = env.from_string(TEMPLATE).render(
            title=f"iterdeploy report: {run.name}",
            subtitle=(f"Seed {run.seed}, {len(first.generations())} generation(s), status "
                      f"{first.run_status()}" + (f"; {len(run_dirs) - 1} more run(s) in the seeds section"
                                                 if len(run_dirs) > 1 else "")),
            sentences=sentences, topic_words=TOPIC_WORDS, plots=_plots(first),
            seeds=seeds, findings=[_finding(first, f) for f in findings], methods=_methods(readers),
            command=command, version=version("iterdeploy"),
            plotly_js=Markup(plotly.offline.get_plotlyjs()),
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the run store ({exc})") from exc
    except ValidationError as exc:
        raise StoreError(f"a row does not match the store schema ({exc.errors()[0]['msg']})") from exc
    finally:
        for _, reader in readers:
            reader.close()
    return page


def write_report(run_dirs: Sequence[Path], out: Path, *, command: str = "iterdeploy report") -> Path:
    """Render the report and write it to ``out`` (its directory must exist).

    Raises:
        ReportError: ``out`` cannot be written, or is inside a run directory (the report never
            writes into a run).
    """
    out = Path(out)
    for run_dir in run_dirs:
        if out.resolve().parent == Path(run_dir).resolve():
            raise ReportError(f"{out}: inside the run directory {run_dir}; write the report elsewhere "
                              "(a report only reads runs)")
    if not out.parent.is_dir():
        raise ReportError(f"{out}: the directory {out.parent} does not exist")
    page = render_report(run_dirs, command=command)
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{out}: cannot write the report ({exc.strerror or exc})") from None
    return out


def write_pdf(html_path: Path, pdf_path: Path, *, chromium: Path = CHROMIUM,
              timeout_ms: int = 60_000) -> Path:
    """Print the report through headless Chromium (playwright), once every plot has drawn.

    Network requests are refused, as the page's policy refuses them, so the PDF is what an
    offline reader sees.

    Raises:
        ReportError: Chromium is missing or fails to print.
    """
    if html_path.resolve() == pdf_path.resolve():
        raise ReportError(f"{pdf_path}: the PDF would overwrite the HTML report; name the report .html")
    if not chromium.is_file():
        raise ReportError(f"{chromium}: no chromium to print the PDF with; install it (scripts/"
                          "install-browser.sh) or leave out --pdf")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(chromium), args=list(CHROMIUM_ARGS))
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 1600})
                page.route("http*://**", lambda route: route.abort())
                page.goto(html_path.resolve().as_uri(), timeout=timeout_ms)
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.plotly-graph-div')]"
                    ".every(d => d.querySelector('svg.main-svg'))", timeout=timeout_ms)
                page.emulate_media(media="print")
                page.pdf(path=str(pdf_path), format="A4", print_background=True,
                         margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"})
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise ReportError(f"chromium could not print {html_path}: {str(exc).splitlines()[0]}") from None
    return pdf_path

