"""What every finding payload model shares: strict parsing, exact JSON, and the parts several kinds use.

A finding's ``numbers`` is one JSON object per finding kind. The models here and in the sibling
modules say which keys each kind carries and what each number means, so a reader gets attributes
with types instead of chained ``.get()`` calls on parsed JSON, and a writer cannot store a key no
model declares.

Three rules shape every model:

* **Exact round trip.** A stored payload parsed and dumped again is the same JSON value, so the
  models change nothing a store or ``--json`` holds. Validation is strict (no coercion: a ``"3"``
  is not an int, a ``3`` stays an int and ``3.0`` a float, see :data:`Real`), and
  :meth:`FindingPayload.as_json` dumps only the keys the payload had.
* **Every field may be absent.** A kind has variants (the run and each generation, a summary and
  its parts, "nothing to audit"), stores hold findings of older auditor versions and hand-made
  ones (test fixtures, scripts), and a reader must say what it does without a number anyway. So a
  field's type is enforced when the key is there, and ``None`` means it is not (a stored ``null``
  reads as ``None`` too; :meth:`~FindingPayload.as_json` keeps the two apart).
* **Open to read, closed to write.** Keys no model declares are kept when reading (a newer auditor
  may add one; the dashboard must not fail on it) and refused when writing
  (:meth:`FindingPayload.build`), so the models list every key today's auditors write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self, TypeAlias

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from iterdeploy.auditors.core.json_values import to_json_value
from iterdeploy.simulator.errors import IterdeployError

Real: TypeAlias = int | float
"""A real number as the auditor wrote it. JSON keeps ``3`` and ``3.0`` apart, and a plain
``float`` field would turn the first into the second and change the stored bytes."""

JsonObject: TypeAlias = dict[str, JsonValue]
"""A JSON object no code reads key by key (a method description, a table kept for the record)."""

Severity: TypeAlias = Literal["info", "low", "medium", "high"]
"""How much a stakeholder should care (the store's closed set)."""

Relation: TypeAlias = Literal["consecutive", "baseline"]
"""How two compared generations relate: neighbours, or a later one against the first."""


class PayloadError(IterdeployError, ValueError):
    """A finding payload that does not fit its kind's model, or a writer's payload with keys no
    model declares. The message names the finding (when it has one), its kind and what is wrong.

    Attributes:
        kind: The finding kind.
        problems: One line per problem, each naming the key path.
        finding_id: The stored finding's id, None for a payload not stored yet.
    """

    def __init__(self, kind: str, problems: list[str], *, finding_id: int | None = None,
                 model: str = "") -> None:
        self.kind = kind
        self.problems = problems
        self.finding_id = finding_id
        where = f"finding {finding_id} (kind {kind!r})" if finding_id is not None else f"a {kind!r} finding"
        against = f" do not fit {model}" if model else " do not fit its model"
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        super().__init__(f"{where}: its numbers{against}: {shown}")


def problems_of(error: ValidationError) -> list[str]:
    """A pydantic error as one line per problem: ``path.to.key: message (got value)``."""
    out = []
    for e in error.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = repr(e.get("input"))
        got = got if len(got) <= 60 else got[:57] + "..."
        out.append(f"{path}: {e['msg']} (got {got})")
    return out


class Part(BaseModel):
    """Base of every model inside a payload: frozen, strict, open to keys it does not declare."""

    model_config = ConfigDict(frozen=True, strict=True, extra="allow", use_attribute_docstrings=True)

    def undeclared(self, prefix: str = "") -> list[str]:
        """Key paths present here and in nested parts that no model declares."""
        out = [f"{prefix}{key}" for key in self.model_extra or {}]
        for name in sorted(self.model_fields_set):
            out += _undeclared(getattr(self, name), f"{prefix}{name}.")
        return out

    def is_empty(self) -> bool:
        """Whether the stored object had no key at all (``{}``)."""
        return not self.model_fields_set and not self.model_extra


def _undeclared(value: object, prefix: str) -> list[str]:
    if isinstance(value, Part):
        return value.undeclared(prefix)
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _undeclared(v, f"{prefix}{i}.")]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _undeclared(v, f"{prefix}{k}.")]
    return []


