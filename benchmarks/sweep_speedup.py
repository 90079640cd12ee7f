"""What running a sweep on Ray gains over running the same runs one after another.

    python benchmarks/sweep_speedup.py [--runs 4] [--cpus 2] [--scenario scenarios/quickstart.yaml]
                                       [--set KEY=VALUE]... [--markdown]

Why: a curation-bias study is scenarios × seeds, hours of runs on one machine; ``iterdeploy
sweep`` runs them as Ray tasks, one CPU and one torch thread each. This measures, in one
invocation and on the same machine, the wall time of the same runs (seeds 0..N-1 of one scenario,
shrunk with ``--set`` so that each takes about a minute) run serially in this process
(:class:`iterdeploy.simulator.sweep.SerialExecutor`, the baseline) and as Ray tasks on a local Ray instance
with ``--cpus`` CPUs (:class:`iterdeploy.simulator.sweep.RayExecutor`), both through
:func:`iterdeploy.simulator.sweep.run_sweep`, the code behind ``iterdeploy sweep``, each into fresh
temporary run directories (removed afterwards).

The Ray wall time counts everything the command would: starting the local instance, the workers'
imports, the runs, shutting it down. Both modes run with one torch thread per run. The base model
is loaded (pretrained into the cache if absent) before anything is timed. The results of the two
modes are compared run by run (the per-generation summaries): the same seeds must give the same
numbers, in or out of Ray.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import REPO, load_average, machine_line, print_table, progress, set_threads

from iterdeploy.simulator.cli.run_cmd import parse_sets
from iterdeploy.simulator.models.registry import load_planner
from iterdeploy.simulator.sweep import (
    PlannedRun,
    RayExecutor,
    RunOutcome,
    SerialExecutor,
    plan_sweep,
    run_sweep,
)

SHRINK = [
    "generations=1",
    "deploy.tasks_per_generation=48",
    "evaluation.n_tasks=32",
]
"""The default shrink of the quickstart: generation 0 (evaluate 32 tasks × 4 samples, deploy
48 × 8, train) and generation 1 (the same with the adapter), about a minute with one thread."""


def timed_sweep(runs: list[PlannedRun], executor: SerialExecutor | RayExecutor,
                label: str) -> tuple[float, list[RunOutcome], str]:
    """Wall seconds of the sweep, its outcomes and the load average before → after."""
    before = load_average()

    def done(run: PlannedRun, outcome: RunOutcome) -> None:
        progress(f"{label}: {run.run_dir.name} {outcome.status} in {outcome.wall_s:.1f}s"
                 + (f" ({outcome.error})" if outcome.error else ""))

    start = time.perf_counter()
    outcomes = run_sweep(runs, executor, done)
    wall = time.perf_counter() - start
    return wall, outcomes, f"{before} → {load_average()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "quickstart.yaml")
    parser.add_argument("--runs", type=int, default=4, help="runs: seeds 0..N-1 (default 4)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--set", dest="sets", action="append", default=None, metavar="KEY=VALUE",
                        help=f"scenario override (repeatable; default: {' '.join(SHRINK)})")
    parser.add_argument("--ray-first", action="store_true",
                        help="time the Ray sweep before the serial one (default: serial first)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)

    threads = set_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the Ray workers
    print(f"machine: {machine_line(threads, ('torch', 'transformers', 'peft', 'ray'))}", flush=True)
    sets = parse_sets(args.sets if args.sets is not None else SHRINK)
    root = Path(tempfile.mkdtemp(prefix="sweep-speedup-"))
    seeds = list(range(args.runs))
    serial_runs = plan_sweep([args.scenario], seeds, sets=sets, out=root / "serial")
    ray_runs = plan_sweep([args.scenario], seeds, sets=sets, out=root / "ray")
    spec = serial_runs[0].spec
    print(f"scenario {spec.name} ({args.scenario.name}) with {' '.join(args.sets or SHRINK)}: "
          f"{args.runs} runs (seeds 0-{args.runs - 1}), generations 0..{spec.generations}, "
          f"{spec.evaluation.n_tasks} evaluation tasks x {spec.evaluation.samples_per_task}, "
          f"{spec.deploy.tasks_per_generation} deployment tasks x {spec.deploy.samples_per_task}",
          flush=True)
    progress("loading the base model (pretrained into the cache if absent; not timed)")
    load_planner(spec.model.name, embedded_spec=spec.model.embedded, device=spec.model.device,
                 dtype=spec.model.dtype)
    modes = {
        "serial": lambda: timed_sweep(serial_runs, SerialExecutor(1), "serial"),
        "ray": lambda: timed_sweep(ray_runs, RayExecutor(cpus_per_run=1, cpus=args.cpus),
                                   f"ray ({args.cpus} CPUs)"),
    }
    try:
        timed = {mode: modes[mode]() for mode in (("ray", "serial") if args.ray_first
                                                  else ("serial", "ray"))}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    (serial_wall, serial_out, serial_load), (ray_wall, ray_out, ray_load) = (timed["serial"],
                                                                             timed["ray"])

    def row(mode: str, wall: float, outcomes: list[RunOutcome], load: str) -> list[str]:
        ok = [o for o in outcomes if o.status == "completed"]
        mean = sum(o.wall_s for o in ok) / len(ok) if ok else float("nan")
        cpu = sum(o.cpu_s for o in ok)
        return [mode, f"{len(ok)}/{len(outcomes)}", f"{wall:.0f}", f"{mean:.0f}",
                f"{cpu / len(ok) if ok else float('nan'):.0f}", f"{cpu / wall:.2f}",
                f"{60 * len(ok) / wall:.2f}", f"{serial_wall / wall:.2f}x", load]

    same = all(a.summary == b.summary for a, b in zip(serial_out, ray_out, strict=True))
    print_table(
        f"Sweep of {args.runs} runs: serial vs Ray ({args.cpus} CPUs, 1 CPU and 1 torch thread "
        "per run)",
        ["mode", "runs completed", "wall s", "mean run wall s", "mean run CPU s",
         "cores used", "runs/min", "speedup",
         "load average (1/5/15 min) before → after"],
        [row("serial (--serial)", serial_wall, serial_out, serial_load),
         row(f"Ray, {args.cpus} CPUs", ray_wall, ray_out, ray_load)],
        args.markdown,
        notes=[
            "wall s: the whole sweep, for Ray including starting the local instance, the "
            "workers' imports and shutting it down; mean run wall s: one run inside its process "
            "(loading the cached model, the generations, the commits); mean run CPU s: the CPU "
            "time of that process meanwhile, every thread; cores used: the runs' CPU seconds "
            "over the sweep's wall seconds, the share of the machine the sweep got",
            f"order: {' then '.join(timed)}",
            f"same per-generation results in both modes, run by run: {'yes' if same else 'NO'}",
        ],
    )
    return 0 if same and all(o.status == "completed" for o in serial_out + ray_out) else 1


if __name__ == "__main__":
    raise SystemExit(main())
