"""``iterdeploy export --format hf``: a real run's tables come back from ``datasets.load_from_disk``
with the store's counts and provenance, row for row the Parquet export's, with their column types;
without ``datasets`` the format is refused in one line with nothing written."""

from __future__ import annotations

import builtins
import hashlib
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from iterdeploy.simulator.cli import app
from iterdeploy.simulator.store import DB_NAME, RunReader
from iterdeploy.simulator.studies.export import DECISION_COLUMNS, TRACE_COLUMNS, TRAINING_COLUMNS
from tests.simulator.cli_output import error_line
from tests.simulator.conftest import ProcessRun

runner = CliRunner()


@pytest.fixture(scope="module")
def saved(process_run: ProcessRun, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A copy of the session's process run, its ``hf`` export and the command's output; the
    store's bytes are checked unchanged."""
    pytest.importorskip("datasets")
    run = tmp_path_factory.mktemp("hf") / "run"
    shutil.copytree(process_run.run_dir, run)
    before = hashlib.sha256((run / DB_NAME).read_bytes()).hexdigest()
    out = run.parent / "hf"
    result = runner.invoke(app, ["export", str(run), "--out", str(out), "--format", "hf"])
    assert result.exit_code == 0, result.output
    assert hashlib.sha256((run / DB_NAME).read_bytes()).hexdigest() == before, "export changed the store"
    return run, out, result.output


def test_training_sets_round_trip_with_counts_and_provenance(saved: tuple[Path, Path, str]) -> None:
    from datasets import load_from_disk

    run, out, output = saved
    training = load_from_disk(str(out / "training"))
    with RunReader(run) as reader:
        models = {m.generation: m for m in reader.models()}
        decided = {d.trace_id: d for d in reader.decisions() if d.kept}
        trained = [g.generation + 1 for g in reader.generations() if reader.training_set(g.generation + 1)]
        assert list(training) == [f"generation_{g}" for g in trained] == ["generation_1"]
        for g in trained:
            split = training[f"generation_{g}"]
            assert split.column_names == [c.name for c in TRAINING_COLUMNS]
            assert sorted(split["trace_id"]) == reader.training_set(g)
            assert sum(split["weight"]) == models[g].n_train_examples
            assert f"{split.num_rows:>8} rows  {out / 'training' / f'generation_{g}'}" in output
            for row in split:
                trace = reader.traces_by_id([row["trace_id"]])[row["trace_id"]]
                assert (row["prompt"], row["completion"]) == (reader.task(trace.task_id).prompt,
                                                              trace.completion)
                if trace.purpose == "deploy":
                    d = decided[trace.trace_id]
                    assert (row["user"], row["user_group"], row["policy"]) == (d.user, d.user_group, d.policy)
                    assert row["acceptance_prob"] == pytest.approx(d.acceptance_prob)
            assert reader.run().run_id in split.info.description


def test_traces_decisions_and_tasks_match_the_store(saved: tuple[Path, Path, str]) -> None:
    from datasets import load_from_disk

    run, out, _ = saved
    traces = load_from_disk(str(out / "traces"))["train"]
    decisions = load_from_disk(str(out / "decisions"))["train"]
    tasks = load_from_disk(str(out / "tasks"))["train"]
    assert traces.column_names == [c.name for c in TRACE_COLUMNS]
    assert decisions.column_names == [c.name for c in DECISION_COLUMNS]
    assert traces.features["user_group"].dtype == "string"  # typed even where every value is null
    with RunReader(run) as reader:
        stored = reader.traces()
        assert traces["trace_id"] == [t.trace_id for t in stored]
        assert traces["status"] == [t.status for t in stored]
        assert traces["is_valid"] == [t.is_valid for t in stored]
        stored_decisions = reader.decisions()
        assert decisions["decision_id"] == [d.decision_id for d in stored_decisions]
        assert decisions["kept"] == [d.kept for d in stored_decisions]
        assert sum(decisions["kept"]) == sum(g.n_published for g in reader.generations())
        assert tasks["task_id"] == [t.task_id for t in reader.tasks()]
        assert reader.run().run_id in traces.info.description
    card = (out / "README.md").read_text()
    assert "load_from_disk" in card and "| `traces` | `train` |" in card
    assert not (out / ".parquet-tables").exists()


def test_the_datasets_equal_the_parquet_export(saved: tuple[Path, Path, str], tmp_path: Path) -> None:
    run, out, _ = saved
    from datasets import load_from_disk

    parquet = tmp_path / "parquet"
    result = runner.invoke(app, ["export", str(run), "--out", str(parquet), "--format", "parquet"])
    assert result.exit_code == 0, result.output
    for name, path in (("traces", "traces"), ("decisions", "decisions"), ("tasks", "tasks")):
        frame = load_from_disk(str(out / name))["train"].to_pandas()
        pd.testing.assert_frame_equal(frame, pd.read_parquet(parquet / f"{path}.parquet"))
    frame = load_from_disk(str(out / "training"))["generation_1"].to_pandas()
    pd.testing.assert_frame_equal(frame, pd.read_parquet(parquet / "training" / "generation-1.parquet"))


def test_hf_without_datasets_is_refused(process_run: ProcessRun, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_datasets(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "datasets" or name.startswith("datasets."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", str(process_run.run_dir), "--out", str(out), "--format", "hf"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    line = error_line(result.stderr)
    assert "--format hf needs the Hugging Face datasets library" in line
    assert "pip install 'iterdeploy[hf]'" in line
    assert not out.exists()
