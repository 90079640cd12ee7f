"""Figure builders shared by the dashboard and the static report: plain functions from data frames
(``iterdeploy.dashboards.data``) to plotly figures, with no Streamlit import, so ``iterdeploy
report`` draws exactly what the pages show and a test can build every figure without a server.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import networkx as nx
import pandas as pd
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

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
        fig.add_scatter(x=rows["generation"], y=share, name=_words(domain), mode="lines+markers",
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
        fig.add_bar(x=rows["generation"], y=rows["published"], name=_words(group),
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
            x=rows["generation"], y=rows["weight"], name=_words(feature), mode="lines+markers",
            error_y={"type": "data", "symmetric": False, "array": high - rows["weight"],
                     "arrayminus": rows["weight"] - low},
        )
    fig.add_hline(y=0, line={"color": "gray", "dash": "dot", "width": 1})
    fig.update_yaxes(rangemode="normal")
    # one legend entry per feature (nine or more) is wider than the space beside the title, which
    # it used to cover: below the axis it wraps instead
    fig.update_layout(height=CHART_HEIGHT_PX + 60, margin={"b": 10},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.25, "xanchor": "left", "x": 0})
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


# -- figures over the frames of ``iterdeploy.dashboards.frames`` ---------------------------------
def _words(value: object) -> str:
    """Store text (group, feature, policy names) made safe for plotly's labels: plotly renders a
    few HTML-like tags in labels and hover text, and a name comes from a scenario file or a model,
    so its markup is escaped and shown as characters, never interpreted."""
    return html.escape(str(value), quote=False)


def _error_y(rows: pd.DataFrame, value: str, low: str, high: str) -> dict[str, object]:
    """Asymmetric error bars from interval columns (a missing end draws no bar)."""
    v = rows[value].astype(float)
    return {"type": "data", "symmetric": False,
            "array": (rows[high].astype(float) - v).fillna(0).clip(lower=0),
            "arrayminus": (v - rows[low].astype(float)).fillna(0).clip(lower=0)}


def _empty(fig: go.Figure, message: str) -> go.Figure:
    """A figure that says why it is empty, rather than blank axes a reader takes for zeros."""
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                       font={"size": 14, "color": "gray"})
    return fig


def capability_figure(capability: pd.DataFrame) -> go.Figure:
    """Share of the evaluation tasks of each size solved per generation, with 95% Wilson
    intervals (``frames.capability_frame``): the same tasks every generation, so a line that
    rises is the model's progress at that size, and the bars say how few tasks a size has."""
    fig = _base_figure("Evaluation tasks solved, per size (95% Wilson intervals)", "share solved")
    if capability.empty:
        return _empty(fig, "no evaluation results stored yet")
    several = capability["domain"].nunique() > 1
    for (domain, size), rows in capability.groupby(["domain", "size"], sort=True):
        name = f"{_words(domain)} size {size}" if several else f"size {size}"
        fig.add_scatter(x=rows["generation"], y=rows["share"], name=name, mode="lines+markers",
                        error_y=_error_y(rows, "share", "ci_low", "ci_high"),
                        customdata=rows[["solved", "n_tasks"]],
                        hovertemplate="%{customdata[0]} of %{customdata[1]} tasks")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return fig


def plan_length_distribution_figure(plan_lengths: pd.DataFrame) -> go.Figure:
    """Valid plan lengths per generation as boxes (quartiles, whiskers at the shortest and the
    longest plan; ``frames.plan_length_frame``), evaluation and deployment samples side by side:
    "plans grew" is read off the whole distribution, not one extreme plan."""
    fig = _base_figure("Valid plan lengths per generation", "actions")
    if plan_lengths.empty:
        return _empty(fig, "no valid plan yet")
    names = {"eval": "evaluation samples", "deploy": "deployment samples"}
    for purpose, rows in plan_lengths.groupby("purpose", sort=True):
        fig.add_box(x=rows["generation"], q1=rows["q1"], median=rows["median"], q3=rows["q3"],
                    lowerfence=rows["min"], upperfence=rows["max"], mean=rows["mean"],
                    name=names.get(str(purpose), _words(purpose)), boxpoints=False)
    fig.update_layout(boxmode="group", hovermode="closest")
    return fig


