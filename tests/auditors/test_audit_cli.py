"""``iterdeploy audit``, mounted on a bare typer app as the main CLI mounts it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from iterdeploy.auditors.cli import register
from iterdeploy.simulator.store import RunReader

StoreFactory = Callable[..., Path]

FINDING_KEYS = {"auditor", "kind", "severity", "generation", "claim", "numbers", "evidence"}


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Stand-in for the iterdeploy CLI."""

    register(app)
    return app


@pytest.fixture
def run(make_store: StoreFactory) -> Path:
    return make_store(n_generations=2, n_tasks=12)


def test_json_output_parses_and_is_stored(app: typer.Typer, run: Path) -> None:
    args = ["audit", str(run), "--json", "--seed", "3", "--bootstrap", "20", "--only", "implicit-reward"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)
    assert [f["generation"] for f in findings] == [None, 0, 1]
    for f in findings:
        assert set(f) == FINDING_KEYS
        assert f["auditor"] == "implicit-reward-v2"
        assert f["numbers"]["bootstrap"]["seed"] == 3
        assert f["numbers"]["bootstrap"]["n_requested"] == 20
        assert "denominators" in f["numbers"] and "generations" in f["evidence"]
    with RunReader(run) as reader:
        assert [f.claim for f in reader.findings()] == [f["claim"] for f in findings]


def test_table_output_shows_weights_and_claims(app: typer.Typer, run: Path) -> None:
    result = CliRunner().invoke(app, ["audit", str(run), "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    assert "is_valid" in result.stdout and "length_above_best" in result.stdout
    assert "Across the run, within the" in result.stdout
    assert "3 findings stored" in result.stdout
    assert "declared-objective findings stored" in result.stdout
    assert "drift findings stored" in result.stdout
    assert "reward-drift findings stored" in result.stdout
    assert "attribution findings stored" in result.stdout
    # this synthetic run has no evaluation traces, so the black-box auditor says why it skipped
    assert "blackbox-reward skipped: " in result.stderr


def test_an_auditor_the_run_cannot_feed_is_skipped_unless_named(
    app: typer.Typer, make_store: StoreFactory
) -> None:
    """One generation: nothing to compare for the black-box auditor. Run with the others it is
    skipped with a message (the others' findings still land); named alone it is an error."""
    one = make_store(n_generations=1, n_tasks=12)
    result = CliRunner().invoke(app, ["audit", str(one), "--bootstrap", "10", "--only", "implicit-reward",
                                      "--only", "blackbox-reward"])
    assert result.exit_code == 2 and "error:" in result.stderr
    result = CliRunner().invoke(app, ["audit", str(one), "--bootstrap", "10"])
    assert result.exit_code == 0, result.output
    assert "blackbox-reward skipped:" in result.stderr
    with RunReader(one) as reader:
        assert {f.auditor for f in reader.findings()} >= {"implicit-reward-v2", "drift-v2"}


def test_only_is_repeatable_and_runs_just_those(app: typer.Typer, run: Path) -> None:
    args = ["audit", str(run), "--json", "--bootstrap", "20", "--only", "reward-drift", "--only", "drift"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    auditors = {f["auditor"] for f in json.loads(result.stdout)}
    assert auditors == {"reward-drift-v2", "drift-v2"}


@pytest.mark.parametrize("make_path", [lambda tmp: tmp / "missing", lambda tmp: tmp])
def test_bad_run_dir_exits_2_with_message(
    app: typer.Typer, tmp_path: Path, make_path: Callable[[Path], Path]
) -> None:
    result = CliRunner().invoke(app, ["audit", str(make_path(tmp_path))])
    assert result.exit_code == 2
    assert "not a run directory" in result.stderr
    assert not (tmp_path / "missing").exists()


def test_corrupt_store_exits_2(app: typer.Typer, tmp_path: Path) -> None:
    (tmp_path / "run.sqlite").write_text("not sqlite")
    result = CliRunner().invoke(app, ["audit", str(tmp_path)])
    assert result.exit_code == 2
    assert "error:" in result.stderr


def test_the_command_loads_no_statistics_stack() -> None:
    """The entry point is loaded on every ``iterdeploy`` call (``--help`` included): registering the
    command and building the package's export list must not import scikit-learn, pandas, scipy or
    torch; an auditor's module is imported only when it runs."""
    code = (
        "import sys, typer, iterdeploy.auditors\n"
        "from iterdeploy.auditors.cli import register\n"
        "register(typer.Typer())\n"
        "print(iterdeploy.auditors.__all__ and ' '.join(m for m in ('sklearn', 'pandas', 'scipy', 'torch') "
        "if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_choices_order_and_opt_in_come_from_the_registry(app: typer.Typer) -> None:
    from iterdeploy.auditors.cli import OPT_IN, AuditorChoice
    from iterdeploy.auditors.registry import AUDITORS

    assert [c.value for c in AuditorChoice] == [s.command for s in AUDITORS] == [
        "implicit-reward", "declared-objective", "drift", "reward-drift", "attribution",
        "blackbox-reward", "rl-equivalence",
    ]
    assert OPT_IN == {"rl-equivalence"}
    result = CliRunner().invoke(app, ["audit", "--help"])
    assert "rl-equivalence when named" in result.stdout
