"""``iterdeploy sweep``: scenarios × seeds × a grid, one resumable run each, serially or on Ray.

Grid parsing, expansion and run-directory names are checked on their own (with hypothesis where
a property says more than examples); bad input is refused in one line before anything starts;
tiny real runs go through the real loop, serially and on a local Ray instance that the sweep
starts and shuts down; a sweep run again skips the complete runs and resumes the unfinished.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from iterdeploy.simulator.cli import app
from iterdeploy.simulator.errors import IterdeployError, ScenarioError
from iterdeploy.simulator.store import RunReader
from iterdeploy.simulator.sweep import (
    GridAxis,
    PlannedRun,
    SerialExecutor,
    expand_grid,
    grid_size,
    grid_suffix,
    parse_grid,
    plan_sweep,
    run_sweep,
    short_keys,
    value_text,
)
from tests.conftest import TINY_OVERRIDES
from tests.simulator.cli_output import error_line

QUICKSTART = "scenarios/quickstart.yaml"
runner = CliRunner()


def tiny_sets(without: Sequence[str] = ()) -> list[str]:
    """``--set`` arguments for the tiny scenario, leaving out the keys a grid sweeps."""
    args: list[str] = []
    for key, value in TINY_OVERRIDES.items():
        if key not in without:
            args += ["--set", f"{key}={value}"]
    return args


def sweep(*args: str) -> Any:
    return runner.invoke(app, ["sweep", *args])


# -- the grid ---------------------------------------------------------------------------------
def test_grid_items_are_read_as_yaml_values() -> None:
    axes = parse_grid(["deploy.samples_per_task=4,8", "training.lr=0.001, 0.002",
                       "deploy.pool=fixed,fresh", "users=[1,2],'a,b'"])
    assert axes == [GridAxis("deploy.samples_per_task", (4, 8)),
                    GridAxis("training.lr", (0.001, 0.002)),
                    GridAxis("deploy.pool", ("fixed", "fresh")),
                    GridAxis("users", ([1, 2], "a,b"))]


@pytest.mark.parametrize(("item", "says"), [
    ("deploy.samples_per_task", "expected KEY.PATH=V1,V2"),
    ("deploy.samples_per_task=", "no values"),
    ("deploy..x=1,2", "is not a settings key"),
    ("deploy.samples_per_task=4,4", "given twice"),
    ("seed=1,2", "--seeds"),
    ("deploy.samples_per_task=[4", "--grid deploy.samples_per_task"),
])
def test_bad_grid_items_are_refused_naming_the_item(item: str, says: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(says)):
        parse_grid([item])


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(ScenarioError, match="given twice"):
        parse_grid(["training.lr=1,2", "training.lr=3"])


@given(st.lists(st.lists(st.integers(), min_size=1, max_size=4, unique=True), max_size=4))
def test_the_grid_is_the_cartesian_product(value_lists: list[list[int]]) -> None:
    axes = [GridAxis(f"k{i}", tuple(values)) for i, values in enumerate(value_lists)]
    combos = expand_grid(axes)
    assert len(combos) == grid_size(axes)
    assert len({tuple(sorted(c.items())) for c in combos}) == len(combos)  # no repeats
    for combo in combos:
        assert list(combo) == [axis.key for axis in axes]  # keys in --grid order
        assert all(combo[axis.key] in axis.values for axis in axes)


@given(st.lists(st.text(min_size=1, max_size=60), min_size=2, max_size=6, unique=True))
def test_different_values_get_different_safe_names(values: list[str]) -> None:
    texts = [value_text(v) for v in values]
    assert len(set(texts)) == len(texts)
    for text in texts:
        assert re.fullmatch(r"[A-Za-z0-9._+~-]{1,32}", text), text


def test_plain_values_keep_their_spelling() -> None:
    assert [value_text(v) for v in (4, 0.001, "1e-3", True, None, "fixed")] == \
        ["4", "0.001", "1e-3", "true", "null", "fixed"]
    assert value_text("a/b").startswith("a_b~")


@given(st.lists(st.lists(st.sampled_from(["deploy", "evaluation", "training", "lr", "samples"]),
                         min_size=1, max_size=3).map(".".join), min_size=1, max_size=5, unique=True))
def test_short_keys_are_unique_suffixes(keys: list[str]) -> None:
    names = short_keys(keys)
    assert len(set(names.values())) == len(keys)
    for key, name in names.items():
        assert key == name or key.endswith("." + name)


def test_run_directories_are_named_as_run_names_them_plus_the_grid(tmp_path: Path) -> None:
    runs = plan_sweep([QUICKSTART], [0, 1], sets={"generations": 1},
                      grid=parse_grid(["deploy.samples_per_task=4,8",
                                       "evaluation.samples_per_task=2"]), out=tmp_path)
    names = [r.run_dir.name for r in runs]
    assert names == [
        "quickstart-seed0-deploy.samples_per_task=4-evaluation.samples_per_task=2",
        "quickstart-seed0-deploy.samples_per_task=8-evaluation.samples_per_task=2",
        "quickstart-seed1-deploy.samples_per_task=4-evaluation.samples_per_task=2",
        "quickstart-seed1-deploy.samples_per_task=8-evaluation.samples_per_task=2",
    ]
    assert all(r.run_dir.parent == tmp_path for r in runs)
    assert [r.spec.deploy.samples_per_task for r in runs] == [4, 8, 4, 8]
    assert {r.spec.generations for r in runs} == {1}
    # no grid: exactly `iterdeploy run --seeds`' names
    assert [r.run_dir.name for r in plan_sweep([QUICKSTART], [3], out=tmp_path)] == \
        ["quickstart-seed3"]
    assert grid_suffix({}, {}) == ""


def test_plan_refuses_what_would_run_twice_or_collide(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="same run"):
        plan_sweep([QUICKSTART], [0], grid=parse_grid(["training.lr=0.001,1e-3"]), out=tmp_path)
    twin = tmp_path / "twin.yaml"
    twin.write_text(Path(QUICKSTART).read_text().replace("temperature: 1.0", "temperature: 0.9"))
    with pytest.raises(ScenarioError, match="two runs of the sweep would write"):
        plan_sweep([QUICKSTART, twin], [0], out=tmp_path)
    with pytest.raises(ScenarioError, match="both --set and --grid"):
        plan_sweep([QUICKSTART], [0], sets={"training.lr": 0.1},
                   grid=parse_grid(["training.lr=0.2,0.3"]), out=tmp_path)


# -- bad input: one line, exit 2, nothing started ---------------------------------------------
@pytest.mark.parametrize(("args", "says"), [
    (["--grid", "deploy.samples_per_task"], "--grid"),
    (["--grid", "deploy.sampels_per_task=4,8"], "deploy.sampels_per_task: unknown key"),
    (["--grid", "deploy.samples_per_task=4,many"], "deploy.samples_per_task"),
    (["--set", "training.lr=fast"], "training.lr"),
    (["--seeds", "3-1"], "--seeds"),
    (["--serial", "--address", "auto"], "--address"),
    (["--serial", "--cpus", "2"], "--cpus"),
    (["--cpus", "1", "--cpus-per-run", "2"], "--cpus-per-run"),
    (["--set", "model.device=cuda"], "--gpus-per-run"),
])
def test_bad_input_is_refused_in_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    if "--serial" not in args:
        pytest.importorskip("ray")  # without Ray, the refusal would be that one
    out = tmp_path / "runs"
    result = sweep(QUICKSTART, "--out", str(out), *args)
    assert result.exit_code == 2, result.output
    assert says in error_line(result.stderr)
    assert not out.exists()


def test_a_missing_scenario_is_named(tmp_path: Path) -> None:
    result = sweep(QUICKSTART, str(tmp_path / "nope.yaml"), "--serial", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "nope.yaml: no such scenario file" in error_line(result.stderr)


def test_without_ray_the_sweep_says_how_to_install_it(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    result = sweep(QUICKSTART, "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2
    line = error_line(result.stderr)
    assert "Ray, which is not installed" in line and "pip install 'iterdeploy[ray]'" in line
    assert "--serial" in line


def test_a_directory_of_another_scenario_is_refused_before_anything_runs(tmp_path: Path) -> None:
    first = sweep(QUICKSTART, "--seeds", "0", "--serial", "--out", str(tmp_path), *tiny_sets())
    assert first.exit_code == 0, first.output
    result = sweep(QUICKSTART, "--seeds", "0", "--serial", "--out", str(tmp_path),
                   *tiny_sets(), "--set", "deploy.temperature=0.5")
    assert result.exit_code == 2, result.output
    line = error_line(result.stderr)
    assert "quickstart-seed0: holds a run of a different scenario" in line
    assert "deploy.temperature" in line


# -- running ----------------------------------------------------------------------------------
class Recording:
    """A serial executor that remembers which runs it was given."""

    def __init__(self) -> None:
        self.given: list[Path] = []

    def run_all(self, runs: Sequence[PlannedRun], on_done: Any) -> None:
        self.given += [r.run_dir for r in runs]
        SerialExecutor().run_all(runs, on_done)


def test_serial_sweep_of_two_tiny_runs_then_rerun_skips_them(tmp_path: Path) -> None:
    result = sweep(QUICKSTART, "--seeds", "0-1", "--serial", "--out", str(tmp_path), *tiny_sets())
    assert result.exit_code == 0, result.output
    for seed in (0, 1):
        run_dir = tmp_path / f"quickstart-seed{seed}"
        assert f"✓ {run_dir}  completed" in result.output
        with RunReader(run_dir) as reader:
            assert reader.run_status() == "completed"
            assert reader.run().seed == seed
            assert reader.last_generation() == 1
    again = sweep(QUICKSTART, "--seeds", "0-1", "--serial", "--out", str(tmp_path), *tiny_sets())
    assert again.exit_code == 0, again.output
    assert "2 complete already, 0 to run" in again.output
    assert "✓" not in again.output and again.output.count("complete before") == 2


def test_resume_runs_only_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One run complete (written by `iterdeploy run`), one crashed after generation 0: the sweep
    skips the first and resumes the second from generation 1."""
    from iterdeploy.simulator.loop import DeploymentLoop

    done = runner.invoke(app, ["run", QUICKSTART, "--seeds", "0", "--out", str(tmp_path),
                               *tiny_sets()])
    assert done.exit_code == 0, done.output
    original = DeploymentLoop._one_generation

    def crash(self: DeploymentLoop, writer: Any, planner: Any, g: int, *a: Any, **k: Any) -> Any:
        if g == 1:
            raise RuntimeError("killed in generation 1")
        return original(self, writer, planner, g, *a, **k)

    runs = plan_sweep([QUICKSTART], [0, 1], sets=dict(TINY_OVERRIDES), out=tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(DeploymentLoop, "_one_generation", crash)
        first = run_sweep(runs, Recording())
    assert [o.status for o in first] == ["skipped", "failed"]
    assert first[1].error == "RuntimeError: killed in generation 1"
    with RunReader(runs[1].run_dir) as reader:
        assert reader.last_generation() == 0
        gen0 = reader.generation(0).committed_at

    recording = Recording()
    second = run_sweep(runs, recording)
    assert recording.given == [runs[1].run_dir]  # only the unfinished run is run again
    assert [o.status for o in second] == ["skipped", "completed"]
    assert [row.generation for row in second[1].summary] == [0, 1]
    with RunReader(runs[1].run_dir) as reader:
        assert reader.generation(0).committed_at == gen0  # resumed, not redone
        assert reader.run_status() == "completed"


def test_a_failed_run_does_not_stop_the_others(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import iterdeploy.simulator.loop

    real = iterdeploy.simulator.loop.run_scenario

    def flaky(spec: Any, text: str, run_dir: Path, **kwargs: Any) -> Any:
        if spec.seed == 0:
            raise IterdeployError("the disk is full (simulated)")
        return real(spec, text, run_dir, **kwargs)

    monkeypatch.setattr(iterdeploy.simulator.loop, "run_scenario", flaky)
    result = sweep(QUICKSTART, "--seeds", "0-1", "--serial", "--out", str(tmp_path), *tiny_sets())
    assert result.exit_code == 1, result.output
    assert "✗" in result.output and "the disk is full (simulated)" in result.output
    assert f"✓ {tmp_path / 'quickstart-seed1'}  completed" in result.output
    assert "1 of 2 runs failed" in error_line(result.stderr)


def test_ray_sweep_of_two_tiny_runs_with_a_grid(tmp_path: Path) -> None:
    """On a local Ray instance the sweep starts (1 CPU: the runs queue) and shuts down; a
    second sweep finds both complete and starts no Ray at all."""
    ray = pytest.importorskip("ray")
    args = [QUICKSTART, "--seeds", "0", "--grid", "deploy.samples_per_task=2,4", "--cpus", "1",
            "--out", str(tmp_path), *tiny_sets(without=["deploy.samples_per_task"])]
    result = sweep(*args)
    assert result.exit_code == 0, result.output
    assert not ray.is_initialized()
    for k in (2, 4):
        run_dir = tmp_path / f"quickstart-seed0-samples_per_task={k}"
        assert f"✓ {run_dir}  completed" in result.output
        with RunReader(run_dir) as reader:
            assert reader.run_status() == "completed"
            assert reader.scenario()["deploy"]["samples_per_task"] == k
    again = sweep(*args)
    assert again.exit_code == 0, again.output
    assert "2 complete already, 0 to run" in again.output


def test_runs_no_ray_node_could_hold_are_refused(tmp_path: Path) -> None:
    """64 GPUs per run, more than any node has: refused after Ray starts (it
    would otherwise wait forever), Ray shut down again, nothing written."""
    ray = pytest.importorskip("ray")
    out = tmp_path / "runs"
    result = sweep(QUICKSTART, "--seeds", "0", "--cpus", "1", "--gpus-per-run", "64",
                   "--out", str(out), *tiny_sets())
    assert result.exit_code == 2, result.output
    assert "--gpus-per-run 64: no Ray node has that many GPUs" in error_line(result.stderr)
    assert not ray.is_initialized()
    assert not out.exists()
