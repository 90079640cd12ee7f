"""The paper's experiment, run and reported: ``docs/results.md`` and its plots, from the run stores.

    python benchmarks/paper_results.py                       # run what is missing, then report
    python benchmarks/paper_results.py --arms quickstart --seeds 0 1 2
    python benchmarks/paper_results.py --report-only         # rewrite the doc from the stores

Why a script: every number and plot in ``docs/results.md`` (and the README's quickstart table)
must come from run stores, so that anyone can rerun it and get the same document. Each arm is a
scenario file with optional overrides; runs go through the same code as ``iterdeploy run``
(:func:`iterdeploy.simulator.loop.run_scenario`) into ``RUNS/<arm>/seed<seed>``, and a run directory that
exists is resumed, so an interrupted study redoes only what is missing and a finished run is
never run twice. The report reads every run directory it finds for the arms it knows, and says
which seeds each arm has.

Counting follows the paper: a task is solved in a generation when one of its samples is valid;
with ``deploy.pool: fixed`` it is counted on the pool every generation meets again (the
"pool"), and the evaluation pool, never deployed or trained on, is the held-out check.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import REPO, load_average, machine_line, markdown_table, progress, set_threads
from _rovers_teams import KINDS, NEEDS_TWO, ONE_SUFFICES, solved_by_team, unequipped_by_team
from _sokoban_states import restated_by_size

from iterdeploy.simulator.loop import run_scenario
from iterdeploy.simulator.loop.task_supply import reference_plan
from iterdeploy.simulator.planning import load_stored_task
from iterdeploy.simulator.scenario import load_scenario
from iterdeploy.simulator.store import (
    FIRST_STEP,
    GenerationSummary,
    RunReader,
    deploy_status_by_size,
    solved_by_size,
    summarize,
    valid_deploy_samples,
)

DOC = REPO / "docs" / "results.md"
KEPT = REPO / "docs" / "results-runs.json"
"""Every reported run's summary, as read from its store: the stores are large and stay out of
git, so a machine without them (a fresh clone, a session whose scratch space was wiped) still
regenerates the whole document, and a run that is stored here is never run again to report it."""
README = REPO / "README.md"
README_BEGIN = "<!-- results:quickstart -->"
README_END = "<!-- /results:quickstart -->"


@dataclass(frozen=True)
class Arm:
    """One condition of the study: a scenario, overrides, and what it tests."""

    name: str
    scenario: str
    overrides: dict[str, Any] = field(default_factory=dict)
    about: str = ""


QUICKSTART = "scenarios/quickstart.yaml"
UNSETTLED: dict[str, Any] = {"model.embedded.pretrain_domains.sokoban.params": {}}
"""Sokoban's corpus as it was until 7 December 2026: no boxes settled on their goals."""
PLAIN_ROVERS: dict[str, Any] = {"model.embedded.pretrain_domains.rovers.params": {}}
"""Rovers' corpus as it was until 7 December 2026: IPC's equipment draw, two rovers only at its
last size."""
ARMS: tuple[Arm, ...] = (
    Arm("quickstart", QUICKSTART, {},
        "the paper's curation (keep valid plans, the shortest per task), data accumulate, a fresh "
        "adapter per generation"),
    Arm("no-curation", QUICKSTART,
        {"users": [{"name": "publish_everything", "policy": "accept_all"}],
         "declared_objective": "none"},
        "ablation: every sample is published, valid or not"),
    Arm("keep-every-valid", QUICKSTART,
        {"users": [{"name": "validators", "policy": {"stages": ["validity"], "select": "all"}}],
         "declared_objective": {"stages": ["validity"], "select": "all"}},
        "ablation: every valid plan is kept, not only the shortest per task"),
    Arm("replace", QUICKSTART, {"pool.mode": "replace"},
        "ablation: each generation trains only on the latest generation's published data"),
    Arm("full-finetune", QUICKSTART, {"training.method": "full", "training.lr": 1.0e-3},
        "training: every weight fine-tuned from the base each generation, not a LoRA adapter"),
    Arm("replay", QUICKSTART, {"pool.reference_share": 0.5, "pool.reference_sizes": "pretraining"},
        "training: part of the base's corpus replayed (reference plans of its pretraining sizes, "
        "2-4 blocks), half as many as the published traces"),
    Arm("newest-x3", QUICKSTART, {"training.newest_weight": 3},
        "training: the newest generation's published traces count three times"),
    Arm("chained", QUICKSTART, {"training.mode": "chained"},
        "training: each generation's adapter continues the previous generation's, on everything "
        "published so far, instead of a fresh adapter on the base (self-improvement rounds on "
        "small transformers are chained so, Lee et al. 2025)"),
    Arm("chained-newest-x3", QUICKSTART, {"training.mode": "chained", "training.newest_weight": 3},
        "training: chained, and the newest generation's traces count three times (Lee et al. "
        "give the newest round half the sampling mass)"),
    Arm("generator-towers", QUICKSTART, {"model.embedded.pretrain_new_tower_chance": [0.5, 0.5]},
        "base: the default until 7 December 2026 (`e7d7ddf5ecdde358`), its Blocksworld corpus "
        "drawn with the generator's towers (a new tower at chance 0.5, as in every deployment "
        "task) rather than taller ones"),
    Arm("rovers", "scenarios/paper_rovers.yaml", {},
        "the quickstart's curation on Rovers (5-10 waypoints), with a base pretrained on Rovers "
        "alone, its corpus giving every task one or two rovers, each equipment kind on exactly one "
        "of them (`split_equipment`), so that a two-rover task often needs both and the plan must "
        "pick the rover by its equipment (`83609158865a4cb7`)"),
    Arm("rovers-epochs8", "scenarios/paper_rovers.yaml", {"training.n_epochs": 8},
        "training on Rovers: eight passes over the published traces each generation instead of "
        "four"),
    Arm("rovers-from6", "scenarios/paper_rovers.yaml", {"domains.rovers": {"min": 6, "max": 10}},
        "pool: 6-10 waypoints, without the 5-waypoint tasks the base already solves all but a few "
        "of (the held-out tasks too); same base and training"),
    Arm("rovers-plain", "scenarios/paper_rovers.yaml", PLAIN_ROVERS,
        "base: the Rovers recipe until 7 December 2026 (`5ada876de95ed8e8`), IPC's equipment draw "
        "and two rovers only at the corpus's last size: it almost never solves a task that needs "
        "both rovers"),
    Arm("rovers-plain-chained", "scenarios/paper_rovers.yaml",
        {**PLAIN_ROVERS, "training.mode": "chained"},
        "training on Rovers, on the plain base: each generation's adapter continues the previous "
        "generation's (the arm that gained most on Blocksworld, seed 0)"),
    Arm("rovers-plain-replay", "scenarios/paper_rovers.yaml",
        {**PLAIN_ROVERS, "pool.reference_share": 0.5, "pool.reference_sizes": "pretraining"},
        "training on Rovers, on the plain base: part of the base's corpus replayed (reference "
        "plans of 2-4 waypoints), half as many as the published traces"),
    Arm("sokoban", "scenarios/paper_sokoban.yaml", {},
        "the quickstart's curation on Sokoban (2-4 boxes), with a base pretrained on Sokoban "
        "alone, its corpus holding 0-2 more boxes that start on their goals (`n_settled`), so the "
        "model writes states of up to five boxes while it learns to push up to three "
        "(`9328a190f4ab6eec`)"),
    Arm("sokoban-chained", "scenarios/paper_sokoban.yaml", {"training.mode": "chained"},
        "training on Sokoban: each generation's adapter continues the previous generation's "
        "(the arm that gained most on Blocksworld's pool, seed 0)"),
    Arm("sokoban-replay", "scenarios/paper_sokoban.yaml",
        {"pool.reference_share": 0.5, "pool.reference_sizes": "pretraining"},
        "training on Sokoban: part of the base's corpus replayed (reference plans of 1-2 boxes "
        "to push and 0-2 settled, drawn as the corpus draws them), half as many as the published "
        "traces (the arm whose held-out gain was largest on Blocksworld, seed 0)"),
    Arm("sokoban-epochs8", "scenarios/paper_sokoban.yaml", {"training.n_epochs": 8},
        "training on Sokoban: eight passes over the published traces each generation instead of "
        "four (a generation's training set is small, 35-130 traces)"),
    Arm("sokoban-epochs16", "scenarios/paper_sokoban.yaml", {"training.n_epochs": 16},
        "training on Sokoban: sixteen passes over the published traces each generation instead "
        "of four"),
    Arm("sokoban-samples16", "scenarios/paper_sokoban.yaml", {"deploy.samples_per_task": 16},
        "exploration on Sokoban: 16 samples per pool task each generation instead of 8 "
        "(generation 0 counts with 16 too, so it starts higher)"),
    Arm("sokoban-from3", "scenarios/paper_sokoban.yaml",
        {"domains.sokoban": {"min": 3, "max": 4}},
        "pool: 3-4 boxes, without the 2-box tasks the base solves most of (the held-out tasks "
        "too); same base and training"),
    Arm("sokoban-unsettled", "scenarios/paper_sokoban.yaml", UNSETTLED,
        "base: the Sokoban recipe until 7 December 2026 (`979398c347cb86ad`), no settled boxes in "
        "its corpus: stronger at 2-3 boxes, no valid plan at 4"),
    Arm("sokoban-unsettled-replay", "scenarios/paper_sokoban.yaml",
        {**UNSETTLED, "pool.reference_share": 0.5, "pool.reference_sizes": "pretraining"},
        "training on Sokoban, on the base without settled boxes: part of the base's corpus "
        "replayed (reference plans of 1-2 boxes), half as many as the published traces (the arm "
        "whose held-out gain was largest on Blocksworld, seed 0, and Sokoban's held-out fell "
        "without it)"),
    Arm("three-domain", "scenarios/paper_blocksworld_rovers_sokoban.yaml", {},
        "the paper's main experiment: the quickstart's curation on Blocksworld (7-12 blocks), "
        "Rovers (5-10 waypoints) and Sokoban (2-4 boxes) in one pool of 150 tasks, each domain on "
        "its own base (the quickstart's, the `rovers` arm's and the `sokoban` arm's)"),
    Arm("three-domain-400", "scenarios/paper_blocksworld_rovers_sokoban.yaml",
        {"deploy.tasks_per_generation": 400},
        "pool: 400 tasks instead of 150, about 133 per domain (each domain's own arm deploys "
        "160 Blocksworld, 120 Rovers or 120 Sokoban tasks), so each base is fine-tuned on about "
        "as many published traces as in its own arm"),
)
ARM_BY_NAME = {a.name: a for a in ARMS}


