"""The per-generation summary table, computed from the store alone.

``iterdeploy run`` prints it at the end, ``iterdeploy summary`` prints it again, and the dashboard
and scripts read it as JSON, so there is one definition of every number in it.

Plan lengths and the largest solved size are read on the fixed evaluation pool, like the solved
count: the same tasks, with the same number of samples, in every generation, so a change between
generations is the model's. Users bring freshly drawn tasks each generation, so a maximum over the
deployment traces also moves with the draw (and with how many valid plans there are to take it
over); it is reported beside, as the paper's protocol is for solved tasks.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from iterdeploy.simulator.store.reader import RunReader
from iterdeploy.simulator.store.schema import parse_stored_verdict


class GenerationSummary(BaseModel):
    """One line of the summary table."""

    model_config = ConfigDict(frozen=True)

    generation: int
    """Generation (0 = base model)."""
    evaluated: int
    """Tasks in the fixed evaluation pool."""
    solved: int
    """Evaluation tasks with at least one valid sampled plan."""
    mean_plan_length: float | None
    """Mean length of the valid plans this generation wrote for the evaluation pool."""
    longest_plan_length: int | None
    """Longest valid plan this generation wrote for the evaluation pool."""
    train_size: int
    """Examples in the training set built from data published up to this generation."""
    deploy_tasks: int
    """Tasks users brought this generation."""
    deploy_solved: int
    """Of those, tasks with at least one valid sample (the paper's way of counting)."""
    published: int
    """Traces users published this generation."""
    largest_solved_size: int | None
    """Largest evaluation task size (e.g. blocks) with a valid plan this generation."""
    deploy_longest_plan_length: int | None
    """Longest valid plan this generation wrote for the tasks users brought (drawn afresh each
    generation, so noisier than ``longest_plan_length``)."""
    evaluated_by_domain: dict[str, int] = {}
    """Evaluation tasks per domain (one entry in a one-domain run)."""
    solved_by_domain: dict[str, int] = {}
    """Solved evaluation tasks per domain: multi-domain scenarios are read domain by domain, as
    in the paper."""
    deploy_tasks_by_domain: dict[str, int] = {}
    """Tasks users brought this generation, per domain."""
    deploy_solved_by_domain: dict[str, int] = {}
    """Of those, tasks with a valid sample, per domain: with ``deploy.pool: fixed`` the paper's
    headline number (solved tasks on the fixed pool, per domain)."""
    deploy_largest_solved_size: int | None = None
    """Largest deployment task size with a valid plan this generation."""
    largest_solved_size_by_domain: dict[str, int] = {}
    """Largest evaluation task size with a valid plan, per domain (domains without one left
    out). A multi-domain run is read here, not in ``largest_solved_size``: sizes of different
    domains count different things (blocks, waypoints, boxes), so their maximum means nothing."""
    deploy_largest_solved_size_by_domain: dict[str, int] = {}
    """Largest deployment task size with a valid plan, per domain."""


SIZE_FIELDS: dict[str, str] = {
    "largest_solved_size": "largest_solved_size_by_domain",
    "deploy_largest_solved_size": "deploy_largest_solved_size_by_domain",
}
"""The summary fields that are task sizes, each with its per-domain mapping. A size is in its
domain's own unit (blocks, waypoints, boxes), so over several domains only the per-domain ones
mean something, and a domain missing from one has no valid plan: no size, where a missing count
is 0. Every reader of the summary that treats sizes apart reads them here."""


def _per_domain(
    reader: RunReader, sql: str
) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]]]:
    """(tasks, solved) per generation and domain from a query giving generation, domain, n and
    n_solved."""
    tasks: dict[int, dict[str, int]] = {}
    solved: dict[int, dict[str, int]] = {}
    for r in reader.query(sql):
        tasks.setdefault(r["generation"], {})[r["domain"]] = int(r["n"])
        solved.setdefault(r["generation"], {})[r["domain"]] = int(r["n_solved"] or 0)
    return tasks, solved


