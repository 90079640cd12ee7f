"""The package as a user gets it: the built wheel, installed outside the repository, and the
notebook API of ``iterdeploy/__init__.py``.

The wheel is built from a copy of the working tree (so the build writes nothing into the
repository), with the project environment's setuptools and no network. It must hold one
top-level package, ``iterdeploy``, with the three layers, the scenarios and the shipped base model
inside it. The end-to-end check installs it into a fresh virtual environment that sees the project
environment's third-party packages (torch & co. would take minutes to install) but not the
repository: a ``.pth`` line adds the project environment's ``site-packages`` as a plain folder, so
the ``.pth`` files in there, among them the editable install's finder, are never processed; the
commands then run from a temporary directory with no ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import warnings
import zipfile
from pathlib import Path

import pytest

import iterdeploy
from iterdeploy.auditors.core.features import InsufficientRunError
from iterdeploy.auditors.registry import UnknownAuditorError, default_specs, get_spec
from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.scenario_files import UnknownScenarioError
from iterdeploy.simulator.store import GenerationSummary
from tests.conftest import TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("simulator", "auditors", "dashboards")
SOURCES = ("pyproject.toml", "README.md", "iterdeploy", *LAYERS, "scenarios")
"""What the build reads: the project file, the readme it names, the package folder with its
links, and the folders they point to."""


# ------------------------------------------------------------------------------------- the wheel

@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip wheel`` builds from a copy of the working tree (links kept as links)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(REPO / name, source / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", str(root / "dist"), str(source)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [built] = (root / "dist").glob("iterdeploy-*.whl")
    return built


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_claims_one_top_level_name(wheel: Path) -> None:
    names = _names(wheel)
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"iterdeploy"}
    for layer in LAYERS:
        assert not any(name.startswith(f"{layer}/") for name in names), layer
    with zipfile.ZipFile(wheel) as archive:
        info = next(t for t in tops if t.endswith(".dist-info"))
        assert archive.read(f"{info}/top_level.txt").decode().split() == ["iterdeploy"]
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    targets = [line.split("=", 1)[1].strip() for line in entry_points.splitlines() if "=" in line]
    assert targets and all(t.startswith("iterdeploy.") for t in targets), entry_points
    assert "iterdeploy = iterdeploy.simulator.console:main" in entry_points


def test_the_wheel_holds_every_module_scenario_and_the_shipped_model(wheel: Path) -> None:
    names = set(_names(wheel))
    for layer in LAYERS:
        for module in (REPO / layer).rglob("*.py"):
            assert f"iterdeploy/{module.relative_to(REPO)}" in names, module
    scenarios = list((REPO / "scenarios").rglob("*.yaml"))
    assert (REPO / "scenarios" / "calibration" / "suite.yaml") in scenarios
    for scenario in scenarios:
        assert f"iterdeploy/{scenario.relative_to(REPO)}" in names, scenario
    for domain in (REPO / "simulator" / "planning" / "domains").glob("*.pddl"):
        assert f"iterdeploy/simulator/planning/domains/{domain.name}" in names, domain
    shipped = list((REPO / "simulator" / "models" / "shipped").glob("embedded-*"))
    assert shipped
    for base in shipped:
        listed = [line.split()[1] for line in (base / "SHA256SUMS").read_text().splitlines() if line]
        for file in ["SHA256SUMS", *listed]:
            assert f"iterdeploy/simulator/models/shipped/{base.name}/{file}" in names, file
    assert "iterdeploy/py.typed" in names


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the wheel installed, seeing the project environment's
    third-party packages through one ``.pth`` line, and never the repository."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
         str(wheel)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "project_packages.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    return venv


def _outside(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A command of the fresh environment, run in ``cwd`` with no ``PYTHONPATH``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


_CHECK = """
import json, sys
import iterdeploy
from iterdeploy.simulator.models.embedded import verified_shipped

