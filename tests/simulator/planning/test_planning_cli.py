"""``iterdeploy validate | tasks | plan`` as a user types them, bad input included.

Exit codes: 0 yes, 1 no (invalid plan, no plan found), 2 unreadable input, 3 planner missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from iterdeploy.simulator.cli import app
from iterdeploy.simulator.planning import (
    Verdict,
    domain_path,
    find_fast_downward,
    generate,
    load_task,
    validate_plan,
)

runner = CliRunner()
needs_fd = pytest.mark.skipif(find_fast_downward() is None,
                              reason="Fast Downward not installed (pip install up-fast-downward)")


@pytest.fixture
def ferry(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    generated = generate("ferry", {"n_cars": 2}, np.random.default_rng(0))
    problem = tmp_path / "p.pddl"
    problem.write_text(generated.problem_pddl)
    return domain_path("ferry"), problem, list(generated.witness_plan)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- validate


def test_validate_a_valid_plan(ferry: tuple[Path, Path, list[str]], tmp_path: Path) -> None:
    domain, problem, plan = ferry
    numbered = "\n".join(f"{i + 1}. {a}" for i, a in enumerate(plan)) + "\n; done\n"
    plan_file = write(tmp_path, "plan", numbered)
    result = runner.invoke(app, ["validate", str(domain), str(problem), str(plan_file)])
    assert result.exit_code == 0, result.output
    assert f"valid: {len(plan)} step(s)" in result.output
    assert "ignored 1 line(s): ; done" in result.output


def test_validate_an_invalid_plan_exits_1_and_says_why(ferry: tuple[Path, Path, list[str]],
                                                       tmp_path: Path) -> None:
    domain, problem, plan = ferry
    result = runner.invoke(app, ["validate", str(domain), str(problem),
                                 str(write(tmp_path, "plan", "\n".join(plan[1:])))])
    assert result.exit_code == 1
    assert "invalid (invalid_step): step 1" in result.output
    assert "unmet preconditions:" in result.output
    short = runner.invoke(app, ["validate", str(domain), str(problem), str(write(tmp_path, "p2", plan[0]))])
    assert short.exit_code == 1 and "goal_not_reached" in short.output and "unmet goals" in short.output


def test_validate_json_is_the_verdict(ferry: tuple[Path, Path, list[str]], tmp_path: Path) -> None:
    domain, problem, plan = ferry
    text = "```\n# my plan\n" + "\n".join(plan) + "\n```\n"
    plan_file = write(tmp_path, "plan", text)
    result = runner.invoke(app, ["validate", str(domain), str(problem), str(plan_file), "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.output)
    verdict = validate_plan(load_task(domain, problem), text)
    assert {k: payload[k] for k in verdict.to_dict()} == verdict.to_dict()
    assert payload["ignored_lines"] == ["# my plan"] and payload["is_valid"] is True
    assert payload["plan_file"] == str(plan_file)
    # every status serialises, including failures with unmet atoms
    bad = runner.invoke(app, ["validate", str(domain), str(problem),
                              str(write(tmp_path, "bad", "(sail nowhere loc1)")), "--json"])
    assert bad.exit_code == 1 and json.loads(bad.output)["status"] == "unknown_object"
    assert set(json.loads(bad.output)) >= set(Verdict(status="empty").to_dict())


@pytest.mark.parametrize("broken", ["domain", "problem", "plan"])
def test_validate_missing_files_exit_2(
    broken: str, ferry: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    domain, problem, plan = ferry
    files = {"domain": domain, "problem": problem, "plan": write(tmp_path, "plan", "\n".join(plan))}
    files[broken] = tmp_path / "missing.txt"
    result = runner.invoke(app, ["validate", *(str(files[k]) for k in ("domain", "problem", "plan"))])
    assert result.exit_code == 2
    assert "missing.txt" in result.output


def test_validate_malformed_pddl_names_file_and_line(
    ferry: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    domain, problem, plan = ferry
    bad = write(tmp_path, "bad.pddl", problem.read_text().replace("(at car1", "(at car1 (", 1))
    result = runner.invoke(app, ["validate", str(domain), str(bad), str(write(tmp_path, "plan", plan[0]))])
    assert result.exit_code == 2
    assert "bad.pddl:" in result.output and "error:" in result.output


# --------------------------------------------------------------------------- tasks


def test_tasks_writes_problems_domain_and_index(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["tasks", "transport", "--size", "n_packages=2", "--size", "max_capacity=1",
                                 "--n", "3", "--seed", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 3 transport task(s)" in result.output
    index = json.loads((out / "index.json").read_text())
    assert [row["file"] for row in index] == [f"transport-00{i}.pddl" for i in (1, 2, 3)]
    assert (out / "domain.pddl").read_text() == domain_path("transport").read_text()
    for row in index:
        assert row["params"] == {"n_packages": 2, "n_vehicles": 1, "n_locations": 4, "max_capacity": 1}
        assert row["optimal_length"] is None and row["witness_length"] > 0
        task = load_task(out / "domain.pddl", out / row["file"])
        assert task.param_dict() == row["params"]
    again = runner.invoke(app, ["tasks", "transport", "-s", "n_packages=2", "-s", "max_capacity=1",
                                "-n", "3", "--seed", "5", "-o", str(tmp_path / "again")])
    assert again.exit_code == 0
    assert (tmp_path / "again" / "transport-002.pddl").read_text() == (out / "transport-002.pddl").read_text()


def test_tasks_optimal_records_lengths(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tasks", "ferry", "--size", "n_cars=1", "--n", "2", "--out", str(tmp_path),
                                 "--optimal"])
    assert result.exit_code == 0, result.output
    index = json.loads((tmp_path / "index.json").read_text())
    assert all(isinstance(row["optimal_length"], int) for row in index)
    assert "optimal length proven for 2/2" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["rover"], "unknown domain 'rover'; did you mean 'rovers'?"),
    (["ferry", "--size", "cars=3"], "ferry: unknown parameter 'cars'; did you mean 'n_cars'?"),
    (["ferry", "--size", "n_cars=0"], "ferry: n_cars=0 is out of range; expected 1 <= n_cars <= 20"),
    (["ferry", "--size", "n_cars=three"], "expected PARAM=INTEGER"),
    (["ferry", "--size", "n_cars"], "expected PARAM=INTEGER"),
    (["spanner", "--size", "n_nuts=3", "--size", "n_spanners=1"], "must be at least n_nuts"),
])
def test_tasks_bad_parameters_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["tasks", *args, "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "x").exists()


def test_tasks_help_lists_every_domain_and_parameter() -> None:
    result = runner.invoke(app, ["tasks", "--help"], terminal_width=120)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for word in ("blocksworld:", "rovers:", "n_waypoints", "grid_size", "max_capacity", "default n_cars + 1"):
        assert word in text


# --------------------------------------------------------------------------- plan


@needs_fd
def test_plan_prints_a_valid_plan(ferry: tuple[Path, Path, list[str]], tmp_path: Path) -> None:
    domain, problem, _ = ferry
    result = runner.invoke(app, ["plan", str(domain), str(problem), "--optimal"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("(")]
    assert validate_plan(load_task(domain, problem), "\n".join(lines)).is_valid
    assert "optimal (seq-opt-lmcut" in result.output
    as_json = runner.invoke(app, ["plan", str(domain), str(problem), "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.output)["status"] == "solved"


@needs_fd
def test_plan_timeout_exits_1(tmp_path: Path) -> None:
    generated = generate("childsnack", {"n_children": 8}, np.random.default_rng(0))
    problem = write(tmp_path, "hard.pddl", generated.problem_pddl)
    result = runner.invoke(app, ["plan", str(domain_path("childsnack")), str(problem), "--optimal",
                                 "--time-limit", "0.5"])
    assert result.exit_code == 1
    assert "no plan:" in result.output


def test_plan_without_planner_exits_3(ferry: tuple[Path, Path, list[str]], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITERDEPLOY_FAST_DOWNWARD", str(tmp_path / "no-such-driver.py"))
    domain, problem, _ = ferry
    result = runner.invoke(app, ["plan", str(domain), str(problem)])
    assert result.exit_code == 3
    assert "pip install up-fast-downward" in " ".join(result.output.split())


def test_plan_bad_input_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", str(domain_path("ferry")), str(tmp_path / "none.pddl")])
    assert result.exit_code == 2 and "none.pddl" in result.output
