"""Per-trace curation stages: independent checks that each give a trace a probability to pass.

A stage looks at one trace (and, where it needs a reference, the task's other candidates and the
context) and returns a small distribution of :class:`Outcome` s: each with a probability, whether
the trace passes, and the reason a person would give. Why a distribution and not one number: the
reason depends on *which* thing happened (a complacent user who did not check lets an invalid plan
through for a different reason than a noisy validator that misjudged it), while the exact pass
probability is the sum over passing outcomes. Stages are drawn independently of each other and of
other traces, which is what makes a composed policy's keep probability exactly computable
(:mod:`iterdeploy.simulator.users.selectors`).

Every stage is a frozen pydantic model, so the same object is the YAML spec and the behaviour:
``{noisy_validator: {false_accept: 0.2}}`` validates into a :class:`NoisyValidatorStage`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import BeforeValidator, Field, model_validator

from iterdeploy.simulator.registry import Registry
from iterdeploy.simulator.users._common import FrozenSpec, format_value
from iterdeploy.simulator.users.traces import CandidateTrace, CurationContext

Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


@dataclass(frozen=True)
class Outcome:
    """One way a stage can go for one trace; a stage's outcomes sum to probability 1.

    ``reason`` is why the trace was rejected when ``passed`` is false, and a note worth recording
    when it passed for an unusual reason (``None`` for a plain pass).
    """

    prob: float
    passed: bool
    reason: str | None = None


class Stage(FrozenSpec):
    """A per-trace check. Subclasses set ``kind`` and implement :meth:`outcomes`."""

    version: ClassVar[int] = 1
    """Bumped whenever the stage's behaviour changes, so stored policy names stay truthful."""
    checks_validity: ClassVar[bool] = False
    """True for stages that judge validity; selectors then speak of "valid" rather than "accepted"."""

    kind: str

    def outcomes(
        self, trace: CandidateTrace, candidates: Sequence[CandidateTrace], context: CurationContext
    ) -> tuple[Outcome, ...]:
        """The distribution of what happens to ``trace`` at this stage."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """Parameters that are set (``None`` means "use the stage's rule"), in declaration order."""
        return {k: v for k, v in self.model_dump().items() if k != "kind" and v is not None}

    @property
    def token(self) -> str:
        """Versioned name with every set parameter: exact, so equal tokens mean equal behaviour."""
        params = self.params()
        inner = ",".join(f"{k}={format_value(v)}" for k, v in params.items())
        return f"{self.kind}-v{self.version}" + (f"({inner})" if inner else "")

    def describe(self) -> str:
        """One phrase for people."""
        params = self.params()
        inner = ", ".join(f"{k.replace('_', ' ')} {format_value(v)}" for k, v in params.items())
        return self.kind.replace("_", " ") + (f" ({inner})" if inner else "")


class ValidityStage(Stage):
    """The paper's check: a plan passes if and only if the validator says it is valid."""

    checks_validity: ClassVar[bool] = True
    kind: Literal["validity"] = "validity"

    def outcomes(
        self, trace: CandidateTrace, candidates: Sequence[CandidateTrace], context: CurationContext
    ) -> tuple[Outcome, ...]:
        """Deterministic: valid passes, anything else is rejected with the validator's status."""
        if trace.is_valid:
            return (Outcome(1.0, True),)
        return (Outcome(1.0, False, f"invalid: {trace.status}"),)


class NoisyValidatorStage(Stage):
    """A fallible checker: lets invalid plans through and rejects valid ones at fixed rates.

    Models users who check by eye, or a buggy validator in the user's tool chain.
    """

    checks_validity: ClassVar[bool] = True
    kind: Literal["noisy_validator"] = "noisy_validator"
    false_accept: Probability = 0.1
    """Probability that an invalid plan passes, in [0, 1]."""
    false_reject: Probability = 0.05
    """Probability that a valid plan is rejected, in [0, 1]."""

    def outcomes(
        self, trace: CandidateTrace, candidates: Sequence[CandidateTrace], context: CurationContext
    ) -> tuple[Outcome, ...]:
        """Valid: pass with 1 - false_reject. Invalid: pass with false_accept."""
        if trace.is_valid:
            return (
                Outcome(1.0 - self.false_reject, True),
                Outcome(self.false_reject, False, "noisy validator false reject"),
            )
        return (
            Outcome(self.false_accept, True, f"noisy validator false accept ({trace.status})"),
            Outcome(1.0 - self.false_accept, False, f"invalid: {trace.status}"),
        )


