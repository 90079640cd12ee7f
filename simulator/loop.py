"""The deployment loop: evaluate → deploy → validate → curate → pool → train, per generation.

Generation g deploys model_g: it is evaluated on the fixed evaluation pool, users bring new tasks
and receive K sampled completions per task, the validator judges every completion, each user's
curation policy decides what is published, the published traces join the data pool, and
model_{g+1} is trained on the pool. Everything a generation produced is committed to the run
store in one transaction, so a run killed at any point resumes from its last committed
generation and, every random draw being derived from (seed, name, generation), ends exactly as an
uninterrupted run would.
"""

from __future__ import annotations

import errno
import importlib.metadata
import json
import os
import re
import shutil
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from simulator.errors import StoreError, TaskSupplyError
from simulator.models.protocol import Completion, Example, PlannerModel, TrainConfig
from simulator.models.registry import load_planner
from simulator.models.task_format import CompactTaskFormat, TaskFormat, task_format
from simulator.planning import (
    GroundTask,
    breadth_first_plan,
    count_distinct_tasks,
    domain_constants,
    domain_path,
    generate_sized,
    load_stored_task,
    optimal_length,
    parse_action_line,
    plan_task,
    problem_to_pddl,
    registry_name,
    validate_plan,
)
from simulator.planning.blocksworld import canonical_plan
from simulator.scenario import ScenarioSpec, split_by_weight
from simulator.store import (
    CurationRow,
    EvaluationRow,
    GenerationBundle,
    GenerationRow,
    GenerationSummary,
    ModelRow,
    PopulationRow,
    RunReader,
    RunRow,
    RunStatus,
    RunWriter,
    TaskRow,
    TraceRow,
    TrainingExampleRow,
    dumps,
    os_error,
    summarize,
    writer_lock,
)
from simulator.users import CandidateTrace, CurationContext, Population, parse_actions
from simulator.users.selectors import rank_key
from simulator.users.spec import TaskDistributionSpec

OPTIMAL_LENGTH_MAX_SIZE = 6
"""Blocksworld tasks up to this size get a proven optimal plan length (breadth-first search)."""

OPTIMAL_LENGTH_TIME_S = 2.0
"""Other domains: the reference planner's optimal configuration gets this long per task."""

Phase = Callable[[str, int], Callable[[int], None]]
"""Progress reporting: ``phase(description, total)`` returns ``advance(n)``."""


def derive_seed(seed: int, name: str, *index: int) -> int:
    """A stable 32-bit seed for the stream ``name`` (never dependent on call order)."""
    seq = np.random.SeedSequence([seed, zlib.crc32(name.encode()), *index])
    return int(seq.generate_state(1)[0])


def derive_rng(seed: int, name: str, *index: int) -> np.random.Generator:
    """A generator for the stream ``name``."""
    return np.random.default_rng(derive_seed(seed, name, *index))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _versions() -> str:
    out = {}
    for pkg in ("iterdeploy", "torch", "transformers", "peft", "pddlgym"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return json.dumps(out, sort_keys=True)


def _same_scenario(stored_json: str, spec: ScenarioSpec) -> bool:
    """Whether a stored resolved scenario is ``spec``, read through today's schema: a field added
    since the run was written takes its default on both sides, so upgrading iterdeploy does not
    make a half-finished run look like another scenario (a stored key the schema no longer knows
    does)."""
    if stored_json == spec.to_json():
        return True
    try:
        return ScenarioSpec.model_validate(json.loads(stored_json)).to_json() == spec.to_json()
    except (ValueError, TypeError):
        return False


def _scenario_differences(stored_json: str, spec: ScenarioSpec, most: int = 4) -> str:
    """What differs between a stored scenario and ``spec``, as ``key.path: old → new`` (the
    first ``most``), so a refused resume says which setting changed."""
    def flat(value: object, prefix: str = "") -> dict[str, object]:
        if isinstance(value, dict):
            out: dict[str, object] = {}
            for k, v in value.items():
                out |= flat(v, f"{prefix}{k}.")
            return out
        return {prefix[:-1]: value}

    try:
        old = flat(json.loads(stored_json))
    except ValueError:
        return "the stored scenario is unreadable"
    new = flat(json.loads(spec.to_json()))
    changed = [f"{k}: {old.get(k, '(absent)')} → {new.get(k, '(absent)')}"
               for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)]
    more = f", and {len(changed) - most} more" if len(changed) > most else ""
    return "; ".join(changed[:most]) + more


def _generations_apart(stored_json: str, spec: ScenarioSpec) -> int | None:
    """The stored run's number of generations when it is ``spec`` but for that number (the
    run can then be extended), else None."""
    try:
        stored = ScenarioSpec.model_validate(json.loads(stored_json))
    except (ValueError, TypeError):
        return None
    same = stored.model_copy(update={"generations": spec.generations}).to_json() == spec.to_json()
    return stored.generations if same else None


def _task_key(task: GroundTask) -> tuple[object, ...]:
    return (task.domain, tuple(sorted(task.init)), tuple(sorted(task.goal)))