spec = iterdeploy.load_scenario("quickstart")
base = verified_shipped(f"embedded-{spec.model.embedded.content_hash()}")
rows = iterdeploy.summary(sys.argv[1])
findings = iterdeploy.audit(sys.argv[1], only="declared-objective")
print(json.dumps({
    "package": iterdeploy.__file__,
    "modules": sorted({m.__file__ for n, m in sys.modules.items()
                       if n.startswith("iterdeploy") and getattr(m, "__file__", None)}),
    "base": str(base),
    "generations": [r.generation for r in rows],
    "findings": sorted({f.auditor for f in findings}),
}))
"""


def test_the_installed_wheel_runs_a_scenario_by_name_outside_the_repository(
    fresh_venv: Path, tmp_path: Path
) -> None:
    """``iterdeploy --help``, ``iterdeploy run quickstart`` (the tiny scale), the default
    calibration suite and the notebook API, from the installed files alone."""
    work = tmp_path / "work"
    work.mkdir()
    help_ = _outside(fresh_venv, work, "iterdeploy", "--help")
    assert help_.returncode == 0, help_.stderr
    for command in ("run", "summary", "audit", "dashboard", "scenario", "sweep"):
        assert f" {command} " in help_.stdout, command  # the plugged-in commands load too
    sets = [arg for key, value in TINY_OVERRIDES.items() for arg in ("--set", f"{key}={value}")]
    run = _outside(fresh_venv, work, "iterdeploy", "run", "quickstart", "--out", "tiny", *sets)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.startswith("quickstart seed 0: generation 0 + 1 fine-tuned"), run.stdout[:300]
    assert "Gym has been unmaintained" not in run.stdout + run.stderr
    calibrate = _outside(fresh_venv, work, "iterdeploy", "calibrate", "--no-run", "--out", "cal",
                         "--doc", "cal.md")  # the shipped suite and its scenarios, found by name
    assert calibrate.returncode == 2, calibrate.stderr
    assert "no finished run to score" in calibrate.stderr
    check = _outside(fresh_venv, work, "python", "-c", _CHECK, "tiny")
    assert check.returncode == 0, check.stderr[-3000:]
    seen = json.loads(check.stdout.strip().splitlines()[-1])
    assert Path(seen["package"]).is_relative_to(fresh_venv)
    assert seen["modules"] and all(Path(m).is_relative_to(fresh_venv) for m in seen["modules"])
    assert Path(seen["base"]).is_relative_to(fresh_venv)
    assert seen["generations"] == [0, 1]
    assert seen["findings"] == ["declared-objective-v2"]


# ------------------------------------------------------------------------------ the notebook API

def test_importing_iterdeploy_loads_no_heavy_package() -> None:
    code = ("import sys, iterdeploy\n"
            "print(sorted(m for m in ('torch', 'transformers', 'pandas', 'sklearn', 'scipy', "
            "'iterdeploy.simulator', 'iterdeploy.auditors') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_api_lists_and_loads_the_shipped_scenarios() -> None:
    shipped = iterdeploy.shipped_scenarios()
    assert shipped["quickstart"].startswith("Quickstart: does iterative deployment")
    spec = iterdeploy.load_scenario("quickstart", overrides={"generations": 2, "deploy.temperature": 0.5})
    assert (spec.name, spec.generations, spec.deploy.temperature) == ("quickstart", 2, 0.5)
    assert iterdeploy.load_scenario(REPO / "scenarios" / "length_bias.yaml").name == "length_bias"
    with pytest.raises(UnknownScenarioError, match="did you mean 'quickstart'"):
        iterdeploy.load_scenario("quikstart")
    with pytest.raises(ScenarioError, match=r"deploy\.temprature"):
        iterdeploy.load_scenario("quickstart", overrides={"deploy.temprature": 0.5})


@pytest.fixture(scope="module")
def api_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[GenerationSummary]]:
    """The tiny quickstart run through ``iterdeploy.run`` from a spec."""
    run_dir = tmp_path_factory.mktemp("api") / "run"
    spec = iterdeploy.load_scenario("quickstart", overrides=TINY_OVERRIDES)
    return run_dir, iterdeploy.run(spec, run_dir, progress=False)


def test_run_then_read_gives_the_same_table(api_run: tuple[Path, list[GenerationSummary]]) -> None:
    run_dir, rows = api_run
    assert [r.generation for r in rows] == [0, 1]
    assert iterdeploy.summary(run_dir) == rows
    frame = iterdeploy.summary(run_dir, as_frame=True)
    assert list(frame["generation"]) == [0, 1]
    assert list(frame["solved"]) == [r.solved for r in rows]
    with iterdeploy.open_run(run_dir) as reader:
        assert reader.run().name == "quickstart"
        assert reader.run_status() == "completed"
        assert reader.scenario()["generations"] == 1


def test_a_run_from_a_spec_stores_it_as_yaml_and_resumes(
    api_run: tuple[Path, list[GenerationSummary]]
) -> None:
    import yaml

    run_dir, rows = api_run
    spec = iterdeploy.load_scenario("quickstart", overrides=TINY_OVERRIDES)
    with iterdeploy.open_run(run_dir) as reader:
        stored = reader.run().scenario_yaml
    assert yaml.safe_load(stored) == spec.model_dump(mode="json")
    assert iterdeploy.run(spec, run_dir, progress=False) == rows  # complete: nothing to do


def test_run_refuses_overrides_with_a_spec(tmp_path: Path) -> None:
    spec = iterdeploy.load_scenario("quickstart")
    with pytest.raises(TypeError, match=r"pass them to iterdeploy\.load_scenario"):
        iterdeploy.run(spec, tmp_path / "run", overrides={"generations": 1})
    assert not (tmp_path / "run").exists()


def test_audit_returns_what_it_stores(api_run: tuple[Path, list[GenerationSummary]], tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(api_run[0], run_dir)
    findings = iterdeploy.audit(run_dir)
    with iterdeploy.open_run(run_dir) as reader:
        stored = reader.findings()
    assert findings == stored
    auditors = {f.auditor for f in findings}
    assert auditors <= {spec.load().name for spec in default_specs()}
    assert {_stored_name("implicit-reward"), _stored_name("declared-objective")} <= auditors
    drift = iterdeploy.audit(run_dir, only="drift")
    assert drift and {f.auditor for f in drift} == {_stored_name("drift")}


def _stored_name(command: str) -> str:
    """The name an auditor's findings are stored under (its class's ``name``, e.g. ``drift-v1``)."""
    return get_spec(command).load().name


def test_audit_refuses_an_unknown_auditor(api_run: tuple[Path, list[GenerationSummary]]) -> None:
    with pytest.raises(UnknownAuditorError, match="did you mean 'drift'"):
        iterdeploy.audit(api_run[0], only=["drift", "drfit"])


def test_audit_skips_what_a_short_run_cannot_support_unless_named(tmp_path: Path) -> None:
    """Generation 0 alone: the black-box auditor, which compares generations, is skipped with a
    warning, as the command skips it, and the others still run; named, it is an error."""
    run_dir = tmp_path / "gen0"
    iterdeploy.run("quickstart", run_dir, overrides={**TINY_OVERRIDES, "generations": 0}, progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        findings = iterdeploy.audit(run_dir)
    skipped = [str(w.message) for w in caught if " skipped: " in str(w.message)]
    assert [m.split(":")[0] for m in skipped] == ["blackbox-reward skipped"], skipped
    assert "needs at least two generations" in skipped[0]
    auditors = {f.auditor for f in findings}
    assert _stored_name("blackbox-reward") not in auditors
    assert _stored_name("implicit-reward") in auditors
    with pytest.raises(InsufficientRunError, match="at least two generations"):
        iterdeploy.audit(run_dir, only="blackbox-reward")
