"""The one-page run dashboard: what a stakeholder needs to see about one run, read-only.

Start it with ``iterdeploy dashboard RUN_DIR`` (or ``streamlit run dashboards/app.py -- RUN_DIR``,
or with ``ITERDEPLOY_RUN_DIR`` set). The page opens the store only through
:class:`~iterdeploy.simulator.store.RunReader` (via :func:`iterdeploy.dashboards.data.load_run`), so it can
watch a run
that is still being written and can never change one. The numbers come from
:func:`iterdeploy.simulator.store.summarize`, the same table ``iterdeploy summary`` prints.

The figure builders are plain functions and the page runs only as ``__main__`` (how Streamlit runs
a script), so tests can import this module without starting a page.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
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
from iterdeploy.simulator.errors import IterdeployError

# No bare string literals at module level below the docstring: Streamlit's "magic" would print them
# on the page. Constants are documented with comments instead.

# While a run is still being written (status ``started``) the page re-reads it this often.
LIVE_REFRESH_S = 5.0

CHART_HEIGHT_PX = 330

STATUS_COLORS: dict[str, str] = {
    "started": "blue", "completed": "green", "cancelled": "orange", "error": "red",
    "interrupted": "orange",
}

# Severity cells are coloured; the word stays, for colour-blind readers and printouts.
SEVERITY_CSS: dict[str, str] = {
    "high": "color: #b91c1c; font-weight: 700", "medium": "color: #c2410c; font-weight: 600",
    "low": "color: #a16207", "info": "color: #1d4ed8",
}


def _base_figure(title: str, y_title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title={"text": title}, height=CHART_HEIGHT_PX, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        hovermode="x unified",
    )
    # generations are integers; never let plotly label 0.5
    fig.update_xaxes(title_text="generation", tickmode="linear", dtick=1)
    fig.update_yaxes(title_text=y_title, rangemode="tozero")
    return fig


def solved_figure(summary: pd.DataFrame) -> go.Figure:
    """Solved evaluation tasks per generation, against the size of the (fixed) evaluation pool."""
    fig = _base_figure("Solved evaluation tasks per generation", "tasks")
    fig.add_bar(x=summary["generation"], y=summary["solved"], name="solved",
                text=summary["solved"], textposition="auto")
    fig.add_scatter(x=summary["generation"], y=summary["evaluated"], name="evaluation pool",
                    mode="lines", line={"dash": "dash", "color": "gray"})
    return fig


def domain_figure(by_domain: pd.DataFrame) -> go.Figure:
    """Share of each domain's evaluation tasks solved per generation: a multi-domain run is read
    domain by domain (the paper's Blocksworld, Rovers and Sokoban improve at different rates)."""
    fig = _base_figure("Solved evaluation tasks per domain", "share solved")
    for domain, rows in by_domain.groupby("domain", sort=True):
        share = rows["solved"] / rows["evaluated"]
        fig.add_scatter(x=rows["generation"], y=share, name=str(domain), mode="lines+markers",
                        customdata=rows[["solved", "evaluated"]],
                        hovertemplate="%{customdata[0]} of %{customdata[1]}")
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    return fig


def plan_length_figure(summary: pd.DataFrame) -> go.Figure:
    """Mean and longest valid plan per generation: the paper's "longer plans later" signal, on
    the evaluation pool, with the longest plan for the tasks users brought beside it."""
    fig = _base_figure("Valid plan length per generation (evaluation pool)", "actions")
    fig.add_scatter(x=summary["generation"], y=summary["mean_plan_length"], name="mean",
                    mode="lines+markers")
    fig.add_scatter(x=summary["generation"], y=summary["longest_plan_length"], name="longest",
                    mode="lines+markers")
    fig.add_scatter(x=summary["generation"], y=summary["deploy_longest_plan_length"],
                    name="longest (deployment tasks)", mode="lines+markers",
                    line={"dash": "dot"})
    return fig


def group_figure(by_group: pd.DataFrame) -> go.Figure:
    """Published traces per user group and generation, stacked: which groups' taste the next
    model is trained on (a minority that publishes much weighs more than its share of users)."""
    fig = _base_figure("Published traces per user group", "traces")
    for group, rows in by_group.groupby("group", sort=True):
        fig.add_bar(x=rows["generation"], y=rows["published"], name=str(group),
                    customdata=rows[["published", "decisions"]],
                    hovertemplate="%{customdata[0]} published of %{customdata[1]} decided")
    fig.update_layout(barmode="stack", legend={"traceorder": "normal"})  # names in order, as elsewhere
    return fig


# Read under the reward chart (a comment, not a string: Streamlit's magic would print a bare string
# on the page), so that a large weight is not taken for an alarm.
REWARD_CAPTION = (
    "Each generation's curation decisions fitted within tasks (a trace against the other traces "
    "of its task), with bootstrap intervals over tasks. Large weights are expected where users "
    "follow the declared objective: it separates kept from rejected traces. What the declaration "
    "does not explain is the users' departure from the declared choice, in the findings below."
)


def reward_figure(rewards: pd.DataFrame) -> go.Figure:
    """The implicit reward inferred from each generation's curation decisions: one line per
    feature, with its bootstrap interval. A weight away from zero on a feature nobody declared is
    what an auditor looks for; one that moves between generations is reward drift."""
    fig = _base_figure("Inferred implicit reward per generation (white-box auditor)",
                       "log-odds of being kept per SD")
    for feature, rows in rewards.groupby("feature", sort=True):
        low = rows["ci_low"].astype(float)
        high = rows["ci_high"].astype(float)
        fig.add_scatter(
            x=rows["generation"], y=rows["weight"], name=str(feature), mode="lines+markers",
            error_y={"type": "data", "symmetric": False, "array": high - rows["weight"],
                     "arrayminus": rows["weight"] - low},
        )
    fig.add_hline(y=0, line={"color": "gray", "dash": "dot", "width": 1})
    fig.update_yaxes(rangemode="normal")
    return fig


def training_figure(summary: pd.DataFrame) -> go.Figure:
    """Training-set size per generation: how much curated data the loop has pooled."""
    fig = _base_figure("Training-set size (data published up to each generation)", "examples")
    fig.add_bar(x=summary["generation"], y=summary["train_size"], name="training set",
                text=summary["train_size"], textposition="auto")
    return fig


def deployment_figure(summary: pd.DataFrame) -> go.Figure:
    """What users saw: deployment tasks solved and traces they published per generation."""
    fig = _base_figure("Deployment: tasks solved and traces published", "count")
    fig.add_scatter(x=summary["generation"], y=summary["deploy_tasks"], name="deploy tasks",
                    mode="lines", line={"dash": "dash", "color": "gray"})
    fig.add_scatter(x=summary["generation"], y=summary["deploy_solved"], name="deploy solved",
                    mode="lines+markers")
    fig.add_scatter(x=summary["generation"], y=summary["published"], name="published",
                    mode="lines+markers")
    return fig


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
