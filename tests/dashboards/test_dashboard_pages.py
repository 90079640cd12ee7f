"""Every page of the dashboard, in a real headless chromium, on a small real run and on synthetic
stores: it renders without an exception box, shows its key elements, and shows no stray text (no
sentence of any dashboard docstring is visible: Streamlit's magic once printed one on every page).

One server per store (module-scoped), one chromium per module: the tests navigate between pages
instead of starting a server each.
"""

from __future__ import annotations

import ast
import hashlib
import html
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from playwright.sync_api import Browser, expect
from typer.testing import CliRunner

from iterdeploy.dashboards import app, cli
from iterdeploy.dashboards.browser import serve
from iterdeploy.dashboards.data import RUN_DIR_ENV, resolve_run_dirs
from iterdeploy.dashboards.views._common import WORD_JOINER, md
from iterdeploy.simulator.store import DB_NAME, RunReader
from tests.dashboards.conftest import (
    PAGE_TIMEOUT_MS,
    PAGES,
    SCENARIO_NAME,
    assert_clean,
    build_run,
    open_page,
)

pytestmark = [pytest.mark.timeout(300)]


def _fingerprint(run_dir: Path) -> tuple[str, int]:
    wal = run_dir / f"{DB_NAME}-wal"
    return (hashlib.sha256((run_dir / DB_NAME).read_bytes()).hexdigest(),
            wal.stat().st_size if wal.exists() else 0)


@pytest.fixture(scope="module")
def synthetic_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two seeds of one synthetic scenario: two domains, two user groups with a population record,
    the white-box auditor's per-generation weights, and findings."""
    root = tmp_path_factory.mktemp("synthetic-pages")
    families = {"fans-1": "fans", "checkers-1": "checkers"}
    return [build_run(root / f"seed{seed}", seed=seed, domains=("blocksworld", "rovers"),
                      groups=tuple(families), families=families, with_rewards=True,
                      question="Do the fans' long plans take over?")
            for seed in (7, 8)]