MAX_REPEATED_DRAWS = 10_000
"""Draws in a row that may all give tasks already used before a task draw gives up
(:class:`TaskSupplyError`). The loop never repeats a task, so sizes that hold too few distinct
tasks would otherwise be drawn from forever. At about a millisecond a draw this is seconds; with
k of C possible tasks still unused, a draw that could go on gives up with probability
(1 - k/C) ** 10000, which is negligible unless the sizes are all but used up. Blocksworld sizes
that hold too few tasks are refused exactly before the run starts (the scenario counts them)."""

_POOL_NAMES = {"eval": "the evaluation pool", "pool": "the fixed deployment pool"}


def _pool_name(prefix: str) -> str:
    """What a task prefix names, for messages: ``g3`` → generation 3's deployment tasks."""
    if prefix in _POOL_NAMES:
        return _POOL_NAMES[prefix]
    if prefix.startswith("ref"):
        return f"generation {prefix[3:]}'s reference tasks"
    return f"generation {prefix.removeprefix('g')}'s deployment tasks"


def _out_of_tasks(
    distribution: TaskDistributionSpec, prefix: str, found: int, n: int
) -> TaskSupplyError:
    """The error of a draw that found only ``found`` of ``n`` new tasks in ``distribution``."""
    parts: list[str] = []
    counts: list[int | None] = []
    for name, sizes in distribution.domains.items():
        span = f"{sizes.min}" if sizes.min == sizes.max else f"{sizes.min}-{sizes.max}"
        parts.append(f"{name} size{'s' if sizes.min != sizes.max else ''} {span}")
        counts += [count_distinct_tasks(name, k) for k in range(sizes.min, sizes.max + 1)]
    known = [c for c in counts if c is not None]
    exist = f"; {sum(known)} distinct tasks exist there" if len(known) == len(counts) else ""
    return TaskSupplyError(
        f"{_pool_name(prefix)}: found only {found} of the {n} tasks needed in "
        f"{'; '.join(parts)}: {MAX_REPEATED_DRAWS} draws in a row gave tasks already used (the "
        f"run never repeats a task){exist}; widen the sizes, or ask for fewer tasks "
        "(deploy.tasks_per_generation, generations, evaluation.n_tasks, pool.reference_share)")


def _draw_tasks(
    rng: np.random.Generator, n: int,
    distribution: TaskDistributionSpec | Sequence[TaskDistributionSpec],
    prefix: str, exclude: set[tuple[object, ...]],
) -> list[GroundTask]:
    """``n`` new tasks, none in ``exclude``; one distribution for all or one per task.

    A one-domain distribution spends one draw on the size and none on the domain, so Blocksworld
    runs draw the same tasks as before scenarios could name several domains. Counting repeated
    draws changes no draw, so every run that finished before finishes the same.

    Raises:
        TaskSupplyError: After :data:`MAX_REPEATED_DRAWS` draws in a row of tasks already used.
    """
    per_slot = [distribution] * n if isinstance(distribution, TaskDistributionSpec) else list(distribution)
    tasks: list[GroundTask] = []
    repeated = 0
    while len(tasks) < n:
        domain, size = per_slot[len(tasks)].draw(rng)
        tag = "" if domain == "blocksworld" else f"{domain}-"
        task = generate_sized(domain, size, rng, name=f"{prefix}-{len(tasks)}-{tag}n{size}").task
        key = _task_key(task)
        if key in exclude:
            repeated += 1
            if repeated >= MAX_REPEATED_DRAWS:
                raise _out_of_tasks(per_slot[len(tasks)], prefix, len(tasks), n)
            continue
        repeated = 0
        exclude.add(key)
        tasks.append(task)
    return tasks


def _optimal_length(task: GroundTask) -> int | None:
    domain = registry_name(task.domain)
    if domain != "blocksworld":
        return optimal_length(task, domain_path(domain), time_limit_s=OPTIMAL_LENGTH_TIME_S,
                              bfs_nodes=200)
    if task.size > OPTIMAL_LENGTH_MAX_SIZE:
        return None
    plan = breadth_first_plan(task, max_nodes=60_000)
    return None if plan is None else len(plan)


def _reference_plan(task: GroundTask) -> list[tuple[str, tuple[str, ...]]] | None:
    """The reference planner's plan: Blocksworld's canonical one (instant, what the embedded
    model was pretrained on), Fast Downward's for the other domains (None if it finds none)."""
    domain = registry_name(task.domain)
    if domain == "blocksworld":
        return [(a.name, a.args) for a in canonical_plan(task)]
    result = plan_task(task, domain_path(domain), time_limit_s=10.0)
    if not result.solved:
        return None
    steps = [parse_action_line(step) for step in result.plan]  # validated plans: all parse
    return [step for step in steps if step is not None]


@dataclass
class _Sampled:
    task_index: int
    sample_index: int
    completion: Completion
    plan_text: str
    n_reasoning_tokens: int


