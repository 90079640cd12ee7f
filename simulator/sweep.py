"""Sweeps: many runs of scenarios × seeds × a grid of settings, each resumable on its own.

A sweep is planned, then executed:

1. :func:`parse_grid` reads ``KEY=V1,V2`` items into :class:`GridAxis` values, and
   :func:`plan_sweep` expands scenarios × seeds × the grid's cartesian product into
   :class:`PlannedRun` s, validating every combination (each one's scenario is loaded with its
   overrides) and naming each run directory the way ``iterdeploy run`` names it
   (``<name>-seed<seed>``), plus a readable suffix for the grid values (:func:`grid_suffix`).
   Nothing is started or written.
2. :func:`run_state` asks each run directory, through the store's reader, whether it holds this
   run already complete (skipped), unfinished (run again: the loop resumes it) or nothing (new);
   a directory that holds another scenario, or that another process is writing, is refused
   before anything starts (:func:`pending_runs`).
3. :func:`run_sweep` hands the runs still to do to an executor: :class:`SerialExecutor` (one run
   after another in this process) or :class:`RayExecutor` (one Ray task per run, with declared
   CPU and GPU resources, on a local Ray instance or an existing cluster). A run that fails is
   reported as failed and the others go on.

Each run executes :func:`run_one`: :func:`iterdeploy.simulator.loop.run_scenario` with ``cpus_per_run``
torch threads, its exception (if any) turned into a one-line message.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from iterdeploy.simulator.cpus import usable_cpus
from iterdeploy.simulator.errors import IterdeployError, ScenarioError, StoreError
from iterdeploy.simulator.limits import MAX_SWEEP_SEEDS
from iterdeploy.simulator.scenario_yaml import parse_yaml

if TYPE_CHECKING:
    from iterdeploy.simulator.scenario import ScenarioSpec
    from iterdeploy.simulator.store import GenerationSummary

MAX_SWEEP_RUNS = MAX_SWEEP_SEEDS
"""Most runs one sweep may hold (scenarios × seeds × grid combinations), checked before the grid
is expanded: each is a whole run, and every one is validated before the first starts."""

RAY_INSTALL_HINT = "pip install 'iterdeploy[ray]' (or scripts/install.sh --dev), or run with --serial"
"""What a sweep without Ray says to do."""

_SAFE_VALUE = re.compile(r"[A-Za-z0-9._+-]{1,32}")
"""A grid value written as it is in a run directory's name; any other is shortened and hashed."""

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
"""A dotted settings key, as ``--set`` takes it."""


# -- the grid ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GridAxis:
    """One ``--grid KEY=V1,V2,...``: a setting and the values the sweep runs it with, in order."""

    key: str
    values: tuple[Any, ...]


def parse_grid(items: Sequence[str]) -> list[GridAxis]:
    """``KEY=V1,V2`` items → grid axes, each value read as YAML by the scenario's own reader.

    The values are read as one YAML flow sequence (``[V1,V2]``), so a value may itself be a
    list or a quoted string with a comma. Whether the key exists and the values fit it is checked
    later, when :func:`plan_sweep` loads each combination.

    Examples:
        >>> parse_grid(["deploy.samples_per_task=4,8"])
        [GridAxis(key='deploy.samples_per_task', values=(4, 8))]

    Raises:
        ScenarioError: Naming ``--grid`` and the item: no ``=``, a malformed key, no values, a
            repeated value, a key given twice, or ``seed`` (which ``--seeds`` sweeps).
    """
    axes: list[GridAxis] = []
    for item in items:
        if "=" not in item:
            raise ScenarioError(f"--grid {item[:60]!r}: expected KEY.PATH=V1,V2,..., e.g. "
                                "deploy.samples_per_task=4,8")
        key, raw = (part.strip() for part in item.split("=", 1))
        if not _KEY.fullmatch(key):
            raise ScenarioError(f"--grid {item[:60]!r}: {key[:40]!r} is not a settings key such "
                                "as deploy.samples_per_task")
        if key == "seed":
            raise ScenarioError("--grid seed: sweep seeds with --seeds 0-4 (or 0,1,2)")
        if any(axis.key == key for axis in axes):
            raise ScenarioError(f"--grid {key}: given twice; list all its values in one --grid")
        values = parse_yaml(f"[{raw}]", f"--grid {key}")[1] if raw else None
        if not values or not isinstance(values, list):
            raise ScenarioError(f"--grid {key}: no values; expected {key}=V1,V2,...")
        seen: list[str] = []
        for value in values:
            canonical = json.dumps(value, sort_keys=True, default=str)
            if canonical in seen:
                raise ScenarioError(f"--grid {key}: the value {value!r} is given twice")
            seen.append(canonical)
        axes.append(GridAxis(key, tuple(values)))
    return axes


