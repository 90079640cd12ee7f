"""The console entry point imports a command's module only when that command runs, and still
offers every command.

Why: ``iterdeploy validate`` is called once per plan from shell scripts, and importing every
command module (torch through the loop, pandas, the generators, pddlgym through the old parser)
made one call take two seconds. These are structural checks, never timings: which modules a
fresh ``iterdeploy validate`` process has imported when it ends, and that the lazily built root
group offers exactly the commands, order and help of the eagerly built ``app``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
import typer.main

from iterdeploy.simulator.cli import _load_plugins, _new_app
from iterdeploy.simulator.cli._lazy import COMMAND_MODULES, LazyRootGroup, command_module
from iterdeploy.simulator.planning import domain_path, generate
from tests.simulator.conftest import REPO, iterdeploy

HEAVY = ("torch", "transformers", "pandas", "pddlgym", "gym", "numpy", "matplotlib", "rich",
         "iterdeploy.simulator.planning.generators", "iterdeploy.simulator.loop",
         "iterdeploy.simulator.cli.run_cmd", "iterdeploy.auditors", "iterdeploy.dashboards")
"""What ``iterdeploy validate`` must not import: the heavy libraries, and the project modules
that bring them (the generators import numpy; the other commands import the rest)."""

_PROBE = r"""
import json, sys, traceback

HEAVY = {heavy!r}
REPO = {repo!r}
chains = {{}}


class Spy:
    # records the project frames that first import each heavy module; finds nothing itself
    def find_spec(self, name, path=None, target=None):
        if name in HEAVY and name not in chains:
            chains[name] = [f"{{f.filename[len(REPO) + 1:]}}:{{f.lineno}}"
                            for f in traceback.extract_stack()
                            if f.filename.startswith(REPO + "/") and "/.venv/" not in f.filename]
        return None


sys.meta_path.insert(0, Spy())
sys.argv = ["iterdeploy", *{args!r}]
from iterdeploy.simulator.console import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "heavy": {{n: chains.get(n) for n in HEAVY if n in sys.modules}}}}))
"""


def _probe(*args: str) -> tuple[int, dict[str, list[str] | None], str]:
    """Run ``iterdeploy ARGS`` through the console entry point in a fresh interpreter: its exit
    code, the heavy modules it imported (each with the project lines that imported it first), its output."""
    code = _PROBE.format(heavy=HEAVY, repo=str(REPO), args=list(args))
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    *printed, last = result.stdout.strip().splitlines()
    report = json.loads(last)
    return report["code"], report["heavy"], "\n".join(printed) + result.stderr


@pytest.fixture
def ferry(tmp_path: Path) -> tuple[Path, Path, Path]:
    generated = generate("ferry", {"n_cars": 2}, np.random.default_rng(0))
    problem = tmp_path / "p.pddl"
    problem.write_text(generated.problem_pddl)
    plan = tmp_path / "plan.txt"
    plan.write_text("\n".join(generated.witness_plan) + "\n")
    return domain_path("ferry"), problem, plan


def _explain(heavy: dict[str, list[str] | None]) -> str:
    return "\n".join(f"{name} imported via {' -> '.join(chain or ['?'])}" for name, chain in heavy.items())


def test_validate_imports_none_of_the_heavy_modules(ferry: tuple[Path, Path, Path]) -> None:
    code, heavy, output = _probe("validate", *map(str, ferry))
    assert code == 0, output
    assert "valid: " in output
    assert heavy == {}, _explain(heavy)


def test_a_plain_validate_call_imports_neither_typer_nor_pydantic(ferry: tuple[Path, Path, Path]) -> None:
    """Files and ``--json`` only: the console entry point judges them without the CLI framework."""
    domain, problem, plan = map(str, ferry)
    for args in ([domain, problem, plan], [domain, problem, plan, "--json", problem, plan]):
        probe = _PROBE.format(heavy=("typer", "pydantic", "click"), repo=str(REPO), args=["validate", *args])
        result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                                timeout=300)
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["code"] == 0 and report["heavy"] == {}, report


def _both_ways(args: list[str]) -> tuple[tuple[int, str], tuple[int, str]]:
    """``iterdeploy validate ARGS`` through the console entry point and through the typer
    command alone: each one's exit status and standard output."""
    def run(entry: str) -> tuple[int, str]:
        argv = ["iterdeploy", "validate", *args]
        code = f"import sys; sys.argv = {argv!r}; from {entry} import main; main()"
        result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                                timeout=300)
        return result.returncode, result.stdout + result.stderr

    return run("iterdeploy.simulator.console"), run("iterdeploy.simulator.cli")


