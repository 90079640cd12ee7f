"""``iterdeploy export --format inspect``: a real run's evaluation pool becomes one Inspect eval log
per generation that ``inspect_ai``'s own reader opens, with one sample per evaluation trace and the
store's validity, plan length and verdict; without ``inspect_ai`` the format is refused in one
line with nothing written."""

from __future__ import annotations

import builtins
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from iterdeploy.simulator.cli import app
from iterdeploy.simulator.store import DB_NAME, RunReader, summarize
from tests.simulator.cli_output import error_line
from tests.simulator.conftest import ProcessRun

runner = CliRunner()


@pytest.fixture(scope="module")
def logs(process_run: ProcessRun, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A copy of the session's process run, its Inspect export and the command's output; the
    store's bytes are checked unchanged."""
    pytest.importorskip("inspect_ai")
    run = tmp_path_factory.mktemp("inspect") / "run"
    shutil.copytree(process_run.run_dir, run)
    before = hashlib.sha256((run / DB_NAME).read_bytes()).hexdigest()
    out = run.parent / "logs"
    result = runner.invoke(app, ["export", str(run), "--out", str(out), "--format", "inspect"])
    assert result.exit_code == 0, result.output
    assert hashlib.sha256((run / DB_NAME).read_bytes()).hexdigest() == before, "export changed the store"
    return run, out, result.output


def test_one_log_per_generation_opens_with_inspects_reader(logs: tuple[Path, Path, str]) -> None:
    from inspect_ai.log import list_eval_logs, read_eval_log

    run, out, output = logs
    with RunReader(run) as reader:
        generations = [g.generation for g in reader.generations()]
        expected = {g: len(reader.traces(generation=g, purpose="eval")) for g in generations}
        scenario = reader.scenario()
    assert generations == [0, 1]
    assert sorted(p.name for p in out.iterdir()) == [f"generation-{g}.eval" for g in generations]
    per_pool = scenario["evaluation"]["n_tasks"] * scenario["evaluation"]["samples_per_task"]
    for g in generations:
        log = read_eval_log(str(out / f"generation-{g}.eval"))
        assert log.status == "success"
        assert log.samples is not None and len(log.samples) == expected[g] == per_pool
        assert log.results is not None and log.results.total_samples == expected[g]
        assert log.eval.config.epochs == scenario["evaluation"]["samples_per_task"]
        assert log.eval.model.endswith(f"-generation-{g}")
        assert f"{expected[g]:>8} samples  {out / f'generation-{g}.eval'}" in output
    listed = list_eval_logs(str(out))  # what `inspect view --log-dir` lists
    assert sorted(Path(info.name).name for info in listed) == [f"generation-{g}.eval" for g in generations]
    assert f"inspect view --log-dir {out}" in output


def test_samples_carry_the_stores_scores_and_verdicts(logs: tuple[Path, Path, str]) -> None:
    from inspect_ai.log import read_eval_log
    from inspect_ai.scorer import CORRECT, INCORRECT

    run, out, _ = logs
    with RunReader(run) as reader:
        for gen in reader.generations():
            traces = {t.trace_id: t for t in reader.traces(generation=gen.generation, purpose="eval")}
            log = read_eval_log(str(out / f"generation-{gen.generation}.eval"))
            assert log.samples is not None
            seen = set()
            for sample in log.samples:
                trace = traces[sample.metadata["trace_id"]]
                task = reader.task(trace.task_id)
                seen.add(trace.trace_id)
                assert (sample.id, sample.epoch) == (trace.task_id, trace.sample_index + 1)
                assert sample.input == task.prompt and sample.output.completion == trace.completion
                assert sample.scores is not None
                assert sample.scores["valid"].value == (CORRECT if trace.is_valid else INCORRECT)
                assert sample.scores["plan_length"].value == trace.plan_length
                assert sample.scores["valid"].answer == trace.plan_text
                assert sample.metadata["status"] == trace.status
                assert sample.metadata["verdict"] == json.loads(trace.verdict_json)
                assert sample.metadata["generation"] == gen.generation
                assert (sample.metadata["task_size"], sample.metadata["domain"]) == (task.size, task.domain)
                assert sample.output.stop_reason == ("max_tokens" if trace.hit_token_limit else "stop")
            assert seen == set(traces), "every evaluation trace is one sample"
            assert log.results is not None
            valid = [t for t in traces.values() if t.is_valid]
            scores = {s.name: s for s in log.results.scores}
            assert scores["valid"].metrics["accuracy"].value == pytest.approx(len(valid) / len(traces))
            assert scores["plan_length"].metrics["max_valid"].value == max(
                (t.plan_length for t in valid), default=0)
            assert log.results.metadata == {
                "solved_tasks": sum(e.solved for e in reader.evaluations(gen.generation)),
                "n_tasks": len(reader.tasks(pool="eval")), "valid_samples": len(valid)}


def test_the_logs_results_are_the_summary_tables(logs: tuple[Path, Path, str]) -> None:
    """What Inspect's viewer shows for each log equals `iterdeploy summary`'s held-out columns."""
    from inspect_ai.log import read_eval_log

    run, out, _ = logs
    with RunReader(run) as reader:
        rows = summarize(reader)
    for row in rows:
        log = read_eval_log(str(out / f"generation-{row.generation}.eval"), header_only=True)
        assert log.results is not None and log.results.metadata is not None
        assert (log.results.metadata["solved_tasks"], log.results.metadata["n_tasks"]) == (
            row.solved, row.evaluated)
        plan = {s.name: s for s in log.results.scores}["plan_length"].metrics
        if row.mean_plan_length is None:
            assert plan["max_valid"].value == 0
        else:
            assert round(plan["mean_valid"].value, 2) == row.mean_plan_length
            assert plan["max_valid"].value == row.longest_plan_length


def test_the_format_is_loaded_only_when_asked_for() -> None:
    """Plain exports and the command itself never import inspect_ai or datasets (both heavy, both
    optional)."""
    code = ("import sys, iterdeploy.simulator.cli, iterdeploy.simulator.studies.export; "
            "print(sorted(m for m in ('inspect_ai', 'datasets') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_inspect_without_inspect_ai_is_refused(process_run: ProcessRun, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_inspect(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "inspect_ai" or name.startswith("inspect_ai."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_inspect)
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", str(process_run.run_dir), "--out", str(out),
                                 "--format", "inspect"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    line = error_line(result.stderr)
    assert "--format inspect needs inspect_ai" in line and "pip install 'iterdeploy[inspect]'" in line
    assert not out.exists()
    assert not list(tmp_path.glob(".out.partial-*"))