def run_dir(runs: Path, arm: Arm, seed: int) -> Path:
    """Where ``arm`` at ``seed`` is stored."""
    return runs / arm.name / f"seed{seed}"


def tenths(description: str, total: int) -> Callable[[int], None]:
    """A progress phase for a log file: a base's pretraining (thousands of steps, an hour or more
    for the Rovers and Sokoban bases) says how far it is at every tenth; the generations' own
    phases (a few hundred to 1,280 samples or steps) stay silent, their ends are logged."""
    done = [0]

    def advance(n: int) -> None:
        before, done[0] = done[0], done[0] + n
        if total >= 1500 and before * 10 // total < done[0] * 10 // total:
            progress(f"  {description}: {done[0]}/{total}")

    return advance


def run_arm(runs: Path, arm: Arm, seed: int) -> None:
    """Run (or resume) one arm at one seed."""
    spec, text = load_scenario(REPO / arm.scenario, overrides={**arm.overrides, "seed": seed})
    start = time.perf_counter()
    progress(f"{arm.name} seed {seed} → {run_dir(runs, arm, seed)}")
    run_scenario(spec, text, run_dir(runs, arm, seed), log=lambda msg: progress(f"  {msg}"),
                 phase=tenths)
    progress(f"  done in {time.perf_counter() - start:.0f} s")