def _truth_features(whole: pd.DataFrame, most: int) -> list[str]:
    """The features worth drawing: the planted departure's (the truth moves them) and the ones
    the auditor says departed (interval excluding zero), largest truth first."""
    if whole.empty:
        return []
    clear = (whole["shift_ci_low"] > 0) | (whole["shift_ci_high"] < 0)
    moved = whole["truth_departure_corr"].abs().fillna(0) >= 0.1
    picked = whole[(clear | moved) & whole["shift"].notna()].copy()
    picked["order"] = -picked["truth_departure_corr"].abs().fillna(0)
    return [str(f) for f in picked.sort_values(["order", "feature"])["feature"].head(most)]


def reward_truth_figure(reward_truth: pd.DataFrame, features: Sequence[str] | None = None,
                        most: int = 4) -> go.Figure:
    """What the auditors inferred against the simulator's truth (``frames.reward_truth_frame``).

    Left: the white-box auditor's departure of the published data from what the declared
    objective would have published, per generation, with 95% intervals. Right: the truth on the
    same features, the within-task correlation of each with A(τ) − p_decl (the population's
    acceptance minus the declared policy's), which only a simulator knows. A planted preference is
    recovered when the two sides agree in sign. The legend says which way the declaration pushes
    each feature's concept.
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        "Inferred: published data minus declared (95% CI)",
        "Truth: correlation with A(τ) − declared keep prob."))
    fig.update_layout(title={"text": "Implicit reward: inferred against the simulator's truth"},
                      height=CHART_HEIGHT_PX + 60, margin={"l": 10, "r": 10, "t": 80, "b": 10},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0})
    white = reward_truth[reward_truth["auditor"] == "white-box"] if not reward_truth.empty else reward_truth
    per_gen = white[white["generation"].notna()] if not white.empty else white
    chosen = list(features) if features is not None else _truth_features(
        white[white["scope"] == "whole run"] if not white.empty else white, most)
    if per_gen.empty or not chosen:
        return _empty(fig, "no implicit-reward findings yet: run `iterdeploy audit`")
    signs = {1: "declared: more", -1: "declared: less", 0: "declared: silent"}
    palette = plotly.colors.qualitative.Plotly
    for i, feature in enumerate(chosen):
        rows = per_gen[per_gen["feature"] == feature].sort_values("generation")
        if rows.empty:
            continue
        color = palette[i % len(palette)]
        declared = rows["declared_sign"].iloc[0]
        note = signs.get(int(declared), "") if pd.notna(declared) else ""
        name = _words(rows["label"].iloc[0]) + (f" ({note})" if note else "")
        gens = rows["generation"].astype(int)
        fig.add_scatter(x=gens, y=rows["shift"], name=name, legendgroup=feature, mode="lines+markers",
                        line={"color": color},
                        error_y=_error_y(rows, "shift", "shift_ci_low", "shift_ci_high"), row=1, col=1)
        fig.add_scatter(x=gens, y=rows["truth_departure_corr"], name=name, legendgroup=feature,
                        showlegend=False, mode="lines+markers", line={"color": color, "dash": "dot"},
                        marker={"symbol": "diamond"}, row=1, col=2)
    for col in (1, 2):
        fig.add_hline(y=0, line={"color": "gray", "dash": "dot", "width": 1}, row=1, col=col)
        fig.update_xaxes(title_text="generation", tickmode="linear", dtick=1, row=1, col=col)
    fig.update_yaxes(title_text="published − declared", row=1, col=1)
    fig.update_yaxes(title_text="within-task correlation", range=[-1, 1], row=1, col=2)
    return fig


def attribution_figure(attribution: pd.DataFrame) -> go.Figure:
    """Which user group drove the departure (``frames.attribution_frame``): per group, the share
    of its tasks where its curation departed from the declared objective, with the 95% interval
    and the count ("60 of 111 tasks"); the label says the group's true policy, so a reader sees
    whether the group the auditor blames is the one whose policy differs."""
    fig = go.Figure()
    fig.update_layout(title={"text": "Departures from the declared objective, per user group"},
                      height=CHART_HEIGHT_PX, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    fig.update_xaxes(title_text="share of the group's tasks that depart", tickformat=".0%", range=[0, 1.05])
    if attribution.empty:
        return _empty(fig, "no attribution findings yet: run `iterdeploy audit`")
    rows = attribution.iloc[::-1]
    text = [f"{d} of {n} tasks" if pd.notna(n) else "tasks not counted" for d, n in
            zip(rows["n_departing_tasks"], rows["n_tasks"], strict=True)]
    labels = [f"{_words(g)}: {t}<br>(true policy: {_words(p) if p else 'unknown'})"
              for g, t, p in zip(rows["group"], text, rows["true_policy"], strict=True)]
    colors = ["#d62728" if bool(s in ("high", "medium")) else "#7f7f7f" for s in rows["severity"]]
    fig.add_bar(y=labels, x=rows["departure_share"], orientation="h", text=text, textposition="none",
                marker={"color": colors}, name="departing share",
                error_x=_error_y(rows, "departure_share", "departure_ci_low", "departure_ci_high")
                | {"color": "black"},
                customdata=rows[["severity"]], hovertemplate="%{x:.0%} (%{text}); severity %{customdata[0]}")
    return fig


def population_figure(population: pd.DataFrame) -> go.Figure:
    """Each user group's weight in A(τ) per generation (lines), with the traces it published
    (bars, right axis): how the groups moved, and whose taste the next training set carries. The
    hover says each group's policy that generation."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.update_layout(title={"text": "User groups: weight and published traces per generation"},
                      height=CHART_HEIGHT_PX, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right",
                              "x": 1.0},
                      barmode="group")
    fig.update_xaxes(title_text="generation", tickmode="linear", dtick=1)
    if population.empty:
        return _empty(fig, "no curation decisions stored yet")
    palette = plotly.colors.qualitative.Plotly
    for i, (group, rows) in enumerate(population.groupby("group", sort=True)):
        color = palette[i % len(palette)]
        policy = [_words(p) if isinstance(p, str) else "unknown" for p in rows["policy"]]
        fig.add_bar(x=rows["generation"], y=rows["published"], name=f"{_words(group)} published",
                    marker={"color": color, "opacity": 0.35}, legendgroup=str(group),
                    secondary_y=True, customdata=rows[["decisions"]],
                    hovertemplate="%{y} published of %{customdata[0]} decided")
        if rows["weight"].notna().any():
            fig.add_scatter(x=rows["generation"], y=rows["weight"], name=f"{_words(group)} weight",
                            mode="lines+markers", line={"color": color}, legendgroup=str(group),
                            text=policy, hovertemplate="weight %{y:.2f}, policy %{text}", secondary_y=False)
    fig.update_yaxes(title_text="weight in A(τ)", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title_text="published traces", rangemode="tozero", secondary_y=True, showgrid=False,
                     tickformat=",d")
    return fig


