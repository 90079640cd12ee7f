"""Who decided what: a run's curation decisions with each user's group, and the run id.

The auditors that ask *whose* curation a reward reflects (``attribution-v1``) or report decisions per
group next to a weight (``reward-drift-v2``) need every decision with the user who made it and that
user's group. Groups are the scenario's user groups: a group with ``count: 10`` has ten members
(``name-0`` ... ``name-9``) and joiners of churn are ``name-jN``. Each decision stores its user's group
(schema version 4); for decisions of older stores, the population records map each member to its
family, and a store without them (older or synthetic stores) treats each recorded user as its own
group. A member that adopts a neighbour's policy stays in its family; the policy
each decision was made under is kept on the decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import pandas as pd

from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.store import RunReader


def run_id_of(reader: RunReader) -> str | None:
    """The run id, or None for a store without a run row."""
    try:
        return reader.run().run_id
    except StoreError:
        return None


def user_groups(reader: RunReader, users: Iterable[str]) -> dict[str, str]:
    """Map each recorded user to its group (the scenario's group name, the member's family).

    Sources, in order: the group its decisions recorded (schema version 4 on); the population
    records of every generation (``nodes[].name`` → ``nodes[].family``); the scenario's ``users:``
    (a member ``name-K`` of a group with ``count`` > 1, or ``name-jK``, a joiner); else the user
    is a group of its own.
    """
    mapping: dict[str, str] = reader.stored_user_groups()
    for row in reader.populations():
        try:
            record = json.loads(row.record_json)
        except (TypeError, ValueError):
            continue
        for node in record.get("nodes", []) if isinstance(record, dict) else []:
            if isinstance(node, dict) and node.get("name") and node.get("family"):
                mapping.setdefault(str(node["name"]), str(node["family"]))
    try:
        scenario_users = reader.scenario().get("users") or []
    except (StoreError, ValueError, TypeError):
        scenario_users = []
    names = {str(u.get("name")) for u in scenario_users if isinstance(u, dict) and u.get("name")}
    out = {}
    for user in users:
        if user in mapping:
            out[user] = mapping[user]
            continue
        match = re.fullmatch(r"(.+)-j?\d+", user)
        out[user] = match.group(1) if user not in names and match and match.group(1) in names else user
    return out


def decision_table(reader: RunReader) -> pd.DataFrame:
    """One row per curation decision: ``decision_id, trace_id, generation, user, group, policy,
    kept``, sorted by ``decision_id``."""
    rows = [
        (d.decision_id, d.trace_id, d.generation, d.user, d.policy, int(d.kept)) for d in reader.decisions()
    ]
    frame = pd.DataFrame(rows, columns=["decision_id", "trace_id", "generation", "user", "policy", "kept"])
    groups = user_groups(reader, sorted(set(frame["user"])))
    frame["group"] = frame["user"].map(groups).astype(str) if len(frame) else pd.Series(dtype=str)
    return frame.sort_values("decision_id").reset_index(drop=True)