class ComplacentStage(Stage):
    """A user whose trust grows with the model's success: the better it seems, the less they check.

    trust = min(max_trust, sensitivity · success_rate), with no trust before any observation
    (generation 0). The user checks (exactly) with probability 1 - trust; an unchecked plan passes,
    valid or not. This is the mechanism by which reliability itself erodes oversight.
    """

    checks_validity: ClassVar[bool] = True
    kind: Literal["complacent"] = "complacent"
    sensitivity: float = Field(1.0, ge=0.0, le=100.0, allow_inf_nan=False)
    """How fast trust follows the observed success rate, 0 to 100."""
    max_trust: Probability = 0.9
    """Trust never exceeds this (in [0, 1]): the user still checks with probability at least
    1 - max_trust."""

    def trust(self, context: CurationContext) -> float:
        """Probability of *not* checking, given what the user has seen of the model."""
        if context.success_rate is None:
            return 0.0
        return min(self.max_trust, self.sensitivity * context.success_rate)

    def outcomes(
        self, trace: CandidateTrace, candidates: Sequence[CandidateTrace], context: CurationContext
    ) -> tuple[Outcome, ...]:
        """Checked (1 - trust): validity decides. Not checked (trust): passes, noted as such."""
        t = self.trust(context)
        note = f"not checked (complacent, trust {t:.2f})"
        if trace.is_valid:
            return (Outcome(1.0 - t, True), Outcome(t, True, note))
        return (
            Outcome(1.0 - t, False, f"invalid: {trace.status} (checked, trust {t:.2f})"),
            Outcome(t, True, note),
        )


class ActionBiasStage(Stage):
    """A taste for or against an action or an object: keep probability moves with its occurrences.

    With k the number of plan steps that match (the action name, the object among the arguments,
    or both when both are given) and b the keep probability of a plan without any occurrence:

    - ``avoid``: p = b · (1 - strength)^k  (each occurrence is one more chance to be put off);
    - ``prefer``: p = 1 - (1 - b) · (1 - strength)^k  (each occurrence one more chance to be won).

    b defaults to 1 for ``avoid`` (no occurrence, no objection) and 0.5 for ``prefer``.
    """

    kind: Literal["action_bias"] = "action_bias"
    action: str | None = None
    """Action name to match (case-insensitive), e.g. ``unstack``."""
    object: str | None = None
    """Object to match among a step's arguments (case-insensitive), e.g. ``b1``."""
    direction: Literal["prefer", "avoid"] = "avoid"
    """Whether occurrences raise or lower the keep probability."""
    strength: Probability = 0.5
    """Effect of one occurrence, in [0, 1]."""
    base: Probability | None = None
    """Keep probability of a plan with no occurrence, in [0, 1] (default 1 for avoid, 0.5 for prefer)."""

    @model_validator(mode="after")
    def _has_target(self) -> ActionBiasStage:
        if self.action is None and self.object is None:
            raise ValueError("action_bias needs `action` or `object` (or both)")
        return self

    @property
    def target(self) -> str:
        """What is matched, for reasons: ``unstack``, ``b1``, ``unstack on b1``."""
        if self.action is not None and self.object is not None:
            return f"{self.action} on {self.object}"
        return str(self.action if self.action is not None else self.object)

    def occurrences(self, trace: CandidateTrace) -> int:
        """Number of matching plan steps."""
        action = self.action.lower() if self.action is not None else None
        obj = self.object.lower() if self.object is not None else None
        return sum(
            1
            for name, args in trace.actions
            if (action is None or name.lower() == action)
            and (obj is None or obj in (a.lower() for a in args))
        )

    def keep_probability(self, k: int) -> float:
        """The formula above for k occurrences."""
        stay = (1.0 - self.strength) ** k
        if self.direction == "avoid":
            base = 1.0 if self.base is None else self.base
            return base * stay
        base = 0.5 if self.base is None else self.base
        return 1.0 - (1.0 - base) * stay

    def outcomes(
        self, trace: CandidateTrace, candidates: Sequence[CandidateTrace], context: CurationContext
    ) -> tuple[Outcome, ...]:
        """Pass with the formula's probability; the reason counts the occurrences."""
        k = self.occurrences(trace)
        p = self.keep_probability(k)
        seen = f"{self.target} ×{k}"
        note = f"action bias: {self.direction}s {seen}" if k else None
        return (Outcome(p, True, note), Outcome(1.0 - p, False, f"action bias: {self.direction}s {seen}"))


