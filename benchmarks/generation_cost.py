"""What one generation of a scenario costs: wall and CPU time per phase, and peak memory.

    python benchmarks/generation_cost.py [--scenario scenarios/quickstart.yaml] [--generations 1]
                                         [--threads N] [--decoder auto|lean|pruned|generate]
                                         [--workers N|auto] [--markdown]

Why: a user planning a study needs to know what a generation costs on their machine, and where
the time goes, before choosing task counts, K and the number of generations. The issue asks for
one full generation of the quickstart scenario.

It runs the scenario through the real loop (``iterdeploy.simulator.loop.DeploymentLoop``, the code behind
``iterdeploy run``) with ``generations`` overridden (default 1: generation 0, which evaluates,
deploys, curates, pools and trains generation 1, and generation 1, which deploys the trained
adapter and trains nothing, being the last), in a temporary run directory. The phases are timed
by wrapping the loop's own stage functions and methods, and the planner's ``train`` and ``save`` and the
store's ``commit_generation`` in place; nothing else changes. Phases:

* evaluate: sample / validate -- the fixed evaluation pool (quickstart: 96 tasks x 4 samples);
* tasks: draw + optimal lengths -- the deployment tasks, and each task row's breadth-first
  optimal plan length (tasks up to 6 blocks);
* deploy: sample / validate -- K completions per task (quickstart: 160 x 8);
* pool + training examples -- the training set from the store;
* train -- the fresh LoRA adapter (quickstart: 4 epochs, batch 16);
* save adapter -- safetensors;
* commit -- the generation's rows in one SQLite transaction;
* curate + the rest -- what is left of the generation: curation decisions, A(tau), contexts,
  social dynamics, row building.

Memory: the process's peak resident set size (``getrusage``'s ``ru_maxrss``, a running maximum
over the whole process) after each phase, and the resident size before the loop started (after
the imports), so the difference is what the run added. The model comes from the cache
(``ITERDEPLOY_CACHE``); loading it is timed separately, and pretraining it, if it is absent, would
land in that row (6-7 minutes; the table says whether it was cached).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import REPO, load_average, machine_line, print_table, progress, set_threads

import iterdeploy.simulator.loop.runner as loop_module
from iterdeploy.simulator.cli.run_cmd import parse_sets
from iterdeploy.simulator.loop import DeploymentLoop, stages
from iterdeploy.simulator.models.embedded import cache_root
from iterdeploy.simulator.models.sampling_pool import parse_workers, sample_workers
from iterdeploy.simulator.scenario import load_scenario
from iterdeploy.simulator.store import GenerationBundle, RunWriter

SETUP = -1
"""The pseudo-generation of work before generation 0 (loading the model, the evaluation pool)."""

PHASES = (
    "load model",
    "evaluate: sample",
    "evaluate: validate",
    "tasks: draw + optimal lengths",
    "deploy: sample",
    "deploy: validate",
    "curate + the rest",
    "pool + training examples",
    "train",
    "save adapter",
    "commit",
)


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    """Resident set size now, in MiB (from /proc; the peak alone hides the baseline)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Ledger:
    """Wall and CPU seconds per (generation, phase), and the peak RSS after each phase."""

    def __init__(self) -> None:
        self.generation = SETUP
        self.wall: dict[tuple[int, str], float] = defaultdict(float)
        self.cpu: dict[tuple[int, str], float] = defaultdict(float)
        self.peak: dict[tuple[int, str], float] = {}
        self.total: dict[int, tuple[float, float]] = {}

    def timed(self, phase: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` and charge its time to ``phase`` of the current generation."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return fn()
        finally:
            key = (self.generation, phase)
            self.wall[key] += time.perf_counter() - wall
            self.cpu[key] += time.process_time() - cpu
            self.peak[key] = peak_rss_mib()

    def inside(self, generation: int, phases: Sequence[str]) -> tuple[float, float]:
        """Wall and CPU seconds of ``phases`` in ``generation``."""
        return (
            sum(self.wall[(generation, p)] for p in phases),
            sum(self.cpu[(generation, p)] for p in phases),
        )


LEDGER = Ledger()
ENDS: dict[int, tuple[float, float]] = {}
"""Generation → (wall, CPU) clock when its commit returned."""


class TimedWriter(RunWriter):
    """The run store's writer, with its commit timed."""

    def commit_generation(self, bundle: GenerationBundle) -> None:
        LEDGER.timed("commit", lambda: super(TimedWriter, self).commit_generation(bundle))
        ENDS[bundle.generation.generation] = (time.perf_counter(), time.process_time())


def instrument_stages() -> None:
    """Time the loop's own stage functions in place (each wrapper calls the original)."""

    def timed(name: str, phase_of: Callable[..., str]) -> None:
        original = getattr(stages, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return LEDGER.timed(phase_of(*args, **kwargs), lambda: original(*args, **kwargs))

        setattr(stages, name, wrapper)

    timed("sample", lambda *a, description, **k: (
        "evaluate: sample" if "evaluating" in description else "deploy: sample"))
    timed("trace_rows", lambda sampled, tasks, task_ids, g, purpose, ids: (
        "evaluate: validate" if purpose == "eval" else "deploy: validate"))
    timed("task_row", lambda *a, **k: "tasks: draw + optimal lengths")
    timed("training_examples", lambda *a, **k: "pool + training examples")


class TimedLoop(DeploymentLoop):
    """The deployment loop with its task draws, pool and generations timed."""

    def _deploy_tasks(self, generation: int, exclude: Any, users: Any) -> Any:
        return LEDGER.timed(
            "tasks: draw + optimal lengths",
            lambda: super(TimedLoop, self)._deploy_tasks(generation, exclude, users),
        )

    def _pool(self, *args: Any) -> Any:
        return LEDGER.timed("pool + training examples", lambda: super(TimedLoop, self)._pool(*args))

    def _one_generation(self, writer: Any, ctx: Any, g: int, *args: Any) -> Any:
        LEDGER.generation = g
        wall, cpu = time.perf_counter(), time.process_time()
        bundle = super()._one_generation(writer, ctx, g, *args)
        inner = [p for p in PHASES if p not in ("curate + the rest", "commit", "load model")]
        measured_wall, measured_cpu = LEDGER.inside(g, inner)
        LEDGER.wall[(g, "curate + the rest")] += time.perf_counter() - wall - measured_wall
        LEDGER.cpu[(g, "curate + the rest")] += time.process_time() - cpu - measured_cpu
        LEDGER.peak[(g, "curate + the rest")] = peak_rss_mib()
        LEDGER.total[g] = (wall, cpu)  # start stamps; the end is taken after the commit
        return bundle


def instrumented_load_planner(original: Callable[..., Any], decoder: str = "auto") -> Callable[..., Any]:
    """``load_planner`` whose planner has its ``train`` and ``save`` timed, sampling with
    ``decoder`` (``HfPlanner.decoder``; ``pruned`` is the loop's path before the lean decoder)."""

    def load(*args: Any, **kwargs: Any) -> Any:
        planner = LEDGER.timed("load model", lambda: original(*args, **kwargs))
        if hasattr(planner, "decoder"):
            planner.decoder = decoder
        train, save = planner.train, planner.save
        planner.train = lambda *a, **k: LEDGER.timed("train", lambda: train(*a, **k))
        planner.save = lambda *a, **k: LEDGER.timed("save adapter", lambda: save(*a, **k))
        return planner

    return load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "quickstart.yaml")
    parser.add_argument(
        "--generations",
        type=int,
        default=1,
        help="fine-tuned generations (default 1: generation 0 trains generation 1)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default OMP_NUM_THREADS or 1)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="run directory (default: a temporary one, removed)"
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scenario override, as `iterdeploy run --set` (repeatable)",
    )
    parser.add_argument(
        "--decoder", default="auto", choices=["auto", "lean", "pruned", "generate"],
        help="how the planner samples (HfPlanner.decoder; default auto, the loop's; pruned: the "
        "transformers model with rows pruned, the path before the lean decoder)",
    )
    parser.add_argument(
        "--workers", default="auto", metavar="N|auto",
        help="sampling processes (as `iterdeploy run --workers`; default auto, one per usable CPU). "
        "Their CPU time is not in the CPU columns, which count this process only",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)

    threads = set_threads(args.threads)
    workers = parse_workers(args.workers, source="--workers")
    print(f"machine: {machine_line(threads)}; {workers} sampling process(es)", flush=True)
    spec, text = load_scenario(args.scenario, {**parse_sets(args.sets), "generations": args.generations})
    cached = (cache_root() / f"embedded-{spec.model.embedded.content_hash()}" / "config.json").is_file()
    run_dir = args.out or Path(tempfile.mkdtemp(prefix="generation-cost-")) / "run"
    print(
        f"scenario {spec.name} ({args.scenario.name}), generations 0..{spec.generations}: "
        f"{spec.evaluation.n_tasks} evaluation tasks x {spec.evaluation.samples_per_task}, "
        f"{spec.deploy.tasks_per_generation} deployment tasks x {spec.deploy.samples_per_task}, "
        f"training {spec.training.method} {spec.training.n_epochs} epochs; decoder {args.decoder}; model "
        f"{'cached' if cached else 'NOT cached: pretraining counts in load model'}; run dir {run_dir}",
        flush=True,
    )

    def phase(description: str, total: int) -> Callable[[int], None]:
        progress(description)
        return lambda n: None

    baseline = current_rss_mib()
    loop_module.load_planner = instrumented_load_planner(  # type: ignore[assignment]
        loop_module.load_planner, args.decoder
    )
    loop_module.RunWriter = TimedWriter  # type: ignore[misc]
    instrument_stages()
    start = time.perf_counter()
    with sample_workers(workers):
        summary = TimedLoop(spec, text, run_dir, phase=phase).run()
    elapsed = time.perf_counter() - start
    store_mib = sum(f.stat().st_size for f in run_dir.rglob("*") if f.is_file()) / 2**20
    if args.out is None:
        shutil.rmtree(run_dir.parent, ignore_errors=True)

    generations = sorted(LEDGER.total)
    header = ["phase"]
    for g in generations:
        header += [f"gen {g} s", f"gen {g} CPU s", f"gen {g} peak RSS MiB"]
    rows: list[list[str]] = []
    for name in PHASES:
        row = [name]
        for g in generations:
            key = (SETUP, name) if name == "load model" and g == generations[0] else (g, name)
            if key in LEDGER.peak:
                row += [f"{LEDGER.wall[key]:.1f}", f"{LEDGER.cpu[key]:.1f}", f"{LEDGER.peak[key]:,.0f}"]
            else:
                row += ["-", "-", "-"]
        rows.append(row)
    total_row = ["whole generation (first phase to commit)"]
    for g in generations:
        (wall0, cpu0), (wall1, cpu1) = LEDGER.total[g], ENDS[g]
        total_row += [f"{wall1 - wall0:.1f}", f"{cpu1 - cpu0:.1f}", f"{LEDGER.peak[(g, 'commit')]:,.0f}"]
    rows.append(total_row)
    outcome = "; ".join(
        f"gen {s.generation}: {s.solved}/{s.evaluated} evaluation tasks solved, "
        f"{s.deploy_solved}/{s.deploy_tasks} deployment tasks solved, {s.published} published"
        for s in summary
    )
    print()
    print_table(
        f"One generation of {spec.name}, phase by phase",
        header,
        rows,
        args.markdown,
        notes=[
            "load model: charged to the first generation's column; the generation total excludes it"
            + ("" if cached else " (it was NOT cached: pretraining included)"),
            f"resident memory before the loop (after imports): {baseline:,.0f} MiB; peak over the run "
            f"{peak_rss_mib():,.0f} MiB; run store on disk {store_mib:.1f} MiB",
            f"whole run {elapsed:.1f} s; load average at the end: {load_average()} (1/5/15 min)",
            outcome,
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
