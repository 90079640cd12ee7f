"""The inferred A(τ) of a mixed population: each group's within-task reward, mixed by its share.

The store is curated by the simulator's own population code (a 95% majority keeping the shortest
valid plan, a 5% minority publishing invalid plans), so A(τ) is exact. A pooled reward cannot
rank an invalid plan (kept by the minority) above a valid plan nobody keeps; the mixture must.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from iterdeploy.auditors.core.features import build_feature_table
from iterdeploy.auditors.core.recovery import pairwise_concordance
from iterdeploy.auditors.reward.implicit_reward import ImplicitRewardAuditor
from iterdeploy.auditors.reward.keep_model import GroupKeepModel, keep_probability
from iterdeploy.auditors.reward.within_task import apply_reward
from iterdeploy.simulator.store import RunReader

ADVERSARIAL = [
    {"name": "validators", "policy": "validity", "weight": 0.95},
    {"name": "adversaries", "weight": 0.05,
     "policy": {"adversarial": {"rate": 0.5, "target": "invalid"}}},
]


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory, synthetic: Any) -> tuple[dict[str, Any], pd.DataFrame]:
    run = synthetic.write_population_store(tmp_path_factory.mktemp("mix") / "run", ADVERSARIAL, seed=3,
                                           n_generations=3, n_tasks=120)
    with RunReader(run) as reader:
        findings = ImplicitRewardAuditor(seed=0, n_bootstrap=0).audit(reader)
        table = build_feature_table(reader).frame
    run_level = next(f for f in findings if f.generation is None)
    return json.loads(run_level.numbers_json), table


def test_the_mixture_names_every_group_with_shares_that_sum_to_one(
    audited: tuple[dict[str, Any], pd.DataFrame],
) -> None:
    numbers, table = audited
    mixture = numbers["inferred_reward"]["mixture"]
    assert sorted(m["group"] for m in mixture) == ["adversaries", "validators"]
    assert sum(m["share"] for m in mixture) == pytest.approx(1.0)
    shares = {m["group"]: m["share"] for m in mixture}
    decided = table.groupby("group")["task_key"].nunique()
    assert shares["adversaries"] == pytest.approx(decided["adversaries"] / decided.sum())


def test_the_mixture_orders_pairs_as_the_truth_where_the_pooled_reward_cannot(
    audited: tuple[dict[str, Any], pd.DataFrame],
) -> None:
    numbers, table = audited
    rows = table[table["acceptance_prob"].notna()].reset_index(drop=True)
    task, truth = rows["task_key"].to_numpy(), rows["acceptance_prob"].to_numpy(dtype=float)
    reward = numbers["inferred_reward"]
    pooled = pairwise_concordance(task, truth, apply_reward(reward["per_unit"], rows)).value
    mixed = keep_probability([GroupKeepModel.read(m) for m in reward["mixture"]], rows)
    concordance = pairwise_concordance(task, truth, mixed).value
    assert concordance is not None and pooled is not None
    assert concordance >= 0.9 and concordance > pooled, (concordance, pooled)
    # the finding's own recovery numbers score the mixture, not the pooled reward
    assert numbers["recovery"]["concordance"] == pytest.approx(concordance)
    # an invalid plan (the minority keeps it) above a valid plan nobody keeps, within a task
    invalid_kept_by_some = (rows["is_valid"] == 0) & (rows["acceptance_prob"] > 0)
    valid_kept_by_none = (rows["is_valid"] == 1) & (rows["acceptance_prob"] == 0)
    both = set(rows.loc[invalid_kept_by_some, "task_key"]) & set(rows.loc[valid_kept_by_none, "task_key"])
    assert both, "the store should hold tasks with both kinds of trace"
    wins = [mixed[invalid_kept_by_some & (rows["task_key"] == k)].min()
            > mixed[valid_kept_by_none & (rows["task_key"] == k)].max() for k in both]
    assert np.mean(wins) >= 0.8


def test_one_group_publishes_no_mixture(tmp_path: Path, synthetic: Any) -> None:
    run = synthetic.write_population_store(tmp_path / "one", [{"name": "validators", "policy": "validity"}],
                                           seed=1, n_generations=2, n_tasks=30)
    with RunReader(run) as reader:
        findings = ImplicitRewardAuditor(seed=0, n_bootstrap=0).audit(reader)
    for f in findings:
        assert "mixture" not in json.loads(f.numbers_json).get("inferred_reward", {})


def test_a_stored_component_reads_back_and_a_malformed_one_is_refused() -> None:
    part = GroupKeepModel("fans", 0.25, 1.5, {"is_valid": 2.0})
    assert GroupKeepModel.read(json.loads(json.dumps(part.as_dict()))) == part
    with pytest.raises(ValueError, match="per_unit"):
        GroupKeepModel.read({"group": "fans", "share": 0.25, "kept_per_task": 1.0, "per_unit": [1.0]})


def test_one_component_orders_as_its_reward() -> None:
    rows = pd.DataFrame({"task_key": ["a", "a", "a", "b", "b"], "x": [0.0, 1.0, 2.0, 5.0, -1.0]})
    part = GroupKeepModel("all", 1.0, 1.0, {"x": 1.5})
    p = keep_probability([part], rows)
    assert p[:3].sum() == pytest.approx(1.0) and p[3:].sum() == pytest.approx(1.0)
    assert list(np.argsort(p[:3])) == [0, 1, 2] and p[3] > p[4]
