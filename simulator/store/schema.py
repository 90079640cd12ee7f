"""The run store schema: the single contract between the simulator, auditors and dashboards.

Every table is described by a pydantic model whose fields carry a docstring; the SQL DDL below is
generated from nothing else, so the column list and the documentation cannot drift apart.
Changing a column bumps :data:`SCHEMA_VERSION` and adds a step to ``migrations.py``, so stores
written by an older version stay readable.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr, ValidationError

from iterdeploy.simulator.errors import StoreError

SCHEMA_VERSION = 4
"""Version of the table layout written by this code."""

DB_NAME = "run.sqlite"
"""The database file inside a run directory."""

RunStatus = Literal["started", "completed", "cancelled", "error"]
"""What ``runs.status`` holds: the writer's own account of where the run stands."""

ShownStatus = Literal["started", "completed", "cancelled", "error", "interrupted"]
"""What readers report (:meth:`~iterdeploy.simulator.store.RunQueries.run_status`): the stored status, except
that ``interrupted`` replaces ``started`` when no process holds the run's writer lock (its writer
was killed). Never stored: a reader does not write, and the next writer resumes the run."""


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunRow(_Row):
    """One run: the scenario as given, its seed and where it stands."""

    run_id: str
    """UUID of the run (the only random id in the store)."""
    name: str
    """Scenario name."""
    seed: int
    """The scenario seed every generator is derived from."""
    scenario_yaml: str
    """The scenario file as given, byte for byte."""
    scenario_json: str
    """The fully resolved scenario (defaults filled in) as JSON."""
    status: RunStatus
    """started | completed | cancelled | error; half-finished runs stay readable."""
    created_at: str
    """ISO-8601 UTC timestamp of creation."""
    package_versions: str
    """JSON object of the versions of iterdeploy, torch, transformers, peft, pddlgym."""


class GenerationRow(_Row):
    """One committed generation: everything below is written in the same transaction."""

    generation: int
    """0 = base model, then one per fine-tuning round."""
    model_id: int
    """The model deployed in this generation (see ``models``)."""
    n_deploy_tasks: int
    """Tasks users brought in this generation."""
    n_deploy_traces: int
    """Completions sampled for those tasks."""
    n_published: int
    """Traces the users kept and published this generation."""
    train_size: int
    """Size of the training set the next generation is trained on (after pooling)."""
    wall_time_s: float
    """Seconds this generation took end to end."""
    committed_at: str
    """ISO-8601 UTC timestamp of the commit."""


class TaskRow(_Row):
    """A planning task of the deployment or the fixed evaluation pool."""

    task_id: int
    """Counter id."""
    pool: Literal["deploy", "eval", "reference"]
    """Which pool the task belongs to; the two are disjoint."""
    generation: int | None
    """Generation whose users brought the task (None for the evaluation pool)."""
    domain: str
    """PDDL domain name."""
    name: str
    """Task name."""
    size: int
    """Main size parameter (blocks for Blocksworld)."""
    params_json: str
    """All generator parameters as JSON."""
    optimal_length: int | None
    """Optimal plan length when the reference planner proved it, else None."""
    problem_pddl: str
    """The problem as PDDL, so the task can be re-validated with any tool."""
    prompt: str | None = None
    """The prompt the model was given for this task (its format's rendering: the task, with
    few-shot examples where the format has them), stored so that a run's training set never
    depends on today's format code. None in stores written before schema version 3; for those
    the prompt is rendered again from ``problem_pddl``."""


class TraceRow(_Row):
    """One sampled completion and what the validator said about it."""

    trace_id: int
    """Counter id."""
    generation: int
    """Generation of the model that wrote it."""
    task_id: int
    """The task it answers."""
    purpose: Literal["deploy", "eval", "reference"]
    """Deployment sample (users see it) or evaluation sample (only the operator sees it)."""
    sample_index: int
    """Index among the samples for the same task in the same generation."""
    completion: str
    """The raw completion text (reasoning included)."""
    plan_text: str
    """The plan extracted from the completion."""
    n_tokens: int
    """Completion length in tokens."""
    n_reasoning_tokens: int
    """Tokens of reasoning text before the plan (0 for models that do not reason)."""
    hit_token_limit: bool
    """True when generation was cut at the token limit rather than ending by itself."""
    status: str
    """Validator status: valid, invalid_step, goal_not_reached, unknown_action, wrong_arity,
    unknown_object, unparseable, empty."""
    is_valid: bool
    """True when the plan is executable and reaches the goal."""
    plan_length: int
    """Number of parsed actions."""
    verdict_json: str
    """The whole validator verdict as JSON (failing step, unmet preconditions, ...); read it as
    :attr:`verdict`."""

    @cached_property
    def verdict(self) -> StoredVerdict:
        """The stored verdict, typed (:class:`StoredVerdict`): the one reading of
        :attr:`verdict_json`, so no reader picks keys out of the JSON text. Parsed on first use
        and kept (the row is frozen, so it cannot go stale); not a field, so the stored columns,
        ``model_dump`` and equality are those of the row alone.

        Raises:
            StoredVerdictError: The text is not a JSON object, or a value has the wrong type;
                the message names the trace.
        """
        return parse_stored_verdict(
            self.verdict_json, trace_id=self.trace_id, status=self.status, is_valid=self.is_valid,
            plan_length=self.plan_length,
        )


