"""The one-page run dashboard: what a stakeholder needs to see about one run, read-only.

Start it with ``iterdeploy dashboard RUN_DIR`` (or ``streamlit run dashboards/app.py -- RUN_DIR``,
or with ``ITERDEPLOY_RUN_DIR`` set). The page opens the store only through
:class:`~iterdeploy.simulator.store.RunReader` (via :func:`iterdeploy.dashboards.data.load_run`), so it can
watch a run
that is still being written and can never change one. The numbers come from
:func:`iterdeploy.simulator.store.summarize`, the same table ``iterdeploy summary`` prints.

The figure builders live in :mod:`iterdeploy.dashboards.figures` (shared with the report); the
page runs only as ``__main__`` (how Streamlit runs a script), so tests can import this module
without starting a page.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

from iterdeploy.dashboards.data import (
    RUN_DIR_ENV,
    Headline,
    RunData,
    display_findings,
    display_summary,
    load_run,
    resolve_run_dir,
    store_version,
)
from iterdeploy.dashboards.figures import (
    REWARD_CAPTION,
    deployment_figure,
    domain_figure,
    group_figure,
    plan_length_figure,
    reward_figure,
    solved_figure,
    training_figure,
)
from iterdeploy.simulator.errors import IterdeployError

# No bare string literals at module level below the docstring: Streamlit's "magic" would print them
# on the page. Constants are documented with comments instead.

# While a run is still being written (status ``started``) the page re-reads it this often.
LIVE_REFRESH_S = 5.0

STATUS_COLORS: dict[str, str] = {
    "started": "blue", "completed": "green", "cancelled": "orange", "error": "red",
    "interrupted": "orange",
}

# Severity cells are coloured; the word stays, for colour-blind readers and printouts.
SEVERITY_CSS: dict[str, str] = {
    "high": "color: #b91c1c; font-weight: 700", "medium": "color: #c2410c; font-weight: 600",
    "low": "color: #a16207", "info": "color: #1d4ed8",
}


@st.cache_data(show_spinner=False, max_entries=32)
def _cached_run(run_dir: str, version: tuple[int, ...]) -> RunData:
    """Read the run once per store version.

    ``version`` (db and WAL mtime/size, writer alive) is only part of the cache key: a commit by
    a running loop, or its death, changes it, so the next rerun reads the new state instead of a
    stale copy.
    """
    del version
    return load_run(Path(run_dir))


def _load(run_dir: Path) -> RunData | None:
    try:
        return _cached_run(str(run_dir), store_version(run_dir))
    except IterdeployError as exc:
        st.error(f"**Cannot show this run.** {exc}")
        return None


def _render_header(data: RunData) -> None:
    ov = data.overview
    st.title(ov.name)
    color = STATUS_COLORS.get(ov.status, "gray")
    st.markdown(
        f":{color}-badge[status: {ov.status}] &nbsp; seed **{ov.seed}** &nbsp;·&nbsp; "
        f"run `{ov.run_id}` &nbsp;·&nbsp; created {ov.created_at}"
    )
    st.caption(f"Run directory: `{data.run_dir}`")


def _render_tiles(head: Headline) -> None:
    cols = st.columns(4)
    cols[0].metric("Generations", head.n_generations, border=True,
                   help="Committed generations, 0 = the base model.")
    cols[1].metric("Solved · generation 0", f"{head.solved_first}/{head.evaluated}", border=True,
                   help="Evaluation tasks with at least one valid sampled plan.")
    ratio = "" if head.solved_ratio is None else f" (×{head.solved_ratio:.1f})"
    cols[2].metric(
        f"Solved · generation {head.last_generation}", f"{head.solved_last}/{head.evaluated}",
        delta=f"{head.solved_delta:+d} vs generation 0{ratio}",
        delta_color="normal" if head.solved_delta else "off", border=True,
    )
    longest = "–" if head.longest_last is None else str(head.longest_last)
    delta = None
    if head.longest_last is not None and head.longest_first is not None:
        delta = f"{head.longest_last - head.longest_first:+d} vs generation 0"
    cols[3].metric(f"Longest valid plan · generation {head.last_generation}", longest,
                   delta=delta, border=True, help="Actions in the longest valid plan written for an "
                   "evaluation task (the same tasks every generation).")


def render(data: RunData) -> None:
    """Draw the whole page for one run."""
    _render_header(data)
    if data.overview.status == "started":
        st.info(f"Run in progress: the page re-reads the store every {LIVE_REFRESH_S:g} s.")
    if data.headline is None:
        st.warning("No generation has been committed yet.")
        return
    _render_tiles(data.headline)
    summary = data.summary
    left, right = st.columns(2)
    left.plotly_chart(solved_figure(summary), key="solved")
    right.plotly_chart(plan_length_figure(summary), key="plan_length")
    if data.by_domain is not None and data.by_domain["domain"].nunique() > 1:
        st.plotly_chart(domain_figure(data.by_domain), key="by_domain")
    if data.by_group is not None and data.by_group["group"].nunique() > 1:
        st.plotly_chart(group_figure(data.by_group), key="by_group")
    if data.rewards is not None and len(data.rewards):
        st.plotly_chart(reward_figure(data.rewards), key="rewards")
        st.caption(REWARD_CAPTION)
    left, right = st.columns(2)
    left.plotly_chart(training_figure(summary), key="train_size")
    right.plotly_chart(deployment_figure(summary), key="deployment")

    st.subheader("Summary per generation")
    st.table(display_summary(summary).style.format(precision=2, na_rep="–"))

    if len(data.findings):
        st.subheader(f"Findings ({len(data.findings)})")
        findings = display_findings(data.findings).style.map(
            lambda s: SEVERITY_CSS.get(str(s), ""), subset=["severity"])
        st.table(findings, hide_index=True)
    else:
        st.caption(f"No findings yet: `iterdeploy audit {data.run_dir}` writes them.")


def _page(run_dir: Path) -> None:
    data = _load(run_dir)
    if data is not None:
        render(data)


def main() -> None:
    """Entry point of the Streamlit script."""
    st.set_page_config(page_title="iterdeploy run", layout="wide")
    run_dir = resolve_run_dir(sys.argv, os.environ)
    if run_dir is None:
        st.error(
            "**No run directory given.** Start the page with `iterdeploy dashboard RUN_DIR`, "
            f"`streamlit run dashboards/app.py -- RUN_DIR`, or set `{RUN_DIR_ENV}`."
        )
        return
    data = _load(run_dir)
    if data is None:
        return
    if data.overview.status == "started":
        # re-run only this part on a timer; the cache key makes each tick read new commits
        st.fragment(run_every=LIVE_REFRESH_S)(_page)(run_dir)
    else:
        render(data)


if __name__ == "__main__":
    main()