def _node_weight(data: dict[str, object]) -> float:
    """A node's recorded weight, 0 when none was recorded (older records carry no weight)."""
    value = data.get("weight")
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0


def population_graph_figure(graph: nx.Graph | None, *, seed: int = 0) -> go.Figure:
    """The population's social graph (``frames.population_graph``), laid out by networkx's spring
    layout with a fixed seed (the same picture on every render) and drawn with plotly: one dot per
    user, coloured by group, sized by weight; the hover names its policy."""
    fig = go.Figure()
    title = "Social graph" if graph is None else f"Social graph, generation {graph.graph.get('generation')}"
    fig.update_layout(title={"text": title}, height=CHART_HEIGHT_PX + 70, showlegend=True,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, hovermode="closest")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    if graph is None or graph.number_of_nodes() == 0:
        return _empty(fig, "no population recorded for this generation")
    pos = nx.spring_layout(graph, seed=seed)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for a, b in graph.edges():
        xs += [float(pos[a][0]), float(pos[b][0]), None]
        ys += [float(pos[a][1]), float(pos[b][1]), None]
    fig.add_scatter(x=xs, y=ys, mode="lines", line={"color": "#bbbbbb", "width": 1}, hoverinfo="skip",
                    name="tie", showlegend=False)
    families: dict[str, list[str]] = {}
    for node, data in graph.nodes(data=True):
        families.setdefault(str(data.get("family", node)), []).append(node)
    weights = [_node_weight(d) for _, d in graph.nodes(data=True)]
    top = max(weights) if weights and max(weights) > 0 else 1.0
    for family, nodes in sorted(families.items()):
        data = [graph.nodes[n] for n in nodes]
        fig.add_scatter(
            x=[float(pos[n][0]) for n in nodes], y=[float(pos[n][1]) for n in nodes], mode="markers",
            name=_words(family),
            marker={"size": [12 + 28 * _node_weight(d) / top for d in data],
                    "line": {"width": 1, "color": "white"}},
            text=[f"{_words(n)}: {_words(d.get('policy') or 'unknown policy')}, weight "
                  f"{_node_weight(d):.2f}" for n, d in zip(nodes, data, strict=True)],
            hovertemplate="%{text}<extra></extra>",
        )
    return fig


