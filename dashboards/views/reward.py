"""Implicit reward: what the auditors inferred from the curation log (white box) and from the
outputs alone (black box), beside the simulator's ground truth (A(τ) and the declared policy's
keep probability) and the declared objective, per generation with intervals; and which user
group the departure is attributed to, beside each group's true policy."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from iterdeploy.dashboards.figures import (
    REWARD_CAPTION,
    attribution_figure,
    reward_figure,
    reward_truth_figure,
)
from iterdeploy.dashboards.views._common import PageContext, dataframe, header, no_findings_hint, read

DECLARED_WORDS = {1: "rewards more", -1: "rewards less", 0: "silent"}

TRUTH_CAPTION = (
    "Left, what the white-box auditor inferred: how the data users published departs from what the "
    "declared objective would have published from the same candidates (95% intervals). Right, the "
    "truth only a simulator knows: each feature's within-task correlation with A(τ) minus the "
    "declared policy's keep probability. A planted preference is recovered when both sides agree "
    "in sign."
)


def _whole_run_table(truth: pd.DataFrame) -> pd.DataFrame:
    rows = truth[truth["scope"] == "whole run"] if not truth.empty else truth
    black = truth[truth["auditor"] == "black-box"] if not truth.empty else truth
    if not black.empty:  # the black box compares pairs of generations: its last pair stands for it
        rows = pd.concat([rows, black[black["generation"] == black["generation"].max()]])
    table = rows[["auditor", "scope", "label", "weight", "ci_low", "ci_high", "shift", "shift_ci_low",
                  "shift_ci_high", "truth_corr", "truth_departure_corr", "declared_sign"]].copy()
    table["declared"] = [DECLARED_WORDS.get(int(s), "") if pd.notna(s) else ""
                         for s in table["declared_sign"]]
    return table.drop(columns="declared_sign").rename(columns={
        "label": "feature", "weight": "inferred weight", "ci_low": "weight 95% low",
        "ci_high": "weight 95% high", "shift": "published − declared", "shift_ci_low": "shift 95% low",
        "shift_ci_high": "shift 95% high", "truth_corr": "truth: corr. with A(τ)",
        "truth_departure_corr": "truth: corr. with A(τ) − declared", "declared": "declared objective"})


def render(ctx: PageContext) -> None:
    """Draw the Implicit reward page."""
    data = header(ctx, "Implicit reward")
    if data is None:
        return
    truth = read("reward_truth", ctx.run_dir)
    if truth is None:
        return
    if truth.empty:
        no_findings_hint(data.run_dir)
    st.plotly_chart(reward_truth_figure(truth), key="reward_truth")
    st.caption(TRUTH_CAPTION)
    if data.rewards is not None and len(data.rewards):
        st.plotly_chart(reward_figure(data.rewards), key="rewards")
        st.caption(REWARD_CAPTION)
    if not truth.empty:
        st.subheader("Inferred against truth and declared, whole run")
        dataframe(_whole_run_table(truth), column_config={
            c: st.column_config.NumberColumn(format="%+.2f") for c in (
                "inferred weight", "weight 95% low", "weight 95% high", "published − declared",
                "shift 95% low", "shift 95% high", "truth: corr. with A(τ)",
                "truth: corr. with A(τ) − declared")})
    st.subheader("Attribution to user groups")
    attribution = read("attribution", ctx.run_dir)
    if attribution is None:
        return
    st.plotly_chart(attribution_figure(attribution), key="attribution")
    if not attribution.empty:
        dataframe(attribution[["group", "severity", "driving", "n_departing_tasks", "n_tasks",
                               "departure_share", "departure_ci_low", "departure_ci_high",
                               "share_of_departures", "top_label", "true_policy", "declared_objective",
                               "truly_departs"]].rename(columns={
                                   "n_departing_tasks": "departing tasks", "n_tasks": "tasks",
                                   "top_label": "largest clear departure"}),
                  column_config={c: st.column_config.NumberColumn(format="%.2f") for c in (
                      "departure_share", "departure_ci_low", "departure_ci_high", "share_of_departures")})