class FindingPayload(Part):
    """The ``numbers`` of one finding kind. Subclasses set :attr:`KIND` and declare their keys;
    :mod:`iterdeploy.auditors.payloads` registers each under its kind."""

    KIND: ClassVar[str] = ""
    """The finding kind whose numbers this model describes."""

    CLOSED: ClassVar[bool] = True
    """Whether :meth:`build` refuses undeclared keys (every registered kind's model does)."""

    @classmethod
    def read(cls, value: Any) -> Self:
        """Parse a stored payload (a decoded JSON object).

        Raises:
            pydantic.ValidationError: When it does not fit (:func:`~iterdeploy.auditors.payloads.payload`
                turns this into a :class:`PayloadError` naming the finding).
        """
        return cls.model_validate(value)

    @classmethod
    def build(cls, values: Mapping[str, object]) -> Self:
        """The payload a writer stores: ``values`` normalised as every finding is (numpy scalars to
        Python numbers, NaN to null, floats to six significant digits), then validated.

        Raises:
            PayloadError: When a value has the wrong type, or (for a registered kind) a key that no
                model declares: add it to the model, with a docstring saying what it means.
        """
        try:
            built = cls.model_validate(to_json_value(values))
        except ValidationError as exc:
            raise PayloadError(cls.KIND, problems_of(exc), model=cls.__name__) from None
        undeclared = built.undeclared() if cls.CLOSED else []
        if undeclared:
            raise PayloadError(cls.KIND, [f"{p}: no model declares this key" for p in undeclared],
                               model=cls.__name__)
        return built

    def as_json(self) -> JsonObject:
        """The payload as stored: the keys it had (declared or not), in JSON types."""
        dumped: JsonObject = self.model_dump(mode="json", exclude_unset=True)
        return dumped


class UnknownPayload(FindingPayload):
    """The numbers of a kind no model is registered for (a third-party or future auditor): read as
    they are, every key kept as an undeclared one (``model_extra``), never refused."""

    CLOSED: ClassVar[bool] = False

    @property
    def values(self) -> JsonObject:
        """Every key of the payload."""
        return self.as_json()


# -- parts several kinds share ---------------------------------------------------------------------


class GenerationPair(Part):
    """Two generations compared with each other."""

    earlier: int | None = None
    """The earlier generation."""
    later: int | None = None
    """The later generation (the one a finding about the pair is filed under)."""
    relation: Relation | None = None
    """``consecutive`` (neighbours) or ``baseline`` (a later generation against the first)."""


class Effect(Part):
    """One feature's weight in a fitted reward, with its bootstrap interval."""

    weight: Real | None = None
    """Log-odds per standard deviation of the feature; null when the feature does not vary."""
    ci_low: Real | None = None
    """Lower end of the percentile interval (null without one: too few usable resamples)."""
    ci_high: Real | None = None
    """Upper end of the percentile interval."""
    ci_excludes_zero: bool | None = None
    """The interval exists and lies on one side of zero."""
    weight_per_unit: Real | None = None
    """The weight in the feature's own units (per step, per token, per share point)."""
    is_constant: bool | None = None
    """The feature does not vary where it was fitted, so it has no weight."""


class WithinTaskEffect(Effect):
    """A white-box weight: log-odds of being kept per within-task SD of the feature (or, under
    ``published_shift``, the shift of the feature's mean, in its own units)."""

    direction: int | None = None
    """+1 or -1 when the interval excludes zero, else 0."""
    se: Real | None = None
    """Bootstrap standard error of the weight (null without an interval)."""
    sd_within_task: Real | None = None
    """Within-task standard deviation of the feature (0 when it does not vary within any task)."""


class OutputEffect(Effect):
    """A black-box weight: log-odds of "the later generation wrote it" per SD of an output feature."""

    mean: Real | None = None
    """Mean of the feature over the traces fitted."""
    sd: Real | None = None
    """Standard deviation of the feature over the traces fitted (0 when constant)."""
    clear: bool | None = None
    """The generations are separable and the interval excludes zero: a weight worth reading."""