@pytest.fixture(scope="module")
def synthetic_url(synthetic_runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    before = [_fingerprint(d) for d in synthetic_runs]
    with serve(synthetic_runs, tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        yield url
    assert [_fingerprint(d) for d in synthetic_runs] == before, "the dashboard changed a run store"


@pytest.fixture(scope="module")
def real_url(small_real_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    before = _fingerprint(small_real_run)
    with serve(small_real_run, tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        yield url
    assert _fingerprint(small_real_run) == before, "the dashboard changed the run store"


def _chart_titles(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator('[data-testid="stPlotlyChart"] .gtitle').all_text_contents()


# -- the synthetic store: every page, its key elements ------------------------------------------
@pytest.mark.browser
def test_synthetic_overview(browser: Browser, synthetic_url: str) -> None:
    page = open_page(browser, synthetic_url)
    text = assert_clean(page)
    expect(page.locator("h1")).to_have_text(SCENARIO_NAME)
    for heading in ("Overview", "The question", "The answer", "The population",
                    "Headline verdicts, by severity"):
        assert heading in text, heading
    assert "Do the fans' long plans take over?" in text  # the question, as written
    tiles = page.locator('[data-testid="stMetric"]').all_inner_texts()
    assert any("Solved · generation 0" in t and "1/5" in t for t in tiles), tiles
    assert any("Solved · generation 3" in t and "5/5" in t for t in tiles), tiles
    assert any("high findings" in t and "1" in t for t in tiles), tiles
    # the high finding is listed among the headline verdicts
    assert "Plans grew 40% longer between generations 1 and 2." in text
    # two runs: the sidebar lets the reader pick the one the pages show
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("Run shown")
    nav = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
    assert [n.split("\n")[-1].strip() for n in nav] == [
        "Overview", "Capability", "Implicit reward", "Findings", "Traces", "Population", "Compare"]


@pytest.mark.browser
def test_synthetic_capability(browser: Browser, synthetic_url: str) -> None:
    page = open_page(browser, f"{synthetic_url}/capability")
    assert_clean(page)
    titles = _chart_titles(page)
    for title in ("Solved evaluation tasks per generation", "Solved evaluation tasks per domain",
                  "Evaluation tasks solved, per size (95% Wilson intervals)",
                  "Valid plan lengths per generation",
                  "Training-set size (data published up to each generation)"):
        assert title in titles, titles
    ticks = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first.locator(".xtick text")
    assert ticks.all_text_contents() == ["0", "1", "2", "3"]
    rows = page.locator('[data-testid="stTable"]').first.locator("tbody th")
    expect(rows).to_have_text(["0", "1", "2", "3"])


@pytest.mark.browser
def test_synthetic_reward(browser: Browser, synthetic_url: str) -> None:
    page = open_page(browser, f"{synthetic_url}/reward")
    text = assert_clean(page)
    titles = _chart_titles(page)
    assert "Implicit reward: inferred against the simulator's truth" in titles
    assert "Inferred implicit reward per generation (white-box auditor)" in titles
    assert "Departures from the declared objective, per user group" in titles
    assert "Attribution to user groups" in text
    # the inferred weights, with their intervals: 4 for is_valid, 3 for plan_length
    chart = page.locator('[data-testid="stPlotlyChart"]').nth(1)
    expect(chart.locator(".errorbar path")).to_have_count(7)


@pytest.mark.browser
def test_synthetic_findings_filter_and_evidence(browser: Browser, synthetic_url: str) -> None:
    page = open_page(browser, f"{synthetic_url}/findings")
    text = assert_clean(page)
    n = 2 + 4  # two findings and the four per-generation weight findings
    assert f"{n} of {n} findings" in text
    expanders = page.locator('[data-testid="stExpander"]')
    expect(expanders).to_have_count(n)
    # the most severe finding is drawn open, with its evidence
    first = expanders.first
    expect(first).to_contain_text("Plans grew 40% longer between generations 1 and 2.")
    expect(first).to_contain_text("Test statistics")
    # the whole-run finding cites the traces published in generation 0
    whole = expanders.filter(has_text="Curation rewards validity only, as declared.")
    whole.locator("summary").click()
    expect(whole).to_contain_text("Cited traces (3)", timeout=PAGE_TIMEOUT_MS)
    expect(whole).to_contain_text("n_decisions")
    # filter: drop the info findings, one high finding is left
    severity = page.locator('[data-testid="stMultiSelect"]').first.locator("input")
    severity.click()
    severity.press("Backspace")  # removes the last chip, "info"
    expect(page.locator("body")).to_contain_text(f"1 of {n} findings", timeout=PAGE_TIMEOUT_MS)
    expect(expanders).to_have_count(1)
    assert_clean(page)


@pytest.mark.browser
def test_synthetic_traces_open_one_with_its_provenance(browser: Browser, synthetic_url: str,
                                                       synthetic_runs: list[Path]) -> None:
    with RunReader(synthetic_runs[0]) as reader:
        kept = next(d for d in reader.decisions(0) if d.kept)
        trained = reader.training_generations_of(kept.trace_id)
    page = open_page(browser, f"{synthetic_url}/traces?trace={kept.trace_id}")
    text = assert_clean(page)
    assert f"{5 * 4 + 4 * 4} traces match." in text  # 5 eval + 4 deploy traces per generation
    assert f"Trace {kept.trace_id}" in text
    for part in ("Prompt", "Completion (as the model wrote it)", "Extracted plan (what the validator read)",
                 "Provenance", "Compare with another plan for this task"):
        assert part in text, part
    assert "Valid plan of" in text
    assert "In the training sets of generations " + ", ".join(str(g) for g in trained) in text
    assert f"Kept by user {kept.user} (group fans, policy validity-v1) in generation 0" in text
    # the diff against the task's other sample (the synthetic samples share one plan)
    expect(page.locator('[data-testid="stCode"]').last).to_contain_text("(the two plans are the same)")


@pytest.mark.browser
def test_synthetic_traces_filter_by_task(browser: Browser, synthetic_url: str) -> None:
    page = open_page(browser, f"{synthetic_url}/traces")
    box = page.get_by_label("Task id")
    box.fill("1")
    box.press("Enter")
    expect(page.locator("body")).to_contain_text("4 traces match.", timeout=PAGE_TIMEOUT_MS)  # 1/generation
    assert_clean(page)


@pytest.mark.browser
def test_synthetic_population(browser: Browser, synthetic_url: str) -> None:
    page = open_page(browser, f"{synthetic_url}/population")
    text = assert_clean(page)
    titles = _chart_titles(page)
    assert any(t.startswith("Social graph, generation 3") for t in titles), titles
    assert "User groups: weight and published traces per generation" in titles
    assert "Published traces per user group" in titles
    graph = page.locator('[data-testid="stPlotlyChart"]').first
    expect(graph.locator(".legendtext")).to_have_text(["checkers", "fans"])
    assert "Each group, per generation" in text


@pytest.mark.browser
def test_synthetic_compare_shows_both_seeds(browser: Browser, synthetic_url: str) -> None:
    page = open_page(browser, f"{synthetic_url}/compare")
    text = assert_clean(page)
    assert "2 run(s) in 1 scenario group(s)" in text
    assert "One run is open" not in text
    titles = _chart_titles(page)
    assert "Evaluation tasks solved, across seeds" in titles
    legends = page.locator('[data-testid="stPlotlyChart"]').first.locator(".legendtext").all_text_contents()
    assert any("mean of 2 seed(s)" in name for name in legends), legends
    assert "Findings per run, by severity" in text


# -- the small real run: every page renders what the loop and the auditors wrote ---------------------
@pytest.mark.browser
@pytest.mark.parametrize("name", list(PAGES))
def test_real_run_page(browser: Browser, real_url: str, small_real_run: Path, name: str) -> None:
    page = open_page(browser, f"{real_url}/{PAGES[name]}")
    text = assert_clean(page)
    with RunReader(small_real_run) as reader:
        scenario = reader.run().name
        question = str(reader.scenario().get("question") or "")
    if name != "compare":
        expect(page.locator("h1")).to_have_text(scenario)
    expected = {
        "overview": ["The question", " ".join(question.split()), "The answer", "How sure"],
        "capability": ["Summary per generation"],
        "reward": ["Inferred against truth and declared, whole run", "Attribution to user groups"],
        "findings": ["findings", "Test statistics", "Cited traces"],
        "traces": ["traces match.", "Extracted plan", "Provenance"],
        "population": ["Each group, per generation"],
        "compare": ["One run is open", "iterdeploy dashboard RUN_DIR RUN_DIR"],
    }[name]
    for part in expected:
        assert part in text, part
    if name in ("capability", "reward", "population", "compare"):
        assert page.locator('[data-testid="stPlotlyChart"] .main-svg').count() >= 2


@pytest.mark.browser
def test_real_run_finding_opens_its_cited_trace(browser: Browser, real_url: str) -> None:
    """From a finding to the trace it cites: the link opens the Traces page on that trace."""
    page = open_page(browser, f"{real_url}/findings")
    link = page.locator('[data-testid="stPageLink"] a').first
    trace_id = re.search(r"Open trace (\d+)", link.inner_text())
    assert trace_id is not None, link.inner_text()
    link.click()
    expect(page.locator("body")).to_contain_text(f"Trace {trace_id[1]}", timeout=PAGE_TIMEOUT_MS)
    expect(page.locator("body")).to_contain_text("Provenance")
    assert_clean(page)


# -- without a browser: the parts the pages stand on ----------------------------------------------
def test_app_script_has_nothing_magic_would_print() -> None:
    """Streamlit's magic prints every bare expression of the script it runs (not its module
    docstring): the one script it runs, app.py, must hold none; the pages are imported modules,
    which magic never rewrites."""
    tree = ast.parse(Path(app.__file__).read_text(encoding="utf-8"))
    bare = [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Call | ast.Await | ast.Yield)
            and node is not tree.body[0]  # the module docstring, which magic leaves alone
            and not _is_docstring(tree, node)]
    assert bare == [], f"bare expressions magic would print, at lines {bare}"


def _is_docstring(tree: ast.Module, node: ast.Expr) -> bool:
    """A function's or class's docstring, which magic skips too."""
    return any(isinstance(parent, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
               and parent.body and parent.body[0] is node for parent in ast.walk(tree))


def test_every_page_is_a_module_function() -> None:
    """Each page is a ``render`` function of an imported module (never a script Streamlit runs
    with magic), under a distinct URL path."""
    paths = [path for _, path, _, _ in app.PAGES]
    assert len(set(paths)) == len(paths) == len(PAGES)
    assert set(paths) == {p or "overview" for p in PAGES.values()}
    for _, _, _, render in app.PAGES:
        assert render.__name__ == "render" and render.__module__.startswith("iterdeploy.dashboards.views.")


def test_run_dirs_come_from_argv_then_the_environment() -> None:
    assert resolve_run_dirs(["app.py", "/runs/a", "/runs/b"], {RUN_DIR_ENV: "/runs/c"}) == [
        Path("/runs/a"), Path("/runs/b")]
    assert resolve_run_dirs(["app.py"], {RUN_DIR_ENV: f"/runs/c{os.pathsep}/runs/d"}) == [
        Path("/runs/c"), Path("/runs/d")]
    assert resolve_run_dirs(["app.py", " "], {RUN_DIR_ENV: ""}) == []


def test_dashboard_command_serves_every_run_dir(make_run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    first, second = make_run("a"), make_run("b", seed=8)
    calls: list[list[str]] = []

    def fake_execv(path: str, argv: list[str]) -> None:
        calls.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr(os, "execv", fake_execv)
    app_cli = typer.Typer()
    app_cli.callback()(lambda: None)
    cli.register(app_cli)
    result = CliRunner().invoke(app_cli, ["dashboard", str(first), str(second)])
    assert result.exit_code == 0, result.output
    [cmd] = calls
    assert cmd[cmd.index("--") + 1:] == [str(first.resolve()), str(second.resolve())]
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    # one bad directory among several: exit 2 naming it, and no server
    result = CliRunner().invoke(app_cli, ["dashboard", str(first), str(first.parent / "nope")])
    assert result.exit_code == 2 and "no such directory" in result.output and len(calls) == 1


@given(st.text(max_size=80).filter(lambda t: WORD_JOINER not in t))
def test_md_shows_any_text_literally(text: str) -> None:
    """Whatever a name holds, :func:`md` leaves no Markdown or HTML syntax in it: every ASCII
    punctuation character becomes a character reference, and decoding those (and dropping the
    word joiners) gives the text back, whitespace aside."""
    out = md(text)
    assert all(c not in out.replace("&#", "").replace(";", "") for c in "<>[]()*_`$\\|~!")
    decoded = html.unescape(out).replace(WORD_JOINER, "")
    assert decoded == " ".join(text.split())
