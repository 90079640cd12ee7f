"""What a user following the declared objective would have kept, task by task.

The operator declares what curation is for (``declared_objective`` in the scenario: a policy name
such as ``validity``, the paper's rule, or any policy spec). A declared objective is itself a
curation policy, so the auditors can run it on exactly the candidates the users saw and know, for
every trace, the probability ``p_decl`` that a user following the declaration keeps it, and that
user's decision. Every severity in the auditors is measured against this: behaviour the declared
objective explains is expected, what it does not explain is a finding.

The declared user decides with the policy's own draw (:meth:`CurationPlan.draw`), from a generator
seeded by the task and generation, so the decision is reproducible and independent of the order
tasks are read in. The usual declared objectives (``validity``, ``shortest``, ``longest``, keep
every valid plan, ``none``) are deterministic, and their draw is their rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from iterdeploy.simulator.errors import ScenarioError, StoreError
from iterdeploy.simulator.store import RunReader
from iterdeploy.simulator.users import (
    CandidateTrace,
    CurationContext,
    declared_policy,
    make_policy,
    parse_actions,
    policy_name,
)


def declared_value(reader: RunReader) -> Any:
    """The stored ``declared_objective`` of the run (``validity`` when the scenario has none)."""
    return reader.scenario().get("declared_objective", "validity")


def declared_name(reader: RunReader) -> str:
    """The declared objective's canonical policy name, e.g. ``validity-v1`` or ``validity-v1>all``.

    Raises:
        StoreError: When the stored declared objective is not a policy this version knows.
    """
    try:
        return policy_name(declared_policy(declared_value(reader)))
    except ScenarioError as exc:
        raise StoreError(f"the run's declared objective cannot be read: {exc}") from None


def declared_decisions(
    frame: pd.DataFrame, reader: RunReader, tasks: dict[int, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """``(p_decl, declared_kept)`` for every row of ``frame`` (curated deployment traces).

    Args:
        frame: Rows with ``trace_id, task_id, generation, is_valid, status, plan_length, n_tokens``
            and ``plan_text`` (or, without it, ``actions``: the plan's action names, which is all
            an action-name preference reads).
        reader: The run (for its declared objective).
        tasks: Task rows by id (domain, size and optimal length, which some stages read).

    Raises:
        StoreError: When the stored declared objective is not a policy this version knows.
    """
    try:
        policy = make_policy(declared_policy(declared_value(reader)))
    except ScenarioError as exc:
        raise StoreError(f"the run's declared objective cannot be read: {exc}") from None
    p_decl = np.zeros(len(frame))
    kept = np.zeros(len(frame), dtype=bool)
    columns = {c: frame[c].tolist() for c in ("trace_id", "task_id", "is_valid", "status", "plan_length",
                                              "n_tokens")}
    if "plan_text" in frame:
        steps = [parse_actions(str(text).splitlines()) for text in frame["plan_text"]]
    else:
        steps = [tuple((name, ()) for name in names) for names in frame["actions"]]
    groups = frame.groupby(["task_id", "generation"], sort=True).indices
    for (task_id, generation), positions in groups.items():
        task = tasks.get(int(task_id))
        candidates = [
            CandidateTrace(
                int(columns["trace_id"][i]), int(columns["task_id"][i]), bool(columns["is_valid"][i]),
                str(columns["status"][i]), int(columns["plan_length"][i]), int(columns["n_tokens"][i]),
                steps[i],
                domain=getattr(task, "domain", ""), task_size=getattr(task, "size", None),
                optimal_length=getattr(task, "optimal_length", None),
            )
            for i in positions
        ]
        plan = policy.prepare(candidates, CurationContext(generation=int(generation)))
        rng = np.random.default_rng([int(task_id), int(generation)])
        p_decl[positions] = np.asarray(plan.keep_probs, dtype=float)
        kept[positions] = [d.kept for d in plan.draw(rng)]
    return p_decl, kept


def declared_directions(reader: RunReader) -> dict[str, int]:
    """The concepts the declared objective speaks about, and which way it rewards each.

    Read off the policy's spec, not fitted: a validity check rewards ``validity`` (+1); a
    fallible or complacent check rewards it too, less reliably (+1); keeping the shortest plan
    per task rewards short plans (``length`` −1), the longest long ones (+1); an action preference
    rewards or penalises that action (``action:<name>``); an adversarial stage rewards invalid and
    long plans; keeping everything speaks about nothing. An outside auditor that sees a model move
    on a concept the declaration rewards the other way has found what the declaration does not
    explain; a move on a concept it is silent about is reported, not alarmed.

    Raises:
        StoreError: When the stored declared objective is not a policy this version knows.
    """
    try:
        spec = declared_policy(declared_value(reader))
    except ScenarioError as exc:
        raise StoreError(f"the run's declared objective cannot be read: {exc}") from None
    out: dict[str, int] = {}
    for stage in spec.stages:
        kind = stage.kind
        if kind in ("validity", "noisy_validator", "complacent"):
            out["validity"] = 1
        elif kind == "adversarial":
            out["validity"] = -1
            out["length"] = 1
        elif kind == "action_bias":
            action = getattr(stage, "action", None)
            prefer = getattr(stage, "direction", "avoid") == "prefer"
            if action:
                out[f"action:{action.lower()}"] = 1 if prefer else -1
    if spec.select == "shortest" and spec.stages:
        out.setdefault("length", -1)
    elif spec.select == "longest":
        out["length"] = 1
    return out
