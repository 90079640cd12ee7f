"""The run: open or resume the store, load the model, and run the stages generation by generation.

Everything a generation produced is committed to the run store in one transaction, so a run
killed at any point resumes from its last committed generation and, every random draw being
derived from (seed, name, generation), ends exactly as an uninterrupted run would.
"""

from __future__ import annotations

import errno
import importlib.metadata
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.models.protocol import PlannerModel
from iterdeploy.simulator.models.registry import load_planner
from iterdeploy.simulator.models.task_format import task_format
from iterdeploy.simulator.planning import GroundTask, load_stored_task
from iterdeploy.simulator.scenario import ScenarioSpec
from iterdeploy.simulator.scenario_rules import split_by_weight
from iterdeploy.simulator.store import (
    GenerationBundle,
    GenerationRow,
    GenerationSummary,
    ModelRow,
    PopulationRow,
    RunReader,
    RunRow,
    RunStatus,
    RunWriter,
    TraceRow,
    dumps,
    os_error,
    summarize,
    writer_lock,
)
from iterdeploy.simulator.users import Population
from iterdeploy.simulator.users.spec import TaskDistributionSpec

from . import stages, task_supply
from .identity import generations_apart, same_scenario, scenario_differences
from .ids import IdAllocator
from .io_errors import io_error
from .seeds import derive_rng, derive_seed
from .stages import Phase, StageContext
from .task_supply import TaskKey, task_key


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
        self._extending: tuple[int, int | None] | None = None
        """(stored number of generations, last committed one) when ``spec`` extends the run."""
        self._fixed_pool: tuple[list[GroundTask], list[int]] | None = None
        """The deployment pool and its owners, drawn once, with ``deploy.pool: fixed``."""

    # -- progress -----------------------------------------------------------------------------
    def _progress(self, description: str, total: int) -> Callable[[int], None]:
        if self._phase is None:
            return lambda n: None
        return self._phase(description, total)

    # -- the run ------------------------------------------------------------------------------
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
        writer = RunWriter(self.run_dir)
        try:
            try:
                start_gen = self._open_store(writer)
            except OSError as exc:
                raise self._os_error(exc, "opening the run store") from exc
            if start_gen > self.spec.generations:
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
        if not same_scenario(stored.scenario_json, self.spec):
            stored_generations = generations_apart(stored.scenario_json, self.spec)
            if stored_generations is None:
                raise StoreError(
                    f"{self.run_dir}: holds a run of a different scenario (or other overrides: "
                    f"{scenario_differences(stored.scenario_json, self.spec)}); use a new "
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

    def _run_generations(self, writer: RunWriter, start_gen: int) -> None:
        # drawn before the model loads (the draw does not depend on it), so sizes that cannot
        # supply the pool stop the run before minutes of loading or pretraining
        eval_tasks = self._eval_pool()
        ctx = self._stage_context(self._load_planner())
        seen = {task_key(t) for t in eval_tasks}
        eval_ids = list(range(1, len(eval_tasks) + 1))
        users = Population.from_spec(self.spec.population_spec(),
                                     seed=derive_seed(self.spec.seed, "social-graph"))
        users = self._replay(writer, start_gen, users, seen)
        if self._extending is not None:
            self._extend(writer, ctx, seen, *self._extending)
        if start_gen > 0:
            self._deploy_model_of(writer, ctx.planner, start_gen)
        for g in range(start_gen, self.spec.generations + 1):
            t0 = time.perf_counter()
            users, record = self._population_for(users, g)
            bundle = self._one_generation(writer, ctx, g, eval_tasks, eval_ids, seen, users)
            self._commit(writer, bundle, record, t0)

    def _commit(self, writer: RunWriter, bundle: GenerationBundle, population: dict[str, object],
                t0: float) -> None:
        """Commit the generation whole, with the population that curated it and its wall time."""
        g = bundle.generation.generation
        bundle.population.append(PopulationRow(generation=g, record_json=dumps(population)))
        bundle.generation = bundle.generation.model_copy(
            update={"wall_time_s": round(time.perf_counter() - t0, 2)}
        )
        writer.commit_generation(bundle)
        self._log(
            f"generation {g} committed: {bundle.generation.n_published} published, "
            f"train set {bundle.generation.train_size}, {bundle.generation.wall_time_s:.0f}s"
        )

    def _replay(self, writer: RunWriter, start_gen: int, users: Population,
                seen: set[TaskKey]) -> Population:
        """Rebuild, for a resumed run, the population, the exclusion set and the deploy-task
        history exactly as the first run had them before ``start_gen`` (reference tasks are
        excluded from later draws too)."""
        for g in range(start_gen):
            users = self._population_for(users, g)[0]
            self._deploy_tasks(g, seen, users)
            seen.update(task_key(load_stored_task(t.domain, t.problem_pddl))
                        for t in writer.tasks(pool="reference", generation=g))
        return users

    # -- the model ----------------------------------------------------------------------------
    def _load_planner(self) -> PlannerModel:
        """The scenario's base model, pretrained (with a progress bar) if it is not cached."""
        spec = self.spec
        bar: list[Callable[[int], None]] = []

        def pretrain_step(step: int, loss: float) -> None:
            # the bar appears when pretraining starts, so a cached base shows none (not a bar
            # stuck at 0 whose clock runs for the whole run)
            if not bar:
                bar.append(self._progress("pretraining base model (cached after the first run)",
                                          spec.model.embedded.pretrain_steps))
            bar[0](1)

        self._check_model_cache()
        try:
            return load_planner(spec.model.name, embedded_spec=spec.model.embedded,
                                on_step=pretrain_step, device=spec.model.device,
                                dtype=spec.model.dtype)
        except Exception as exc:
            error = io_error(exc, self._model_cache())
            if error is None:
                raise
            raise self._os_error(error, "loading or caching the base model") from exc

    def _model_cache(self) -> Path | None:
        """Where the embedded base is cached (None for other models)."""
        if self.spec.model.name != "embedded-tiny-v1":
            return None
        from iterdeploy.simulator.models.embedded import cache_root

        return cache_root()

    def _stage_context(self, planner: PlannerModel) -> StageContext:
        spec = self.spec
        base_name = spec.model.name
        if spec.model.name == "embedded-tiny-v1":
            base_name += f"@embedded-{spec.model.embedded.content_hash()}"
        return StageContext(
            spec=spec, run_dir=self.run_dir, planner=planner,
            fmt=task_format(planner, spec.model.few_shot), base_name=base_name,
            progress=self._progress, log=self._log, os_error=self._os_error,
        )

    def _check_model_cache(self) -> None:
        """Refuse, before minutes of pretraining, an embedded base that is not cached yet and could
        not be cached afterwards (the cache directory, or the nearest one that exists above it,
        cannot be written): pretraining would end in a permission error with nothing kept.

        Raises:
            StorageError: Naming the directory and ``ITERDEPLOY_CACHE``.
        """
        root = self._model_cache()
        if root is None:
            return
        from iterdeploy.simulator.models.embedded import base_directory

        if base_directory(f"embedded-{self.spec.model.embedded.content_hash()}") is not None:
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

    def _deploy_model_of(self, writer: RunWriter, planner: PlannerModel, g: int) -> None:
        """Load generation ``g``'s committed adapter into ``planner`` (none for the base model,
        or for a generation whose model is not committed yet)."""
        model = writer.model_of(g)
        if model is not None and model.adapter_path:
            planner.load_adapter(self.run_dir / model.adapter_path)

    # -- errors -------------------------------------------------------------------------------
    def _os_error(self, exc: OSError, doing: str) -> BaseException:
        """``exc`` as a one-line :class:`~iterdeploy.simulator.errors.StorageError` naming its path and what
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

    # -- tasks and users ----------------------------------------------------------------------
    def _eval_pool(self) -> list[GroundTask]:
        """The fixed pool: ``n_tasks`` split over the domains by weight, drawn domain by domain
        (so every domain has its share, not just its expected share)."""
        spec = self.spec
        rng = derive_rng(spec.seed, "eval-pool")
        pool = spec.eval_tasks().domains
        counts = split_by_weight(spec.evaluation.n_tasks, [d.weight for d in pool.values()])
        slots = [TaskDistributionSpec(domains={name: sizes})
                 for (name, sizes), k in zip(pool.items(), counts, strict=True) for _ in range(k)]
        return task_supply.draw_tasks(rng, len(slots), slots, "eval", set())

    def _deploy_tasks(
        self, generation: int, exclude: set[TaskKey], users: Population
    ) -> tuple[list[GroundTask], list[int]]:
        """This generation's tasks and, for each, the index of the user group that brings it.

        Owners are drawn first (by weight); each task's domain and size then come from its owner's
        own task distribution, or the scenario's for owners that declare none.
        """
        if self.spec.deploy.pool == "fixed":
            # the paper's protocol: generation 0's draw, met again by every generation (and by
            # the same users, so a task's curation policy stays the one its owner has)
            if self._fixed_pool is None:
                self._fixed_pool = self._draw_deploy_tasks(0, exclude, users, prefix="pool")
            return self._fixed_pool
        return self._draw_deploy_tasks(generation, exclude, users, prefix=f"g{generation}")

    def _draw_deploy_tasks(
        self, generation: int, exclude: set[TaskKey], users: Population, prefix: str
    ) -> tuple[list[GroundTask], list[int]]:
        spec = self.spec
        owners = users.assign(spec.deploy.tasks_per_generation,
                              derive_rng(spec.seed, "task-owners", generation))
        default = spec.deploy_tasks()
        wanted = [users.groups[owner].spec.tasks or default for owner in owners]
        rng = derive_rng(spec.seed, "deploy-tasks", generation)
        return task_supply.draw_tasks(rng, len(owners), wanted, prefix, exclude), owners

    def _population_for(self, users: Population, g: int) -> tuple[Population, dict[str, object]]:
        """The population that curates generation ``g`` and its record: generation 0's is the
        scenario's; each later one follows from the previous by one step of social dynamics."""
        if g == 0:
            return users, users.snapshot(0)
        return users.step(derive_rng(self.spec.seed, "social-dynamics", g), generation=g)

    # -- one generation -----------------------------------------------------------------------
    def _one_generation(
        self, writer: RunWriter, ctx: StageContext, g: int, eval_tasks: list[GroundTask],
        eval_ids: list[int], seen: set[TaskKey], users: Population,
    ) -> GenerationBundle:
        """Evaluate, deploy, curate, pool and train generation ``g`` into one bundle."""
        spec = self.spec
        bundle = GenerationBundle(generation=GenerationRow(
            generation=g, model_id=g, n_deploy_tasks=0, n_deploy_traces=0, n_published=0,
            train_size=0, wall_time_s=0.0, committed_at=_now(),
        ))
        ids = IdAllocator.after_store(writer)
        if g == 0:
            bundle.models.append(ModelRow(
                model_id=0, generation=0, base=ctx.base_name, parent_id=None, adapter_path=None,
                hyperparameters_json=dumps(spec.model.model_dump(mode="json")), train_loss=None,
                n_train_examples=0, train_time_s=0.0,
            ))
            bundle.tasks.extend(ctx.task_rows(eval_tasks, ids.tasks(len(eval_tasks)), "eval", None))
        eval_traces, bundle.evaluations = stages.evaluate(ctx, g, eval_tasks, eval_ids, ids)
        bundle.traces.extend(eval_traces)

        tasks, owners = self._deploy_tasks(g, seen, users)
        task_rows = ctx.task_rows(tasks, ids.tasks(len(tasks)), "deploy", g)
        bundle.tasks.extend(task_rows)
        traces = stages.deploy(ctx, g, tasks, task_rows, ids)
        bundle.traces.extend(traces)

        contexts = stages.curation_contexts(writer, users, g)
        bundle.decisions, published = stages.curate(ctx, g, users, contexts, tasks, task_rows,
                                                    owners, traces, ids)
        pool_ids = self._pool(writer, g, published, traces)
        pool_ids = stages.add_reference_data(ctx, g, pool_ids, bundle, seen, ids)
        bundle.generation = bundle.generation.model_copy(update={
            "n_deploy_tasks": len(tasks), "n_deploy_traces": len(traces),
            "n_published": len(published), "train_size": len(pool_ids),
        })
        if g < spec.generations:  # the last generation trains no model
            stages.train(ctx, writer, g, pool_ids, traces, bundle)
        return bundle

    def _pool(self, writer: RunWriter, g: int, published: list[int],
              traces: list[TraceRow]) -> list[int]:
        """The training pool after generation ``g``: the last pool's deployment traces when the
        pool accumulates (reference plans, drawn fresh each generation, are not carried over)."""
        accumulate = self.spec.pool.mode == "accumulate" and g > 0
        previous = writer.training_traces(g, purpose="deploy") if accumulate else []
        return stages.pool(self.spec.pool, published, traces, previous)

    def _extend(
        self, writer: RunWriter, ctx: StageContext, seen: set[TaskKey],
        stored_generations: int, done: int | None,
    ) -> None:
        """Record the larger number of generations (``stored_generations`` before; ``done`` the
        last committed generation). A finished run's last generation trained no model; train it
        now, exactly as that generation would have had it not been the last, so an extended run
        equals one that asked for the generations from the start."""
        finished = None
        if done is not None and done == stored_generations:
            g = done
            last = writer.generation(g)
            self._deploy_model_of(writer, ctx.planner, g)  # the state generation g trained from
            traces = writer.traces(generation=g, purpose="deploy")
            published = [t.trace_id for t in writer.published(g)]
            pool_ids = self._pool(writer, g, published, traces)
            if len(pool_ids) != last.train_size:
                raise StoreError(
                    f"{self.run_dir}: generation {g}'s training pool rebuilt from the store has "
                    f"{len(pool_ids)} traces, the store says {last.train_size}; not extending"
                )
            finished = GenerationBundle(generation=last)
            pool_ids = stages.add_reference_data(ctx, g, pool_ids, finished, seen,
                                                 IdAllocator.after_store(writer))
            finished.generation = last.model_copy(update={"train_size": len(pool_ids)})
            stages.train(ctx, writer, g, pool_ids, traces, finished)
        writer.extend_run(self.spec.to_json(), self.scenario_yaml, finished)
        self._log(f"extended from {stored_generations} to {self.spec.generations} generations")


def run_scenario(
    spec: ScenarioSpec, scenario_yaml: str, run_dir: str | Path, **kwargs: object
) -> list[GenerationSummary]:
    """Run or resume ``spec`` in ``run_dir``; the public entry point behind ``iterdeploy run``."""
    return DeploymentLoop(spec, scenario_yaml, run_dir, **kwargs).run()  # type: ignore[arg-type]
