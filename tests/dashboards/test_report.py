"""``iterdeploy report``: one self-contained HTML file (no network, no server), rendered in a real
headless Chromium, printed to PDF, and safe against markup in anything a store holds."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

import plotly.offline
import pytest
from playwright.sync_api import Page, sync_playwright

from iterdeploy.dashboards.browser import CHROMIUM, CHROMIUM_ARGS
from iterdeploy.dashboards.report import ReportError, write_pdf, write_report
from iterdeploy.simulator.store import (
    CurationRow,
    EvaluationRow,
    FindingRow,
    GenerationBundle,
    GenerationRow,
    PopulationRow,
    RunRow,
    RunWriter,
    TaskRow,
    TraceRow,
    dumps,
)
from tests.dashboards.conftest import REPO, MakeRun

PAYLOAD = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
"""Markup that runs a script if it is ever inserted as HTML rather than shown as text."""

NOW = "2025-06-01T12:00:00+00:00"


class _Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser.tags


def assert_self_contained(page: str) -> None:
    """No element loads anything: no external src/href, no <link>, no <script src>, no <img>,
    plotly.js inlined exactly once."""
    tags = _tags(page)
    assert tags and tags[0][0] == "html"
    for tag, attrs in tags:
        assert tag not in ("link", "img", "iframe", "object", "embed"), tag
        for name in ("src", "href", "action", "srcset"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//")), (tag, name, value)
        if tag == "script":
            assert "src" not in attrs
    assert page.count(plotly.offline.get_plotlyjs()[:200]) == 1


@contextmanager
def open_report(path: Path) -> Iterator[tuple[Page, list[str]]]:
    """The report in headless Chromium, every plot drawn; yields the page and any network
    request it tried (there must be none)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-browser.sh (as root) first")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1600})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url)
                    if not r.url.startswith(("file:", "data:")) else None)
            page.goto(path.resolve().as_uri(), timeout=30_000)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.plotly-graph-div')]"
                ".every(d => d.querySelector('svg.main-svg'))", timeout=30_000)
            yield page, requests
        finally:
            browser.close()


def test_synthetic_report_is_self_contained(run_dir: Path, tmp_path: Path) -> None:
    out = write_report([run_dir], tmp_path / "report.html")
    page = out.read_text(encoding="utf-8")
    assert_self_contained(page)
    for section in ("Executive summary", "Key plots", "Findings and their evidence", "Methods appendix"):
        assert section in page
    assert "Plans grew 40% longer between generations 1 and 2." in page  # a stored claim


