"""The Rovers team count behind docs/results.md: which tasks one rover can do alone."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from iterdeploy.simulator.planning import GroundTask, generate_sized, validate_plan

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _rovers_teams import NEEDS_TWO, ONE_ROVER, ONE_SUFFICES, gives_job_to_unequipped_rover, team_kind


def _two_rover_task() -> GroundTask:
    return generate_sized("rovers", 6, np.random.default_rng(0)).task


def _with(task: GroundTask, *, equipped: dict[str, set[str]], cameras: dict[str, set[str]],
          modes: dict[str, set[str]], goal: set[tuple[str, ...]]) -> GroundTask:
    """``task`` with its rovers' analyses, cameras and camera modes, and its goals, set by hand."""
    kept = {a for a in task.init
            if not a[0].startswith("equipped_for_") and a[0] not in ("on_board", "supports")}
    kept |= {(f"equipped_for_{e}", r) for r, es in equipped.items() for e in es}
    kept |= {("on_board", c, r) for r, cs in cameras.items() for c in cs}
    kept |= {("supports", c, m) for c, ms in modes.items() for m in ms}
    return dataclasses.replace(task, init=frozenset(kept), goal=frozenset(goal))


def test_a_task_with_one_rover_is_its_own_kind() -> None:
    assert team_kind(generate_sized("rovers", 5, np.random.default_rng(0)).task) == ONE_ROVER
    assert {a[2] for a in _two_rover_task().init if a[0] == "store_of"} == {"rover1", "rover2"}


@pytest.mark.parametrize(
    ("equipped", "cameras", "modes", "goal", "kind"),
    [
        # soil and rock split between the rovers: both must work
        ({"rover1": {"soil_analysis"}, "rover2": {"rock_analysis", "imaging"}}, {}, {},
         {("communicated_soil_data", "waypoint1"), ("communicated_rock_data", "waypoint2")}, NEEDS_TWO),
        # the second rover has both analyses
        ({"rover1": {"soil_analysis"}, "rover2": {"rock_analysis", "soil_analysis"}}, {}, {},
         {("communicated_soil_data", "waypoint1"), ("communicated_rock_data", "waypoint2")}, ONE_SUFFICES),
        # imaging: equipped, but its only camera lacks one of the asked modes
        ({"rover1": {"imaging"}, "rover2": {"imaging"}},
         {"rover1": {"camera1"}, "rover2": {"camera2"}}, {"camera1": {"colour"}, "camera2": {"low_res"}},
         {("communicated_image_data", "objective1", "colour"),
          ("communicated_image_data", "objective1", "low_res")}, NEEDS_TWO),
        # one camera supports both modes, on a rover equipped for imaging
        ({"rover1": {"imaging"}, "rover2": {"imaging"}},
         {"rover1": {"camera1"}, "rover2": {"camera2"}},
         {"camera1": {"colour"}, "camera2": {"low_res", "colour"}},
         {("communicated_image_data", "objective1", "colour"),
          ("communicated_image_data", "objective1", "low_res")}, ONE_SUFFICES),
        # the camera that could do it is on a rover not equipped for imaging
        ({"rover1": {"imaging"}, "rover2": set()},
         {"rover1": {"camera1"}, "rover2": {"camera2"}},
         {"camera1": {"colour"}, "camera2": {"low_res", "colour"}},
         {("communicated_image_data", "objective1", "colour"),
          ("communicated_image_data", "objective1", "low_res")}, NEEDS_TWO),
    ],
    ids=["analyses-split", "one-has-both", "modes-split", "one-camera-has-both", "camera-on-unequipped"],
)
def test_kinds_checked_by_hand(equipped: dict[str, set[str]], cameras: dict[str, set[str]],
                               modes: dict[str, set[str]], goal: set[tuple[str, ...]], kind: str) -> None:
    task = _with(_two_rover_task(), equipped=equipped, cameras=cameras, modes=modes, goal=goal)
    assert team_kind(task) == kind


def _verdict_of(plan: str) -> tuple[str, tuple[str, ...]]:
    """The validator's status and unmet preconditions for ``plan`` on a two-rover task whose
    rover1 has only the soil analysis and rover2 the rock analysis and the camera, both rovers
    standing on a waypoint with rock and soil samples."""
    task = _two_rover_task()
    here = {a[1]: a[2] for a in task.init if a[0] == "at" and a[1].startswith("rover")}
    task = _with(task, equipped={"rover1": {"soil_analysis"}, "rover2": {"rock_analysis", "imaging"}},
                 cameras={"rover2": {"camera1"}}, modes={"camera1": {"colour"}}, goal=set(task.goal))
    task = dataclasses.replace(task, init=task.init | {
        (f"at_{kind}_sample", w) for w in here.values() for kind in ("rock", "soil")})
    verdict = validate_plan(task, plan.format(**here))
    return verdict.status, verdict.unmet_preconditions


@pytest.mark.parametrize(("plan", "unequipped"), [
    ("(sample_rock rover1 rover1store {rover1})", True),  # rover1 has no rock analysis
    ("(calibrate rover1 camera1 objective1 {rover1})", True),  # camera1 is on rover2
    ("(sample_soil rover1 rover1store {rover1})\n(sample_soil rover1 rover1store {rover1})", False),
    ("(sample_soil rover1 rover1store {rover2})", False),  # the right rover in the wrong place
    ("(sample_rock rover2 rover2store {rover2})", False),  # applicable (the goals are not met)
])
def test_a_job_given_to_an_unequipped_rover_is_told_from_other_failures(plan: str, unequipped: bool) -> None:
    status, unmet = _verdict_of(plan)
    assert gives_job_to_unequipped_rover(status, unmet) is unequipped