def summarize(reader: RunReader) -> list[GenerationSummary]:
    """Summary rows for every committed generation, in order."""
    rows = reader.query(
        """
        SELECT g.generation, g.train_size, g.n_deploy_tasks, g.n_published,
          (SELECT COUNT(*) FROM evaluations e WHERE e.generation = g.generation) AS evaluated,
          (SELECT COUNT(*) FROM evaluations e WHERE e.generation = g.generation AND e.solved)
              AS solved,
          (SELECT AVG(t.plan_length) FROM traces t WHERE t.generation = g.generation
              AND t.is_valid AND t.purpose = 'eval') AS mean_len,
          (SELECT MAX(t.plan_length) FROM traces t WHERE t.generation = g.generation
              AND t.is_valid AND t.purpose = 'eval') AS max_len,
          (SELECT COUNT(DISTINCT t.task_id) FROM traces t WHERE t.generation = g.generation
              AND t.purpose = 'deploy' AND t.is_valid) AS deploy_solved,
          (SELECT MAX(t.plan_length) FROM traces t WHERE t.generation = g.generation
              AND t.is_valid AND t.purpose = 'deploy') AS deploy_max_len,
          (SELECT MAX(k.size) FROM traces t JOIN tasks k ON k.task_id = t.task_id
              WHERE t.generation = g.generation AND t.is_valid AND t.purpose = 'eval')
              AS max_size,
          (SELECT MAX(k.size) FROM traces t JOIN tasks k ON k.task_id = t.task_id
              WHERE t.generation = g.generation AND t.is_valid AND t.purpose = 'deploy')
              AS deploy_max_size
        FROM generations g ORDER BY g.generation
        """
    )
    evaluated, solved = _per_domain(reader, (
        "SELECT e.generation, k.domain, COUNT(*) AS n, SUM(e.solved) AS n_solved "
        "FROM evaluations e JOIN tasks k ON k.task_id = e.task_id "
        "GROUP BY e.generation, k.domain ORDER BY k.domain"))
    deployed, deploy_solved = _per_domain(reader, (
        "SELECT k.generation, k.domain, COUNT(*) AS n, SUM(EXISTS (SELECT 1 FROM traces t "
        "WHERE t.task_id = k.task_id AND t.is_valid)) AS n_solved "
        "FROM tasks k WHERE k.pool = 'deploy' GROUP BY k.generation, k.domain ORDER BY k.domain"))
    largest = _largest_by_domain(reader, "eval")
    deploy_largest = _largest_by_domain(reader, "deploy")
    return [
        GenerationSummary(
            generation=r["generation"],
            evaluated=r["evaluated"],
            solved=r["solved"],
            mean_plan_length=None if r["mean_len"] is None else round(float(r["mean_len"]), 2),
            longest_plan_length=r["max_len"],
            train_size=r["train_size"],
            deploy_tasks=r["n_deploy_tasks"],
            deploy_solved=r["deploy_solved"],
            published=r["n_published"],
            largest_solved_size=r["max_size"],
            deploy_longest_plan_length=r["deploy_max_len"],
            evaluated_by_domain=evaluated.get(r["generation"], {}),
            solved_by_domain=solved.get(r["generation"], {}),
            deploy_tasks_by_domain=deployed.get(r["generation"], {}),
            deploy_solved_by_domain=deploy_solved.get(r["generation"], {}),
            deploy_largest_solved_size=r["deploy_max_size"],
            largest_solved_size_by_domain=largest.get(r["generation"], {}),
            deploy_largest_solved_size_by_domain=deploy_largest.get(r["generation"], {}),
        )
        for r in rows
    ]


def _largest_by_domain(reader: RunReader, purpose: str) -> dict[int, dict[str, int]]:
    """generation → domain → the largest task size with a valid ``purpose`` trace."""
    largest: dict[int, dict[str, int]] = {}
    for r in reader.query(
        "SELECT t.generation AS g, k.domain AS d, MAX(k.size) AS size FROM traces t "
        "JOIN tasks k ON k.task_id = t.task_id WHERE t.is_valid AND t.purpose = ? "
        "GROUP BY t.generation, k.domain ORDER BY k.domain", (purpose,)):
        largest.setdefault(int(r["g"]), {})[str(r["d"])] = int(r["size"])
    return largest