def grid_size(axes: Sequence[GridAxis]) -> int:
    """How many combinations the grid has (1 for no grid)."""
    return math.prod(len(axis.values) for axis in axes)


def expand_grid(axes: Sequence[GridAxis]) -> list[dict[str, Any]]:
    """The cartesian product of the axes, as one ``{key: value}`` per combination, the last axis
    varying fastest; ``[{}]`` for no grid.

    Examples:
        >>> expand_grid([GridAxis("a", (1, 2)), GridAxis("b", ("x",))])
        [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'x'}]
    """
    keys = [axis.key for axis in axes]
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(axis.values for axis in axes))]


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each key's shortest dotted suffix that no other key ends with: what a run directory's
    name calls it (``deploy.samples_per_task`` → ``samples_per_task``, unless
    ``evaluation.samples_per_task`` is in the grid too)."""
    out: dict[str, str] = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            candidate = ".".join(parts[-n:])
            clash = any(other != key and (other == candidate or other.endswith("." + candidate))
                        for other in keys)
            if not clash:
                out[key] = candidate
                break
        else:
            out[key] = key
    return out


def value_text(value: Any) -> str:
    """A grid value as it appears in a run directory's name: its text when that is short and
    made of ``A-Z a-z 0-9 . _ + -``; otherwise a shortened, cleaned text plus ``~`` and six hex
    digits of a hash of the value, so that different values never share a name."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, int | float | str):
        text = str(value)
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    if _SAFE_VALUE.fullmatch(text):
        return text
    digest = hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:6]
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_")[:24]
    return f"{cleaned}~{digest}" if cleaned else f"~{digest}"


def grid_suffix(combo: dict[str, Any], names: dict[str, str]) -> str:
    """``-KEY=VALUE`` for each grid value of a combination (``""`` for no grid), keys shortened
    by ``names`` (:func:`short_keys`)."""
    return "".join(f"-{names[key]}={value_text(value)}" for key, value in combo.items())


# -- planning ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: a validated scenario and the directory it is written to."""

    scenario: Path
    """The scenario file."""
    spec: ScenarioSpec
    """The scenario with every override (``--set``, the seed, the grid combination) applied."""
    text: str
    """The file as given (stored with the run, as ``iterdeploy run`` stores it)."""
    run_dir: Path
    grid: dict[str, Any] = field(default_factory=dict)
    """This run's grid values (empty without a grid)."""

    @property
    def label(self) -> str:
        """``name seed N key=value ...`` for progress lines and tables."""
        grid = " ".join(f"{k}={v}" for k, v in self.grid.items())
        return f"{self.spec.name} seed {self.spec.seed}" + (f" {grid}" if grid else "")