@dataclass(frozen=True)
class ArmRun:
    """The summary of one finished run."""

    arm: Arm
    seed: int
    rows: list[GenerationSummary]
    fixed_pool: bool
    planned: int
    """Generations the scenario asks for (a run still going, or stopped, has fewer rows)."""

    @property
    def short_of(self) -> str:
        """``to gen 2 of 5`` for a run with fewer generations than planned, else empty."""
        done = self.rows[-1].generation
        return "" if done >= self.planned else f"to gen {done} of {self.planned}"

    @property
    def label(self) -> str:
        """The seed, marked when the run has fewer generations than planned."""
        return f"{self.seed} ({self.short_of})" if self.short_of else str(self.seed)

    by_size: dict[tuple[int, str, int], tuple[int, int]]
    """(generation, domain, size) → (solved, tasks) on the deployment pool."""
    valid_samples: dict[int, tuple[int, int]]
    """generation → (valid samples, samples) on the deployment pool."""
    statuses: dict[tuple[int, str, int, str], int] = field(default_factory=dict)
    """(generation, domain, size, validator status) → deployment samples."""
    by_team: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)
    """(generation, Rovers team kind) → (solved, tasks) on the pool (:mod:`_rovers_teams`)."""
    reference_lengths: dict[str, int | None] = field(default_factory=dict)
    """Task name → the reference planner's plan length, for the fixed pool's tasks (None: no
    plan within its time limit), for the arms in ``TARGET_ARMS``; empty for the others."""
    at_reference: tuple[int, int] = (0, 0)
    """Valid pool samples of the last generation exactly as long as their task's reference plan,
    and all valid pool samples of that generation."""
    restated: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    """(generation, boxes) → (Sokoban pool samples whose first state names every box, samples
    that write a state) (:mod:`_sokoban_states`); empty for a run without Sokoban tasks."""
    unequipped: dict[tuple[int, str], tuple[int, int]] = field(default_factory=dict)
    """(generation, Rovers team kind) → (pool samples whose first failing step gives a job to a
    rover without the equipment for it, samples) (:mod:`_rovers_teams`)."""
    trained_on: dict[tuple[int, str], int] = field(default_factory=dict)
    """(generation, domain) → traces of that domain in the generation's training set (the
    published traces a generation's model is fine-tuned on; generation 0 is the base)."""
    from_store: bool = True
    """Read from its run store on this machine (False: from its summary kept in ``KEPT``)."""

    def record(self) -> dict[str, Any]:
        """This run as a JSON-able record of ``KEPT``. A summary field the kept record predates
        stays out (``exclude_unset``) rather than being written as its empty default, which
        would read as "nothing solved" for a run that was never asked."""
        return {
            "arm": self.arm.name, "seed": self.seed, "fixed_pool": self.fixed_pool,
            "planned": self.planned, "rows": [g.model_dump(exclude_unset=True) for g in self.rows],
            "by_size": [[g, d, size, solved, n]
                        for (g, d, size), (solved, n) in sorted(self.by_size.items())],
            "valid_samples": [[g, v, n] for g, (v, n) in sorted(self.valid_samples.items())],
            "statuses": [[*key, n] for key, n in sorted(self.statuses.items())],
            "by_team": [[g, kind, solved, n]
                        for (g, kind), (solved, n) in sorted(self.by_team.items())],
            "reference_lengths": sorted(self.reference_lengths.items()),
            "at_reference": list(self.at_reference),
            "restated": [[g, size, full, n] for (g, size), (full, n) in sorted(self.restated.items())],
            "unequipped": [[g, kind, wrong, n]
                           for (g, kind), (wrong, n) in sorted(self.unequipped.items())],
            "trained_on": [[g, d, n] for (g, d), n in sorted(self.trained_on.items())],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ArmRun:
        """A run kept in ``KEPT`` (its arm must still be one of ``ARMS``)."""
        return cls(ARM_BY_NAME[record["arm"]], int(record["seed"]),
                   [GenerationSummary.model_validate(g) for g in record["rows"]],
                   bool(record["fixed_pool"]), int(record["planned"]),
                   {(g, d, size): (solved, n) for g, d, size, solved, n in record["by_size"]},
                   {g: (v, n) for g, v, n in record["valid_samples"]},
                   {(g, d, size, status): n for g, d, size, status, n in record.get("statuses", [])},
                   {(g, kind): (solved, n) for g, kind, solved, n in record.get("by_team", [])},
                   dict(record.get("reference_lengths", [])),
                   tuple(record.get("at_reference", (0, 0))),
                   {(g, size): (full, n) for g, size, full, n in record.get("restated", [])},
                   {(g, kind): (wrong, n) for g, kind, wrong, n in record.get("unequipped", [])},
                   {(g, d): n for g, d, n in record.get("trained_on", [])},
                   from_store=False)


def reference_lengths(reader: RunReader) -> dict[str, int | None]:
    """Task name → the reference planner's plan length, for the generation-0 deployment pool (a
    fixed pool: every generation's tasks), None where it found none in its time limit. A
    longest-plan target needs pool tasks whose plans are that long: this says how many the pool
    holds. Seconds per run for Blocksworld, a minute for Sokoban (Fast Downward per task)."""
    rows = reader.query("SELECT name, domain AS d, problem_pddl AS pddl FROM tasks "
                        "WHERE pool = 'deploy' AND generation = 0")
    out: dict[str, int | None] = {}
    for r in rows:
        plan = reference_plan(load_stored_task(str(r["d"]), str(r["pddl"])))
        out[str(r["name"])] = None if plan is None else len(plan)
    return out


def trained_on_by_domain(reader: RunReader) -> dict[tuple[int, str], int]:
    """(generation, domain) → traces of that domain in the generation's training set: how much
    each domain's model learns from, where a run deploys several domains."""
    rows = reader.query("SELECT ts.generation AS g, k.domain AS d, COUNT(*) AS n "
                        "FROM training_sets ts JOIN traces t USING (trace_id) "
                        "JOIN tasks k ON k.task_id = t.task_id GROUP BY ts.generation, k.domain")
    return {(int(r["g"]), str(r["d"])): int(r["n"]) for r in rows}


def samples_at_reference(reader: RunReader, lengths: dict[str, int | None],
                         generation: int) -> tuple[int, int]:
    """Valid pool samples of ``generation`` exactly as long as their task's reference plan, and
    all its valid pool samples: whether the model writes the reference planner's plans."""
    rows = reader.query("SELECT k.name, t.plan_length AS n FROM traces t JOIN tasks k USING (task_id) "
                        "WHERE t.purpose = 'deploy' AND t.is_valid AND t.generation = ?", (generation,))
    return sum(1 for r in rows if lengths.get(str(r["name"])) == r["n"]), len(rows)


def read_runs(runs: Path, arms: Sequence[Arm], kept: Sequence[ArmRun] = ()) -> list[ArmRun]:
    """Every run of ``arms`` under ``runs`` with at least two committed generations (one that is
    still going, or was stopped, is reported with the generations it has, and says so). The
    reference plans' lengths of a fixed pool never change, so a kept summary's are reused."""
    known = {(r.arm.name, r.seed): r.reference_lengths for r in kept if r.reference_lengths}
    out = []
    for arm in arms:
        for seed_dir in sorted((runs / arm.name).glob("seed*"), key=lambda p: int(p.name[4:])):
            if not (seed_dir / "run.sqlite").is_file():
                continue
            with RunReader(seed_dir) as reader:
                run = reader.run()
                rows = summarize(reader)
                scenario = json.loads(run.scenario_json)
                fixed = scenario.get("deploy", {}).get("pool") == "fixed"
                by_size = solved_by_size(reader)
                valid = valid_deploy_samples(reader)
                statuses = deploy_status_by_size(reader)
                by_team = solved_by_team(reader)
                restated = restated_by_size(reader)
                unequipped = unequipped_by_team(reader)
                trained_on = trained_on_by_domain(reader)
                seed = int(seed_dir.name[4:])
                lengths = (known.get((arm.name, seed)) or reference_lengths(reader)
                           if arm.name in TARGET_ARMS and len(rows) >= 2 else {})
                at_ref = (samples_at_reference(reader, lengths, rows[-1].generation)
                          if lengths else (0, 0))
            if len(rows) >= 2:
                out.append(ArmRun(arm, seed, rows, fixed, int(scenario["generations"]), by_size,
                                  valid, statuses, by_team, lengths, at_ref, restated, unequipped,
                                  trained_on))
    return out


def read_kept(path: Path = KEPT) -> list[ArmRun]:
    """The runs whose summaries ``path`` keeps, for arms the script still knows."""
    if not path.is_file():
        return []
    records = json.loads(path.read_text(encoding="utf-8"))["runs"]
    return [ArmRun.from_record(r) for r in records if r["arm"] in ARM_BY_NAME]


def merge_runs(stored: Sequence[ArmRun], kept: Sequence[ArmRun]) -> list[ArmRun]:
    """Every run once, in ``ARMS`` then seed order: a store on this machine wins over a kept
    summary of the same arm and seed (it may have run further since)."""
    by_key = {(r.arm.name, r.seed): r for r in kept} | {(r.arm.name, r.seed): r for r in stored}
    order = {a.name: i for i, a in enumerate(ARMS)}
    return sorted(by_key.values(), key=lambda r: (order[r.arm.name], r.seed))


def write_kept(runs: Sequence[ArmRun], path: Path = KEPT) -> None:
    """Keep every reported run's summary in ``path`` (sorted, so reruns give the same file).

    Written aside and renamed into place: runs of several seeds at once each rewrite the file
    when they end, and one must never read another's half-written file."""
    about = ("Summaries of the runs behind docs/results.md, written by benchmarks/paper_results.py "
             "from their run stores, one run a line.")
    lines = ",\n".join(json.dumps(r.record(), sort_keys=True) for r in runs)
    aside = path.with_name(f"{path.name}.tmp{os.getpid()}")
    aside.write_text(f'{{"about": {json.dumps(about)},\n"runs": [\n{lines}\n]}}\n', encoding="utf-8")
    aside.replace(path)


def _ratio(a: int | None, b: int | None) -> str:
    if a is None or b is None:
        return "–"
    if a == 0:
        return "∞" if b else "–"
    return f"{b / a:.2f}x"


def _max(values: Sequence[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _gain(r: ArmRun, attr: str, *, best_later: bool = False) -> tuple[int | None, int | None]:
    """``attr`` at generation 0, and at the last generation (or, with ``best_later``, its
    largest value over the later generations: a maximum such as the longest plan moves by one
    plan between generations, so the question is whether any later generation passed it)."""
    first = getattr(r.rows[0], attr)
    if best_later:
        return first, _max([getattr(g, attr) for g in r.rows[1:]])
    return first, getattr(r.rows[-1], attr)


def headline_rows(runs: Sequence[ArmRun]) -> list[list[object]]:
    """One row per run: pool solved gen 0 → last, held-out, longest plan, largest size."""
    rows: list[list[object]] = []
    for r in runs:
        pool = _gain(r, "deploy_solved")
        held_out = _gain(r, "solved")
        longest = _gain(r, "deploy_longest_plan_length", best_later=True)
        last = r.rows[-1].generation
        valid = (r.valid_samples[0][0], r.valid_samples[last][0])
        rows.append([
            r.arm.name, r.label,
            f"{pool[0]} → {pool[1]} of {r.rows[-1].deploy_tasks}", _ratio(*pool),
            f"{held_out[0]} → {held_out[1]} of {r.rows[-1].evaluated}", _ratio(*held_out),
            f"{longest[0] or '–'} → {longest[1] or '–'}", _ratio(*longest),
            _largest_solved(r),
            f"{valid[0]} → {valid[1]} of {r.valid_samples[last][1]}", _ratio(*valid),
        ])
    return rows


HEADLINE = ["arm", "seed", "pool solved, gen 0 → last", "ratio", "held-out solved", "ratio",
            "longest valid plan (pool), gen 0 → longest later", "ratio", "largest size solved (pool)",
            "valid samples (pool), gen 0 → last", "ratio"]


def per_generation_rows(runs: Sequence[ArmRun]) -> tuple[list[str], list[list[object]]]:
    """Pool solved per generation, one column per run."""
    header = ["gen", *(f"{r.arm.name} s{r.seed}" for r in runs)]
    n = max(len(r.rows) for r in runs)
    rows = []
    for g in range(n):
        rows.append([g, *(
            f"{r.rows[g].deploy_solved} ({r.rows[g].solved})" if g < len(r.rows) else "–"
            for r in runs)])
    return header, rows


def _first_to_last(r: ArmRun, counts: Mapping[tuple[Any, ...], tuple[int, int]], *key: Any) -> str:
    """``10 → 20 of 53``: of ``counts`` (keyed by generation, then ``key``: solved and tasks),
    what ``r`` solves at generation 0 and at its last, of how many tasks; ``–`` for none."""
    first, n = counts.get((0, *key), (0, 0))
    end, _ = counts.get((r.rows[-1].generation, *key), (0, 0))
    return f"{first} → {end} of {n}" if n else "–"


def size_rows(runs: Sequence[ArmRun]) -> tuple[list[str], list[list[object]]]:
    """Pool tasks solved per size, generation 0 → last, one row per run and domain."""
    keys = sorted({(d, size) for r in runs for (_, d, size) in r.by_size})
    header = ["arm", "seed", *(f"{d} {size}" if len({k[0] for k in keys}) > 1 else str(size)
                               for d, size in keys)]
    rows: list[list[object]] = [[r.arm.name, r.label, *(_first_to_last(r, r.by_size, d, size)
                                                         for d, size in keys)] for r in runs]
    return header, rows


TeamCounts = Callable[[ArmRun], Mapping[tuple[int, str], tuple[int, int]]]
"""One of a run's counts per (generation, Rovers team kind): ``by_team`` or ``unequipped``."""


def team_rows(
    runs: Sequence[ArmRun], counts: TeamCounts = lambda r: r.by_team,
) -> tuple[list[str], list[list[object]]]:
    """Rovers pool tasks solved (``counts``: another count per team kind, such as
    ``ArmRun.unequipped``), generation 0 → last, by whether one rover can do the task alone: one
    row per run with Rovers tasks."""
    header = ["arm", "seed", *KINDS]
    rows: list[list[object]] = [[r.arm.name, r.label, *(_first_to_last(r, counts(r), kind) for kind in KINDS)]
                                for r in runs if counts(r)]
    return header, rows


def restated_rows(runs: Sequence[ArmRun]) -> tuple[list[str], list[list[object]]]:
    """Sokoban pool samples whose first state names every box, generation 0 → last, per size:
    one row per run with Sokoban tasks."""
    sizes = sorted({size for r in runs for (_, size) in r.restated})
    header = ["arm", "seed", *(f"{size} boxes" for size in sizes)]
    rows: list[list[object]] = [
        [r.arm.name, r.label, *(_first_to_last(r, r.restated, size) for size in sizes)]
        for r in runs if r.restated]
    return header, rows


def _restated_at(runs: Sequence[ArmRun], arm: str, generation: int | None = 0) -> str:
    """``0 of 328, 0 of 384``: over the seeds of ``arm``, its pool samples at the largest size
    whose first state names every box, at ``generation`` (None: the last), of those with a state."""
    parts = []
    for r in runs:
        if r.arm.name != arm or not r.restated:
            continue
        g = r.rows[-1].generation if generation is None else generation
        size = max(s for _, s in r.restated)
        full, n = r.restated.get((g, size), (0, 0))
        parts.append(f"{full} of {n}")
    return ", ".join(parts) or "no run"


def _size_gains(runs: Sequence[ArmRun], arm: str, domain: str, size: int) -> str:
    """``1 → 10 of 41, 0 → 4 of 38`` over the seeds of ``arm``: its pool tasks of ``size``
    solved at generation 0 and at the last generation."""
    return ", ".join(_first_to_last(r, r.by_size, domain, size)
                     for r in runs if r.arm.name == arm) or "no run"


def _held_out_gains(runs: Sequence[ArmRun], arm: str) -> str:
    """``19 → 18, 13 → 12 of 60`` over the seeds of ``arm``: held-out tasks solved at generation 0
    and at the last generation."""
    gains = [f"{r.rows[0].solved} → {r.rows[-1].solved}" for r in runs if r.arm.name == arm]
    evaluated = next((r.rows[0].evaluated for r in runs if r.arm.name == arm), None)
    return f"{', '.join(gains)} of {evaluated}" if gains else "no run"


def _held_out_swing(runs: Sequence[ArmRun], arms: Sequence[str]) -> int:
    """The largest change of the held-out count between consecutive generations of one run of
    ``arms``: how much of a run's held-out gain is noise."""
    return max((abs(b.solved - a.solved) for r in runs if r.arm.name in arms
                for a, b in zip(r.rows, r.rows[1:], strict=False)), default=0)


def _at_generation(runs: Sequence[ArmRun], arm: str, generation: int) -> str:
    """``35, 34 of 120`` over the seeds of ``arm``: pool tasks solved at ``generation``."""
    solved = [str(row.deploy_solved) for r in runs if r.arm.name == arm
              for row in r.rows if row.generation == generation]
    pool = next((row.deploy_tasks for r in runs if r.arm.name == arm for row in r.rows), None)
    return f"{', '.join(solved)} of {pool}" if solved else "no run"


def _team_gains(
    runs: Sequence[ArmRun], arm: str, kind: str,
    counts: TeamCounts = lambda r: r.by_team,
) -> str:
    """``10 → 20 of 53, 15 → 31 of 62`` over the seeds of ``arm``: its pool tasks of ``kind``
    solved at generation 0 and at the last generation (or another count per team kind:
    ``counts``)."""
    return ", ".join(_first_to_last(r, counts(r), kind)
                     for r in runs if r.arm.name == arm and counts(r)) or "no run"


LONGEST_TARGET = 1.5
"""The longest valid plan the targets ask of the last generations, as a multiple of generation 0's."""


def _long_enough(runs: Sequence[ArmRun], arm: str, factor: float = LONGEST_TARGET) -> str:
    """``1 of 160, 0 of 160`` over the seeds of ``arm``: its pool tasks whose reference plan is at
    least ``factor`` times generation 0's longest valid plan on the pool."""
    parts = []
    for r in runs:
        longest = r.rows[0].deploy_longest_plan_length
        if r.arm.name == arm and r.reference_lengths and longest:
            n = sum(1 for x in r.reference_lengths.values() if x is not None and x >= factor * longest)
            parts.append(f"{n} of {len(r.reference_lengths)}")
    return ", ".join(parts) or "none run"


def _at_reference(runs: Sequence[ArmRun], arm: str) -> str:
    """``525 of 553, ...`` over the seeds of ``arm``: :attr:`ArmRun.at_reference`."""
    return ", ".join(f"{a} of {n}" for r in runs if r.arm.name == arm and r.reference_lengths
                     for a, n in [r.at_reference]) or "none run"


def first_seed(runs: Sequence[ArmRun], arm: str) -> ArmRun | None:
    """The run of ``arm`` with the lowest seed (None when the arm has no run): the one the
    tables that show a single seed per arm read."""
    return min((r for r in runs if r.arm.name == arm), key=lambda r: r.seed, default=None)


STATUSES = {"valid": "valid", FIRST_STEP: "fails at its first action",
            "invalid_step": "fails at a later step", "goal_not_reached": "goal not reached",
            "unknown_object": "unknown object", "hit_token_limit": "cut by the token limit"}
"""The validator's verdicts the failure table shows, each in a column under its heading; the
rarer ones (a wrong arity, an unparseable line, an empty plan) share the last one."""


def failure_rows(runs: Sequence[ArmRun]) -> tuple[list[str], list[list[object]]]:
    """Why the pool's samples fail, per size, generation 0 → last: the first seed of each arm
    that runs the paper's protocol, since the seeds fail alike."""
    header = ["arm", "seed", "size", *STATUSES.values(), "other"]
    rows: list[list[object]] = []
    firsts = [r for arm in TARGET_ARMS if (r := first_seed(runs, arm)) is not None and r.statuses]
    for r in firsts:
        last = r.rows[-1].generation
        for d, size in sorted({(d, size) for (_, d, size, _) in r.statuses}):
            at = {(g, k): n for (g, dd, ss, k), n in r.statuses.items() if (dd, ss) == (d, size)}
            cells = [f"{at.get((0, k), 0)} → {at.get((last, k), 0)}" for k in STATUSES]
            other = [sum(n for (g, k), n in at.items() if g == gen and k not in STATUSES)
                     for gen in (0, last)]
            rows.append([r.arm.name, r.label, f"{d} {size}", *cells, f"{other[0]} → {other[1]}"])
    return header, rows


def plot(runs: Sequence[ArmRun], out: Path) -> list[str]:
    """Solved per generation (pool and held-out), every seed a line; returns the file names."""
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "iterdeploy"  # deterministic ids, as the calibration figures
    names = []
    arms = list(dict.fromkeys(r.arm.name for r in runs))
    cmap = plt.get_cmap("tab10")
    colours = {arm: cmap(i % 10) for i, arm in enumerate(arms)}
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for r in runs:
        gens = [g.generation for g in r.rows]
        c = colours[r.arm.name]
        label = r.arm.name if r.seed == min(x.seed for x in runs if x.arm == r.arm) else None
        axes[0].plot(gens, [g.deploy_solved / max(1, g.deploy_tasks) for g in r.rows], "-o",
                     color=c, ms=3, label=label)
        axes[1].plot(gens, [g.solved / max(1, g.evaluated) for g in r.rows], "-o", color=c, ms=3)
        axes[2].plot(gens, [g.deploy_longest_plan_length or 0 for g in r.rows], "-o", color=c, ms=3)
    axes[0].set_title("solved on the fixed pool (share)")
    axes[1].set_title("solved on the held-out tasks (share)")
    axes[2].set_title("longest valid plan on the pool (steps)")
    for ax in axes:
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    name = "results-solved.svg"
    fig.savefig(out / name, metadata={"Date": None})
    plt.close(fig)
    names.append(name)
    return names


TARGET_ARMS = ("quickstart", "rovers", "sokoban")
"""The arms that run the paper's protocol unchanged, one per domain: the targets apply to them."""


FLOOR_ARMS = ("rovers-from6", "sokoban-from3")
"""The Rovers and Sokoban recipes on a pool without its lowest size: the targets checked on them
too, in a table of their own, since the pool is not the scenario's."""


def target_rows(runs: Sequence[ArmRun], arms: Sequence[str] = TARGET_ARMS,
                ablation: str | None = "no-curation") -> list[list[object]]:
    """The study's targets, checked run by run for the runs of ``arms``, and the ablation's
    (pool solved does not improve) for the runs of ``ablation``: met or missed, and by how much."""
    rows: list[list[object]] = []

    def check(name: str, r: ArmRun, attr: str, want: float, kind: str,
              best_later: bool = False) -> None:
        a, b = _gain(r, attr, best_later=best_later)
        if a is None or b is None or a == 0:
            rows.append([name, r.arm.name, r.label, f"{a} → {b}", "cannot tell"])
            return
        ratio = b / a
        met = ratio >= want if kind == "ratio" else (b > a if kind == "improves" else b <= a)
        rows.append([name, r.arm.name, r.label, f"{a} → {b} ({ratio:.2f}x)", "met" if met else
                     ("missed" + (f" by {want * a - b:.0f}" if kind == "ratio" else ""))])

    for r in runs:
        if r.arm.name in arms:  # the targets hold in each domain
            check("pool solved ≥ 2x", r, "deploy_solved", 2.0, "ratio")
            check(f"longest valid plan (pool) ≥ {LONGEST_TARGET}x", r, "deploy_longest_plan_length",
                  LONGEST_TARGET, "ratio", best_later=True)
            check("held-out solved improves", r, "solved", 0.0, "improves")
        if r.arm.name == ablation:
            check("no curation: pool solved does not improve", r, "deploy_solved", 0.0, "flat")
    return rows


def _pool_ratios(runs: Sequence[ArmRun], arm: str, attr: str = "deploy_solved") -> list[float]:
    """``attr`` at the last generation over generation 0, for each seed of ``arm`` (in seed order)."""
    return [b / a for r in runs if r.arm.name == arm
            for a, b in [_gain(r, attr)] if a and b is not None]


def _valid_ratios(runs: Sequence[ArmRun], arm: str) -> list[float]:
    """Valid samples on the pool, last generation over generation 0, for each seed of ``arm``."""
    return [r.valid_samples[r.rows[-1].generation][0] / r.valid_samples[0][0]
            for r in runs if r.arm.name == arm and r.valid_samples.get(0, (0, 0))[0]]


def _listed(runs: Sequence[ArmRun], arm: str) -> str:
    """Each seed's pool ratio of ``arm``, in seed order (``1.29x, 1.45x``), a seed still short
    of its last generation marked (``1.10x (seed 1, to gen 1 of 5)``); ``not
    run``."""
    parts = []
    for r in runs:
        if r.arm.name == arm and (ratio := _pool_ratios([r], arm)):
            mark = f" (seed {r.seed}, {r.short_of})" if r.short_of else ""
            parts.append(f"{ratio[0]:.2f}x{mark}")
    return ", ".join(parts) or "not run"


def _paired(runs: Sequence[ArmRun], arm: str, recipe: str = "quickstart") -> str:
    """``arm``'s pool ratios against ``recipe``'s on the same seeds, and on how many of them it
    is ahead: ``2.34x, 1.70x (seeds 0, 3) against 2.17x, 1.70x, ahead on 1 of 2``. Paired by
    seed, since the seeds differ more than most changes of training do."""
    def by_seed(name: str) -> dict[int, float]:
        return {r.seed: ratio[0] for r in runs if r.arm.name == name and not r.short_of
                and (ratio := _pool_ratios([r], name))}

    ours, theirs = by_seed(arm), by_seed(recipe)
    seeds = sorted(set(ours) & set(theirs))
    if not seeds:
        return "not run"
    ahead = sum(ours[s] > theirs[s] for s in seeds)
    return (f"{', '.join(f'{ours[s]:.2f}x' for s in seeds)} (seed{'s' * (len(seeds) > 1)} "
            f"{', '.join(map(str, seeds))}) against {', '.join(f'{theirs[s]:.2f}x' for s in seeds)} "
            f"for the recipe, ahead on {ahead} of {len(seeds)}")


def _by_generation(runs: Sequence[ArmRun], arm: str) -> str:
    """Each seed of ``arm``'s pool solved per generation (``41, 38, 39 (seed 0); 35, 30 (seed
    1)``); ``not run``."""
    return "; ".join(f"{', '.join(str(row.deploy_solved) for row in r.rows)} (seed {r.seed})"
                     for r in runs if r.arm.name == arm) or "not run"


def _span(ratios: Sequence[float]) -> str:
    """``1.26x``, or ``4.5-5.5x`` for a range; ``not run`` when there is none."""
    if not ratios:
        return "not run"
    low, high = min(ratios), max(ratios)
    return f"{low:.2f}x" if len(ratios) == 1 else f"{low:.1f}-{high:.1f}x"


def _largest_size_failures(runs: Sequence[ArmRun], arm: str) -> str:
    """How the first seed of ``arm`` fails at its pool's largest size, in its last generation."""
    r = first_seed(runs, arm)
    if r is None or not r.statuses:
        return "not run"
    last = r.rows[-1].generation
    d, size = max({(d, size) for (_, d, size, _) in r.statuses}, key=lambda k: k[1])
    at = {k: n for (g, dd, ss, k), n in r.statuses.items() if (g, dd, ss) == (last, d, size)}
    total, cut, valid = sum(at.values()), at.get("hit_token_limit", 0), at.get("valid", 0)
    return (f"{at.get(FIRST_STEP, 0) + at.get('invalid_step', 0)} of {total} samples at {size} "
            f"({d}, seed {r.seed}, generation {last}) fail at a step, {at.get(FIRST_STEP, 0)} of "
            f"them at the plan's first action; {cut} {'is' if cut == 1 else 'are'} cut by the "
            f"token limit, {valid} {'is' if valid == 1 else 'are'} valid")


def _open_ceiling(runs: Sequence[ArmRun], arm: str) -> str:
    """The most the first seed of ``arm`` could reach without opening a size its base never
    solves: the pool's tasks of the sizes solved at all at generation 0, over those solved."""
    r = first_seed(runs, arm)
    if r is None:
        return "not run"
    at0 = {k[1:]: v for k, v in r.by_size.items() if k[0] == 0}
    reachable = sum(n for solved, n in at0.values() if solved)
    solved = sum(solved for solved, _ in at0.values())
    closed = sorted(size for (_, size), (s0, _) in at0.items() if not s0)
    return (f"the sizes its base solves at all hold {reachable} of seed {r.seed}'s "
            f"{sum(n for _, n in at0.values())} pool tasks, so without opening "
            f"{'size ' + ', '.join(map(str, closed)) if closed else 'a new size'} it could reach "
            f"at most {reachable / solved:.2f}x" if solved else "its base solves nothing")


def _lowest_sizes(r: ArmRun) -> dict[str, int]:
    """Each domain's lowest pool size in ``r`` (blocks, waypoints, boxes: a domain's own unit)."""
    lowest: dict[str, int] = {}
    for _, d, size in r.by_size:
        lowest[d] = min(size, lowest.get(d, size))
    return lowest


def _largest_solved(r: ArmRun) -> str:
    """The largest pool size solved at generation 0 and in any later generation, per domain
    when the run has several (``blocksworld 10 → 11, rovers 10 → 10``): sizes of different
    domains count different things, so one maximum over them would mean nothing."""
    domains = sorted({d for (_, d, _) in r.by_size})

    def largest(d: str, generations: Callable[[int], bool]) -> int | None:
        return _max([size for (g, dd, size), (solved, _) in r.by_size.items()
                     if dd == d and generations(g) and solved > 0])

    each = [(d, largest(d, lambda g: g == 0), largest(d, lambda g: g > 0)) for d in domains]
    text = [f"{a or '–'} → {b or '–'}" for _, a, b in each]
    if len(each) == 1:
        return text[0]
    return ", ".join(f"{d} {t}" for (d, _, _), t in zip(each, text, strict=True))


def _solved_where(r: ArmRun, generation: int, keep: Callable[[str, int], bool]) -> tuple[int, int]:
    """Pool tasks of ``r`` solved at ``generation``, and tasks, over the (domain, size) that
    ``keep`` accepts."""
    hits = [v for (g, d, size), v in r.by_size.items() if g == generation and keep(d, size)]
    return sum(s for s, _ in hits), sum(n for _, n in hits)


def _above_floor(runs: Sequence[ArmRun], arm: str) -> str:
    """``21 → 37 (1.76x), 30 → 52 (1.73x)`` over the seeds of ``arm``: its pool tasks above the
    pool's lowest size (each domain's own, in its own unit) solved at generation 0 and at the
    last generation. Read from the same runs, so the tasks of the lowest size were still
    deployed and trained on."""
    parts = []
    for r in runs:
        if r.arm.name != arm:
            continue
        floors = _lowest_sizes(r)
        (a, _), (b, _) = (_solved_where(r, g, lambda d, size, f=floors: size > f[d])
                          for g in (0, r.rows[-1].generation))
        parts.append(f"{a} → {b} ({b / a:.2f}x)" if a else f"{a} → {b}")
    return ", ".join(parts) or "not run"


def _per_domain(runs: Sequence[ArmRun], arm: str) -> str:
    """``seed 0: blocksworld 20 → 41 of 50 (2.05x), rovers ...`` over the seeds of ``arm``: its
    pool tasks of each domain solved at generation 0 and at the last generation."""
    parts = []
    for r in runs:
        if r.arm.name != arm:
            continue
        each = []
        for d in sorted({d for (_, d, _) in r.by_size}):
            (a, n), (b, _) = (_solved_where(r, g, lambda dd, _s, d=d: dd == d)
                              for g in (0, r.rows[-1].generation))
            each.append(f"{d} {a} → {b} of {n}" + (f" ({b / a:.2f}x)" if a else ""))
        parts.append(f"seed {r.label}: {', '.join(each)}")
    return "; ".join(parts) or "not run"


def _last_trained(runs: Sequence[ArmRun], arm: str, domain: str) -> str:
    """``71, 60`` over the seeds of ``arm``: traces of ``domain`` its last generation's model
    was fine-tuned on."""
    counts = [str(r.trained_on.get((r.rows[-1].generation, domain), 0))
              for r in runs if r.arm.name == arm]
    return ", ".join(counts) or "not run"


def floor_targets(runs: Sequence[ArmRun]) -> list[str]:
    """The targets on the Rovers and Sokoban recipes with the pool's lowest size left out (the
    held-out tasks too): a section of its own, empty when none of those arms has run."""
    rows = target_rows(runs, FLOOR_ARMS, ablation=None)
    if not rows:
        return []
    return [
        "The same targets with the pool's lowest size left out (Rovers 6-10 waypoints, Sokoban",
        "3-4 boxes, the held-out tasks likewise; same bases, training and curation), not the",
        "scenarios' pools: where the pool starts moves the ratio (see Where the pool starts, below).",
        "",
        *markdown_table(["target", "arm", "seed", "generation 0 → last (longest: any later)",
                         "verdict"], rows),
        "",
    ]


CHOSEN_ON = 3
"""The quickstart's recipe and its default base were chosen on seeds below this (docs/changelog.md,
7 December 2026); seeds from it on were run after the choice, as a check of it."""


def _seed_check(runs: Sequence[ArmRun]) -> list[str]:
    """The reading bullet on the seeds run after the recipe was chosen (none: no bullet)."""
    def listed(arm: str, later: bool) -> str:
        return _listed([r for r in runs if (r.seed >= CHOSEN_ON) == later], arm)

    later = [r for r in runs if r.arm.name == "quickstart" and r.seed >= CHOSEN_ON]
    if not later:
        return []
    every = _pool_ratios(runs, "quickstart")
    after = _pool_ratios(later, "quickstart")
    met = sum(ratio >= 2.0 for ratio in every)
    seeds = ", ".join(str(r.seed) for r in later)
    towers = listed("generator-towers", later=True)
    compared = (f"The earlier base (`generator-towers`) gives {towers} on the same later seeds, "
                f"against {listed('generator-towers', later=False)} on seeds 0-{CHOSEN_ON - 1}."
                if towers != "not run" else
                "The earlier base (`generator-towers`) is not run on them: its weights are not "
                "shipped, and its recipe pretrained again on another machine gives other weights "
                "(docs/changelog.md, 8 December 2026), so its later seeds would not be the same "
                "base's.")
    return [
        f"- **Seeds 0-{CHOSEN_ON - 1}, and the seeds after.** The quickstart's recipe and its default",
        f"  base were chosen on seeds 0-{CHOSEN_ON - 1} (docs/changelog.md, 7 December 2026), where",
        f"  the pool went {listed('quickstart', later=False)}. Seeds {seeds}, run after the choice",
        f"  as a check of it, give {listed('quickstart', later=True)} ({sum(after) / len(after):.2f}x",
        f"  on average): over all {len(every)} seeds",
        f"  the pool goes {_span(every)} ({sum(every) / len(every):.2f}x on average), and 2x is met",
        f"  in {met} of {len(every)}. {compared}",
    ]


def reading(runs: Sequence[ArmRun]) -> list[str]:
    """How to read the tables; its numbers are read from ``runs``, like every other one."""
    rovers, sokoban = _listed(runs, "rovers"), _listed(runs, "sokoban")
    return [
        "## How to read it, and what limits it",
        "",
        *_seed_check(runs),
        "- **Where the gains are.** The per-size table shows them: the sizes the base solves",
        "  sometimes fill up, and the first size it never solves opens; the loop moves the frontier",
        "  about one size in five generations. Sizes two or more beyond the base's reach stay almost",
        "  closed, so the pool's ceiling within five generations is set by how much of it lies within",
        "  one size of that reach.",
        "- **Where the pool starts.** A task the base solves at generation 0 counts at generation 0",
        "  and again at the last, so the more of the pool the base already solves, the nearer the",
        "  ratio stays to 1. The pools' lowest sizes: Blocksworld's 7 blocks",
        f"  {_size_gains(runs, 'quickstart', 'blocksworld', 7)}, Rovers' 5 waypoints",
        f"  {_size_gains(runs, 'rovers', 'rovers', 5)}, Sokoban's 2 boxes",
        f"  {_size_gains(runs, 'sokoban', 'sokoban', 2)} (generation 0 → last, by seed). Counted",
        "  on the same runs without their lowest size, the pools go",
        f"  {_above_floor(runs, 'quickstart')} (Blocksworld), {_above_floor(runs, 'rovers')}",
        f"  (Rovers) and {_above_floor(runs, 'sokoban')} (Sokoban); those tasks were still",
        "  deployed and trained on. Run on pools without them (`rovers-from6`, 6-10 waypoints, and",
        "  `sokoban-from3`, 3-4 boxes, the held-out tasks likewise; 120 pool tasks as before), the",
        f"  pools go {_listed(runs, 'rovers-from6')} and {_listed(runs, 'sokoban-from3')}: by",
        f"  generation {_by_generation(runs, 'rovers-from6')} and",
        f"  {_by_generation(runs, 'sokoban-from3')}; held-out {_held_out_gains(runs, 'rovers-from6')}",
        f"  and {_held_out_gains(runs, 'sokoban-from3')}. The scenarios keep the pools they had",
        "  before these runs: a pool chosen after seeing which one doubles would make the ratio a",
        "  choice, so the targets above are read on the scenarios' pools and this is what moving",
        "  the pool's start does, reported beside them.",
        "- **The three domains in one run** (`three-domain`,",
        "  `scenarios/paper_blocksworld_rovers_sokoban.yaml`, the paper's main experiment): one",
        "  fixed pool of 150 tasks over Blocksworld, Rovers and Sokoban, each domain sampled and",
        "  trained on its own base, one set of users. The pool as a whole goes",
        f"  {_listed(runs, 'three-domain')}; per domain, generation 0 → last:",
        f"  {_per_domain(runs, 'three-domain')}. Each domain holds about a third of the",
        "  tasks of its own arm's pool, so its model learns from about a third of the traces: the",
        "  last generation's Blocksworld, Rovers and Sokoban models were fine-tuned on",
        f"  {_last_trained(runs, 'three-domain', 'blocksworld')},",
        f"  {_last_trained(runs, 'three-domain', 'rovers')} and",
        f"  {_last_trained(runs, 'three-domain', 'sokoban')} traces (by seed), against",
        f"  {_last_trained(runs, 'quickstart', 'blocksworld')},",
        f"  {_last_trained(runs, 'rovers', 'rovers')} and {_last_trained(runs, 'sokoban', 'sokoban')}",
        "  in the single-domain arms. With a pool of 400 tasks, about as many per domain as those",
        f"  arms deploy (`three-domain-400`): {_listed(runs, 'three-domain-400')} on the pool;",
        f"  {_per_domain(runs, 'three-domain-400')}.",
        "- **Memorised or learnt.** A pool task solved once is in every later training set",
        "  (data accumulate), so part of the pool's gain is the model writing again a plan it was",
        "  trained on. The held-out tasks were never trained on: their gain is what generalises.",
        "- **Without curation** every sample is published, valid or not. Training on the model's own",
        "  samples sharpens its distribution (it acts like a lower temperature), which can help at",
        "  sizes it already solves, while the invalid plans it also learns cost it on the pool. This",
        "  arm trains on eight times the data of the curated one per generation. On the pool it goes",
        f"  {_by_generation(runs, 'no-curation')} by generation (the curated arm:",
        f"  {_by_generation(runs, 'quickstart')}), so what it gains or loses is of the size of its",
        "  swing from one generation to the next.",
        "- **Valid samples.** A task counts as solved once one of its samples is valid, so the",
        "  solved count registers a task once and then stops moving, however reliable the model",
        "  becomes on it. The valid samples on the pool keep that second part: they grow",
        f"  {_span(_valid_ratios(runs, 'quickstart'))} over the Blocksworld seeds and "
        f"{_span(_valid_ratios(runs, 'rovers'))} over the Rovers seeds, and",
        f"  {_span(_valid_ratios(runs, 'no-curation'))} in the generations the arm without "
        "curation ran.",
        "- **Training from the previous generation** (`chained`, as self-improvement rounds on small",
        f"  transformers are run): {_paired(runs, 'chained')}; with the newest data weighted three",
        f"  times, {_paired(runs, 'chained-newest-x3')}. Replaying part of the base's corpus",
        f"  (`replay`): {_paired(runs, 'replay')}. The recipe is a fresh adapter on the base each",
        "  generation, without replay.",
        "- **Longest plan.** The pool's longest valid plan is a maximum over one generation's valid",
        "  plans; it grows only when a larger size opens, which is the slowest part of the effect.",
        "  And the pool must hold tasks that need plans that long: the reference planner's plan",
        "  (Blocksworld's canonical planner, Fast Downward for the others) is at least",
        f"  {LONGEST_TARGET} times generation 0's longest valid plan on",
        f"  {_long_enough(runs, 'quickstart')} of the quickstart's pool tasks (by seed),",
        f"  {_long_enough(runs, 'rovers')} of Rovers' and {_long_enough(runs, 'sokoban')} of",
        "  Sokoban's. The Blocksworld model writes the reference planner's plans (it was",
        f"  pretrained on them: {_at_reference(runs, 'quickstart')} valid pool samples of the last",
        "  generation, by seed, are exactly as long), so on a pool of up to 12 blocks the target",
        "  asks it to solve the few 12-block tasks with the most misplaced blocks.",
        "- **Rovers** is the second domain with a base that reaches past its corpus",
        "  (docs/model-card.md). Its corpus gives every task one or two rovers and puts each kind of",
        "  equipment on exactly one of them, so that a two-rover task often needs both and the plan",
        f"  must pick the rover by its equipment. Its seeds give {rovers} on the pool. Its",
        "  5-waypoint tasks are nearly all solved at generation 0",
        f"  ({_size_gains(runs, 'rovers', 'rovers', 5)}, 15-20 % of the pool). Its plans grow",
        "  fast with the waypoints, so the scenario allows 768 new tokens and 1,024-token training",
        "  rows; with 480 and 512 (until 7 December 2026, on the plain base below) the same seeds",
        "  gave 1.26x, 1.39x and 1.34x, so the limit was not what held Rovers back. At the largest",
        f"  size {_largest_size_failures(runs, 'rovers')}.",
        "  Of the two-rover tasks that one rover can do alone the loop solves",
        f"  {_team_gains(runs, 'rovers', ONE_SUFFICES)} (generation 0 → last, by seed); of those",
        f"  that need both {_team_gains(runs, 'rovers', NEEDS_TWO)}, and the samples of those that",
        "  give a job to a rover without the equipment for it go",
        f"  {_team_gains(runs, 'rovers', NEEDS_TWO, lambda r: r.unequipped)}.",
        "  The base until 7 December 2026 (`rovers-plain`) learnt from IPC's equipment draw, with",
        "  two rovers only at its corpus's last size. It almost never solves a task that needs both",
        f"  rovers ({_team_gains(runs, 'rovers-plain', NEEDS_TWO)}), and the loop amplifies only what",
        "  the base does at least rarely: its commonest first mistake on those tasks is that job",
        "  given to an unequipped rover (samples,",
        f"  {_team_gains(runs, 'rovers-plain', NEEDS_TWO, lambda r: r.unequipped)}; where one rover",
        f"  suffices {_team_gains(runs, 'rovers-plain', ONE_SUFFICES, lambda r: r.unequipped)}), and",
        "  the loop does not make it rarer. Its pool goes",
        f"  {_listed(runs, 'rovers-plain')}; continuing the previous generation's adapter",
        f"  (`rovers-plain-chained`, seed 0: {_listed(runs, 'rovers-plain-chained')}) or replaying",
        f"  part of its corpus (`rovers-plain-replay`, seed 0: {_listed(runs, 'rovers-plain-replay')})",
        "  changes little, and neither did a base whose corpus gives half its tasks two rovers at",
        "  every size without splitting the equipment (docs/model-card.md). The split corpus opens",
        "  the shared tasks, and its base starts higher (generation 0",
        f"  {_at_generation(runs, 'rovers', 0)} against {_at_generation(runs, 'rovers-plain', 0)}),",
        "  so from the higher start the ratio stays where the plain base's was.",
        "- **Sokoban**'s base learnt to push 1-3 boxes from a corpus whose states also hold 0-2",
        "  boxes already on their goals (docs/model-card.md). Its seeds give",
        f"  {sokoban} on the pool, and 4-box tasks {_size_gains(runs, 'sokoban', 'sokoban', 4)}",
        f"  (generation 0 → last, by seed); {_open_ceiling(runs, 'sokoban')}. Without the settled",
        "  boxes (`sokoban-unsettled`, the recipe until 7 December 2026) the base solves more 2- and",
        "  3-box tasks at generation 0, and 4-box tasks stay closed",
        f"  ({_size_gains(runs, 'sokoban-unsettled', 'sokoban', 4)}); the loop gains",
        f"  {_listed(runs, 'sokoban-unsettled')}: that model has only ever written states of up to",
        "  three boxes, and at four it writes three. Pool samples at 4 boxes whose first state names",
        f"  all four: generation 0 {_restated_at(runs, 'sokoban-unsettled')}, the last generation",
        f"  {_restated_at(runs, 'sokoban-unsettled', None)}; with the settled corpus",
        f"  {_restated_at(runs, 'sokoban')} at generation 0. The box left out of the state is lost",
        "  to every later push, so no amount of pushing practice at 2-3 boxes opens 4. The price is",
        "  a weaker base inside its corpus: pool solved at generation 0",
        f"  {_at_generation(runs, 'sokoban', 0)} against {_at_generation(runs, 'sokoban-unsettled', 0)},",
        "  so part of the larger ratio is a lower start. Its held-out tasks do not improve",
        f"  ({_held_out_gains(runs, 'sokoban')}): what the loop gains on Sokoban is the pool's own",
        "  tasks, trained on again every generation. The two changes of training that gained most",
        "  on Blocksworld's pool and held-out tasks change neither here: continuing the previous",
        f"  generation's adapter (`sokoban-chained`, seed 0: {_listed(runs, 'sokoban-chained')} on",
        f"  the pool, held-out {_held_out_gains(runs, 'sokoban-chained')}) and replaying part of the",
        f"  base's corpus (`sokoban-replay`, seed 0: {_listed(runs, 'sokoban-replay')}, held-out",
        f"  {_held_out_gains(runs, 'sokoban-replay')}), against {_span(_pool_ratios(runs, 'sokoban')[:1])}",
        "  and the held-out tasks above with neither. The held-out count of one run moves by up to",
        f"  {_held_out_swing(runs, ('sokoban', 'sokoban-chained', 'sokoban-replay'))} tasks from one",
        "  generation to the next in these arms, so a change of 1-3 is within its swing.",
        "  Training longer on each generation's traces (`sokoban-epochs8`, by seed:",
        f"  {_listed(runs, 'sokoban-epochs8')}; `sokoban-epochs16`, seed 0:",
        f"  {_listed(runs, 'sokoban-epochs16')}; pool",
        f"  {_by_generation(runs, 'sokoban-epochs8')} and {_by_generation(runs, 'sokoban-epochs16')}",
        f"  by generation; held-out {_held_out_gains(runs, 'sokoban-epochs8')} and",
        f"  {_held_out_gains(runs, 'sokoban-epochs16')}) and sampling twice as much",
        f"  (`sokoban-samples16`, seed 0: {_listed(runs, 'sokoban-samples16')}, pool",
        f"  {_by_generation(runs, 'sokoban-samples16')}, held-out",
        f"  {_held_out_gains(runs, 'sokoban-samples16')}) were tried last; on Rovers, eight passes",
        f"  (`rovers-epochs8`, seed 0: {_listed(runs, 'rovers-epochs8')}, pool",
        f"  {_by_generation(runs, 'rovers-epochs8')}, held-out {_held_out_gains(runs, 'rovers-epochs8')}),",
        f"  against {_listed(runs, 'sokoban')} and {_listed(runs, 'rovers')} for the recipes: none",
        "  gains more than the seeds differ, none improves the held-out tasks (longer training",
        "  lowers them further), and none was adopted. Twice the samples raise generation 0",
        f"  ({_at_generation(runs, 'sokoban-samples16', 0)} against {_at_generation(runs, 'sokoban', 0)}),",
        "  which lowers the ratio.",
        "- **Why the largest tasks stay closed.** The failure table gives the validator's verdict on",
        "  every pool sample. At the largest Blocksworld size",
        f"  {_largest_size_failures(runs, 'quickstart')}. A failure at the first action comes",
        "  before the model has written any state of its own: it misreads the task's towers (it",
        "  unstacks a block that has another on top, or names the wrong block beneath it). A later",
        "  one is the state it",
        "  restates after each move going wrong (blocks drop out of it). Neither is the plan's",
        "  length. Training longer or sampling more per task reached the same ceiling sooner",
        "  (docs/changelog.md).",
        "- **The base's corpus.** The default base sees towers of 5 blocks or more in 6 % of its",
        "  pretraining tasks (`pretrain_new_tower_chance: [0.1, 0.5]`), so it misreads the first",
        "  action less often than the earlier default, whose corpus had the deployment tasks' own",
        f"  towers (2 %): the quickstart's seeds give {_listed(runs, 'quickstart')} on the pool,",
        f"  against {_listed(runs, 'generator-towers')} on that base (`generator-towers`,",
        "  docs/model-card.md).",
        "",
    ]


def write_doc(runs: Sequence[ArmRun], command: str) -> None:
    """``docs/results.md`` and its plots from the runs, and the README's quickstart table."""
    lines = [
        "# Results: the paper's experiment on this machine",
        "",
        f"Generated by `{command}` from the run stores; every number below is read from them",
        f"(through `docs/{KEPT.name}`, which keeps each run's summary, for the runs whose store is",
        f"not on the machine that wrote this: {sum(not r.from_store for r in runs)} of {len(runs)} "
        "this time).",
        "Solved = at least one valid sample for the task in that generation. \"Pool\": the fixed",
        "deployment pool every generation meets again (the paper's count); \"held-out\": the",
        "evaluation pool, drawn once, never deployed or trained on.",
        "",
        "## Arms",
        "",
        *markdown_table(["arm", "scenario", "what it tests", "seeds"], [
            [a.name, f"`{a.scenario}`" + "".join(
                f" `--set {k}={json.dumps(v, separators=(',', ':'))}`" for k, v in a.overrides.items()),
             a.about,
             ", ".join(str(r.seed) for r in runs if r.arm == a) or "not run"]
            for a in ARMS]),
        "",
        "## The targets, run by run",
        "",
        *markdown_table(["target", "arm", "seed", "generation 0 → last (longest: any later)", "verdict"],
                target_rows(runs)),
        "",
        *floor_targets(runs),
        "## Every run, generation 0 against the last",
        "",
        *markdown_table(HEADLINE, headline_rows(runs)),
        "",
        "## Pool solved per generation (held-out in brackets)",
        "",
        *markdown_table(*per_generation_rows(runs)),
        "",
        "## Pool solved per task size, generation 0 → last",
        "",
        *markdown_table(*size_rows(runs)),
        "",
        "## Rovers: tasks one rover can do alone, generation 0 → last",
        "",
        "From 6 waypoints a Rovers task has two rovers, each with its own analyses and cameras.",
        "Pool tasks solved, by whether one of them has every analysis, and a camera for every",
        "image mode, that the goals ask for (`benchmarks/_rovers_teams.py`).",
        "",
        *markdown_table(*team_rows(runs)),
        "",
        "Pool samples whose first failing step gives a job to a rover that lacks the equipment for",
        "it (an analysis it is not equipped for, a camera it does not carry), of all the pool's",
        "samples of that kind:",
        "",
        *markdown_table(*team_rows(runs, lambda r: r.unequipped)),
        "",
        "## Sokoban: does the model's first state name every box? Generation 0 → last",
        "",
        "After each push the model restates every box's cell, and chooses its next push from that",
        "state. Pool samples whose first state names every box of the task, of those that write a",
        "state (`benchmarks/_sokoban_states.py`).",
        "",
        *markdown_table(*restated_rows(runs)),
        "",
        "## Why pool samples fail, per size, generation 0 → last",
        "",
        "The validator's verdict on every deployment sample of the pool, for the first seed of",
        "each domain's arm. An invalid sample cut by the token limit counts there, whatever the",
        "validator made of its cut plan; a step that fails is counted apart when it is the plan's",
        "first action (the task misread before any state was written) and when it comes later.",
        "",
        *markdown_table(*failure_rows(runs)),
        "",
    ]
    for name in plot(runs, DOC.parent):
        lines += [f"![{name}]({name})", ""]
    lines += reading(runs)
    DOC.write_text("\n".join(lines), encoding="utf-8")
    quick = [r for r in runs if r.arm.name == "quickstart"]
    if quick and README.is_file():
        text = README.read_text(encoding="utf-8")
        if README_BEGIN in text and README_END in text:
            head, rest = text.split(README_BEGIN, 1)
            _, tail = rest.split(README_END, 1)
            table = "\n".join(markdown_table(HEADLINE[1:], [row[1:] for row in headline_rows(quick)]))
            README.write_text(f"{head}{README_BEGIN}\n{table}\n{README_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arms", default=",".join(a.name for a in ARMS),
                        help=f"comma-separated, of: {', '.join(ARM_BY_NAME)} (default all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "results",
                        help="where the run directories live (default runs/results)")
    parser.add_argument("--report-only", action="store_true",
                        help="write the doc from the stores without running anything")
    parser.add_argument("--no-report", action="store_true",
                        help="run, and keep the runs' summaries, without rewriting the doc (a "
                             "partial study on a machine that lacks some arms' stores)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    unknown = [a for a in args.arms.split(",") if a not in ARM_BY_NAME]
    if unknown:
        raise SystemExit(f"--arms: unknown {', '.join(unknown)}; known: {', '.join(ARM_BY_NAME)}")
    arms = [ARM_BY_NAME[a] for a in args.arms.split(",")]
    if not args.report_only:
        threads = set_threads(args.threads)
        print(f"machine: {machine_line(threads)}", flush=True)
        for arm in arms:
            for seed in args.seeds:
                run_arm(args.runs, arm, seed)
        print(f"load average at the end: {load_average()}", flush=True)
    kept = read_kept()
    runs = merge_runs(read_runs(args.runs, ARMS, kept), kept)
    if not runs:
        raise SystemExit(f"no completed runs under {args.runs}, and none kept in {KEPT.name}")
    write_kept(runs)
    if args.no_report:
        print(f"kept {len(runs)} runs' summaries in {KEPT.relative_to(REPO)}; the doc is unchanged")
        return 0
    write_doc(runs, "python benchmarks/paper_results.py --report-only")
    print(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
