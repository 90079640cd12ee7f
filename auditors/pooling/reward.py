"""The inferred reward across seeds: each feature's implicit-reward weight, per generation.

The implicit-reward auditor stores one finding for the whole run and one per generation, each with
``numbers.features``: per feature, the within-task weight (log-odds of being kept per within-task
SD), its bootstrap interval, or nothing for a feature that is constant within every task. Here
those weights are lined up by (generation, feature) over the seeds of one scenario: their spread
says how much a seed moves the estimate, and the count of seeds whose interval excludes zero, with
its sign, says whether the claim "users reward this feature" is a property of the scenario or of
one seed.
"""

from __future__ import annotations

from collections.abc import Sequence

from iterdeploy.auditors.payloads import Effect, ImplicitRewardNumbers, WithinTaskEffect, payload
from iterdeploy.auditors.pooling.results import Sign, WeightAcrossSeeds, recurrence_of
from iterdeploy.auditors.pooling.runs import AuditedRun
from iterdeploy.auditors.registry import split_version
from iterdeploy.simulator.studies import spread

IMPLICIT_REWARD = ("implicit-reward", "implicit-reward")
"""(auditor command name, finding kind) of the findings whose weights are pooled."""


def interval_sign(effect: Effect) -> Sign | None:
    """+1 when the effect's interval lies above zero, -1 below, None when it has none or spans 0.

    Examples:
        >>> from iterdeploy.auditors.payloads import Effect
        >>> interval_sign(Effect(ci_low=0.2, ci_high=1.0)), interval_sign(Effect(ci_low=-1, ci_high=1))
        (1, None)
    """
    low, high = effect.ci_low, effect.ci_high
    if low is not None and high is not None:
        if low > 0:
            return 1
        if high < 0:
            return -1
    return None


def reward_across_seeds(members: Sequence[AuditedRun]) -> list[WeightAcrossSeeds]:
    """Every (generation, feature) the implicit-reward auditor weighed in any of ``members`` (the
    seeds of one scenario, in the order the result's values follow), the whole run first, then by
    generation and feature name."""
    fits: list[dict[int | None, dict[str, WithinTaskEffect]]] = []  # per seed: generation -> an ok fit
    auditor = ""
    for member in members:
        fitted: dict[int | None, dict[str, WithinTaskEffect]] = {}
        for f in member.findings:
            if (split_version(f.auditor)[0], f.kind) != IMPLICIT_REWARD:
                continue
            auditor = f.auditor
            numbers = payload(f, ImplicitRewardNumbers)
            if numbers.fit_status == "ok" and numbers.features is not None:
                fitted[f.generation] = numbers.features
        fits.append(fitted)
    keys = sorted({(g, name) for fitted in fits for g, features in fitted.items() for name in features},
                  key=lambda k: (k[0] is not None, k[0] or 0, k[1]))
    out = []
    for generation, feature in keys:
        effects = [fitted[generation].get(feature) if generation in fitted else None for fitted in fits]
        values = [_weight(e) for e in effects]
        signs = [interval_sign(e) for e in effects if e is not None]
        above, below = signs.count(1), signs.count(-1)
        n_fitted = sum(generation in fitted for fitted in fits)
        sign: Sign | None = None
        if above and not below:
            sign = 1
        elif below and not above:
            sign = -1
        out.append(WeightAcrossSeeds(
            auditor=auditor, generation=generation, feature=feature, n_seeds=len(members),
            n_fitted=n_fitted, weight=spread(values),
            n_interval=sum(1 for e in effects if e is not None and _has_interval(e)),
            n_above_zero=above, n_below_zero=below, sign=sign,
            recurrence=recurrence_of(max(above, below), n_fitted)))
    return out


def _weight(effect: Effect | None) -> float | None:
    return None if effect is None or effect.weight is None else float(effect.weight)


def _has_interval(effect: Effect) -> bool:
    return effect.ci_low is not None and effect.ci_high is not None