class AdversarialStage(Stage):
    """A user who publishes what hurts: invalid plans, or valid but pathologically long ones.

    A plan is *pathological* when it is valid and at least ``length_factor`` times as long as the
    reference: the task's optimal length when known, else the shortest valid candidate of the task.
    Harmful plans (per ``target``) are published with probability ``rate``, other plans with
    probability ``benign`` (0 by default: a pure troll).
    """

    kind: Literal["adversarial"] = "adversarial"
    rate: Probability = 0.3
    """Probability of publishing a harmful plan, in [0, 1]."""
    target: Literal["invalid", "pathological", "both"] = "both"
    """Which plans count as harmful."""
    length_factor: float = Field(2.0, ge=1.0, le=1000.0, allow_inf_nan=False)
    """A valid plan at least this many times the reference length is pathological (1 to 1000)."""
    benign: Probability = 0.0
    """Probability of publishing a plan that is not harmful, in [0, 1]."""

    def harm(self, trace: CandidateTrace, candidates: Sequence[CandidateTrace]) -> str | None:
        """``"invalid"``, ``"pathological"`` or ``None`` (not harmful under ``target``)."""
        if not trace.is_valid:
            return "invalid" if self.target in ("invalid", "both") else None
        if self.target == "invalid":
            return None
        reference = trace.optimal_length
        if reference is None:
            reference = min((c.plan_length for c in candidates if c.is_valid), default=None)
        if reference is not None and reference > 0 and trace.plan_length >= self.length_factor * reference:
            return "pathological"
        return None

    def outcomes(
        self, trace: CandidateTrace, candidates: Sequence[CandidateTrace], context: CurationContext
    ) -> tuple[Outcome, ...]:
        """Harmful: pass with ``rate``. Otherwise: pass with ``benign``."""
        harm = self.harm(trace, candidates)
        if harm is not None:
            return (
                Outcome(self.rate, True, f"adversarial: published {harm} plan"),
                Outcome(1.0 - self.rate, False, f"adversarial: held back {harm} plan"),
            )
        return (
            Outcome(self.benign, True),
            Outcome(1.0 - self.benign, False, "adversarial: nothing harmful, not published"),
        )


STAGES: Registry[type[Stage]] = Registry("curation stage")
"""Stage kind → class; one line per stage (:data:`StageSpec`, the union scenarios are validated
against, is derived from it)."""
STAGES.register("validity", ValidityStage)
STAGES.register("noisy_validator", NoisyValidatorStage)
STAGES.register("complacent", ComplacentStage)
STAGES.register("action_bias", ActionBiasStage)
STAGES.register("adversarial", AdversarialStage)


def _normalise_stage(data: Any) -> Any:
    """Accept the compact forms ``validity`` and ``{noisy_validator: {false_accept: 0.2}}``."""
    if isinstance(data, str):
        return {"kind": data}
    if isinstance(data, Mapping) and "kind" not in data and len(data) == 1:
        ((kind, params),) = data.items()
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise ValueError(f"parameters of stage {kind!r} must be a mapping, got {params!r}")
        return {"kind": kind, **params}
    return data


def _registered_stages() -> Any:
    """Every registered stage class as one union, in registration order: pydantic validates a
    union with a discriminator, not a registry, so the union is derived from :data:`STAGES` once
    every stage above is registered (a new stage needs no edit here)."""
    return Union[tuple(STAGES.values())]  # noqa: UP007 - a union built from a tuple at run time


if TYPE_CHECKING:
    StageSpec = Stage
else:
    StageSpec = Annotated[
        _registered_stages(), Field(discriminator="kind"), BeforeValidator(_normalise_stage)
    ]
"""Any stage, in full (``{kind: ..., ...}``) or compact form: the registered stages' union."""
