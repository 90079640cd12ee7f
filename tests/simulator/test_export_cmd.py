"""``iterdeploy export``: a real run's training sets, traces, decisions and tasks round-trip
through JSON Lines and Parquet with the store's counts and provenance, the store is never
changed, and bad input is refused in one line with nothing written."""

from __future__ import annotations

import builtins
import hashlib
import shutil
import sqlite3
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


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _export(run_dir: Path, out: Path, *extra: str) -> None:
    result = runner.invoke(app, ["export", str(run_dir), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    assert f"dataset card {out / 'README.md'}" in result.output


def _read_jsonl(path: Path) -> pd.DataFrame:
    """A JSON Lines file as the Hugging Face ``datasets`` JSON loader reads it where that library
    is installed, else as pandas does."""
    try:
        from datasets import load_dataset
    except ImportError:
        return pd.read_json(path, lines=True)
    return load_dataset("json", data_files=str(path))["train"].to_pandas()


@pytest.fixture(scope="module")
def exported(process_run: ProcessRun, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The session's process run (a copy) and its JSON Lines export; the store's digest is
    checked before and after."""
    run = tmp_path_factory.mktemp("export") / "run"
    shutil.copytree(process_run.run_dir, run)
    with RunReader(run) as reader:
        dump = reader.dump()
    before = _digest(run / DB_NAME)
    out = run.parent / "export"
    _export(run, out)
    assert _digest(run / DB_NAME) == before, "export changed the run store"
    with RunReader(run) as reader:
        assert reader.dump() == dump
    return run, out


def test_training_sets_match_the_store(exported: tuple[Path, Path]) -> None:
    run, out = exported
    with RunReader(run) as reader:
        models = {m.generation: m for m in reader.models()}
        decided = {d.trace_id: d for d in reader.decisions()}
        generations = [g.generation + 1 for g in reader.generations()
                       if reader.training_set(g.generation + 1)]
        assert generations, "the tiny run trains at least one generation"
        for g in generations:
            frame = _read_jsonl(out / "training" / f"generation-{g}.jsonl")
            assert list(frame.columns) == [c.name for c in TRAINING_COLUMNS]
            assert sorted(frame["trace_id"]) == reader.training_set(g)
            assert int(frame["weight"].sum()) == models[g].n_train_examples
            assert set(frame["generation"]) == {g}
            for row in frame.to_dict("records"):
                trace = reader.traces_by_id([row["trace_id"]])[row["trace_id"]]
                task = reader.task(trace.task_id)
                assert (row["prompt"], row["completion"]) == (task.prompt, trace.completion)
                assert row["prompt_source"] == "stored"
                if trace.purpose == "deploy":
                    d = decided[trace.trace_id]
                    assert d.kept and (row["user"], row["user_group"], row["policy"]) == (
                        d.user, d.user_group, d.policy)
                    assert row["acceptance_prob"] == pytest.approx(d.acceptance_prob)


def test_traces_and_decisions_match_the_store(exported: tuple[Path, Path]) -> None:
    run, out = exported
    traces = _read_jsonl(out / "traces.jsonl")
    decisions = _read_jsonl(out / "decisions.jsonl")
    assert list(traces.columns) == [c.name for c in TRACE_COLUMNS]
    assert list(decisions.columns) == [c.name for c in DECISION_COLUMNS]
    with RunReader(run) as reader:
        stored = reader.traces()
        assert list(traces["trace_id"]) == [t.trace_id for t in stored]
        assert list(traces["status"]) == [t.status for t in stored]
        stored_decisions = reader.decisions()
        assert list(decisions["decision_id"]) == [d.decision_id for d in stored_decisions]
        assert list(decisions["kept"]) == [d.kept for d in stored_decisions]
        assert int(decisions["kept"].sum()) == sum(g.n_published for g in reader.generations())
        trained = {g.generation + 1: set(reader.training_set(g.generation + 1))
                   for g in reader.generations()}
    for row in traces.to_dict("records"):
        expected = [g for g, ids in trained.items() if row["trace_id"] in ids]
        assert list(row["training_generations"]) == expected
        assert (row["user"] is None or pd.isna(row["user"])) == (row["purpose"] != "deploy")


def test_the_card_names_run_scenario_seed_generations_and_columns(exported: tuple[Path, Path]) -> None:
    run, out = exported
    card = (out / "README.md").read_text()
    with RunReader(run) as reader:
        row = reader.run()
    assert card.startswith("---\nconfigs:\n- config_name: training\n  default: true\n")
    assert f"# iterdeploy run `{row.name}`, seed {row.seed}" in card
    assert f"run id `{row.run_id}`" in card and "generations 0–1 committed of 0–1 planned" in card
    for column in (*TRAINING_COLUMNS, *TRACE_COLUMNS, *DECISION_COLUMNS):
        assert f"| `{column.name}` |" in card
    assert "path: training/generation-1.jsonl" in card and "path: traces.jsonl" in card


def test_parquet_round_trips_with_pandas(exported: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    run, jsonl = exported
    out = tmp_path / "parquet"
    _export(run, out, "--format", "parquet")
    for name in ("traces", "decisions", "tasks", "training/generation-1"):
        frame = pd.read_parquet(out / f"{name}.parquet")
        same = pd.read_json(jsonl / f"{name}.jsonl", lines=True)
        assert list(frame.columns) == list(same.columns)
        assert len(frame) == len(same)
        assert list(frame.iloc[:, 0]) == list(same.iloc[:, 0])
    traces = pd.read_parquet(out / "traces.parquet")
    assert str(traces["user_group"].dtype) != "float64"  # typed, even where all null
    assert "path: traces.parquet" in (out / "README.md").read_text()


def test_an_older_store_gets_the_prompts_the_loop_renders(exported: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    """A store written before prompts were stored (schema 2) exports the prompt the loop trains
    such a store on, rendered again: exactly the prompt a newer store keeps."""
    run, jsonl = exported
    old = tmp_path / "old"
    shutil.copytree(run, old)
    with sqlite3.connect(old / DB_NAME) as conn:
        conn.execute("UPDATE tasks SET prompt = NULL")
    out = tmp_path / "export"
    _export(old, out)
    rendered = pd.read_json(out / "tasks.jsonl", lines=True)
    stored = pd.read_json(jsonl / "tasks.jsonl", lines=True)
    assert set(rendered["prompt_source"]) == {"rendered"}
    assert list(rendered["prompt"]) == list(stored["prompt"])


# -- bad input ------------------------------------------------------------------------------------


def _refused(args: list[str], out: Path | None = None) -> str:
    result = runner.invoke(app, ["export", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    if out is not None:
        assert not out.exists() or not any(out.iterdir()), "nothing is written for refused input"
    return error_line(result.stderr)


def test_a_path_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert "not a run directory" in _refused([str(tmp_path / "nowhere"), "--out", str(out)], out)


def test_a_corrupt_store_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / DB_NAME).write_bytes(b"not a database" * 200)
    out = tmp_path / "out"
    assert str(bad) in _refused([str(bad), "--out", str(out)], out)


def test_a_non_empty_out_and_one_inside_the_run_are_refused(exported: tuple[Path, Path],
                                                             tmp_path: Path) -> None:
    run, _ = exported
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert "not an empty directory" in _refused([str(run), "--out", str(full)])
    assert (full / "keep.txt").read_text() == "mine" and len(list(full.iterdir())) == 1
    inside = run / "export"
    assert "inside the run directory" in _refused([str(run), "--out", str(inside)], inside)


def test_parquet_without_pyarrow_is_refused(exported: tuple[Path, Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = exported
    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    out = tmp_path / "out"
    line = _refused([str(run), "--out", str(out), "--format", "parquet"], out)
    assert "needs pyarrow" in line and "--format jsonl" in line


def test_an_export_directory_that_cannot_be_written_is_one_line(exported: tuple[Path, Path],
                                                                tmp_path: Path) -> None:
    run, _ = exported
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = _refused([str(run), "--out", str(blocker / "sub")])
    assert str(blocker) in line and "writing the export" in line