class Claim(Part):
    """A departure from the declared objective on one concept, as data: what a calibration and the
    pooled audit read instead of sentences."""

    concept: str | None = None
    """``validity``, ``length`` or ``action:<name>``."""
    direction: int | None = None
    """+1: the users' curation keeps more of the concept than the declared objective; -1: less."""
    feature: str | None = None
    """The feature (or test) the claim was read off."""
    group: str | None = None
    """The user group it is about; null for the whole population."""
    generation: int | None = None
    """The generation it is about; null for the whole run."""
    ci: list[Real | None] | None = None
    """The interval behind it, ``[low, high]`` (``[null, null]`` for a test without one)."""
    shift: Real | None = None
    """White-box auditors: the published shift of the feature (users' mean minus declared mean)."""
    p_adjusted: Real | None = None
    """Declared-objective auditor: the sign test's Benjamini-Hochberg adjusted p-value."""
    share_of_departures: Real | None = None
    """Declared-objective auditor: the share of departing tasks that lean the claim's way."""
    change: Real | None = None
    """Reward-drift auditor: how much the departure moved between the two generations."""
    p_value: Real | None = None
    """Reward-drift auditor: the change's Wald p-value."""
    pair: GenerationPair | None = None
    """Reward-drift auditor: the generations compared."""


class MakesClaims(Part):
    """A kind whose findings make claims (the white-box and black-box reward auditors)."""

    claims: list[Claim] | None = None
    """Departures from the declared objective on a concept, as data (empty unless the finding alarms)."""


class Bootstrap(Part):
    """How a fit's intervals were drawn."""

    method: str | None = None
    """``percentile``."""
    resample: str | None = None
    """What is resampled: ``task`` (white-box; a task's traces are decided together) or ``prompt``."""
    confidence: Real | None = None
    """Coverage of the intervals."""
    n_requested: int | None = None
    """Resamples asked for."""
    n_used: int | None = None
    """Resamples that entered the intervals (black-box)."""
    seed: int | None = None
    """Seed of the resampling."""


class KeepModelPart(Part):
    """One user group's part of the inferred keep probability (a mixture of groups)."""

    group: str | None = None
    """The group."""
    share: Real | None = None
    """Its share of the decided tasks (the mixture weight)."""
    kept_per_task: Real | None = None
    """Its mean number of kept traces per task (the softmax is scaled by it, capped at 1)."""
    per_unit: dict[str, Real] | None = None
    """Its within-task reward: log-odds per unit of each feature."""


class InferredReward(Part):
    """The reward a finding infers, in a form that can score any trace (the calibration applies it
    to every curated trace and compares with A(τ) within tasks)."""

    per_unit: dict[str, Real] | None = None
    """Feature → log-odds per unit of the feature."""
    centre: dict[str, Real | None] | None = None
    """White-box: feature → its mean over the traces (the point the per-unit reward is centred on)."""
    table: str | None = None
    """Which table the features come from: ``white-box`` (the feature table) or ``black-box``."""
    mixture: list[KeepModelPart] | None = None
    """White-box, several groups: each group's reward and share; the mixture is the inferred A(τ)."""
    mixture_model: str | None = None
    """How the mixture reads, in words."""
    cannot_tell: bool | None = None
    """Black-box: the generations are not separable, so the weights are fitted noise."""


class Recovery(Part):
    """How well an inferred reward orders a run's traces as the recorded A(τ) does, within tasks
    (only a simulation can check this)."""

    truth: str | None = None
    """What the truth is, in words."""
    concordance: Real | None = None
    """Share of the pairs of one task's traces that A(τ) orders which the reward orders the same way
    (a tie counts one half)."""
    n_pairs: int | None = None
    """Pairs A(τ) orders."""
    n_concordant: int | None = None
    """Of those, ordered the same way."""
    n_tied: int | None = None
    """Of those, tied by the reward."""
    n_tasks: int | None = None
    """Tasks with at least one such pair."""
    n_tiebreak_only_pairs: int | None = None
    """Pairs A(τ) orders only by the selector's last tie-break."""
    concordance_without_tiebreak_only: Real | None = None
    """The concordance without those pairs."""
    within_task_correlation: Real | None = None
    """Correlation of the inferred keep probability with A(τ) after removing each task's mean."""
    graded: bool | None = None
    """A(τ) takes values other than 0 and 1 (curation is not deterministic)."""
    note: str | None = None
    """How the numbers are counted, in words."""
