"""Figure builders shared by the dashboard and the static report: plain functions from data frames
(``iterdeploy.dashboards.data``) to plotly figures, with no Streamlit import, so ``iterdeploy
report`` draws exactly what the pages show and a test can build every figure without a server.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

CHART_HEIGHT_PX = 330
"""Height of every chart, so two side by side line up."""


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
