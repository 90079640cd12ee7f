"""Compare: several runs side by side, the seeds of one scenario shown with their spread (mean,
min–max band, each seed as a dot), never as one chosen seed. Runs are grouped by their stored
scenario, so an ablation is never averaged into the seeds it is compared with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from iterdeploy.dashboards.data import store_version
from iterdeploy.dashboards.figures import COMPARE_TITLES, compare_figure
from iterdeploy.dashboards.frames import compare_frame
from iterdeploy.dashboards.views._common import PageContext, dataframe, md
from iterdeploy.simulator.errors import IterdeployError


@st.cache_data(show_spinner=False, max_entries=8)
def _compare(run_dirs: tuple[str, ...], versions: tuple[tuple[int, ...], ...]) -> pd.DataFrame:
    """The comparison, read again whenever one of the runs changed (``versions``)."""
    del versions
    return compare_frame([Path(d) for d in run_dirs])


def _spread_table(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    rows = frame[frame["quantity"].str.startswith(prefix)].copy()
    rows["quantity"] = rows["quantity"].str.removeprefix(prefix)
    rows["seeds"] = [", ".join(str(s) for s in seeds) for seeds in rows["seeds"]]
    rows["values"] = [", ".join("–" if v is None else f"{v:.3g}" for v in values)
                      for values in rows["values"]]
    return rows[["label", "quantity", "n", "mean", "sd", "min", "max", "seeds", "values"]]


def render(ctx: PageContext) -> None:
    """Draw the Compare page."""
    st.title("Compare runs")
    if len(ctx.run_dirs) == 1:
        st.info("One run is open. To compare seeds or scenarios, start the dashboard with several run "
                "directories: iterdeploy dashboard RUN_DIR RUN_DIR ... (for example every seed "
                "directory `iterdeploy run --seeds 0,1,2` wrote).")
    try:
        frame = _compare(tuple(str(d) for d in ctx.run_dirs),
                         tuple(store_version(d) for d in ctx.run_dirs))
    except IterdeployError as exc:
        st.error(f"**Cannot compare these runs.** {md(exc)}")
        return
    labels = sorted(frame["label"].unique()) if not frame.empty else []
    st.markdown(f"{len(ctx.run_dirs)} run(s) in {len(labels)} scenario group(s): "
                + "; ".join(md(label) for label in labels))
    quantities = list(COMPARE_TITLES)
    for left_q, right_q in zip(quantities[::2], quantities[1::2], strict=False):
        left, right = st.columns(2)
        left.plotly_chart(compare_figure(frame, left_q), key=f"compare-{left_q}")
        right.plotly_chart(compare_figure(frame, right_q), key=f"compare-{right_q}")
    rewards = sorted({q for q in frame["quantity"] if q.startswith("reward:")}) if not frame.empty else []
    # the feature whose published data departs most from the declared objective is offered first
    departure = {str(q).removeprefix("departure:"): abs(float(m)) for q, m in
                 zip(frame["quantity"], frame["mean"], strict=True)
                 if str(q).startswith("departure:") and m is not None and m == m}
    rewards.sort(key=lambda q: -departure.get(q.removeprefix("reward:"), 0.0))
    if rewards:
        st.subheader("Inferred implicit reward, across seeds")
        chosen = st.selectbox("Feature", rewards, format_func=lambda q: q.removeprefix("reward:"))
        st.plotly_chart(compare_figure(frame, str(chosen)), key="compare-reward")
        st.caption("Features whose run-wide interval excludes zero in some run; a weight is the "
                   "log-odds of being kept per within-task standard deviation.")
        st.markdown("**Departure from the declared objective, whole run**")
        dataframe(_spread_table(frame, "departure:"))
    st.subheader("Findings per run, by severity")
    dataframe(_spread_table(frame, "findings:"))
