"""``iterdeploy validate`` with several PROBLEM PLAN pairs in one call.

One process for many plans is what lets a script validate plans faster than one process each:
the verdicts must be exactly those of separate calls, each named by its plan file, and the exit
status must say whether every plan was valid.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from iterdeploy.simulator.cli import app
from iterdeploy.simulator.planning import domain_path, generate

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out: dict[str, Path] = {"domain": domain_path("ferry")}
    for seed in (0, 1):
        generated = generate("ferry", {"n_cars": 2}, np.random.default_rng(seed))
        out[f"problem{seed}"] = tmp_path / f"p{seed}.pddl"
        out[f"problem{seed}"].write_text(generated.problem_pddl)
        out[f"valid{seed}"] = tmp_path / f"valid{seed}.txt"
        out[f"valid{seed}"].write_text("\n".join(generated.witness_plan))
        out[f"short{seed}"] = tmp_path / f"short{seed}.txt"
        out[f"short{seed}"].write_text("\n".join(generated.witness_plan[:-1]))
    return out


def run(*args: Path | str) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", *map(str, args)])
    return result.exit_code, result.output


def test_each_pair_gets_the_verdict_of_its_own_call(files: dict[str, Path]) -> None:
    pairs = [("problem0", "valid0"), ("problem1", "short1"), ("problem0", "short0"), ("problem1", "valid1")]
    alone = [run(files["domain"], files[p], files[q]) for p, q in pairs]
    code, output = run(files["domain"], *(files[name] for pair in pairs for name in pair))
    assert code == 1  # two of the four are invalid
    assert [c for c, _ in alone] == [0, 1, 1, 0]
    expected = []
    for (_, plan), (_, text) in zip(pairs, alone, strict=True):
        first, *rest = text.splitlines()
        expected += [f"{files[plan]}: {first}", *rest]
    assert output.splitlines() == expected


def test_all_valid_exits_0(files: dict[str, Path]) -> None:
    code, output = run(*(files[k] for k in ("domain", "problem0", "valid0", "problem1", "valid1")))
    assert code == 0, output
    assert output.count("valid: ") == 2


def test_json_gives_a_list_for_several_plans_and_an_object_for_one(files: dict[str, Path]) -> None:
    many = runner.invoke(app, ["validate", "--json", *map(str, (files["domain"], files["problem0"],
                                                               files["valid0"], files["problem1"],
                                                               files["short1"]))])
    one = runner.invoke(app, ["validate", "--json", *map(str, (files["domain"], files["problem1"],
                                                              files["short1"]))])
    payloads = json.loads(many.output)
    assert [p["is_valid"] for p in payloads] == [True, False]
    assert [p["plan_file"] for p in payloads] == [str(files["valid0"]), str(files["short1"])]
    assert payloads[1] == json.loads(one.output)


def test_a_problem_without_its_plan_is_refused_in_one_line(files: dict[str, Path]) -> None:
    code, output = run(files["domain"], files["problem0"], files["valid0"], files["problem1"])
    assert code == 2
    assert output.strip() == (f"error: {files['problem1']}: a problem file without its plan; after "
                              "DOMAIN, give PROBLEM PLAN pairs")


def test_an_unreadable_file_in_a_later_pair_stops_with_exit_2(files: dict[str, Path], tmp_path: Path) -> None:
    code, output = run(files["domain"], files["problem0"], files["valid0"], tmp_path / "nowhere.pddl",
                       files["valid1"])
    assert code == 2
    assert output.strip() == f"error: {tmp_path / 'nowhere.pddl'}: no such file"