def plan_sweep(
    scenarios: Sequence[str | Path],
    seeds: Sequence[int] | None = None,
    *,
    sets: dict[str, Any] | None = None,
    grid: Sequence[GridAxis] = (),
    out: str | Path = "runs",
) -> list[PlannedRun]:
    """Every run of the sweep, each combination validated; starts and writes nothing.

    Args:
        scenarios: Scenario files (a file named twice counts once).
        seeds: Seeds to run each combination with; None runs each scenario's own seed.
        sets: Overrides for every run (``--set``).
        grid: Axes whose cartesian product multiplies the runs (:func:`parse_grid`).
        out: Parent directory of the run directories: ``<name>-seed<seed>`` as
            ``iterdeploy run --seeds`` names them, plus :func:`grid_suffix` with a grid.

    Raises:
        ScenarioError: A missing or invalid scenario, an override or grid value a scenario
            refuses (naming the file and key), a grid key also given with ``--set``, too many
            runs, or two runs that would share a directory.
    """
    from iterdeploy.simulator.scenario import load_scenario
    from iterdeploy.simulator.scenario_rules import default_run_dir

    sets = dict(sets or {})
    files = list(dict.fromkeys(Path(s) for s in scenarios))
    if not files:
        raise ScenarioError("no scenario file given")
    if "seed" in sets and seeds is not None:
        raise ScenarioError("--set seed: give the seeds with --seeds only")
    for axis in grid:
        if axis.key in sets:
            raise ScenarioError(f"{axis.key}: given with both --set and --grid; keep one")
    total = len(files) * (len(seeds) if seeds is not None else 1) * grid_size(grid)
    if total > MAX_SWEEP_RUNS:
        raise ScenarioError(f"the sweep holds {total} runs (scenarios × seeds × grid); at most "
                            f"{MAX_SWEEP_RUNS} in one sweep, so split it")
    if seeds is not None and not seeds:
        raise ScenarioError("--seeds: no seeds given")
    names = short_keys([axis.key for axis in grid])
    planned: list[PlannedRun] = []
    owner: dict[Path, Path] = {}
    same: dict[str, PlannedRun] = {}
    for file in files:
        for seed in seeds if seeds is not None else [None]:
            for combo in expand_grid(grid):
                overrides = {**sets, **combo}
                if seed is not None:
                    overrides["seed"] = seed
                spec, text = load_scenario(file, overrides)
                base = default_run_dir(Path(out), spec)
                run_dir = base.with_name(base.name + grid_suffix(combo, names))
                run = PlannedRun(file, spec, text, run_dir, combo)
                if (twin := same.get(spec.to_json())) is not None:
                    raise ScenarioError(f"{twin.label} and {run.label} are the same run (one value "
                                        "given twice in two spellings?); drop one")
                same[spec.to_json()] = run
                if run_dir in owner:
                    raise ScenarioError(
                        f"{run_dir}: two runs of the sweep would write it ({owner[run_dir]} and "
                        f"{file}: {run.label}); give the scenarios different names, or the grid "
                        "values that differ in more than type")
                owner[run_dir] = file
                planned.append(run)
    return planned


RunState = Literal["new", "unfinished", "complete"]
"""Where a planned run stands: nothing stored yet, stored but not finished (or to be extended
by more generations; running it again resumes), or finished as planned (skipped)."""


def run_state(run: PlannedRun) -> RunState:
    """Ask ``run.run_dir``'s store (through :class:`~iterdeploy.simulator.store.RunReader`) where the run
    stands.

    Raises:
        StoreError: When the directory holds another scenario's run (one that the loop would
            refuse), when another process is writing it, or when its store is damaged.
    """
    from iterdeploy.simulator.loop.identity import generations_apart, same_scenario, scenario_differences
    from iterdeploy.simulator.store import DB_NAME, RunReader

    if not (run.run_dir / DB_NAME).exists():
        return "new"
    with RunReader(run.run_dir) as reader:
        stored = reader.find_run()
        if stored is None:
            return "new"
        status = reader.run_status()
    if status == "started":  # run_status says "interrupted" when nobody holds the lock
        raise StoreError(f"{run.run_dir}: another process is writing this run now (a sweep or "
                         "`iterdeploy run` still going?); wait for it, or sweep into another --out")
    if same_scenario(stored.scenario_json, run.spec):
        return "complete" if status == "completed" else "unfinished"
    stored_generations = generations_apart(stored.scenario_json, run.spec)
    if stored_generations is not None and run.spec.generations >= stored_generations:
        return "unfinished"  # more generations: the loop extends the run
    raise StoreError(
        f"{run.run_dir}: holds a run of a different scenario "
        f"({scenario_differences(stored.scenario_json, run.spec)}); sweep into another --out, "
        "or with the settings it was run with")


def pending_runs(runs: Sequence[PlannedRun]) -> tuple[list[PlannedRun], list[PlannedRun]]:
    """``(to_run, complete)``: the runs still to do (new or unfinished) and those already
    complete, each directory asked once (:func:`run_state`); refuses before anything starts."""
    to_run: list[PlannedRun] = []
    complete: list[PlannedRun] = []
    for run in runs:
        (complete if run_state(run) == "complete" else to_run).append(run)
    return to_run, complete


# -- executing --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunOutcome:
    """How one run of a sweep ended."""

    run_dir: Path
    status: Literal["completed", "failed", "skipped"]
    """``completed`` now, ``failed`` (the message says why), or ``skipped``: complete before
    the sweep started."""
    wall_s: float
    """Seconds the run took (0 for a skipped run)."""
    cpu_s: float = 0.0
    """CPU seconds its process spent on it, every thread counted (0 when unknown): against
    ``wall_s``, how much of a core the run got on a shared machine."""
    error: str | None = None
    """One line: why the run failed."""
    summary: tuple[GenerationSummary, ...] = ()
    """The run's per-generation summary (empty for a failed run)."""


