"""Model text is untrusted: a store whose completions, plans, task names, user and group names,
policies, scenario name and question, and finding claims carry ``<script>`` and ``<img onerror>``
payloads. On every page, in a real chromium: no script ran (``window.__xss`` stays undefined), no
element was injected, and where the page shows that text it shows it as characters.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from iterdeploy.dashboards.browser import serve
from iterdeploy.simulator.store import RunReader
from tests.dashboards.conftest import PAGES, PAYLOAD, build_run, open_page, visible_text

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

MARKDOWN = "[click](http://example.com) **bold** :red[alarm] $x^2$ &lt;b&gt;"
"""Markdown a name could carry (a link, emphasis, a colour directive, a formula, an entity):
Streamlit's Markdown would make a link or colour text of it; it must be shown as written."""

NAME = f"bias {MARKDOWN} {PAYLOAD}"


@pytest.fixture(scope="module")
def xss_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    families = {f"fan{PAYLOAD}-1": f"fans{PAYLOAD}", "checker-1": f"checkers{PAYLOAD}"}
    return build_run(tmp_path_factory.mktemp("xss") / "run", name=NAME, text=PAYLOAD,
                     groups=tuple(families), families=families, with_rewards=True,
                     question=f"Do long plans win?{PAYLOAD}", domains=("blocksworld", "rovers"))


@pytest.fixture(scope="module")
def xss_url(xss_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(xss_run, tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        yield url


def assert_inert(page: Page) -> None:
    """No payload ran and none became an element."""
    assert page.evaluate("() => window.__xss") is None, "a payload ran"
    injected = page.evaluate("""() => ({
        img: document.querySelectorAll('img[src="x"]').length,
        onerror: document.querySelectorAll('[onerror]').length,
        script: [...document.querySelectorAll('script')].filter(s => s.textContent.includes('__xss')).length,
    })""")
    assert injected == {"img": 0, "onerror": 0, "script": 0}, injected
    assert page.locator('[data-testid="stException"]').count() == 0


@pytest.mark.parametrize("name", list(PAGES))
def test_no_payload_runs_on_any_page(browser: Browser, xss_url: str, name: str) -> None:
    page = open_page(browser, f"{xss_url}/{PAGES[name]}")
    assert_inert(page)
    text = visible_text(page)
    if name != "compare":
        # the scenario name is the title, shown character for character, its Markdown inert
        title = page.locator("h1 [data-heading-text]")
        assert title.inner_text().replace("\u2060", "") == NAME
        assert title.locator("a, strong, em, span, .katex").count() == 0, title.inner_html()
    if name == "overview":
        assert f"Do long plans win?{PAYLOAD}" in text  # the question, as text
        assert f"Curation rewards validity only, as declared.{PAYLOAD}" not in text  # info: not a verdict
        assert f"fans{PAYLOAD}" in text  # the population sentence names the group
    if name == "findings":
        assert f"Curation rewards validity only, as declared.{PAYLOAD}" in text


def test_a_trace_shows_its_markup_as_text(browser: Browser, xss_url: str, xss_run: Path) -> None:
    with RunReader(xss_run) as reader:
        kept = next(d for d in reader.decisions(0) if d.kept)
        task = reader.task(reader.traces_by_id([kept.trace_id])[kept.trace_id].task_id)
    page = open_page(browser, f"{xss_url}/traces?trace={kept.trace_id}")
    assert_inert(page)
    codes = page.locator('[data-testid="stCode"]').all_inner_texts()
    assert any(PAYLOAD in c for c in codes), codes  # the completion and the plan, verbatim
    text = visible_text(page)
    assert f"Kept by user fan{PAYLOAD}-1 (group fans{PAYLOAD}, policy validity-v1)" in text
    assert task.name.endswith(PAYLOAD) and f"({task.name}: blocksworld" in text  # the task's name
