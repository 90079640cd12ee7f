"""The optimal plan lengths the run store records for a fixed pool: a time limit against an
expansion budget.

    python benchmarks/pool_optima.py --domain rovers --min-size 5 --max-size 10 [--tasks 120]
        [--generations 5] [--seed 0] [--markdown]

Why: every task the loop stores carries its optimal plan length where the reference planner
proves it cheaply (``optimal_length``; the adversarial users and the auditors read it). Until
8 December 2026 that meant Fast Downward's optimal configuration under a two-second wall-clock
limit, after a breadth-first search of up to 200 states in Python (8 s for a 4-box Sokoban task,
whose every state grounds ~900 actions), run again for every task of the fixed pool in every
generation. So (a) a run spent
minutes a generation on it in Rovers and Sokoban, and (b) what it stored depended on how busy the
machine was: the same Sokoban pool stored 137 unknown optima in one run and 135 in another.
Now (``iterdeploy.simulator.loop.task_supply.optimal_lengths``) a task's optimum counts when the
search proves it within an expansion budget per domain, each task is searched once per process,
and the searches run side by side, one per usable CPU.

The pool is drawn as a fixed pool is (sizes uniform in the range, ``draw_generated``, the same
seed). Rows:

* **before**: each task searched in turn under the two-second limit, as one generation did;
  the whole run repeated it in each of its ``--generations`` + 1 generations (the "per run"
  column multiplies, it does not rerun);
* **now**: ``optimal_lengths`` on the same tasks, twice with its memory cleared between, to
  show the answers are the same; a third call, with the memory kept, is what every later
  generation of a run pays.

Proven optima agree wherever both ways prove one (an optimum is an optimum); the table says
how many each way proves.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import load_average, machine_line, print_table, progress

from iterdeploy.simulator.loop import task_supply
from iterdeploy.simulator.planning import domain_path, optimal_length
from iterdeploy.simulator.users.spec import TaskDistributionSpec

OLD_TIME_LIMIT_S = 2.0
"""The wall-clock limit per task before the expansion budget."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", default="rovers")
    parser.add_argument("--min-size", type=int, default=5)
    parser.add_argument("--max-size", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=120, help="pool size (default 120)")
    parser.add_argument("--generations", type=int, default=5, help="a run's generations after 0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--before-tasks", type=int, default=None,
                        help="time the old way on the first N tasks only, and scale to the pool "
                             "(default: every task)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)

    start_load = load_average()
    spec = TaskDistributionSpec.model_validate({args.domain: {"min": args.min_size, "max": args.max_size}})
    generated = task_supply.draw_generated(np.random.default_rng(args.seed), args.tasks, spec, "pool", set())
    tasks = [g.task for g in generated]
    domain_file = domain_path(args.domain)

    timed_before = tasks[: args.before_tasks] if args.before_tasks else tasks
    progress(f"before: {len(timed_before)} tasks, {OLD_TIME_LIMIT_S:g} s each at most, in turn")
    t0 = time.perf_counter()
    before = [optimal_length(task, domain_file, time_limit_s=OLD_TIME_LIMIT_S, bfs_nodes=200)
              for task in timed_before]
    before_s = (time.perf_counter() - t0) * len(tasks) / len(timed_before)

    now_runs: list[tuple[list[int | None], float]] = []
    for attempt in range(2):
        task_supply.forget_optima()
        progress(f"now, call {attempt + 1} of 2 (memory cleared)")
        t0 = time.perf_counter()
        now_runs.append((task_supply.optimal_lengths(tasks), time.perf_counter() - t0))
    t0 = time.perf_counter()
    again = task_supply.optimal_lengths(tasks)
    again_s = time.perf_counter() - t0
    (now, now_s), (second, second_s) = now_runs

    n_gens = args.generations + 1
    both = [(b, n) for b, n in zip(before, now, strict=False) if b is not None and n is not None]
    n_timed = len(timed_before)
    scaled = "" if n_timed == len(tasks) else f" ({n_timed} of {len(tasks)} tasks timed, scaled)"
    budget = task_supply.OPTIMAL_LENGTH_BUDGETS.get(args.domain, task_supply.OPTIMAL_LENGTH_DEFAULT_BUDGET)
    rows = [
        [f"before: breadth-first search to 200 states, then a {OLD_TIME_LIMIT_S:g} s wall-clock limit, "
         f"in turn, every generation{scaled}",
         f"{sum(b is not None for b in before)} of {len(timed_before)}", f"{before_s:.1f}",
         f"{before_s * n_gens:.0f}"],
        [f"now: {budget.expansions:,} expansions ({budget.cpu_s:g} CPU s), side by side, once per run",
         str(sum(n is not None for n in now)), f"{now_s:.1f}", f"{now_s + again_s * args.generations:.0f}"],
        ["now: the same, memory cleared (second call)", str(sum(n is not None for n in second)),
         f"{second_s:.1f}", "-"],
        ["now: a later generation of the run (memory kept)", str(sum(n is not None for n in again)),
         f"{again_s:.3f}", "-"],
    ]
    notes = [
        machine_line(1, ()),
        f"{args.domain} {args.min_size}-{args.max_size}, {len(tasks)} tasks drawn with seed {args.seed}; "
        f"a run of {n_gens} generations; load average {start_load} at the start, {load_average()} at the end",
        f"the two calls with the memory cleared give the same answers: {'yes' if now == second else 'NO'}",
        f"optima proven both ways: {len(both)}, equal in {sum(b == n for b, n in both)}; the new way proves "
        f"{sum(n is not None for n in now[:n_timed])} of the {n_timed} tasks the old way was timed on",
    ]
    print_table("Optimal plan lengths of a fixed pool", ["way", "proven", "seconds", "per run, s"], rows,
                args.markdown, notes)
    return 0 if now == second and all(b == n for b, n in both) else 1


if __name__ == "__main__":
    raise SystemExit(main())