def _one_line(exc: BaseException) -> str:
    message = re.sub(r"\s+", " ", str(exc)).strip()
    if len(message) > 400:
        message = message[:397] + "..."
    if isinstance(exc, IterdeployError):
        return message or type(exc).__name__
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def run_one(run: PlannedRun, threads: int = 1) -> RunOutcome:
    """Run (or resume) one planned run with ``threads`` torch threads and as many sampling
    worker processes (both restored afterwards; its CPUs are all a run may use); a failure is
    returned as a ``failed`` outcome, never raised (an interrupt is)."""
    import torch

    from iterdeploy.simulator.loop import run_scenario
    from iterdeploy.simulator.models.sampling_pool import sample_workers

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        with sample_workers(max(1, threads)):
            rows = run_scenario(run.spec, run.text, run.run_dir)
    except Exception as exc:
        return RunOutcome(run.run_dir, "failed", time.perf_counter() - t0,
                          time.process_time() - c0, _one_line(exc))
    finally:
        torch.set_num_threads(before)
    return RunOutcome(run.run_dir, "completed", time.perf_counter() - t0, time.process_time() - c0,
                      summary=tuple(rows))


def skipped_outcome(run: PlannedRun) -> RunOutcome:
    """The outcome of a run complete before the sweep: its summary, read from its store."""
    from iterdeploy.simulator.store import RunReader, summarize

    with RunReader(run.run_dir) as reader:
        rows = summarize(reader)
    return RunOutcome(run.run_dir, "skipped", 0.0, summary=tuple(rows))


OnDone = Callable[[PlannedRun, RunOutcome], None]
"""Called on the driver as each run ends (in the order they end)."""


class Executor(Protocol):
    """Runs planned runs and reports each as it ends."""

    def run_all(self, runs: Sequence[PlannedRun], on_done: OnDone) -> None:
        """Run every run in ``runs``; call ``on_done`` once for each, as it ends. A run's
        failure is an outcome, not an exception; bad settings of the executor itself raise
        :class:`IterdeployError` before any run starts."""
        ...


