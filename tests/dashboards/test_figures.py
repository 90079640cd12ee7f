"""Every figure builder draws from its frame, says so when the frame is empty, and shows names
from the store as text, never as markup."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from iterdeploy.dashboards import figures, frames
from iterdeploy.dashboards.data import domain_frame, group_frame, reward_frame, summary_frame
from iterdeploy.simulator.store import RunReader
from tests.dashboards.conftest import SOLVED, MakeRun

PAYLOAD = '<img src=x onerror="window.__xss=1">'


def _all_figures(reader: RunReader) -> dict[str, go.Figure]:
    summary = summary_frame(reader)
    last = reader.last_generation() or 0
    return {
        "solved": figures.solved_figure(summary),
        "domain": figures.domain_figure(domain_frame(reader)),
        "plan_length": figures.plan_length_figure(summary),
        "group": figures.group_figure(group_frame(reader)),
        "reward": figures.reward_figure(reward_frame(reader)),
        "training": figures.training_figure(summary),
        "deployment": figures.deployment_figure(summary),
        "capability": figures.capability_figure(frames.capability_frame(reader)),
        "plan_length_distribution": figures.plan_length_distribution_figure(frames.plan_length_frame(reader)),
        "reward_truth": figures.reward_truth_figure(frames.reward_truth_frame(reader)),
        "attribution": figures.attribution_figure(frames.attribution_frame(reader)),
        "population": figures.population_figure(frames.population_frame(reader)),
        "population_graph": figures.population_graph_figure(frames.population_graph(reader, last)),
    }


def test_every_figure_builds_on_a_synthetic_run(make_run: MakeRun) -> None:
    families = {"a-1": "a", "b-1": "b"}
    with RunReader(make_run(with_rewards=True, groups=("a-1", "b-1"), families=families)) as reader:
        figs = _all_figures(reader)
    for name, fig in figs.items():
        assert isinstance(fig, go.Figure), name
        fig.to_json()  # serialisable, as the page and the report need
    capability = figs["capability"]
    assert len(capability.data) == 5  # one line per size
    assert [int(y) for y in figs["solved"].data[0].y] == list(SOLVED)
    graph = figs["population_graph"]
    assert sum(len(t.x) for t in graph.data if t.mode == "markers") == 2
    # one box trace per purpose, one box per generation
    names = {t.name for t in figs["plan_length_distribution"].data}
    assert names == {"evaluation samples", "deployment samples"}


def test_empty_frames_say_why(run_dir: Path) -> None:
    empty = {
        "capability": figures.capability_figure(pd.DataFrame(columns=list(frames.CAPABILITY_COLUMNS))),
        "lengths": figures.plan_length_distribution_figure(
            pd.DataFrame(columns=list(frames.PLAN_LENGTH_COLUMNS))),
        "truth": figures.reward_truth_figure(pd.DataFrame(columns=list(frames.REWARD_TRUTH_COLUMNS))),
        "attribution": figures.attribution_figure(pd.DataFrame(columns=list(frames.ATTRIBUTION_COLUMNS))),
        "population": figures.population_figure(pd.DataFrame(columns=list(frames.POPULATION_COLUMNS))),
        "graph": figures.population_graph_figure(None),
        "compare": figures.compare_figure(pd.DataFrame(columns=list(frames.COMPARE_COLUMNS))),
    }
    for name, fig in empty.items():
        notes = [a.text for a in fig.layout.annotations if a.text]
        assert any(("no " in n) for n in notes), (name, notes)


def test_compare_figure_shows_every_seed(run_dir: Path) -> None:
    fig = figures.compare_figure(frames.compare_frame([run_dir]), "solved")
    seeds = next(t for t in fig.data if t.name and t.name.endswith("each seed"))
    assert len(seeds.x) == len(SOLVED)
    assert any(t.fill == "toself" for t in fig.data)  # the band of the spread


@pytest.mark.parametrize("name", ["fans", PAYLOAD])
def test_store_names_are_shown_as_text(make_run: MakeRun, name: str) -> None:
    with RunReader(make_run(groups=(name,), families={name: name})) as reader:
        population = figures.population_figure(frames.population_frame(reader))
        graph = figures.population_graph_figure(frames.population_graph(reader, 0))
    text = population.to_json() + graph.to_json()
    assert "<img" not in text
    if name == PAYLOAD:
        assert "&lt;img src=x onerror" in population.data[0].name
