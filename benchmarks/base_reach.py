"""How far an embedded base model reaches: valid samples per task size, before any deployment.

    python benchmarks/base_reach.py [--set pretrain_detour_share=0.3]... [--domain blocksworld]
                                    [--param grid_size=13]... [--tasks 20] [--samples 8]
                                    [--min-size 3] [--max-size 10] [--temperature 1.0] [--markdown]

Why: the loop can only amplify what the base model sometimes does, so a base's reach (the sizes at
which some samples are valid) bounds how far the deployment loop can push the frontier. This
pretrains the base for the recipe given (cached like any base, under ``ITERDEPLOY_CACHE``), then
samples ``--samples`` completions at ``--temperature`` (default 1.0) for ``--tasks`` random
tasks of ``--domain`` per size (its main size parameter: blocks, waypoints, boxes; ``--param``
fixes another generator parameter, such as Sokoban's ``grid_size``), the same tasks for every
recipe (seeded by ``--seed``), and counts
valid samples, solved tasks and the longest valid plan per size, and the samples whose very first
action cannot be taken (the task misread before the model wrote any state of its own); for
Rovers, the tasks solved by how many rovers they have and whether one can do the work alone,
and the samples whose first failing step gives a job to a rover without the equipment for it.
``docs/model-card.md`` records the recipes compared.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import load_average, machine_line, print_table, progress, set_threads
from _rovers_teams import KINDS, gives_job_to_unequipped_rover, team_kind

from iterdeploy.simulator.models.embedded import EmbeddedModelSpec, ensure_base
from iterdeploy.simulator.models.hf_planner import HfPlanner
from iterdeploy.simulator.models.task_format import CompactTaskFormat
from iterdeploy.simulator.planning import GroundTask, validate_plan
from iterdeploy.simulator.planning.blocksworld import generate_task
from iterdeploy.simulator.planning.generators import generate_sized, main_param


def parse_recipe(pairs: list[str]) -> EmbeddedModelSpec:
    """``name=value`` pairs (values read as YAML scalars) over the default recipe."""
    import yaml

    fields: dict[str, object] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair!r}: expected name=value, e.g. pretrain_detour_share=0.3")
        fields[name.strip()] = yaml.safe_load(value)
    return EmbeddedModelSpec(**fields)


def parse_params(pairs: list[str]) -> dict[str, int]:
    """``name=value`` pairs of whole numbers: generator parameters besides the size."""
    params: dict[str, int] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise SystemExit(f"--param {pair!r}: expected name=whole number, e.g. grid_size=13")
        params[name.strip()] = int(value)
    return params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a recipe field of EmbeddedModelSpec (repeatable)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="another generator parameter of every task, e.g. grid_size=13 "
                             "(repeatable; default: the generator's own for the size)")
    parser.add_argument("--tasks", type=int, default=20, help="tasks per size (default 20)")
    parser.add_argument("--samples", type=int, default=8, help="samples per task (default 8)")
    parser.add_argument("--domain", default="blocksworld",
                        help="blocksworld, rovers or sokoban (default blocksworld)")
    parser.add_argument("--min-size", "--min-blocks", dest="min_size", type=int, default=3,
                        help="smallest size of the domain's main parameter (default 3)")
    parser.add_argument("--max-size", "--max-blocks", dest="max_size", type=int, default=10)
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    parser.add_argument("--max-new-tokens", type=int, default=320, help="the scenario's limit")
    parser.add_argument("--seed", type=int, default=123, help="seed of the tasks (default 123)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)

    threads = set_threads(args.threads)
    print(f"machine: {machine_line(threads)}", flush=True)
    spec = parse_recipe(args.set)
    params = parse_params(args.param)
    if params and args.domain == "blocksworld":
        raise SystemExit("--param: a Blocksworld task has no parameter besides its size")
    if args.domain not in spec.domains():  # before minutes of pretraining
        raise SystemExit(f"--domain {args.domain}: this base plans {', '.join(spec.domains())}; "
                         f"add it with --set 'pretrain_domains={{{args.domain}: {{max_size: 3}}}}'")
    if spec.per_domain:  # a model per domain: only this domain's base is probed (and pretrained)
        spec = spec.split()[args.domain]
    progress(f"base {spec.content_hash()} (pretrained first if not cached)")
    start = time.perf_counter()
    every = max(1, spec.pretrain_steps // 20)

    def pretraining(step: int, loss: float) -> None:  # a long recipe is not silent for an hour
        done = step + 1  # steps count from 0
        if done % every == 0:
            progress(f"  pretraining step {done}/{spec.pretrain_steps}, loss {loss:.3f}")

    planner = HfPlanner(ensure_base(spec, on_step=pretraining), device="cpu")
    progress(f"  ready in {time.perf_counter() - start:.0f} s")
    fmt = CompactTaskFormat()
    rng = np.random.default_rng(args.seed)
    rows = []

    def task(size: int, i: int) -> GroundTask:
        if args.domain == "blocksworld":  # the tasks every earlier measurement used
            return generate_task(size, rng, name=f"reach-{size}-{i}")
        return generate_sized(args.domain, size, rng, name=f"reach-{size}-{i}", params=params).task

    unit = "blocks" if args.domain == "blocksworld" else main_param(args.domain).removeprefix("n_")
    for size in range(args.min_size, args.max_size + 1):
        tasks = [task(size, i) for i in range(args.tasks)]
        sampled = planner.sample([fmt.prompt(t) for t in tasks], n=args.samples, temperature=args.temperature,
                                 max_new_tokens=args.max_new_tokens, seed=size)
        verdicts = [[validate_plan(t, fmt.extract(c.text, t)[0]) for c in comps]
                    for t, comps in zip(tasks, sampled, strict=True)]
        valid = [v for per_task in verdicts for v in per_task if v.is_valid]
        solved = sum(any(v.is_valid for v in per_task) for per_task in verdicts)
        first = sum(v.status == "invalid_step" and v.failed_step == 0
                    for per_task in verdicts for v in per_task)
        rows.append([str(size), f"{len(valid)}/{args.tasks * args.samples}", f"{solved}/{args.tasks}",
                     str(max((v.plan_length for v in valid), default=0) or "-"),
                     f"{first}/{args.tasks * args.samples}"])
        if args.domain == "rovers":  # which rover counts the base can handle (_rovers_teams)
            kinds = [team_kind(t) for t in tasks]
            won = [any(v.is_valid for v in per_task) for per_task in verdicts]
            wrong = [sum(gives_job_to_unequipped_rover(v.status, v.unmet_preconditions) for v in per_task)
                     for per_task in verdicts]
            rows[-1].append(" · ".join(
                f"{kind} {sum(w for k, w in zip(kinds, won, strict=True) if k == kind)}/{kinds.count(kind)}"
                for kind in KINDS if kind in kinds))
            rows[-1].append(" · ".join(
                f"{kind} {sum(w for k, w in zip(kinds, wrong, strict=True) if k == kind)}"
                f"/{kinds.count(kind) * args.samples}" for kind in KINDS if kind in kinds))
        progress(f"  {size} {unit}: {rows[-1][1]} valid samples")
    print()
    print_table(
        f"Reach of the embedded base {spec.content_hash()} on {args.domain}",
        [unit, "valid samples", "solved tasks", "longest valid plan", "first action fails",
         *(["solved tasks by rovers", "samples giving a job to an unequipped rover"]
           if args.domain == "rovers" else [])],
        rows,
        args.markdown,
        notes=[
            f"recipe changes: {', '.join(args.set) or 'none (the default)'}; "
            f"task parameters: {', '.join(args.param) or 'the generator defaults'}; {args.samples} samples "
            f"at temperature {args.temperature} for {args.tasks} tasks per size, task seed {args.seed}",
            f"load average at the end: {load_average()} (1/5/15 min)",
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