def solved_by_size(reader: RunReader) -> dict[tuple[int, str, int], tuple[int, int]]:
    """Deployment tasks solved (a valid sample) and brought, per generation, domain and size:
    (generation, domain, size) → (solved, tasks)."""
    rows = reader.query(
        "SELECT k.generation AS g, k.domain AS d, k.size AS size, COUNT(*) AS n, "
        "SUM(EXISTS (SELECT 1 FROM traces t WHERE t.task_id = k.task_id AND t.is_valid)) AS solved "
        "FROM tasks k WHERE k.pool = 'deploy' GROUP BY k.generation, k.domain, k.size")
    return {(int(r["g"]), str(r["d"]), int(r["size"])): (int(r["solved"] or 0), int(r["n"]))
            for r in rows}


def valid_deploy_samples(reader: RunReader) -> dict[int, tuple[int, int]]:
    """Valid deployment samples and all of them, per generation: generation → (valid, samples).
    Solved tasks count a task once one of its samples is valid; this says how reliable the model
    became on the tasks it already solves, which solved counts cannot show."""
    rows = reader.query("SELECT generation AS g, SUM(is_valid) AS valid, COUNT(*) AS n FROM traces "
                        "WHERE purpose = 'deploy' GROUP BY generation")
    return {int(r["g"]): (int(r["valid"] or 0), int(r["n"])) for r in rows}


FIRST_STEP = "invalid_first_step"
"""The kind :func:`deploy_status_by_size` gives an ``invalid_step`` sample whose first action
already fails."""


def deploy_status_by_size(reader: RunReader) -> dict[tuple[int, str, int, str], int]:
    """Deployment samples per generation, domain, size and validator status (``valid``,
    ``invalid_step``, ``goal_not_reached``, ...): (generation, domain, size, status) → samples.

    Where solved counts stop, this says why: whether the samples of a size the loop does not
    open fail at a step, stop short of the goal, name objects the task lacks, or were cut by the
    token limit: an invalid sample that hit the limit is counted under ``hit_token_limit``
    instead of what the validator made of its cut plan. A step failure is counted under
    :data:`FIRST_STEP` when the plan's first action fails (the model misread the task itself,
    before it wrote any state of its own) and under ``invalid_step`` when a later one does (it
    lost track of the state on the way)."""
    step = "t.status = 'invalid_step' AND NOT t.hit_token_limit"  # counted per sample below
    rows = reader.query(
        "SELECT t.generation AS g, k.domain AS d, k.size AS size, "
        "CASE WHEN t.hit_token_limit AND NOT t.is_valid THEN 'hit_token_limit' ELSE t.status END "
        "AS kind, COUNT(*) AS n FROM traces t JOIN tasks k USING (task_id) "
        f"WHERE t.purpose = 'deploy' AND NOT ({step}) "
        "GROUP BY g, d, size, kind")  # not "status": that is a column
    out = {(int(r["g"]), str(r["d"]), int(r["size"]), str(r["kind"])): int(r["n"]) for r in rows}
    steps = reader.query(
        "SELECT t.trace_id, t.generation AS g, k.domain AS d, k.size AS size, t.status, "
        "t.is_valid, t.plan_length, t.verdict_json FROM traces t JOIN tasks k USING (task_id) "
        f"WHERE t.purpose = 'deploy' AND {step}")
    for r in steps:  # the failing step is in the verdict, read as every reader reads it
        verdict = parse_stored_verdict(r["verdict_json"], trace_id=r["trace_id"],
                                       status=r["status"], is_valid=bool(r["is_valid"]),
                                       plan_length=r["plan_length"])
        key = (int(r["g"]), str(r["d"]), int(r["size"]),
               FIRST_STEP if verdict.failed_step == 0 else "invalid_step")
        out[key] = out.get(key, 0) + 1
    return out