def test_report_refuses_bad_input(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="inside the run directory"):
        write_report([run_dir], run_dir / "report.html")
    with pytest.raises(ReportError, match="does not exist"):
        write_report([run_dir], tmp_path / "no-such-dir" / "report.html")
    with pytest.raises(ReportError, match="would overwrite the HTML"):
        write_pdf(tmp_path / "r.pdf", tmp_path / "r.pdf")
    with pytest.raises(ReportError, match="no chromium"):
        write_pdf(tmp_path / "r.html", tmp_path / "r.pdf", chromium=tmp_path / "no-chromium")
    result = subprocess.run([sys.executable, "-m", "iterdeploy.simulator.cli", "report",
                             str(tmp_path / "missing"), "-o", str(tmp_path / "r.html")],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "missing: no such directory" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.browser
def test_real_run_report_renders_summary_plots_and_pdf(small_real_run: Path, tmp_path: Path) -> None:
    """The one end-to-end check: ``iterdeploy report --pdf`` on a real audited run, opened in
    Chromium with no network: the summary answers, every plot drew its SVG, and the PDF has pages."""
    out = tmp_path / "report.html"
    result = subprocess.run([sys.executable, "-m", "iterdeploy.simulator.cli", "report",
                             str(small_real_run), "-o", str(out), "--pdf"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"wrote {out}" in result.stdout
    assert_self_contained(out.read_text(encoding="utf-8"))
    with open_report(out) as (page, requests):
        topics = page.eval_on_selector_all("ul.summary li", "els => els.map(e => e.dataset.topic)")
        plots = page.eval_on_selector_all(
            "div.plot", "els => els.map(e => [e.dataset.plot, !!e.querySelector('svg.main-svg')])")
        text = page.inner_text("body")
        png = tmp_path / "report.png"
        page.screenshot(path=str(png), full_page=True)
    assert requests == []
    assert {"question", "population", "growth", "inferred", "confidence"} <= set(topics)
    keys = {key for key, drawn in plots if drawn}
    assert {"plan-lengths", "reward-truth", "capability", "solved"} <= keys
    assert all(drawn for _, drawn in plots)
    assert "What was asked:" in text and "longest valid plan" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000
    pdf = out.with_suffix(".pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") >= 2


def _tiny_run(run_dir: Path, text: str = PAYLOAD, *, seed: int = 0, solved: bool = True) -> Path:
    """One generation, written through the real store writer, whose every piece of text a stranger
    could control (names, question, completions, plans, users, groups, policies, a claim) is
    ``text``."""
    writer = RunWriter(run_dir)
    try:
        scenario = {"name": text, "question": text, "declared_objective": "validity", "generations": 1,
                    "users": [{"name": text, "weight": 1.0, "count": 1, "policy": "validity"}]}
        writer.create_run(RunRow(run_id=f"00000000-0000-4000-8000-{seed:012d}", name=text, seed=seed,
                                 scenario_yaml=f"name: '{text}'\n", scenario_json=dumps(scenario),
                                 status="started", created_at=NOW, package_versions="{}"))
        bundle = GenerationBundle(generation=GenerationRow(
            generation=0, model_id=0, n_deploy_tasks=1, n_deploy_traces=2, n_published=1, train_size=1,
            wall_time_s=1.0, committed_at=NOW))
        bundle.tasks += [
            TaskRow(task_id=1, pool="eval", generation=None, domain="blocksworld", name=text, size=2,
                    params_json="{}", optimal_length=2, problem_pddl=text),
            TaskRow(task_id=2, pool="deploy", generation=0, domain="blocksworld", name=text, size=2,
                    params_json="{}", optimal_length=2, problem_pddl=text),
        ]
        for trace_id, task_id, purpose, valid in ((1, 1, "eval", True), (2, 2, "deploy", True),
                                                  (3, 2, "deploy", False)):
            bundle.traces.append(TraceRow(
                trace_id=trace_id, generation=0, task_id=task_id, purpose=purpose, sample_index=trace_id,
                completion=text, plan_text=text, n_tokens=3, n_reasoning_tokens=0,
                hit_token_limit=False, status="valid" if valid else "unparseable", is_valid=valid,
                plan_length=2 if valid else 0, verdict_json="{}"))
        bundle.evaluations.append(EvaluationRow(generation=0, task_id=1, n_samples=1, n_valid=int(solved),
                                                solved=solved, best_plan_length=2 if solved else None))
        for decision_id, trace_id in ((1, 2), (2, 3)):
            bundle.decisions.append(CurationRow(
                decision_id=decision_id, generation=0, trace_id=trace_id, user=text, policy=text,
                kept=trace_id == 2, reason=text, acceptance_prob=float(trace_id == 2),
                keep_prob=float(trace_id == 2), group_probs_json="{}", user_group=text))
        bundle.population.append(PopulationRow(generation=0, record_json=dumps({
            "generation": 0, "nodes": [{"name": text, "family": text, "policy": text, "weight": 1.0},
                                       {"name": "other", "family": "other", "policy": "validity-v1",
                                        "weight": 0.0}],
            "edges": [[text, "other"]]})))
        writer.commit_generation(bundle)
        writer.replace_findings("attribution-v2", [FindingRow(
            finding_id=0, auditor="attribution-v2", kind="reward-attribution", severity="high",
            generation=None, claim=text,
            numbers_json=dumps({"group": text, "beyond_declared": {"n_tasks": 1, "n_departing_tasks": 1},
                                "claims": [{"group": text, "feature": text, "shift": 1.0}]}),
            evidence_json=dumps({"kept_trace_ids_sample": [2, 3]}), created_at=NOW)])
        writer.set_status("completed")
    finally:
        writer.close()
    return run_dir


@pytest.mark.browser
def test_markup_in_the_store_never_runs(tmp_path: Path) -> None:
    """Completions, plans, task, user and group names, policies, the scenario's name and question
    and a finding's claim all carry a script and an ``<img onerror>``: in Chromium no script runs,
    no element is injected, and the payload is shown as text."""
    out = write_report([_tiny_run(tmp_path / "xss-run")], tmp_path / "report.html")
    page_text = out.read_text(encoding="utf-8")
    assert_self_contained(page_text)
    assert PAYLOAD not in page_text
    with open_report(out) as (page, requests):
        assert page.evaluate("window.__xss") is None
        assert page.eval_on_selector_all("img", "els => els.length") == 0
        scripts = page.eval_on_selector_all("script", "els => els.map(e => e.textContent)")
        shown = page.inner_text("body")
        page.wait_for_timeout(300)  # an onerror handler would have fired by now
        assert page.evaluate("window.__xss") is None
    assert not any("window.__xss=1</script>" in s for s in scripts)
    assert requests == []
    assert shown.count(PAYLOAD) >= 3  # as text: in the summary, the claim and a cited trace


def test_several_runs_add_the_seeds_section(tmp_path: Path) -> None:
    """Two seeds of one scenario: the summary says how the answer holds across them and the seeds
    section lists every seed's value with the mean and range, never one chosen seed."""
    runs = [_tiny_run(tmp_path / "s0", "tiny", seed=0, solved=True),
            _tiny_run(tmp_path / "s1", "tiny", seed=1, solved=False)]
    page = write_report(runs, tmp_path / "report.html").read_text(encoding="utf-8")
    assert_self_contained(page)
    assert 'id="seeds"' in page and 'data-plot="compare-solved"' in page
    assert "seed 0: 1, seed 1: 0" in page  # solved evaluation tasks, each seed
    assert "<td>0.5</td><td>0.707</td><td>0–1</td>" in page  # their mean, sd and range
    assert "1 more run(s) in the seeds section" in page


def test_one_run_has_no_seeds_section(run_dir: Path, tmp_path: Path) -> None:
    page = write_report([run_dir], tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="seeds"' not in page and "compare-solved" not in page


def test_findings_of_unknown_kinds_and_misfit_numbers_are_still_reported(
    make_run: MakeRun, tmp_path: Path
) -> None:
    """The findings section shows every finding with its numbers as stored, whatever its kind: a
    kind without a payload model, and a known kind whose numbers do not fit its model."""
    run_dir = make_run(with_findings=False)
    writer = RunWriter(run_dir)
    try:
        for auditor, kind, numbers in (
            ("someone-elses-check-v1", "someone-elses-check",
             {"odd_score": 0.25, "denominators": {"n_traces": 9}}),
            ("implicit-reward-v2", "implicit-reward", {"features": [1, 2], "denominators": {"n_tasks": 4}}),
        ):
            writer.replace_findings(auditor, [FindingRow(
                finding_id=0, auditor=auditor, kind=kind, severity="low", generation=None,
                claim=f"A {kind} claim.", numbers_json=dumps(numbers), evidence_json="{}",
                created_at="2025-06-01T12:00:00+00:00")])
    finally:
        writer.close()
    page = write_report([run_dir], tmp_path / "report.html").read_text(encoding="utf-8")
    for text in ("A someone-elses-check claim.", "odd_score", "9 traces", "A implicit-reward claim.",
                 "4 tasks"):
        assert text in page
