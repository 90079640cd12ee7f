"""Judging plan files against PDDL files, as ``iterdeploy validate`` reports it.

Why a module of its own, outside the command-line package: the console entry point
(:mod:`iterdeploy.simulator.console`) runs a plain ``iterdeploy validate DOMAIN PROBLEM PLAN
[PROBLEM PLAN]... [--json]`` through this module without importing typer and pydantic, which cost
more than half of a call (``docs/benchmarks.md``, "``iterdeploy validate`` end to end"); the typer
command (:mod:`iterdeploy.simulator.cli.validate_cmd`) prints the same lines through it. Nothing
here imports more than the PDDL reader and the validator.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from iterdeploy.simulator.errors import IterdeployError
from iterdeploy.simulator.planning._pddl import load_task
from iterdeploy.simulator.planning._task import GroundTask
from iterdeploy.simulator.planning._validate import Verdict, validate_plan

EXIT_NEGATIVE = 1
"""Exit status when a plan is invalid (0: every plan valid; 2: input that could not be read)."""


@dataclass(frozen=True)
class Judged:
    """One plan file's verdict against its problem file."""

    problem_file: Path
    plan_file: Path
    verdict: Verdict


def read_plan(path: Path) -> str:
    """Plan file text (undecodable bytes replaced: the validator judges what it can read)."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise IterdeployError(f"{path}: cannot read the plan file ({exc.strerror or exc})") from exc


def pairs_of(problem: Path, plan: Path, more: Sequence[Path]) -> list[tuple[Path, Path]]:
    """The (problem, plan) pairs of the command line; an odd number of extra files is refused."""
    extra = list(more)
    if len(extra) % 2:
        raise IterdeployError(f"{extra[-1]}: a problem file without its plan; after DOMAIN, "
                              "give PROBLEM PLAN pairs")
    return [(problem, plan), *zip(extra[::2], extra[1::2], strict=True)]


def judge(domain: Path, pairs: Sequence[tuple[Path, Path]]) -> list[Judged]:
    """Every pair's verdict; the domain is read once, each problem once.

    Raises:
        IterdeployError: a file cannot be read or is not well-formed PDDL (the message names it).
    """
    tasks: dict[Path, GroundTask] = {}
    judged: list[Judged] = []
    for problem_file, plan_file in pairs:
        if problem_file not in tasks:
            tasks[problem_file] = load_task(domain, problem_file)
        verdict = validate_plan(tasks[problem_file], read_plan(plan_file))
        judged.append(Judged(problem_file, plan_file, verdict))
    return judged


def verdict_lines(verdict: Verdict) -> list[str]:
    """A verdict as the command prints it: the verdict, then what failed, then ignored lines."""
    if verdict.is_valid:
        lines = [f"valid: {verdict.plan_length} step(s) reach the goal"]
    else:
        lines = [f"invalid ({verdict.status}): {verdict.message}"]
        if verdict.unmet_preconditions:
            lines.append("  unmet preconditions: " + " ".join(verdict.unmet_preconditions))
        if verdict.unmet_goals:
            lines.append("  unmet goals: " + " ".join(verdict.unmet_goals))
    if verdict.ignored_lines:
        lines.append(f"  ignored {len(verdict.ignored_lines)} line(s): "
                     + " | ".join(line[:60] for line in verdict.ignored_lines))
    return lines


def report(domain: Path, judged: Sequence[Judged], *, as_json: bool) -> tuple[str, int]:
    """What the command prints (without the final newline) and its exit status."""
    several = len(judged) > 1
    if as_json:
        payloads = [{**j.verdict.to_dict(), "domain_file": str(domain), "problem_file": str(j.problem_file),
                     "plan_file": str(j.plan_file)} for j in judged]
        text = json.dumps(payloads if several else payloads[0], indent=2)
    else:
        lines: list[str] = []
        for j in judged:
            block = verdict_lines(j.verdict)
            if several:
                block[0] = f"{j.plan_file}: {block[0]}"
            lines += block
        text = "\n".join(lines)
    return text, 0 if all(j.verdict.is_valid for j in judged) else EXIT_NEGATIVE