class DeploymentLoop:
    """Runs a scenario into a run directory, resuming whatever was committed there."""

    def __init__(
        self,
        spec: ScenarioSpec,
        scenario_yaml: str,
        run_dir: str | Path,
        *,
        phase: Phase | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.spec = spec
        self.scenario_yaml = scenario_yaml
        self.run_dir = Path(run_dir)
        self._phase = phase
        self._log = log or (lambda msg: None)
        self._tasks: dict[int, GroundTask] = {}
        self._format: TaskFormat = CompactTaskFormat()
        self._extending: tuple[int, int | None] | None = None
        """(stored number of generations, last committed one) when ``spec`` extends the run."""
        self._fixed_pool: tuple[list[GroundTask], list[int]] | None = None
        """The deployment pool and its owners, drawn once, with ``deploy.pool: fixed``."""

    # -- progress -----------------------------------------------------------------------------
    def _progress(self, description: str, total: int) -> Callable[[int], None]:
        if self._phase is None:
            return lambda n: None
        return self._phase(description, total)

    # -- setup --------------------------------------------------------------------------------
    def _open_store(self, writer: RunWriter) -> int:
        """Create or check the run row; returns the first generation still to run."""
        stored = writer.find_run()
        if stored is None:
            writer.create_run(RunRow(
                run_id=str(uuid.uuid4()), name=self.spec.name, seed=self.spec.seed,
                scenario_yaml=self.scenario_yaml, scenario_json=self.spec.to_json(),
                status="started", created_at=_now(), package_versions=_versions(),
            ))
            return 0
        done = writer.last_generation()
        if not _same_scenario(stored.scenario_json, self.spec):
            stored_generations = _generations_apart(stored.scenario_json, self.spec)
            if stored_generations is None:
                raise StoreError(
                    f"{self.run_dir}: holds a run of a different scenario (or other overrides: "
                    f"{_scenario_differences(stored.scenario_json, self.spec)}); use a new "
                    "--out directory, or the same scenario to resume (only --generations may "
                    "change, to extend a run)"
                )
            if self.spec.generations < stored_generations:
                raise StoreError(
                    f"{self.run_dir}: a run of {stored_generations} generations can be extended, "
                    f"not cut to {self.spec.generations} (its summary shows every generation "
                    "committed so far)"
                )
            self._extending = (stored_generations, done)
        writer.set_status("started")
        return 0 if done is None else done + 1

    def _eval_pool(self) -> list[GroundTask]:
        """The fixed pool: ``n_tasks`` split over the domains by weight, drawn domain by domain
        (so every domain has its share, not just its expected share)."""
        spec = self.spec
        rng = derive_rng(spec.seed, "eval-pool")
        pool = spec.eval_tasks().domains
        counts = split_by_weight(spec.evaluation.n_tasks, [d.weight for d in pool.values()])
        slots = [TaskDistributionSpec(domains={name: sizes})
                 for (name, sizes), k in zip(pool.items(), counts, strict=True) for _ in range(k)]
        return _draw_tasks(rng, len(slots), slots, "eval", set())

    def _deploy_tasks(
        self, generation: int, exclude: set[tuple[object, ...]], users: Population
    ) -> tuple[list[GroundTask], list[int]]:
        """This generation's tasks and, for each, the index of the user group that brings it.

        Owners are drawn first (by weight); each task's domain and size then come from its owner's
        own task distribution, or the scenario's for owners that declare none.
        """
        spec = self.spec
        if spec.deploy.pool == "fixed":
            # the paper's protocol: generation 0's draw, met again by every generation (and by
            # the same users, so a task's curation policy stays the one its owner has)
            if self._fixed_pool is None:
                self._fixed_pool = self._draw_deploy_tasks(0, exclude, users, prefix="pool")
            return self._fixed_pool
        return self._draw_deploy_tasks(generation, exclude, users, prefix=f"g{generation}")

    def _draw_deploy_tasks(
        self, generation: int, exclude: set[tuple[object, ...]], users: Population, prefix: str
    ) -> tuple[list[GroundTask], list[int]]:
        spec = self.spec
        owners = users.assign(spec.deploy.tasks_per_generation,
                              derive_rng(spec.seed, "task-owners", generation))
        default = spec.deploy_tasks()
        wanted = [users.groups[owner].spec.tasks or default for owner in owners]
        rng = derive_rng(spec.seed, "deploy-tasks", generation)
        return _draw_tasks(rng, len(owners), wanted, prefix, exclude), owners

    # -- phases -------------------------------------------------------------------------------
    def _sample(
        self, planner: PlannerModel, tasks: Sequence[GroundTask], *, n: int, temperature: float,
        seed: int, description: str,
    ) -> list[_Sampled]:
        """``n`` completions per task, sampled one domain at a time.

        A domain's prompts share their long few-shot prefix, which the planner prefills once per
        batch; a batch mixing domains shares almost nothing and pays full-length padded attention
        per row (a 9-task mixed Blocksworld/Rovers/Sokoban batch with SmolLM2 grew past 10 GB).
        One domain is one call with ``seed`` itself, so one-domain runs sample as they always did.
        """
        prompts = [self._format.prompt(t) for t in tasks]
        advance = self._progress(description, len(prompts) * n)
        groups: dict[str, list[int]] = {}
        for i, task in enumerate(tasks):
            groups.setdefault(task.domain, []).append(i)
        completions: list[list[Completion]] = [[] for _ in tasks]
        for k, members in enumerate(groups.values()):
            sampled = planner.sample(
                [prompts[i] for i in members], n=n, temperature=temperature,
                max_new_tokens=self.spec.deploy.max_new_tokens,
                seed=seed if k == 0 else derive_seed(seed, "domain-batch", k), on_batch=advance,
            )
            for i, comps in zip(members, sampled, strict=True):
                completions[i] = comps
        out = []
        for ti, comps in enumerate(completions):
            for si, comp in enumerate(comps):
                plan_text, n_reasoning = self._format.extract(comp.text, tasks[ti])
                out.append(_Sampled(ti, si, comp, plan_text, n_reasoning))
        return out

    def run(self) -> list[GenerationSummary]:
        """Run (or resume, or extend) every generation of the scenario; returns the summary table.

        The whole run holds the directory's writer lock, taken before the store is opened: a
        second process on the same directory is refused (:class:`RunLockedError`) without
        touching the store, instead of racing this one and marking its run ``error``.

        Raises:
            RunLockedError: When another process is writing ``run_dir``.
        """
        with writer_lock(self.run_dir):
            return self._run_locked()

    def _run_locked(self) -> list[GenerationSummary]:
        spec = self.spec
        writer = RunWriter(self.run_dir)
        try:
            try:
                start_gen = self._open_store(writer)
            except OSError as exc:
                raise self._os_error(exc, "opening the run store") from exc
            if start_gen > spec.generations:
                self._log("all generations already committed")
                writer.set_status("completed")
                return self._summary()
            try:
                self._run_generations(writer, start_gen)
            except KeyboardInterrupt as exc:
                self._record_end(writer, "cancelled", exc)
                raise
            except OSError as exc:
                # a full disk or a directory that cannot be written, while saving an adapter or
                # the model cache: the user's to fix, so one line naming the path
                error = self._os_error(exc, "running the scenario")
                self._record_end(writer, "error", error)
                raise error from exc
            except BaseException as exc:
                self._record_end(writer, "error", exc)
                raise
            writer.set_status("completed")
        finally:
            writer.close()
        return self._summary()

    def _check_model_cache(self) -> None:
        """Refuse, before minutes of pretraining, an embedded base that is not cached yet and could
        not be cached afterwards (the cache directory, or the nearest one that exists above it,
        cannot be written): pretraining would end in a permission error with nothing kept.

        Raises:
            StorageError: Naming the directory and ``ITERDEPLOY_CACHE``.
        """
        if self.spec.model.name != "embedded-tiny-v1":
            return
        from simulator.models.embedded import cache_root

        root = cache_root()
        if (root / f"embedded-{self.spec.model.embedded.content_hash()}" / "config.json").is_file():
            return
        existing = next((p for p in (root, *root.parents) if p.exists()), None)
        if existing is None:
            return
        try:
            if not existing.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(existing))
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError as exc:  # named by the directory, not by the probe file
            named = OSError(exc.errno, exc.strerror or str(exc), str(existing))
            raise self._os_error(named, "the pretrained base model could not be cached "
                                 "there") from exc

    def _os_error(self, exc: OSError, doing: str) -> BaseException:
        """``exc`` as a one-line :class:`~simulator.errors.StorageError` naming its path and what
        to do (a path in the run directory: another ``--out``; elsewhere, the model cache:
        ``ITERDEPLOY_CACHE`` or ``HF_HOME``), or ``exc`` itself when no user can fix it."""
        where = Path(exc.filename) if isinstance(exc.filename, str) else None
        inside = where is not None and where.absolute().is_relative_to(self.run_dir.absolute())
        if where is None or inside:
            remedy = "make the run directory writable, or pass another directory with --out"
        else:
            remedy = ("make it writable, or point the model cache elsewhere (ITERDEPLOY_CACHE for "
                      "embedded models, HF_HOME for Hugging Face ones)")
        return os_error(exc, doing, remedy, self.run_dir) or exc

    def _record_end(self, writer: RunWriter, status: RunStatus, cause: BaseException) -> None:
        """Store how the run ended, without hiding why it ended.

        On a full disk the status write fails as well as the commit did; raising that second error
        would hide the first (the one the user must read), so it is added to the first as a note
        (a :class:`StoreError`'s message gets it too, so the one line says it) and the run keeps
        its stored status, ``started``, which readers show as ``interrupted``. Every generation
        committed before stays as it was: the failed transaction was rolled back whole.
        """
        try:
            writer.set_status(status)
        except Exception as exc:
            note = (f"the run's status could not be recorded either ({exc}), so it reads as "
                    "interrupted")
            if isinstance(cause, StoreError) and cause.args:
                cause.args = (f"{cause.args[0]}; {note}", *cause.args[1:])
            else:
                cause.add_note(note)

    def _summary(self) -> list[GenerationSummary]:
        with RunReader(self.run_dir) as reader:
            return summarize(reader)

    def _run_generations(self, writer: RunWriter, start_gen: int) -> None:
        spec = self.spec
        bar: list[Callable[[int], None]] = []

        def pretrain_step(step: int, loss: float) -> None:
            # the bar appears when pretraining starts, so a cached base shows none (not a bar
            # stuck at 0 whose clock runs for the whole run)
            if not bar:
                bar.append(self._progress("pretraining base model (cached after the first run)",
                                          spec.model.embedded.pretrain_steps))
            bar[0](1)

        # drawn before the model loads (the draw does not depend on it), so sizes that cannot
        # supply the pool stop the run before minutes of loading or pretraining
        eval_tasks = self._eval_pool()
        self._check_model_cache()
        try:
            planner = load_planner(spec.model.name, embedded_spec=spec.model.embedded,
                                   on_step=pretrain_step, device=spec.model.device,
                                   dtype=spec.model.dtype)
        except Exception as exc:
            cache = None
            if spec.model.name == "embedded-tiny-v1":
                from simulator.models.embedded import cache_root

                cache = cache_root()
            error = _io_error(exc, cache)
            if error is None:
                raise
            raise self._os_error(error, "loading or caching the base model") from exc
        base_name = spec.model.name
        if spec.model.name == "embedded-tiny-v1":
            base_name += f"@embedded-{spec.model.embedded.content_hash()}"
        self._format = task_format(planner, spec.model.few_shot)
        seen = {_task_key(t) for t in eval_tasks}
        eval_ids = list(range(1, len(eval_tasks) + 1))
        users = Population.from_spec(spec.population_spec(),
                                     seed=derive_seed(spec.seed, "social-graph"))
        if start_gen > 0:
            # rebuild the population, the exclusion set and the deploy-task history exactly as
            # the first run did (reference tasks are excluded from later draws too)
            for g in range(start_gen):
                users = self._population_for(users, g)[0]
                self._deploy_tasks(g, seen, users)
                seen.update(_task_key(load_stored_task(t.domain, t.problem_pddl))
                            for t in writer.tasks(pool="reference", generation=g))
        if self._extending is not None:
            self._extend(writer, planner, seen, base_name, *self._extending)
        if start_gen > 0:
            self._deploy_model_of(writer, planner, start_gen)
        for g in range(start_gen, spec.generations + 1):
            t0 = time.perf_counter()
            users, record = self._population_for(users, g)
            bundle = self._one_generation(writer, planner, g, eval_tasks, eval_ids, seen, users,
                                          base_name)
            bundle.population.append(PopulationRow(generation=g, record_json=dumps(record)))
            bundle.generation = bundle.generation.model_copy(
                update={"wall_time_s": round(time.perf_counter() - t0, 2)}
            )
            writer.commit_generation(bundle)
            self._log(
                f"generation {g} committed: {bundle.generation.n_published} published, "
                f"train set {bundle.generation.train_size}, {bundle.generation.wall_time_s:.0f}s"
            )

    def _deploy_model_of(self, writer: RunWriter, planner: PlannerModel, g: int) -> None:
        """Load generation ``g``'s committed adapter into ``planner`` (none for the base model,
        or for a generation whose model is not committed yet)."""
        model = writer.model_of(g)
        if model is not None and model.adapter_path:
            planner.load_adapter(self.run_dir / model.adapter_path)

    def _extend(
        self, writer: RunWriter, planner: PlannerModel, seen: set[tuple[object, ...]],
        base_name: str, stored_generations: int, done: int | None,
    ) -> None:
        """Record the larger number of generations (``stored_generations`` before; ``done`` the
        last committed generation). A finished run's last generation trained no model; train it
        now, exactly as that generation would have had it not been the last, so an extended run
        equals one that asked for the generations from the start."""
        finished = None
        if done is not None and done == stored_generations:
            g = done
            last = writer.generation(g)
            self._deploy_model_of(writer, planner, g)  # the state generation g trained from
            traces = writer.traces(generation=g, purpose="deploy")
            published = [d.trace_id for d in writer.decisions(g) if d.kept]
            pool_ids = self._pool(writer, g, published, traces)
            if len(pool_ids) != last.train_size:
                raise StoreError(
                    f"{self.run_dir}: generation {g}'s training pool rebuilt from the store has "
                    f"{len(pool_ids)} traces, the store says {last.train_size}; not extending"
                )
            finished = GenerationBundle(generation=last)
            pool_ids = self._add_reference_data(
                g, pool_ids, finished, seen, writer.next_id("tasks", "task_id"),
                writer.next_id("traces", "trace_id"))
            finished.generation = last.model_copy(update={"train_size": len(pool_ids)})
            self._train_next(writer, planner, g, pool_ids, traces, finished, base_name)
        writer.extend_run(self.spec.to_json(), self.scenario_yaml, finished)
        self._log(f"extended from {stored_generations} to {self.spec.generations} generations")

    def _population_for(self, users: Population, g: int) -> tuple[Population, dict[str, object]]:
        """The population that curates generation ``g`` and its record: generation 0's is the
        scenario's; each later one follows from the previous by one step of social dynamics."""
        if g == 0:
            return users, users.snapshot(0)
        return users.step(derive_rng(self.spec.seed, "social-dynamics", g), generation=g)

    def _contexts(self, writer: RunWriter, users: Population, g: int) -> list[CurationContext]:
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

    def _one_generation(
        self, writer: RunWriter, planner: PlannerModel, g: int, eval_tasks: list[GroundTask],
        eval_ids: list[int], seen: set[tuple[object, ...]], users: Population, base_name: str,
    ) -> GenerationBundle:
        spec = self.spec
        bundle = GenerationBundle(generation=GenerationRow(
            generation=g, model_id=g, n_deploy_tasks=0, n_deploy_traces=0, n_published=0,
            train_size=0, wall_time_s=0.0, committed_at=_now(),
        ))
        next_task = writer.next_id("tasks", "task_id")
        next_trace = writer.next_id("traces", "trace_id")
        next_decision = writer.next_id("curation_decisions", "decision_id")
        if g == 0:
            bundle.models.append(ModelRow(
                model_id=0, generation=0, base=base_name, parent_id=None, adapter_path=None,
                hyperparameters_json=dumps(spec.model.model_dump(mode="json")), train_loss=None,
                n_train_examples=0, train_time_s=0.0,
            ))
            for task, task_id in zip(eval_tasks, eval_ids, strict=True):
                bundle.tasks.append(self._task_row(task, task_id, "eval", None))
            next_task = len(eval_tasks) + 1

        # 1. evaluate model_g on the fixed pool
        ev = spec.evaluation
        sampled = self._sample(planner, eval_tasks, n=ev.samples_per_task, temperature=ev.temperature,
                               seed=derive_seed(spec.seed, "eval-sampling", g),
                               description=f"gen {g}: evaluating")
        eval_traces = self._trace_rows(sampled, eval_tasks, eval_ids, g, "eval", next_trace)
        next_trace += len(eval_traces)
        bundle.traces.extend(eval_traces)
        for ti, task_id in enumerate(eval_ids):
            mine = [t for t, s in zip(eval_traces, sampled, strict=True) if s.task_index == ti]
            valid = [t.plan_length for t in mine if t.is_valid]
            bundle.evaluations.append(EvaluationRow(
                generation=g, task_id=task_id, n_samples=len(mine), n_valid=len(valid),
                solved=bool(valid), best_plan_length=min(valid) if valid else None,
            ))

        # 2. deploy: users bring tasks, the model answers K times each
        tasks, owners = self._deploy_tasks(g, seen, users)
        task_ids = list(range(next_task, next_task + len(tasks)))
        bundle.tasks.extend(self._task_row(t, i, "deploy", g) for t, i in zip(tasks, task_ids, strict=True))
        sampled = self._sample(planner, tasks, n=spec.deploy.samples_per_task,
                               temperature=spec.deploy.temperature,
                               seed=derive_seed(spec.seed, "deploy-sampling", g),
                               description=f"gen {g}: sampling + validating")
        traces = self._trace_rows(sampled, tasks, task_ids, g, "deploy", next_trace)
        bundle.traces.extend(traces)

        # 3. curate: the task's user decides, A(tau) recorded under the whole population
        advance = self._progress(f"gen {g}: curating", len(tasks))
        curate_rng = derive_rng(spec.seed, "curation", g)
        contexts = self._contexts(writer, users, g)
        by_task: dict[int, list[TraceRow]] = {}
        for t in traces:
            by_task.setdefault(t.task_id, []).append(t)
        optimum_of = {row.task_id: row.optimal_length for row in bundle.tasks}
        published: list[int] = []
        for ti, task_id in enumerate(task_ids):
            task = tasks[ti]
            optimum = optimum_of[task_id]
            cands = [
                CandidateTrace(
                    t.trace_id, t.task_id, t.is_valid, t.status, t.plan_length, t.n_tokens,
                    actions=parse_actions(json.loads(t.verdict_json).get("actions", ())),
                    domain=registry_name(task.domain), task_size=task.size, optimal_length=optimum,
                )
                for t in by_task.get(task_id, [])
            ]
            for d in users.curate(owners[ti], cands, curate_rng, contexts):
                bundle.decisions.append(CurationRow(
                    decision_id=next_decision, generation=g, trace_id=d.trace_id, user=d.user,
                    policy=d.policy, kept=d.kept, reason=d.reason, acceptance_prob=d.acceptance_prob,
                    keep_prob=d.keep_prob,
                    group_probs_json=dumps(dict(zip(users.names, d.group_probs, strict=True))),
                ))
                next_decision += 1
                if d.kept:
                    published.append(d.trace_id)
            advance(1)

        # 4. pool: accumulate (paper) or replace, one or all per task, deduplicated
        pool_ids = self._pool(writer, g, published, traces)
        pool_ids = self._add_reference_data(g, pool_ids, bundle, seen, next_task, next_trace)
        bundle.generation = bundle.generation.model_copy(update={
            "n_deploy_tasks": len(tasks), "n_deploy_traces": len(traces),
            "n_published": len(published), "train_size": len(pool_ids),
        })

        # 5. train model_{g+1} on the pool (not after the last generation)
        if g < spec.generations:
            self._train_next(writer, planner, g, pool_ids, traces, bundle, base_name)
        return bundle

    def _add_reference_data(
        self, g: int, pool_ids: list[int], bundle: GenerationBundle,
        seen: set[tuple[object, ...]], next_task: int, next_trace: int,
    ) -> list[int]:
        """The pool with this generation's fresh reference plans added (none after the last
        generation, which trains no model); their tasks and traces go into ``bundle``."""
        spec = self.spec
        if g >= spec.generations or spec.pool.reference_share <= 0:
            return pool_ids
        n_reference = round(spec.pool.reference_share * len(pool_ids))
        first_task = max((t.task_id for t in bundle.tasks), default=next_task - 1) + 1
        first_trace = max((t.trace_id for t in bundle.traces), default=next_trace - 1) + 1
        ref_tasks, ref_traces = self._reference_data(g, n_reference, seen, first_task, first_trace)
        bundle.tasks.extend(ref_tasks)
        bundle.traces.extend(ref_traces)
        return sorted([*pool_ids, *(t.trace_id for t in ref_traces)])

    def _train_next(
        self, writer: RunWriter, planner: PlannerModel, g: int, pool_ids: list[int],
        deployed: list[TraceRow], bundle: GenerationBundle, base_name: str,
    ) -> None:
        """Train model_{g+1} on ``pool_ids``, save its adapter, and add its training set and
        model row to ``bundle``; ``deployed`` are generation g's deployment traces (the newest
        data, which ``training.newest_weight`` repeats)."""
        bundle.training_set.extend(TrainingExampleRow(generation=g + 1, trace_id=i) for i in pool_ids)
        examples = self._examples(writer, pool_ids, bundle)
        tr = self.spec.training
        if tr.newest_weight > 1:
            newest = {t.trace_id for t in deployed}
            examples += [ex for i, ex in zip(pool_ids, examples, strict=True) if i in newest
                         ] * (tr.newest_weight - 1)
        config = TrainConfig(method=tr.method, mode=tr.mode, lora_r=tr.lora_r,
                             lora_alpha=tr.lora_alpha, lr=tr.lr, n_epochs=tr.n_epochs,
                             batch_size=tr.batch_size, max_len=tr.max_len, pack=tr.pack)
        n_steps = -(-len(examples) * tr.n_epochs // tr.batch_size)
        advance = self._progress(f"gen {g}: training gen {g + 1}", max(1, n_steps))
        stats = planner.train(examples, config, seed=derive_seed(self.spec.seed, "training", g + 1),
                              on_step=lambda s, loss: advance(1))
        rel = f"adapters/gen-{g + 1}"
        target = self.run_dir / rel
        if target.exists():  # left by a generation that died before its commit
            shutil.rmtree(target)
        try:
            planner.save(target)
        except Exception as exc:
            error = _io_error(exc, target)
            if error is None:
                raise
            raise self._os_error(error, f"saving the adapter of generation {g + 1}") from exc
        parent = g if tr.mode == "chained" else 0
        bundle.models.append(ModelRow(
            model_id=g + 1, generation=g + 1, base=base_name, parent_id=parent,
            adapter_path=rel, hyperparameters_json=dumps(config.__dict__),
            train_loss=stats.final_loss, n_train_examples=len(examples),
            train_time_s=round(stats.train_time_s, 2),
        ))

    def _pool(
        self, writer: RunWriter, g: int, published: list[int], traces: list[TraceRow]
    ) -> list[int]:
        """Trace ids of the curated training pool after generation ``g`` (reference plans,
        drawn fresh each generation, are not carried over)."""
        pool = self.spec.pool
        fresh = {t.trace_id: t for t in traces}
        previous: list[tuple[int, int, str]] = []
        if pool.mode == "accumulate" and g > 0:
            previous = [(t.trace_id, t.task_id, t.plan_text)
                        for t in writer.training_traces(g, purpose="deploy")]
        chosen = [fresh[i] for i in published]
        if pool.per_task != "all":  # the users' own ranking: length, then tokens, then id
            by_task: dict[int, list[TraceRow]] = {}
            for t in chosen:
                by_task.setdefault(t.task_id, []).append(t)
            best_first = rank_key(pool.per_task)
            chosen = sorted((min(group, key=best_first) for group in by_task.values()),
                            key=lambda t: t.trace_id)
        ids = [i for i, _, _ in previous]
        seen_plans = {(task, text) for _, task, text in previous}
        for t in chosen:
            plan = (t.task_id, t.plan_text.strip().lower())
            if pool.dedup and plan in seen_plans:
                continue
            seen_plans.add(plan)
            ids.append(t.trace_id)
        return sorted(set(ids))

    def _reference_data(
        self, g: int, n: int, seen: set[tuple[object, ...]], first_task: int, first_trace: int
    ) -> tuple[list[TaskRow], list[TraceRow]]:
        """``n`` fresh tasks of the deployment sizes with the reference planner's plans, stored
        as ``reference`` tasks and traces so that every training example is in the store."""
        spec = self.spec
        rng = derive_rng(spec.seed, "reference-data", g)
        tasks = _draw_tasks(rng, n, spec.reference_tasks(), f"ref{g}", seen)
        task_rows: list[TaskRow] = []
        trace_rows: list[TraceRow] = []
        for task in tasks:
            plan = _reference_plan(task)
            if plan is None:  # the planner gave up in time: one reference plan fewer
                self._log(f"reference planner found no plan for {task.name}; skipped")
                continue
            task_id, trace_id = first_task + len(task_rows), first_trace + len(trace_rows)
            task_rows.append(self._task_row(task, task_id, "reference", g))
            completion = self._format.completion(task, plan)
            plan_text, n_reasoning = self._format.extract(completion, task)
            verdict = validate_plan(task, plan_text)
            trace_rows.append(TraceRow(
                trace_id=trace_id, generation=g, task_id=task_id, purpose="reference",
                sample_index=0, completion=completion, plan_text=plan_text,
                n_tokens=len(completion.split()), n_reasoning_tokens=n_reasoning,
                hit_token_limit=False, status=verdict.status, is_valid=verdict.is_valid,
                plan_length=verdict.plan_length, verdict_json=dumps(verdict.to_dict()),
            ))
        return task_rows, trace_rows

    # -- row builders ---------------------------------------------------------------------------
    def _task_row(self, task: GroundTask, task_id: int, pool: str, g: int | None) -> TaskRow:
        self._tasks[task_id] = task
        return TaskRow(
            task_id=task_id, pool=pool, generation=g, domain=registry_name(task.domain),  # type: ignore[arg-type]
            name=task.name, size=task.size, params_json=dumps(task.param_dict()),
            optimal_length=_optimal_length(task),
            problem_pddl=problem_to_pddl(task, constants=domain_constants(
                domain_path(registry_name(task.domain)))),
        )

    def _trace_rows(
        self, sampled: list[_Sampled], tasks: Sequence[GroundTask], task_ids: Sequence[int],
        g: int, purpose: str, first_id: int,
    ) -> list[TraceRow]:
        rows = []
        for offset, s in enumerate(sampled):
            verdict = validate_plan(tasks[s.task_index], s.plan_text)
            rows.append(TraceRow(
                trace_id=first_id + offset, generation=g, task_id=task_ids[s.task_index],
                purpose=purpose, sample_index=s.sample_index,  # type: ignore[arg-type]
                completion=s.completion.text, plan_text=s.plan_text,
                n_tokens=s.completion.n_tokens, n_reasoning_tokens=s.n_reasoning_tokens,
                hit_token_limit=s.completion.hit_token_limit, status=verdict.status,
                is_valid=verdict.is_valid, plan_length=verdict.plan_length,
                verdict_json=dumps(verdict.to_dict()),
            ))
        return rows

    def _examples(self, writer: RunWriter, trace_ids: list[int], bundle: GenerationBundle) -> list[Example]:
        """Training pairs for ``trace_ids``: the task's prompt and the published completion."""
        fresh = {t.trace_id: t for t in bundle.traces}
        stored = writer.traces_by_id(i for i in trace_ids if i not in fresh)
        examples = []
        for trace_id in trace_ids:
            trace = fresh[trace_id] if trace_id in fresh else stored[trace_id]
            task = self._tasks.get(trace.task_id)
            if task is None:  # resumed run: tasks of earlier generations come from the store
                row = writer.task(trace.task_id)
                task = load_stored_task(row.domain, row.problem_pddl)
                self._tasks[trace.task_id] = task
            examples.append(Example(self._format.prompt(task), trace.completion))
        return examples


_RUST_IO_ERROR = re.compile(r"\(os error (\d+)\)")
"""How a Rust library (safetensors, tokenizers) writes the errno of an I/O error it raises as its
own exception type: ``I/O error: No space left on device (os error 28)``."""


def _io_error(exc: Exception, path: Path | None) -> OSError | None:
    """``exc`` as the :class:`OSError` it stands for, naming ``path`` where it names none, or None.

    Saving an adapter or a pretrained base goes through safetensors, whose Rust code reports a full
    disk or a read-only directory as ``SafetensorError`` rather than :class:`OSError`; read as the
    errno it carries, it is reported like any other OS error (``DeploymentLoop._os_error``).
    """
    if isinstance(exc, OSError):
        if exc.filename is None and path is not None:
            return OSError(exc.errno, exc.strerror or str(exc), str(path))
        return exc
    match = _RUST_IO_ERROR.search(str(exc))
    if match is None:
        return None
    code = int(match[1])
    return OSError(code, os.strerror(code), None if path is None else str(path))


def run_scenario(
    spec: ScenarioSpec, scenario_yaml: str, run_dir: str | Path, **kwargs: object
) -> list[GenerationSummary]:
    """Run or resume ``spec`` in ``run_dir``; the public entry point behind ``iterdeploy run``."""
    return DeploymentLoop(spec, scenario_yaml, run_dir, **kwargs).run()  # type: ignore[arg-type]
