"""The stages of one generation: evaluate, deploy, curate, pool, train (commit is the runner's).

Each stage is a function of the :class:`StageContext` (scenario, model, prompt format, progress)
and the records the stages before it produced; new ids come from the generation's
:class:`~iterdeploy.simulator.loop.ids.IdAllocator`. Nothing here reads the store except through
:class:`~iterdeploy.simulator.store.RunWriter`'s named queries, and nothing writes it: a generation's rows
go into one :class:`~iterdeploy.simulator.store.GenerationBundle` that the runner commits whole.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iterdeploy.simulator.models.progress import sample_with_progress
from iterdeploy.simulator.models.protocol import Completion, Example, PlannerModel, TrainConfig
from iterdeploy.simulator.models.task_format import TaskFormat
from iterdeploy.simulator.planning import GroundTask, load_stored_task, registry_name, validate_plan
from iterdeploy.simulator.scenario import PoolSpec, ScenarioSpec
from iterdeploy.simulator.store import (
    CurationRow,
    EvaluationRow,
    GenerationBundle,
    ModelRow,
    RunWriter,
    TaskRow,
    TraceRow,
    TrainingExampleRow,
    dumps,
)
from iterdeploy.simulator.users import CandidateTrace, CurationContext, Population, parse_actions
from iterdeploy.simulator.users.selectors import rank_key

from . import task_supply
from .ids import IdAllocator
from .io_errors import io_error
from .records import Sampled, task_row, trace_rows, verdict_columns
from .seeds import derive_rng, derive_seed
from .task_supply import TaskKey, reference_plan

Phase = Callable[[str, int], Callable[[int], None]]
"""Progress reporting: ``phase(description, total)`` returns ``advance(n)``."""


@dataclass
class StageContext:
    """What every stage reads: the scenario, the model and its prompt format, and how to report.

    ``os_error`` turns an OS error into the one-line error the user sees (the runner's).
    """

    spec: ScenarioSpec
    run_dir: Path
    planner: PlannerModel
    fmt: TaskFormat
    base_name: str
    progress: Phase
    log: Callable[[str], None]
    os_error: Callable[[OSError, str], BaseException]

    def task_rows(self, tasks: Sequence[GroundTask], ids: Sequence[int], pool: str,
                  g: int | None) -> list[TaskRow]:
        """Store rows of ``tasks`` under ``ids``, each with the prompt the model is given."""
        optima = task_supply.optimal_lengths(tasks)
        return [task_row(task, task_id, pool, g, self.fmt.prompt(task), optimum)
                for task, task_id, optimum in zip(tasks, ids, optima, strict=True)]


def sample(
    ctx: StageContext, tasks: Sequence[GroundTask], *, n: int, temperature: float, seed: int,
    description: str, prompts: Sequence[str] | None = None,
) -> list[Sampled]:
    """``n`` completions per task, sampled one domain at a time; ``prompts`` are the tasks'
    stored prompts (rendered here when not given).

    A domain's prompts share their long few-shot prefix, which the planner prefills once per
    batch; a batch mixing domains shares almost nothing and pays full-length padded attention
    per row (a 9-task mixed Blocksworld/Rovers/Sokoban batch with SmolLM2 grew past 10 GB).
    One domain is one call with ``seed`` itself, so one-domain runs sample as they always did.
    """
    if prompts is None:
        prompts = [ctx.fmt.prompt(t) for t in tasks]
    advance = ctx.progress(description, len(prompts) * n)
    groups: dict[str, list[int]] = {}
    for i, task in enumerate(tasks):
        groups.setdefault(task.domain, []).append(i)
    completions: list[list[Completion]] = [[] for _ in tasks]
    for k, members in enumerate(groups.values()):
        sampled = sample_with_progress(
            ctx.planner, [prompts[i] for i in members], n=n, temperature=temperature,
            max_new_tokens=ctx.spec.deploy.max_new_tokens,
            seed=seed if k == 0 else derive_seed(seed, "domain-batch", k), on_rows=advance,
        )
        for i, comps in zip(members, sampled, strict=True):
            completions[i] = comps
    out = []
    for ti, comps in enumerate(completions):
        for si, comp in enumerate(comps):
            plan_text, n_reasoning = ctx.fmt.extract(comp.text, tasks[ti])
            out.append(Sampled(ti, si, comp, plan_text, n_reasoning))
    return out


def evaluate(
    ctx: StageContext, g: int, tasks: Sequence[GroundTask], task_ids: Sequence[int],
    ids: IdAllocator,
) -> tuple[list[TraceRow], list[EvaluationRow]]:
    """Model g on the fixed evaluation pool: its traces, and per task whether any was valid."""
    ev = ctx.spec.evaluation
    sampled = sample(ctx, tasks, n=ev.samples_per_task, temperature=ev.temperature,
                     seed=derive_seed(ctx.spec.seed, "eval-sampling", g),
                     description=f"gen {g}: evaluating")
    traces = trace_rows(sampled, tasks, task_ids, g, "eval", ids.traces(len(sampled)))
    evaluations = []
    for ti, task_id in enumerate(task_ids):
        mine = [t for t, s in zip(traces, sampled, strict=True) if s.task_index == ti]
        valid = [t.plan_length for t in mine if t.is_valid]
        evaluations.append(EvaluationRow(
            generation=g, task_id=task_id, n_samples=len(mine), n_valid=len(valid),
            solved=bool(valid), best_plan_length=min(valid) if valid else None,
        ))
    return traces, evaluations


def deploy(
    ctx: StageContext, g: int, tasks: Sequence[GroundTask], rows: Sequence[TaskRow],
    ids: IdAllocator,
) -> list[TraceRow]:
    """Users' tasks (``rows``: their stored rows) answered K times each by model g, every
    answer validated."""
    spec = ctx.spec
    sampled = sample(ctx, tasks, n=spec.deploy.samples_per_task,
                     temperature=spec.deploy.temperature,
                     seed=derive_seed(spec.seed, "deploy-sampling", g),
                     description=f"gen {g}: sampling + validating",
                     prompts=[_prompt(ctx, r) for r in rows])
    return trace_rows(sampled, tasks, [r.task_id for r in rows], g, "deploy",
                      ids.traces(len(sampled)))


def curation_contexts(writer: RunWriter, users: Population, g: int) -> list[CurationContext]:
    """What each user group knows when curating generation ``g``: the share of its tasks the
    model answered validly in generation ``g - 1`` (the population's share for a group that
    brought none, e.g. one that just joined)."""
    if g == 0:
        return [CurationContext(generation=0)] * len(users)
    solved: dict[str, list[int]] = {}
    for outcome in writer.user_task_outcomes(g - 1):
        solved.setdefault(outcome.user, []).append(int(outcome.solved))
    everyone = [x for xs in solved.values() for x in xs]
    overall = float(np.mean(everyone)) if everyone else None
    return [
        CurationContext(
            generation=g,
            success_rate=float(np.mean(solved[name])) if name in solved else overall,
        )
        for name in users.names
    ]


def _candidates(task: GroundTask, row: TaskRow, traces: Sequence[TraceRow]) -> list[CandidateTrace]:
    """A task's traces as the users see them: verdict, length, tokens and actions."""
    return [
        CandidateTrace(
            t.trace_id, t.task_id, t.is_valid, t.status, t.plan_length, t.n_tokens,
            actions=parse_actions(t.verdict.actions),
            domain=registry_name(task.domain), task_size=task.size,
            optimal_length=row.optimal_length,
        )
        for t in traces
    ]


def curate(
    ctx: StageContext, g: int, users: Population, contexts: Sequence[CurationContext],
    tasks: Sequence[GroundTask], rows: Sequence[TaskRow], owners: Sequence[int],
    traces: Sequence[TraceRow], ids: IdAllocator,
) -> tuple[list[CurationRow], list[int]]:
    """Each task's owner decides on its traces; A(τ) is recorded under the whole population.
    Returns the decisions and the published trace ids, in decision order."""
    advance = ctx.progress(f"gen {g}: curating", len(tasks))
    rng = derive_rng(ctx.spec.seed, "curation", g)
    by_task: dict[int, list[TraceRow]] = {}
    for t in traces:
        by_task.setdefault(t.task_id, []).append(t)
    decisions: list[CurationRow] = []
    published: list[int] = []
    for task, row, owner in zip(tasks, rows, owners, strict=True):
        cands = _candidates(task, row, by_task.get(row.task_id, []))
        for d in users.curate(owner, cands, rng, list(contexts)):
            decisions.append(CurationRow(
                decision_id=ids.decision(), generation=g, trace_id=d.trace_id, user=d.user,
                policy=d.policy, kept=d.kept, reason=d.reason, acceptance_prob=d.acceptance_prob,
                keep_prob=d.keep_prob,
                group_probs_json=dumps(dict(zip(users.names, d.group_probs, strict=True))),
                user_group=d.group,
            ))
            if d.kept:
                published.append(d.trace_id)
        advance(1)
    return decisions, published


def pool(
    spec: PoolSpec, published: Sequence[int], traces: Sequence[TraceRow],
    previous: Sequence[TraceRow],
) -> list[int]:
    """Trace ids of the curated training pool: ``previous`` (the last pool's deployment traces,
    empty unless the pool accumulates) and this generation's ``published`` traces, one or all
    per task by the users' own ranking (length, then tokens, then id), deduplicated by plan
    text within a task when the scenario asks."""
    fresh = {t.trace_id: t for t in traces}
    chosen = [fresh[i] for i in published]
    if spec.per_task != "all":
        by_task: dict[int, list[TraceRow]] = {}
        for t in chosen:
            by_task.setdefault(t.task_id, []).append(t)
        best_first = rank_key(spec.per_task)
        chosen = sorted((min(group, key=best_first) for group in by_task.values()),
                        key=lambda t: t.trace_id)
    ids = [t.trace_id for t in previous]
    seen_plans = {(t.task_id, t.plan_text) for t in previous}
    for t in chosen:
        plan = (t.task_id, t.plan_text.strip().lower())
        if spec.dedup and plan in seen_plans:
            continue
        seen_plans.add(plan)
        ids.append(t.trace_id)
    return sorted(set(ids))


def add_reference_data(
    ctx: StageContext, g: int, pool_ids: list[int], bundle: GenerationBundle,
    seen: set[TaskKey], ids: IdAllocator,
) -> list[int]:
    """The pool with this generation's fresh reference plans added (none after the last
    generation, which trains no model); their tasks and traces go into ``bundle``.

    Reference tasks are new tasks (of the deployment sizes, or the embedded base's corpus sizes
    and generator parameters: ``pool.reference_sizes``), stored as ``reference`` tasks and
    traces, so that every training example is in the store. Their plans are the ones the model's
    format teaches (the embedded model: its corpus's plan for the task, so a replay is the
    corpus's own kind of example), else the reference planner's.
    """
    spec = ctx.spec
    if g >= spec.generations or spec.pool.reference_share <= 0:
        return pool_ids
    n = round(spec.pool.reference_share * len(pool_ids))
    rng = derive_rng(spec.seed, "reference-data", g)
    added: list[int] = []
    for generated in task_supply.draw_generated(rng, n, spec.reference_tasks(), f"ref{g}", seen,
                                                params=spec.reference_params()):
        task = generated.task
        taught = ctx.fmt.teaching_plan(generated)
        plan = list(taught) if taught is not None else reference_plan(task)
        if plan is None:  # the planner gave up in time: one reference plan fewer
            ctx.log(f"reference planner found no plan for {task.name}; skipped")
            continue
        [task_id], [trace_id] = ids.tasks(1), ids.traces(1)
        bundle.tasks.extend(ctx.task_rows([task], [task_id], "reference", g))
        completion = ctx.fmt.completion(task, plan)
        plan_text, n_reasoning = ctx.fmt.extract(completion, task)
        bundle.traces.append(TraceRow(
            trace_id=trace_id, generation=g, task_id=task_id, purpose="reference",
            sample_index=0, completion=completion, plan_text=plan_text,
            n_tokens=len(completion.split()), n_reasoning_tokens=n_reasoning,
            hit_token_limit=False, **verdict_columns(validate_plan(task, plan_text)),
        ))
        added.append(trace_id)
    return sorted([*pool_ids, *added])


def training_examples(
    ctx: StageContext, writer: RunWriter, trace_ids: Sequence[int], bundle: GenerationBundle,
) -> list[Example]:
    """Training pairs for ``trace_ids``: the prompt stored with the trace's task and the
    published completion (the same pairs whether the run was resumed or not)."""
    traces = {t.trace_id: t for t in bundle.traces}
    traces |= writer.traces_by_id(i for i in trace_ids if i not in traces)
    tasks = {t.task_id: t for t in bundle.tasks}
    tasks |= writer.tasks_by_id(traces[i].task_id for i in trace_ids
                                if traces[i].task_id not in tasks)
    prompts: dict[int, str] = {}
    examples = []
    for trace_id in trace_ids:
        task_id = traces[trace_id].task_id
        if task_id not in prompts:
            prompts[task_id] = _prompt(ctx, tasks[task_id])
        examples.append(Example(prompts[task_id], traces[trace_id].completion))
    return examples


def _prompt(ctx: StageContext, row: TaskRow) -> str:
    """The task's stored prompt; a store written before prompts were stored (schema version 2)
    has none, and the prompt is rendered again from the task's PDDL."""
    if row.prompt is not None:
        return row.prompt
    return ctx.fmt.prompt(load_stored_task(row.domain, row.problem_pddl))


def train(
    ctx: StageContext, writer: RunWriter, g: int, pool_ids: Sequence[int],
    deployed: Sequence[TraceRow], bundle: GenerationBundle,
) -> None:
    """Train model_{g+1} on ``pool_ids``, save its adapter, and add its training set and model
    row to ``bundle``; ``deployed`` are generation g's deployment traces (the newest data, which
    ``training.newest_weight`` repeats)."""
    bundle.training_set.extend(TrainingExampleRow(generation=g + 1, trace_id=i) for i in pool_ids)
    examples = training_examples(ctx, writer, pool_ids, bundle)
    tr = ctx.spec.training
    if tr.newest_weight > 1:
        newest = {t.trace_id for t in deployed}
        examples += [ex for i, ex in zip(pool_ids, examples, strict=True) if i in newest
                     ] * (tr.newest_weight - 1)
    config = TrainConfig(method=tr.method, mode=tr.mode, lora_r=tr.lora_r,
                         lora_alpha=tr.lora_alpha, lr=tr.lr, n_epochs=tr.n_epochs,
                         batch_size=tr.batch_size, max_len=tr.max_len, pack=tr.pack)
    n_steps = -(-len(examples) * tr.n_epochs // tr.batch_size)
    advance = ctx.progress(f"gen {g}: training gen {g + 1}", max(1, n_steps))
    stats = ctx.planner.train(examples, config, seed=derive_seed(ctx.spec.seed, "training", g + 1),
                              on_step=lambda s, loss: advance(1))
    rel = f"adapters/gen-{g + 1}"
    _save_adapter(ctx, ctx.run_dir / rel, g + 1)
    bundle.models.append(ModelRow(
        model_id=g + 1, generation=g + 1, base=ctx.base_name,
        parent_id=g if tr.mode == "chained" else 0,
        adapter_path=rel, hyperparameters_json=dumps(config.__dict__),
        train_loss=stats.final_loss, n_train_examples=len(examples),
        train_time_s=round(stats.train_time_s, 2),
    ))


def _save_adapter(ctx: StageContext, target: Path, generation: int) -> None:
    """Save the trained adapter to ``target``, replacing one that a generation which died
    before its commit left there; a full disk or read-only directory is the user's error."""
    if target.exists():
        shutil.rmtree(target)
    try:
        ctx.planner.save(target)
    except Exception as exc:
        error = io_error(exc, target)
        if error is None:
            raise
        raise ctx.os_error(error, f"saving the adapter of generation {generation}") from exc