def test_the_plain_path_prints_what_the_typer_command_prints(
    ferry: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    domain, problem, plan = map(str, ferry)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("(board car1 loc1)\nnumbered: 1. nonsense\n")
    missing = str(tmp_path / "missing.pddl")
    cases = [
        [domain, problem, plan],
        [domain, problem, str(wrong)],
        [domain, problem, plan, problem, str(wrong)],
        ["--json", domain, problem, str(wrong)],
        [domain, problem, plan, "--json", problem, plan],
        [domain, missing, plan],  # the typer command reports it
        [domain, problem, plan, problem],  # a problem without its plan
        [domain, problem],
        [domain, problem, plan, "--help"],
    ]
    for args in cases:
        fast, typer_only = _both_ways(args)
        assert fast == typer_only, args
    assert _both_ways(cases[1])[0][0] == 1 and _both_ways(cases[5])[0][0] == 2


def test_validate_of_bad_input_imports_none_but_rich(ferry: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """The one error line is printed through rich (as every command's); nothing else heavy."""
    domain, _, plan = ferry
    bad = tmp_path / "bad.pddl"
    bad.write_text("(define (problem p) (:domain ferry)")
    code, heavy, output = _probe("validate", str(domain), str(bad), str(plan))
    assert code == 2, output
    assert [line for line in output.splitlines() if line.startswith("error:")] == [
        f"error: {bad}:1: '(' opened here is never closed (1 unclosed at end of file); expected ')'"]
    assert set(heavy) <= {"rich"}, _explain(heavy)


def test_validate_help_imports_none_of_the_command_modules_it_does_not_show() -> None:
    code, heavy, output = _probe("validate", "--help")
    assert code == 0, output
    assert "Check a plan against a task" in output
    assert not set(heavy) - {"rich"}, _explain(heavy)


@pytest.mark.parametrize(("module", "names"), COMMAND_MODULES)
def test_each_command_module_registers_the_commands_the_table_routes_to_it(
    module: str, names: tuple[str, ...]
) -> None:
    sub = typer.Typer()
    command_module(module)(sub)
    assert tuple(typer.main.get_group(sub).commands) == names


def _group(group: typer.Typer) -> typer.core.TyperGroup:
    command = typer.main.get_command(group)
    assert isinstance(command, typer.core.TyperGroup)
    return command


def test_the_lazy_root_offers_every_command_of_the_full_app_in_its_order_with_its_help() -> None:
    from iterdeploy.simulator.cli import app

    _load_plugins()
    full = _group(app)
    lazy = _group(_new_app(LazyRootGroup))
    assert isinstance(lazy, LazyRootGroup)
    with typer.Context(full) as ctx:
        expected = full.list_commands(ctx)
        got = lazy.list_commands(ctx)
    assert got == expected
    assert {"run", "validate", "tasks", "plan", "scenario", "audit", "dashboard"} <= set(got)
    for name in expected:
        ours, theirs = lazy.commands[name], full.commands[name]
        assert ours.help == theirs.help, name
        assert [p.name for p in ours.params] == [p.name for p in theirs.params], name


def test_asking_for_one_command_imports_only_its_module() -> None:
    lazy = _group(_new_app(LazyRootGroup))
    with typer.Context(lazy) as ctx:
        command = lazy.get_command(ctx, "validate")
    assert command is not None and command.name == "validate"
    assert list(lazy.commands) == ["validate"]


def test_help_in_a_fresh_process_lists_every_command_plugins_included() -> None:
    result = iterdeploy("--help")
    assert result.returncode == 0, result.stderr
    for name in ("run", "summary", "compare", "export", "scenario", "validate", "tasks", "plan",
                 "pretrain", "sweep", "audit", "calibrate", "dashboard"):
        assert f" {name} " in result.stdout, name


def test_a_mistyped_command_gets_the_did_you_mean_in_a_fresh_process() -> None:
    result = iterdeploy("valdate")
    assert result.returncode == 2
    assert "No such command 'valdate'" in result.stderr and "'validate'" in result.stderr


def test_a_plugin_command_runs_through_the_lazy_root() -> None:
    result = iterdeploy("audit", "--help")
    assert result.returncode == 0, result.stderr
    assert "Audit a run" in result.stdout