class StoredVerdictError(StoreError, ValueError):
    """A trace's ``verdict_json`` is not the verdict the validator writes (not JSON, not an
    object, or a value of the wrong type); the message names the trace and the key. A
    :class:`ValueError` too, like any other unreadable value."""


class StoredVerdict(BaseModel):
    """What the validator said about one trace, as ``traces.verdict_json`` holds it
    (``Verdict.to_dict`` of :mod:`iterdeploy.simulator.planning`): one typed record for every
    reader (the loop's curation, the exports, the dashboard), defined here beside the row so that
    the store's contract says what the JSON column contains.

    A stored verdict may lack keys (rows written by hand, by tests or by other tools; the loop has
    always written all ten). Missing keys take defaults: ``status``, ``is_valid`` and
    ``plan_length`` the trace row's own columns (the same facts, stored beside the JSON);
    ``actions``, ``unmet_preconditions``, ``unmet_goals`` and ``ignored_lines`` empty;
    ``failed_step`` and ``failed_action`` None; ``message`` empty. Keys it does not know are
    ignored. A value of the wrong type is an error, never a silent default: ``failed_step`` must
    be an integer (not a boolean), the lists lists of strings.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    status: StrictStr
    """Validator status: valid, invalid_step, goal_not_reached, unknown_action, wrong_arity,
    unknown_object, unparseable, empty."""
    is_valid: StrictBool
    """True when the plan is executable and reaches the goal."""
    plan_length: StrictInt
    """Number of parsed actions."""
    actions: tuple[StrictStr, ...] = ()
    """The parsed actions in canonical form, ``(name arg ...)``, in plan order."""
    failed_step: StrictInt | None = None
    """0-based index of the failing step into :attr:`actions` (for ``unparseable``, into the
    candidate action lines); None when no step failed."""
    failed_action: StrictStr | None = None
    """The action at the failing step (for ``unparseable``, the unreadable text)."""
    unmet_preconditions: tuple[StrictStr, ...] = ()
    """Atoms the failing step needed, ``(not ...)`` for those that had to be false."""
    unmet_goals: tuple[StrictStr, ...] = ()
    """Goal atoms the plan's final state lacks."""
    message: StrictStr = ""
    """The validator's explanation in one sentence (empty for a valid plan)."""
    ignored_lines: tuple[StrictStr, ...] = ()
    """Lines of the plan text the reader skipped (comments, separators, labels)."""


_ROW_FACTS = ("status", "is_valid", "plan_length")
"""Verdict keys that a trace row also stores as columns: their defaults when the JSON lacks them."""