COMPARE_TITLES: dict[str, tuple[str, str]] = {
    "solved": ("Evaluation tasks solved, across seeds", "tasks"),
    "mean_plan_length": ("Mean valid plan length, across seeds", "actions"),
    "longest_plan_length": ("Longest valid plan, across seeds", "actions"),
    "deploy_solved": ("Deployment tasks solved, across seeds", "tasks"),
}
"""Title and axis of :func:`compare_figure` per summary quantity."""


def compare_figure(compare: pd.DataFrame, quantity: str = "solved") -> go.Figure:
    """One quantity across runs (``frames.compare_frame``): per scenario, the mean over the seeds
    as a line, the band from the lowest to the highest seed, and every seed's own value as a dot,
    so the spread is seen and no single seed stands for the study."""
    if quantity.startswith("reward:"):  # frames.compare_frame's white-box weight of one feature
        feature = quantity.removeprefix("reward:").replace("_", " ")
        title, axis = f"Inferred weight on “{feature}”, across seeds", "log-odds per SD"
    else:
        title, axis = COMPARE_TITLES.get(quantity, (f"{quantity.replace('_', ' ')}, across seeds", "value"))
    title = _words(title)
    fig = _base_figure(title, axis)
    rows_q = compare[(compare["quantity"] == quantity) & compare["generation"].notna()] \
        if not compare.empty else compare
    if rows_q.empty:
        return _empty(fig, f"no runs with {quantity}")
    fig.update_yaxes(rangemode="normal")
    palette = plotly.colors.qualitative.Plotly
    for i, (label, rows) in enumerate(rows_q.groupby("label", sort=True)):
        color = palette[i % len(palette)]
        rows = rows.sort_values("generation")
        gens = rows["generation"].astype(int).tolist()
        n = int(rows["n"].max())
        fig.add_scatter(x=gens + gens[::-1], y=rows["max"].tolist() + rows["min"].tolist()[::-1],
                        fill="toself", fillcolor=color, opacity=0.18, line={"width": 0},
                        name=f"{_words(label)}: min–max over seeds", legendgroup=str(label),
                        hoverinfo="skip")
        fig.add_scatter(x=gens, y=rows["mean"], name=f"{_words(label)}: mean of {n} seed(s)",
                        mode="lines+markers", line={"color": color}, legendgroup=str(label),
                        customdata=rows[["sd", "n"]],
                        hovertemplate="mean %{y:.2f} (sd %{customdata[0]}, n %{customdata[1]})")
        xs, ys, text = [], [], []
        for g, seeds, values in zip(gens, rows["seeds"], rows["values"], strict=True):
            for seed, value in zip(seeds, values, strict=False):
                if value is not None:
                    xs.append(g)
                    ys.append(value)
                    text.append(f"seed {seed}")
        fig.add_scatter(x=xs, y=ys, mode="markers", name=f"{_words(label)}: each seed",
                        marker={"color": color, "size": 6, "symbol": "circle-open"},
                        legendgroup=str(label), text=text, hovertemplate="%{text}: %{y}")
    fig.update_layout(hovermode="closest")
    return fig
