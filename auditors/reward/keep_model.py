"""The population's keep probability as a mixture of its groups' within-task rewards.

A(τ), the acceptance probability the simulator records, is a mixture by definition: the
population's groups each keep by their own rule, and A(τ) = Σ_g π_g A_g(τ) with π_g the group's
share of the traffic. One within-task reward fitted to every decision at once is a single
log-linear rule, and a mixture of opposite rules is not one. On the adversarial-minority scenario
(95% keep the shortest valid plan, 5% keep invalid and bloated plans) A(τ) ranks an invalid plan
(0.025) above a valid plan that is not the task's shortest (0): the pooled fit, dominated by the
majority, orders those pairs the other way and reached a within-task concordance of only
0.66-0.70 over five seeds.

A white-box auditor sees every decision's group, so it can model the mixture itself: fit the
within-task reward of each group on that group's own tasks, turn it into a keep probability
(the within-task softmax times the group's mean number of kept traces per task, capped at 1: the
"keep k of n" reading of the conditional logit), and mix them by each group's share of the
decided tasks. With one group this is a monotone transform of the pooled reward, so it orders
traces exactly as the pooled reward does.

Why a weaker penalty than the findings' fits (:data:`KEEP_MODEL_C`): the mixture compares
probabilities *across* groups, and deterministic rules separate kept from rejected traces, so an
L2 prior of unit scale leaves a rejected trace of the majority (the second of two equally short
plans, say) with a softmax share of a few per cent, larger than the minority's whole weight. A
prior of scale about 3 (``C`` = 10) lets the majority's rejections be near zero where its rule is
deterministic, and still keeps the weights finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from iterdeploy.auditors.core.recovery import within_task_softmax
from iterdeploy.auditors.payloads import KeepModelPart
from iterdeploy.auditors.reward.within_task import apply_reward, fit_reward

KEEP_MODEL_C = 10.0
"""Inverse L2 strength of the per-group fits of the keep model (see the module docstring)."""


@dataclass(frozen=True)
class GroupKeepModel:
    """One group's part of the mixture.

    Attributes:
        group: The user group (the scenario's ``users[].name``).
        share: Its share of the decided tasks (π_g).
        kept_per_task: Mean traces it kept per decided task.
        per_unit: Its within-task reward, log-odds per unit of each feature.
    """

    group: str
    share: float
    kept_per_task: float
    per_unit: dict[str, float]

    @classmethod
    def read(cls, stored: dict[str, object]) -> GroupKeepModel:
        """A component as :meth:`as_dict` stored it."""
        per_unit = stored["per_unit"]
        if not isinstance(per_unit, dict):
            raise ValueError(f"a keep-model component needs per_unit as a mapping, got {per_unit!r}")
        return cls(str(stored["group"]), float(str(stored["share"])), float(str(stored["kept_per_task"])),
                   {str(k): float(v) for k, v in per_unit.items()})

    @classmethod
    def from_part(cls, part: KeepModelPart) -> GroupKeepModel:
        """A component as a finding's payload holds it (``inferred_reward.mixture``).

        Raises:
            ValueError: A key of the component is missing.
        """
        if part.group is None or part.share is None or part.kept_per_task is None or part.per_unit is None:
            raise ValueError(f"a keep-model component needs group, share, kept_per_task and per_unit, "
                             f"got {part.model_dump(exclude_unset=True)!r}")
        return cls(part.group, float(part.share), float(part.kept_per_task),
                   {k: float(v) for k, v in part.per_unit.items()})

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``."""
        return {"group": self.group, "share": self.share, "kept_per_task": self.kept_per_task,
                "per_unit": dict(self.per_unit)}


def fit_keep_model(
    rows: pd.DataFrame, features: tuple[str, ...], *, c: float = KEEP_MODEL_C
) -> list[GroupKeepModel]:
    """Fit each group's within-task reward on its own decided tasks.

    Args:
        rows: Feature-table rows with ``group``, ``task_key``, ``kept`` and the features.
        features: Columns to fit (already expanded).
        c: Inverse L2 strength on standardised features.

    Returns:
        One component per group that decided some task, sorted by group name; empty without rows.
    """
    if not len(rows):
        return []
    tasks_by_group = rows.groupby("group")["task_key"].nunique()
    total = float(tasks_by_group.sum())
    out = []
    for group, sub in rows.groupby("group", sort=True):
        sub = sub.reset_index(drop=True)
        kept = float(sub.groupby("task_key")["kept"].sum().mean())
        out.append(GroupKeepModel(str(group), float(tasks_by_group[group]) / total, kept,
                                  fit_reward(sub, features, c=c)))
    return out


def keep_probability(model: list[GroupKeepModel], rows: pd.DataFrame) -> np.ndarray:
    """Σ_g π_g · min(1, k_g · softmax_task(reward_g)) for each row: the inferred A(τ).

    Args:
        model: The components (:meth:`GroupKeepModel.read` turns stored ones back into them).
        rows: Rows with ``task_key`` and the features the components weigh (missing ones count 0).
    """
    task = rows["task_key"].to_numpy()
    out = np.zeros(len(rows))
    for part in model:
        softmax = within_task_softmax(task, apply_reward(part.per_unit, rows))
        out += part.share * np.minimum(1.0, part.kept_per_task * softmax)
    return out
