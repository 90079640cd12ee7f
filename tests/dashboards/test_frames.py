"""The frames behind the pages and the report, hand-checked on synthetic stores written through
the real store writer, and once on a small real audited run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iterdeploy.dashboards import frames
from iterdeploy.simulator.errors import IterdeployError, StoreError
from iterdeploy.simulator.store import RunReader
from tests.dashboards.conftest import EVAL_SIZES, SOLVED, MakeRun, eval_plan_length, reward_weights


def test_capability_counts_each_size_per_generation(run_dir: Path) -> None:
    with RunReader(run_dir) as reader:
        frame = frames.capability_frame(reader)
    assert list(frame.columns) == list(frames.CAPABILITY_COLUMNS)
    assert len(frame) == len(SOLVED) * len(EVAL_SIZES)
    for row in frame.itertuples():
        # generation g solves the first SOLVED[g] tasks, one task per size
        assert row.n_tasks == 1
        assert row.solved == int(EVAL_SIZES.index(row.size) < SOLVED[row.generation])
        assert row.ci_low <= row.share <= row.ci_high
    g1 = frame[frame["generation"] == 1].set_index("size")
    assert g1.loc[3, "share"] == 1.0 and g1.loc[4, "share"] == 0.0
    assert g1.loc[4, "ci_low"] == 0.0 and 0.7 < g1.loc[4, "ci_high"] < 0.85  # Wilson, 0 of 1


@given(total=st.integers(1, 500), data=st.data())
def test_wilson_interval_holds_the_share(total: int, data: st.DataObject) -> None:
    solved = data.draw(st.integers(0, total))
    low, high = frames.wilson_interval(solved, total)
    assert 0.0 <= low <= solved / total <= high <= 1.0 + 1e-12
    assert high - low > 0


def test_wilson_interval_of_nothing_is_undefined() -> None:
    low, high = frames.wilson_interval(0, 0)
    assert low != low and high != high  # NaN: no tasks, no interval


def test_plan_length_distribution(run_dir: Path) -> None:
    with RunReader(run_dir) as reader:
        frame = frames.plan_length_frame(reader)
    assert list(frame.columns) == list(frames.PLAN_LENGTH_COLUMNS)
    ev = frame[frame["purpose"] == "eval"].set_index("generation")
    # generation 1 solves sizes 2 and 3: valid plans of 2*size+1 = 5 and 7 actions
    assert ev.loc[1, "n_valid"] == SOLVED[1]
    assert (ev.loc[1, "min"], ev.loc[1, "mean"], ev.loc[1, "max"]) == (5.0, 6.0, 7.0)
    g3 = sorted(eval_plan_length(s, 3) for s in EVAL_SIZES[:SOLVED[3]])
    assert ev.loc[3, "median"] == g3[len(g3) // 2] and ev.loc[3, "max"] == max(g3)
    dep = frame[frame["purpose"] == "deploy"].set_index("generation")
    assert (dep.loc[0, "n_valid"], dep.loc[0, "min"], dep.loc[0, "max"]) == (2, 4.0, 6.0)


def test_no_valid_plan_gives_no_row(make_run: MakeRun) -> None:
    with RunReader(make_run(all_invalid=True)) as reader:
        assert frames.plan_length_frame(reader).empty
        assert frames.capability_frame(reader)["solved"].sum() == 0


def test_reward_truth_reads_the_white_box_weights(make_run: MakeRun) -> None:
    with RunReader(make_run(with_rewards=True)) as reader:
        frame = frames.reward_truth_frame(reader)
    assert list(frame.columns) == list(frames.REWARD_TRUTH_COLUMNS)
    white = frame[frame["auditor"] == "white-box"]
    assert set(white["scope"]) == {f"generation {g}" for g in range(len(SOLVED))}
    for g in range(len(SOLVED)):
        row = white[(white["generation"] == g) & (white["feature"] == "plan_length")].iloc[0]
        assert row["weight"] == pytest.approx(reward_weights(g)["plan_length"]["weight"])
    valid = white[white["feature"] == "is_valid"]
    assert (valid["concept"] == "validity").all() and (valid["ci_low"] == 1.5).all()


def test_unaudited_run_has_empty_reward_and_attribution(make_run: MakeRun) -> None:
    with RunReader(make_run(with_findings=False)) as reader:
        assert frames.reward_truth_frame(reader).empty
        assert frames.attribution_frame(reader).empty


def test_population_groups_members_into_families(make_run: MakeRun) -> None:
    families = {"fans-1": "fans", "fans-2": "fans", "checkers-1": "checkers"}
    with RunReader(make_run(groups=("fans-1", "checkers-1"), families=families)) as reader:
        frame = frames.population_frame(reader)
        graph = frames.population_graph(reader, 0)
        assert frames.population_graph(reader, 99) is None
    assert list(frame.columns) == list(frames.POPULATION_COLUMNS)
    g0 = frame[frame["generation"] == 0].set_index("group")
    assert g0.loc["fans", "n_members"] == 2 and g0.loc["checkers", "n_members"] == 1
    # each generation: task 0 (two traces, one valid) to fans-1, task 1 to checkers-1
    assert (g0.loc["fans", "decisions"], g0.loc["fans", "published"]) == (2, 1)
    assert graph is not None and set(graph.nodes) == set(families)
    assert graph.nodes["fans-2"]["family"] == "fans"


def test_population_without_records_still_counts_decisions(run_dir: Path) -> None:
    with RunReader(run_dir) as reader:
        frame = frames.population_frame(reader)
        assert frames.population_graph(reader, 0) is None
    assert set(frame["group"]) == {"u0"} and frame["policy"].isna().all()
    assert frame["decisions"].tolist() == [4] * len(SOLVED)


def test_compare_one_run_has_no_spread(run_dir: Path) -> None:
    frame = frames.compare_frame([run_dir])
    assert list(frame.columns) == list(frames.COMPARE_COLUMNS)
    solved = frame[frame["quantity"] == "solved"].sort_values("generation")
    assert solved["mean"].tolist() == [float(s) for s in SOLVED]
    assert solved["sd"].isna().all() and (solved["n"] == 1).all()
    counts = frame[frame["quantity"].str.startswith("findings:")].set_index("quantity")
    assert counts.loc["findings:high", "mean"] == 1.0 and counts.loc["findings:info", "mean"] == 1.0


def test_compare_refuses_bad_input(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(IterdeployError, match="same run"):
        frames.compare_frame([run_dir, run_dir])
    with pytest.raises(IterdeployError, match="no run directories"):
        frames.compare_frame([])
    with pytest.raises(StoreError):
        frames.compare_frame([tmp_path / "missing"])


def test_real_run_truth_and_attribution(small_real_run: Path) -> None:
    """On a real audited length_bias run: the truth columns are computed from A(τ), and the
    attribution rows carry each group's true policy against the declared one."""
    with RunReader(small_real_run) as reader:
        truth = frames.reward_truth_frame(reader)
        attribution = frames.attribution_frame(reader)
        population = frames.population_frame(reader)
    white = truth[(truth["auditor"] == "white-box") & (truth["scope"] == "whole run")]
    assert not white.empty
    assert white["truth_departure_corr"].notna().any()
    assert set(white["declared_sign"].dropna().unique()) <= {-1.0, 0.0, 1.0}
    assert set(attribution["group"]) <= {"validators", "long_plan_fans"}
    policies = dict(zip(attribution["group"], attribution["true_policy"], strict=True))
    if "long_plan_fans" in policies:
        assert policies["long_plan_fans"] == "longest-v1"
        assert attribution.set_index("group").loc["long_plan_fans", "truly_departs"]
    assert set(population["group"]) == {"validators", "long_plan_fans"}
    assert population.groupby("generation")["weight"].sum().round(6).eq(1.0).all()
