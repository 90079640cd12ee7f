"""The run dashboard: a multipage Streamlit app that answers a stakeholder's questions about a run,
read-only.

Start it with ``iterdeploy dashboard RUN_DIR [RUN_DIR...]`` (or ``streamlit run dashboards/app.py
-- RUN_DIR...``, or with ``ITERDEPLOY_RUN_DIR`` set). This script is the router: it resolves the
run directories, lets the reader pick the run the single-run pages show, and hands over to one of
the pages of :mod:`iterdeploy.dashboards.views` (Overview, Capability, Implicit reward, Findings,
Traces, Population, Compare). The store is opened only through
:class:`~iterdeploy.simulator.store.RunReader`, so the pages can watch a run that is still being
written and can never change one; while its status is ``started`` the page runs inside a fragment
that re-reads the store every few seconds.

The pages are functions in imported modules, not scripts, so Streamlit's "magic" (which prints
any bare expression of a script it runs) never applies to them; ``iterdeploy dashboard`` also
turns magic off for this script (``--runner.magicEnabled false``), so no docstring or stray
expression can ever reach the page. The page runs only as ``__main__`` (how Streamlit runs a
script), so tests can import this module without starting a page.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from iterdeploy.dashboards.data import RUN_DIR_ENV, resolve_run_dirs
from iterdeploy.dashboards.views import (
    capability,
    compare,
    findings,
    overview,
    population,
    reward,
    trace_browser,
)
from iterdeploy.dashboards.views._common import LIVE_REFRESH_S, PageContext, run_data

Render = Callable[[PageContext], None]

# (title, url path, icon, render) of each page, in menu order; the first is the default page.
PAGES: tuple[tuple[str, str, str, Render], ...] = (
    ("Overview", "overview", ":material/summarize:", overview.render),
    ("Capability", "capability", ":material/trending_up:", capability.render),
    ("Implicit reward", "reward", ":material/balance:", reward.render),
    ("Findings", "findings", ":material/fact_check:", findings.render),
    ("Traces", "traces", ":material/list_alt:", trace_browser.render),
    ("Population", "population", ":material/groups:", population.render),
    ("Compare", "compare", ":material/compare_arrows:", compare.render),
)


def _live(render: Render, ctx: PageContext) -> None:
    """Draw ``render`` for ``ctx``; the fragment around it re-runs this on a timer."""
    render(ctx)


def _page(render: Render, ctx: PageContext) -> Callable[[], None]:
    """The callable Streamlit runs for one page: the page itself, or, for a run still being
    written, the page inside a fragment that re-reads the store every :data:`LIVE_REFRESH_S`."""

    def run() -> None:
        data = run_data(ctx.run_dir)
        if data is None:  # the error is on the page already
            return
        if data.overview.status == "started":
            st.fragment(run_every=LIVE_REFRESH_S)(_live)(render, ctx)
        else:
            render(ctx)

    return run


def _choose_run(run_dirs: list[Path]) -> Path:
    """The run the single-run pages show: the only one, or the reader's pick in the sidebar."""
    if len(run_dirs) == 1:
        return run_dirs[0]
    index = st.sidebar.selectbox(
        "Run shown", range(len(run_dirs)), format_func=lambda i: str(run_dirs[i]),
        help="The Compare page shows every run; the other pages show this one.",
    )
    return run_dirs[int(index or 0)]


def main() -> None:
    """Entry point of the Streamlit script."""
    st.set_page_config(page_title="iterdeploy run", layout="wide")
    run_dirs = resolve_run_dirs(sys.argv, os.environ)
    if not run_dirs:
        st.error(
            "**No run directory given.** Start the page with `iterdeploy dashboard RUN_DIR`, "
            f"`streamlit run dashboards/app.py -- RUN_DIR`, or set `{RUN_DIR_ENV}`."
        )
        return
    ctx = PageContext(run_dir=_choose_run(run_dirs), run_dirs=tuple(run_dirs))
    for i, (title, path, icon, render) in enumerate(PAGES):
        ctx.pages[path] = st.Page(_page(render, ctx), title=title, url_path=path, icon=icon,
                                  default=i == 0)
    st.navigation(list(ctx.pages.values())).run()


if __name__ == "__main__":
    main()