@dataclass
class SerialExecutor:
    """One run after another in this process, with ``cpus_per_run`` torch threads each: no Ray,
    and the baseline a parallel sweep is measured against."""

    cpus_per_run: int = 1

    def run_all(self, runs: Sequence[PlannedRun], on_done: OnDone) -> None:
        """Run the runs in order."""
        for run in runs:
            on_done(run, run_one(run, self.cpus_per_run))


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        IterdeployError: One line saying how to install it, when it is not installed.
    """
    try:
        import ray
    except ImportError:
        raise IterdeployError(f"the sweep runs on Ray, which is not installed: {RAY_INSTALL_HINT}"
                              ) from None
    return ray


def _ray_task(run: PlannedRun, threads: int) -> RunOutcome:
    """The body of one Ray task (module level, so workers import it by name)."""
    return run_one(run, threads)


@dataclass
class RayExecutor:
    """One Ray task per run, each declaring ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs, so
    Ray runs as many at once as the resources allow; results are taken as they finish.

    Without ``address`` a local Ray instance is started with ``cpus`` CPUs (default: the cores
    this process may use) and shut down at the end; with ``address`` (``auto``, ``HOST:PORT`` or
    ``ray://HOST:PORT``) the sweep joins that cluster, whose nodes must have iterdeploy installed
    and see ``--out`` at the same path (a shared file system). When Ray is already initialised in
    this process (a notebook, a test), that instance is used and left running.

    Workers' output is not forwarded to the driver (``log_to_driver=False``): it would break the
    progress display; Ray keeps it in its session's log directory. A task with no GPU sees none
    (``CUDA_VISIBLE_DEVICES`` empty), so a model on ``device: auto`` does not take a GPU it did
    not declare. Ray does not retry a failed run (``max_retries=0``): rerun the sweep, which
    resumes it from its last committed generation.
    """

    cpus_per_run: int = 1
    gpus_per_run: float = 0.0
    address: str | None = None
    cpus: int | None = None
    ray: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.ray is None:
            self.ray = import_ray()
        if self.cpus_per_run < 1:
            raise IterdeployError(f"--cpus-per-run {self.cpus_per_run}: give at least 1")
        if self.gpus_per_run < 0 or (self.gpus_per_run > 1 and self.gpus_per_run % 1):
            raise IterdeployError(f"--gpus-per-run {self.gpus_per_run:g}: give 0, a fraction of "
                                  "one GPU, or a whole number")
        if self.address is not None and self.cpus is not None:
            raise IterdeployError("--cpus sets the CPUs of a local Ray instance; a cluster joined "
                                  "with --address has its own, so give one of them")
        if self.cpus is not None and self.cpus < self.cpus_per_run:
            raise IterdeployError(f"--cpus {self.cpus} is fewer than --cpus-per-run "
                                  f"{self.cpus_per_run}: no run could start")

    def _start(self) -> bool:
        """Connect or start Ray; True when this call started it (and must shut it down)."""
        ray = self.ray
        if ray.is_initialized():
            return False
        quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
        try:
            if self.address is not None:
                ray.init(address=self.address, **quiet)
            else:
                ray.init(num_cpus=self.cpus or usable_cpus(), include_dashboard=False,
                         object_store_memory=256 * 1024**2, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            raise IterdeployError(f"could not start or join {where}: {_one_line(exc)}") from None
        return True

    def _check_resources(self) -> None:
        """Refuse runs no node can hold (Ray would wait for them forever)."""
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        cpus = max((n.get("CPU", 0.0) for n in nodes), default=0.0)
        gpus = max((n.get("GPU", 0.0) for n in nodes), default=0.0)
        if self.cpus_per_run > cpus:
            raise IterdeployError(f"--cpus-per-run {self.cpus_per_run}: no Ray node has that many "
                                  f"CPUs (the largest has {cpus:g})")
        if self.gpus_per_run > gpus:
            raise IterdeployError(f"--gpus-per-run {self.gpus_per_run:g}: no Ray node has that many "
                                  f"GPUs (the largest has {gpus:g})")

    def run_all(self, runs: Sequence[PlannedRun], on_done: OnDone) -> None:
        """Submit every run as a task, report each as it finishes, cancel the rest on an
        interrupt, and shut down a Ray instance this call started."""
        ray = self.ray
        started = self._start()
        pending: list[Any] = []
        try:
            self._check_resources()
            options: dict[str, Any] = {"num_cpus": self.cpus_per_run, "num_gpus": self.gpus_per_run,
                                       "max_retries": 0}
            if not self.gpus_per_run:
                options["runtime_env"] = {"env_vars": {"CUDA_VISIBLE_DEVICES": ""}}
            task = ray.remote(_ray_task).options(**options)
            submitted = time.perf_counter()
            # absolute: a worker's working directory need not be this process's
            by_ref = {task.remote(replace(run, run_dir=run.run_dir.absolute()), self.cpus_per_run): run
                      for run in runs}
            pending = list(by_ref)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    on_done(by_ref[ref], self._outcome(ref, by_ref[ref], submitted))
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()

    def _outcome(self, ref: Any, run: PlannedRun, submitted: float) -> RunOutcome:
        try:
            outcome: RunOutcome = replace(self.ray.get(ref), run_dir=run.run_dir)
        except self.ray.exceptions.RayError as exc:  # the worker died (memory, a signal, a node)
            lines = str(exc).strip().splitlines()
            cause = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
            return RunOutcome(run.run_dir, "failed", time.perf_counter() - submitted,
                              error=f"the Ray task failed: {cause[:400]}")
        return outcome


def run_sweep(
    runs: Sequence[PlannedRun],
    executor: Executor,
    on_done: OnDone | None = None,
    *,
    pending: tuple[Sequence[PlannedRun], Sequence[PlannedRun]] | None = None,
) -> list[RunOutcome]:
    """Run a planned sweep; the outcomes in the order of ``runs``.

    Runs already complete are skipped (reported as ``skipped``, with their stored summary), the
    others handed to ``executor``; ``on_done`` hears of every run as it ends, skipped ones first.

    Args:
        pending: ``(to_run, complete)`` as :func:`pending_runs` returned them for ``runs``, when
            the caller asked already; otherwise each run directory is asked here.

    Raises:
        StoreError: Before anything runs, when a run directory holds another scenario or is
            being written (:func:`run_state`).
    """
    to_run, complete = pending if pending is not None else pending_runs(runs)
    outcomes: dict[Path, RunOutcome] = {}

    def record(run: PlannedRun, outcome: RunOutcome) -> None:
        outcomes[run.run_dir] = outcome
        if on_done is not None:
            on_done(run, outcome)

    for run in complete:
        record(run, skipped_outcome(run))
    if to_run:
        executor.run_all(to_run, record)
    return [outcomes[run.run_dir] for run in runs if run.run_dir in outcomes]
