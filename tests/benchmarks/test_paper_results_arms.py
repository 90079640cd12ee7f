"""The arms behind docs/results.md: each is a scenario that loads, on the base its text names."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from iterdeploy.simulator.scenario import load_scenario

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from paper_results import ARMS, REPO, TARGET_ARMS, Arm


def test_arm_names_are_unique_and_the_target_arms_are_among_them() -> None:
    names = [a.name for a in ARMS]
    assert len(names) == len(set(names))
    assert set(TARGET_ARMS) <= set(names)


@pytest.mark.parametrize("arm", ARMS, ids=lambda a: a.name)
def test_every_arm_loads_and_runs_on_the_base_it_names(arm: Arm) -> None:
    """An override with a typo, or a scenario whose recipe moved under an arm pinned to an older
    base, would run (for hours) a condition the report describes wrongly."""
    spec, _ = load_scenario(REPO / arm.scenario, overrides={**arm.overrides, "seed": 0})
    assert spec.generations == 5
    named = re.findall(r"`([0-9a-f]{16})`", arm.about)
    if named:
        assert spec.model.embedded.content_hash() == named[-1]
