"""A run's evaluation pool as Inspect eval logs (``iterdeploy export --format inspect``).

Auditors who already read evaluations in UK AISI's Inspect can open a run in its viewer
(``inspect view --log-dir DIR``) without learning the run store. One log per committed
generation, ``generation-<g>.eval``: generation g's model on the fixed evaluation pool, the pool
every generation meets again, so the logs compare like runs of one task against successive
models.

The logs are built and written through ``inspect_ai``'s Python API (``EvalLog``, ``EvalSample``,
``Score``, ``write_eval_log``), which its maintainers keep stable; the file format behind it is
theirs to change, so nothing here writes it by hand. ``inspect_ai`` is an optional extra
(``pip install 'iterdeploy[inspect]'``) and this module is imported only when the format is asked
for.

How a run maps onto a log:

- sample id = the task's id in the run store, epoch = the trace's ``sample_index`` + 1 (the
  pool's ``samples_per_task`` samples of one task are Inspect's epochs of one sample, so the
  viewer groups them as it groups repeated attempts);
- input = the prompt the model was given (stored, or rendered again for an older store, as
  :mod:`.export` does; the problem's PDDL where neither is possible), the messages are that prompt
  and the completion, the output is the completion (``max_tokens`` where it hit the token limit);
- scores: ``valid`` (``C`` for a valid plan, ``I`` otherwise; the plan as the answer, the
  validator's message as the explanation) and ``plan_length`` (actions in the extracted plan,
  valid or not);
- metadata: the verdict (status, the validator's whole verdict, plan text) and the provenance
  (trace, task, generation, model, domain, size);
- results: ``valid``'s accuracy over samples, the valid plans' mean and longest length, and the
  solved tasks (any valid sample) as the run store's ``evaluations`` count them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalLog,
    EvalMetric,
    EvalResults,
    EvalSample,
    EvalScore,
    EvalSpec,
    EvalStats,
    write_eval_log,
)
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, ModelOutput, ModelUsage
from inspect_ai.scorer import CORRECT, INCORRECT, Score

from iterdeploy.simulator.store import GenerationRow, ModelRow, RunReader, RunRow, TaskRow, TraceRow
from iterdeploy.simulator.studies.export import ExportedFile, PromptTexts


def write_inspect_logs(reader: RunReader, out: Path) -> list[ExportedFile]:
    """Write one Inspect eval log per committed generation into ``out`` (which exists) and
    return them in generation order; a generation without evaluation traces gets no log."""
    tasks = {t.task_id: t for t in reader.tasks(pool="eval")}
    prompts = PromptTexts(reader, tasks)
    run, scenario = reader.run(), reader.scenario()
    models = {m.generation: m for m in reader.models()}
    files: list[ExportedFile] = []
    for gen in reader.generations():
        traces = reader.traces(generation=gen.generation, purpose="eval")
        if not traces:
            continue
        solved = sum(e.solved for e in reader.evaluations(gen.generation))
        log = _log(run, scenario, gen, models.get(gen.generation), traces, tasks, prompts, solved)
        name = f"generation-{gen.generation}.eval"
        write_eval_log(log, str(out / name), format="eval")
        files.append(ExportedFile(name, len(traces), "inspect", f"generation_{gen.generation}"))
    return files


def model_name(scenario: dict[str, Any], generation: int) -> str:
    """The Inspect model name of a generation's model: one per generation (each is a different
    fine-tuned model), under the provider name ``iterdeploy``."""
    model = scenario.get("model")
    name = str(model.get("name")) if isinstance(model, dict) else "model"
    return f"iterdeploy/{name}-generation-{generation}"


def _log(run: RunRow, scenario: dict[str, Any], gen: GenerationRow, model: ModelRow | None,
         traces: Sequence[TraceRow], tasks: dict[int, TaskRow], prompts: PromptTexts,
         solved: int) -> EvalLog:
    g = gen.generation
    name = model_name(scenario, g)
    ordered = sorted(traces, key=lambda t: (t.sample_index, t.task_id))  # epoch, then id: Inspect's order
    samples = [_sample(t, tasks[t.task_id], prompts, name) for t in ordered]
    task_ids = sorted(tasks)
    epochs = max(t.sample_index for t in traces) + 1
    usage = ModelUsage(output_tokens=sum(t.n_tokens for t in traces),
                       total_tokens=sum(t.n_tokens for t in traces),
                       reasoning_tokens=sum(t.n_reasoning_tokens for t in traces))
    finished = datetime.fromisoformat(gen.committed_at)
    spec = EvalSpec(
        eval_id=f"{run.run_id}-generation-{g}",
        run_id=run.run_id,
        created=gen.committed_at,
        task=run.name,
        task_id=f"{run.run_id}-eval-pool",
        task_display_name=f"{run.name} (seed {run.seed}): evaluation pool",
        task_description="The run's fixed evaluation pool, held out from deployment and training, "
                         "evaluated by every generation's model.",
        task_args={"generation": g},
        dataset=EvalDataset(name=f"{run.name}-eval-pool", location=None, samples=len(task_ids),
                            sample_ids=task_ids, shuffled=False),
        model=name,
        model_args={"generation": g, "model_id": gen.model_id,
                    "base": None if model is None else model.base,
                    "adapter_path": None if model is None else model.adapter_path},
        config=EvalConfig(epochs=epochs),
        packages=_packages(run),
        metadata={"run_id": run.run_id, "scenario": run.name, "seed": run.seed, "generation": g,
                  "model_id": gen.model_id, "exported_by": "iterdeploy export --format inspect"},
    )
    return EvalLog(
        status="success",
        eval=spec,
        results=_results(traces, solved, len(task_ids)),
        stats=EvalStats(started_at=(finished - timedelta(seconds=gen.wall_time_s)).isoformat(),
                        completed_at=gen.committed_at, model_usage={name: usage}),
        samples=samples,
    )


def _sample(t: TraceRow, task: TaskRow, prompts: PromptTexts, model: str) -> EvalSample:
    prompt, source = prompts(task)
    text = prompt if prompt is not None else task.problem_pddl
    verdict = t.verdict
    usage = ModelUsage(output_tokens=t.n_tokens, total_tokens=t.n_tokens,
                       reasoning_tokens=t.n_reasoning_tokens)
    output = ModelOutput.from_content(model, t.completion,
                                      stop_reason="max_tokens" if t.hit_token_limit else "stop")
    output.usage = usage
    return EvalSample(
        id=task.task_id,
        epoch=t.sample_index + 1,
        input=text,
        target="",
        messages=[ChatMessageUser(content=text), ChatMessageAssistant(content=t.completion, model=model)],
        output=output,
        scores={
            "valid": Score(value=CORRECT if t.is_valid else INCORRECT, answer=t.plan_text,
                           explanation=verdict.message or t.status),
            "plan_length": Score(value=t.plan_length, answer=t.plan_text,
                                 explanation="actions in the extracted plan"
                                             + ("" if t.is_valid else " (not a valid plan)")),
        },
        metadata={
            "status": t.status, "is_valid": t.is_valid, "plan_text": t.plan_text,
            "plan_length": t.plan_length, "verdict": verdict.model_dump(mode="json"), "n_tokens": t.n_tokens,
            "n_reasoning_tokens": t.n_reasoning_tokens, "hit_token_limit": t.hit_token_limit,
            "trace_id": t.trace_id, "task_id": task.task_id, "generation": t.generation,
            "sample_index": t.sample_index, "domain": task.domain, "task_name": task.name,
            "task_size": task.size, "optimal_length": task.optimal_length,
            "prompt_source": source if prompt is not None else "problem_pddl",
        },
        model_usage={model: usage},
        completed=True,
    )


def _results(traces: Sequence[TraceRow], solved: int, n_tasks: int) -> EvalResults:
    lengths = [t.plan_length for t in traces if t.is_valid]
    plan_metrics = {"mean_valid": EvalMetric(name="mean_valid",
                                             value=sum(lengths) / len(lengths) if lengths else 0.0),
                    "max_valid": EvalMetric(name="max_valid", value=max(lengths, default=0))}
    valid = sum(t.is_valid for t in traces)
    return EvalResults(
        total_samples=len(traces),
        completed_samples=len(traces),
        scores=[
            EvalScore(name="valid", scorer="valid", scored_samples=len(traces),
                      metrics={"accuracy": EvalMetric(name="accuracy", value=valid / len(traces))}),
            EvalScore(name="plan_length", scorer="plan_length", scored_samples=len(traces),
                      metrics=plan_metrics),
        ],
        metadata={"solved_tasks": solved, "n_tasks": n_tasks, "valid_samples": valid},
    )


def _packages(run: RunRow) -> dict[str, str]:
    """The package versions the run store recorded for the run (what wrote the completions)."""
    try:
        versions = json.loads(run.package_versions)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in versions.items()} if isinstance(versions, dict) else {}