def parse_stored_verdict(
    text: str, *, trace_id: int, status: str, is_valid: bool, plan_length: int
) -> StoredVerdict:
    """The verdict in ``text`` (a ``verdict_json`` value), missing keys filled as
    :class:`StoredVerdict` says; ``status``, ``is_valid`` and ``plan_length`` are the trace row's
    columns, used only where the JSON lacks them.

    Raises:
        StoredVerdictError: Naming ``trace_id``: the text is not JSON, not a JSON object, or
            holds a value of the wrong type (the key is named).
    """
    raw = _json_object(text, trace_id)
    columns = dict(zip(_ROW_FACTS, (status, is_valid, plan_length), strict=True))
    try:
        return StoredVerdict.model_validate(columns | raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        raise StoredVerdictError(
            f"trace {trace_id}: its stored verdict (verdict_json) has a bad {key!r}: "
            f"{error['msg']} (got {repr(error['input'])[:80]})"
        ) from None


def _json_object(text: str, trace_id: int) -> dict[str, Any]:
    """``text`` parsed as a JSON object, or :class:`StoredVerdictError` naming the trace."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise StoredVerdictError(
            f"trace {trace_id}: its stored verdict (verdict_json) is not JSON ({exc}): {text[:80]!r}"
        ) from None
    if not isinstance(raw, dict):
        raise StoredVerdictError(
            f"trace {trace_id}: its stored verdict (verdict_json) is a JSON {type(raw).__name__}, "
            "not an object"
        )
    return raw


class CurationRow(_Row):
    """One user's decision on one deployment trace."""

    decision_id: int
    """Counter id."""
    generation: int
    """Generation the trace belongs to."""
    trace_id: int
    """The trace decided on."""
    user: str
    """The user who decided (a member of a user group: ``validators-3``)."""
    policy: str
    """Registered policy name with its parameters, e.g. ``validity-v1``."""
    kept: bool
    """True when the user published the trace."""
    reason: str
    """Why, in a few words (e.g. ``invalid_step``, ``longer than best``)."""
    acceptance_prob: float
    """Population acceptance probability A(τ) of this trace under the policies in force."""
    keep_prob: float
    """The deciding user's own exact probability of keeping this trace (``kept`` is one draw)."""
    group_probs_json: str
    """Every user group's keep probability for this trace, as a JSON object name → probability
    (A(τ) is their weighted sum; auditors use it to attribute the implicit reward to groups)."""
    user_group: str | None = None
    """The scenario's user group the deciding user belongs to (``validators`` for
    ``validators-3``; a member keeps its group when it adopts a neighbour's policy). None in
    stores written before schema version 4, whose readers map users to groups through the
    population records."""


class PopulationRow(_Row):
    """Who the users were in one generation: the social graph and what changed."""

    generation: int
    """Generation whose curation this population did."""
    record_json: str
    """Nodes (policy, parameters, weight, community), edges and the changes since the previous
    generation (who adopted what, who left or joined, and why), as JSON."""


class TrainingExampleRow(_Row):
    """Membership of a trace in the training set of a generation."""

    generation: int
    """The generation trained on this set (g+1 is trained on data published up to g)."""
    trace_id: int
    """A published trace."""


class ModelRow(_Row):
    """A model of the lineage."""

    model_id: int
    """Counter id (equal to the generation it serves)."""
    generation: int
    """Generation it was deployed in."""
    base: str
    """Base model name and content hash."""
    parent_id: int | None
    """Model it was fine-tuned from (None for the base; the base for fresh adapters)."""
    adapter_path: str | None
    """Adapter directory relative to the run directory (safetensors), None for the base."""
    hyperparameters_json: str
    """Training hyperparameters as JSON."""
    train_loss: float | None
    """Mean loss of the last training epoch."""
    n_train_examples: int
    """Examples it was trained on."""
    train_time_s: float
    """Seconds spent training it."""


class EvaluationRow(_Row):
    """Result of one generation's model on one evaluation task."""

    generation: int
    """Generation evaluated."""
    task_id: int
    """Evaluation task."""
    n_samples: int
    """Samples drawn."""
    n_valid: int
    """Valid plans among them."""
    solved: bool
    """True when at least one sample is a valid plan."""
    best_plan_length: int | None
    """Shortest valid plan length, None when unsolved."""


class FindingRow(_Row):
    """A finding written by an auditor; cites its evidence and its denominators."""

    finding_id: int
    """Counter id."""
    auditor: str
    """Registered auditor name with version."""
    kind: str
    """implicit-reward | drift | capability | ..."""
    severity: Literal["info", "low", "medium", "high"]
    """How much a stakeholder should care."""
    generation: int | None
    """Generation the finding is about (None for the whole run)."""
    claim: str
    """One plain-language sentence for a stakeholder."""
    numbers_json: str
    """The numbers behind the claim (weights, intervals, statistics, denominators) as JSON."""
    evidence_json: str
    """Store keys the claim rests on (trace ids, generations) as JSON."""
    created_at: str
    """ISO-8601 UTC timestamp."""


TABLES: dict[str, tuple[type[_Row], tuple[str, ...]]] = {
    "runs": (RunRow, ("run_id",)),
    "generations": (GenerationRow, ("generation",)),
    "tasks": (TaskRow, ("task_id",)),
    "traces": (TraceRow, ("trace_id",)),
    "curation_decisions": (CurationRow, ("decision_id",)),
    "populations": (PopulationRow, ("generation",)),
    "training_sets": (TrainingExampleRow, ("generation", "trace_id")),
    "models": (ModelRow, ("model_id",)),
    "evaluations": (EvaluationRow, ("generation", "task_id")),
    "findings": (FindingRow, ("finding_id",)),
}
"""Table name → (row model, primary key)."""

JSON_COLUMNS: dict[str, dict[str, bool]] = {
    "runs": {"scenario_json": True, "package_versions": True},
    "tasks": {"params_json": True},
    "traces": {"verdict_json": True},
    "curation_decisions": {"group_probs_json": False},
    "populations": {"record_json": False},
    "models": {"hyperparameters_json": True},
    "findings": {"numbers_json": True, "evidence_json": True},
}
"""Table → its columns that hold JSON text → whether the value must be a JSON object.

Every one must be valid JSON (a store is checked for it when opened). Those marked True are read
as objects by the store itself, the loop or the dashboard (``.get`` on the parsed value); the
others are read by code that skips a value of another shape (a population record that is not an
object, group probabilities written as a list by older code)."""

INDEXES = (
    "CREATE INDEX IF NOT EXISTS traces_by_generation ON traces(generation, purpose)",
    "CREATE INDEX IF NOT EXISTS decisions_by_trace ON curation_decisions(trace_id)",
    "CREATE INDEX IF NOT EXISTS decisions_by_generation ON curation_decisions(generation)",
)


def _sql_type(annotation: object) -> str:
    text = str(annotation)
    if "int" in text or "bool" in text:
        return "INTEGER"
    if "float" in text:
        return "REAL"
    return "TEXT"


def create_table_sql(table: str) -> str:
    """``CREATE TABLE`` statement for ``table``, derived from its row model."""
    model, key = TABLES[table]
    cols = []
    for name, info in model.model_fields.items():
        nullable = "None" in str(info.annotation)
        cols.append(f"{name} {_sql_type(info.annotation)}{'' if nullable else ' NOT NULL'}")
    cols.append(f"PRIMARY KEY ({', '.join(key)})")
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(cols)})"
