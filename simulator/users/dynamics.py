"""Social dynamics between generations: influence along the graph's edges, churn, then the schedule.

One :func:`step` turns a population into the next generation's population and returns a record of
plain JSON-able dicts (nodes with policy, parameters, weight; edges; every change with its reason),
so the run store can keep the graph and its history per generation and the dashboard can replay it.

Influence (``dynamics.influence.kind``), applied synchronously (everyone reacts to the old state):

- ``degroot``: each numeric policy parameter x_i (e.g. ``noisy_validator.false_accept``) becomes
  s_i · x_i + (1 - s_i) · mean of x_j over the neighbours that have that parameter, with s_i the
  group's stubbornness (``self_weight`` unless the group sets its own). Values are rounded to 6
  decimals so policy names stay readable. On a connected graph with s_i > 0 this converges to a
  consensus (DeGroot, 1974); disconnected communities keep their own.
- ``threshold``: a group adopts the policy most common among its neighbours (ties: the
  lexicographically smaller name) when that policy's share of its neighbours is >= ``threshold``.

Churn: each group leaves with probability ``leave`` (never below ``min_groups``; the draws that
would take it below are undone, highest first); then each remaining group brings in one joiner with
probability ``join``. A joiner copies a uniformly drawn remaining group (its current policy, tasks,
weight, community) or, if declared, the ``template``; it is linked by the graph kind's rule
(:func:`iterdeploy.simulator.users.graph.attach`). Every random draw comes from the generator passed in, in a
fixed order, so a seed fixes the whole sequence.

Schedule (``dynamics.schedule``): at the boundary into generation g, every member of a family with
an entry for g switches to the entry's policy (and its weight, split evenly over the members).
It is applied *last*, after influence and churn, so that the population curating generation g
holds exactly the planted policy: applied first, DeGroot averaging or imitation in the same step
could already blur or undo it, and a joiner copying a family member would bring the old policy in.
It draws nothing at random, so a scenario with a schedule consumes the generator exactly as the
one without, and a resumed run, which rebuilds its population by replaying :func:`step` for each
committed generation, applies it identically.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from iterdeploy.simulator.users.graph import attach
from iterdeploy.simulator.users.group import UserGroup
from iterdeploy.simulator.users.policy_spec import PolicySpec
from iterdeploy.simulator.users.spec import DynamicsSpec

if TYPE_CHECKING:  # for annotations only: the population imports this module
    from iterdeploy.simulator.users.population import Population


def _param_prefixes(spec: PolicySpec) -> list[str]:
    """``kind`` for a stage kind's first occurrence in the policy, ``kind#n`` for later ones."""
    seen: Counter[str] = Counter()
    out = []
    for stage in spec.stages:
        n = seen[stage.kind]
        seen[stage.kind] += 1
        out.append(stage.kind if n == 0 else f"{stage.kind}#{n}")
    return out


def policy_params(spec: PolicySpec) -> dict[str, float]:
    """The numeric parameters of a policy as ``stage.field`` → value (what DeGroot averages)."""
    out = {}
    for prefix, stage in zip(_param_prefixes(spec), spec.stages, strict=True):
        for name, value in stage.params().items():
            if isinstance(value, float):
                out[f"{prefix}.{name}"] = value
    return out


def with_params(spec: PolicySpec, updates: dict[str, float]) -> PolicySpec:
    """``spec`` with some ``stage.field`` parameters replaced (re-validated)."""
    stages = []
    for prefix, stage in zip(_param_prefixes(spec), spec.stages, strict=True):
        data = stage.model_dump()
        for name in data:
            if f"{prefix}.{name}" in updates:
                data[name] = updates[f"{prefix}.{name}"]
        stages.append(data)
    return PolicySpec.model_validate({"stages": stages, "select": spec.select})


def _neighbours(pop: Population, index: dict[str, int], name: str) -> list[int]:
    """Neighbour indices in population order (not adjacency order, which depends on history)."""
    return sorted(index[n] for n in pop.graph.neighbors(name))


def _degroot(pop: Population) -> tuple[list[UserGroup], list[dict[str, Any]]]:
    influence = pop.dynamics.influence
    allowed = set(influence.parameters)
    index = {n: i for i, n in enumerate(pop.names)}
    params = [policy_params(g.spec.policy) for g in pop.groups]
    groups, changes = [], []
    for i, g in enumerate(pop.groups):
        nbrs = _neighbours(pop, index, g.name)
        self_weight = g.spec.stubbornness if g.spec.stubbornness is not None else influence.self_weight
        updates = {}
        for key, x in params[i].items():
            if allowed and key not in allowed:
                continue
            values = [params[j][key] for j in nbrs if key in params[j]]
            if not values:
                continue
            new = round(self_weight * x + (1.0 - self_weight) * sum(values) / len(values), 6)
            if new != x:
                updates[key] = new
                changes.append({
                    "node": g.name, "kind": "degroot", "parameter": key, "before": x, "after": new,
                    "reason": f"DeGroot averaging with {len(values)} neighbour(s), self-weight {self_weight}",
                })
        groups.append(g.with_policy(with_params(g.spec.policy, updates)) if updates else g)
    return groups, changes


def _imitate(pop: Population) -> tuple[list[UserGroup], list[dict[str, Any]]]:
    threshold = pop.dynamics.influence.threshold
    index = {n: i for i, n in enumerate(pop.names)}
    names = [p.name for p in pop.policies]
    groups, changes = [], []
    for i, g in enumerate(pop.groups):
        nbrs = _neighbours(pop, index, g.name)
        if not nbrs:
            groups.append(g)
            continue
        counts = Counter(names[j] for j in nbrs)
        best, count = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        share = count / len(nbrs)
        if best == names[i] or share < threshold:
            groups.append(g)
            continue
        source = next(j for j in nbrs if names[j] == best)
        groups.append(g.with_policy(pop.groups[source].spec.policy))
        changes.append({
            "node": g.name, "kind": "imitate", "before": names[i], "after": best,
            "reason": f"{count} of {len(nbrs)} neighbours ({share:.0%}) use {best} (threshold {threshold})",
        })
    return groups, changes


def _churn(
    pop: Population, groups: list[UserGroup], rng: np.random.Generator
) -> tuple[list[UserGroup], nx.Graph, int, list[dict[str, Any]]]:
    churn = pop.dynamics.churn
    graph = pop.graph.copy()
    changes: list[dict[str, Any]] = []
    leave_draws = rng.random(len(groups))
    leaving = [i for i, u in enumerate(leave_draws) if u < churn.leave]
    room = max(0, len(groups) - churn.min_groups)
    if len(leaving) > room:
        leaving = sorted(sorted(leaving, key=lambda i: leave_draws[i])[:room])
    for i in leaving:
        graph.remove_node(groups[i].name)
        changes.append({"node": groups[i].name, "kind": "leave",
                        "reason": f"churn: left (leave rate {churn.leave})"})
    gone = set(leaving)
    survivors = [g for i, g in enumerate(groups) if i not in gone]
    out = list(survivors)
    taken = {g.name for g in out}
    joined = pop.joined
    n_joiners = int((rng.random(len(survivors)) < churn.join).sum())
    for _ in range(n_joiners):
        if churn.template is not None:
            spec, source = churn.template, "template"
            community = spec.community if spec.community is not None else int(rng.integers(2))
            why = f"joined from the declared template {spec.name!r}"
        else:
            model = survivors[int(rng.integers(len(survivors)))]
            spec, source, community = model.spec, model.name, model.community
            why = f"joined copying {model.name} (policy {model.policy.name})"
        name = f"{spec.name}-j{joined}"
        while name in taken:
            joined += 1
            name = f"{spec.name}-j{joined}"
        joined += 1
        taken.add(name)
        member = UserGroup(name, spec, community)
        edges = attach(graph, pop.dynamics.graph, name, community, rng)
        out.append(member)
        changes.append({"node": name, "kind": "join", "source": source, "policy": member.policy.name,
                        "edges": [list(e) for e in edges], "reason": why})
    return out, graph, joined, changes


def _schedule(
    groups: list[UserGroup], dynamics: DynamicsSpec, generation: int | None
) -> tuple[list[UserGroup], list[dict[str, Any]]]:
    """The members after the changes scheduled for ``generation``, and one change each."""
    if generation is None:
        return groups, []
    out, changes = list(groups), []
    for entry in dynamics.scheduled_at(generation):
        members = [i for i, g in enumerate(out) if g.spec.name == entry.group]
        weight = None if entry.weight is None else entry.weight / max(1, len(members))
        for i in members:
            old = out[i]
            new = old.with_policy(entry.policy, weight=weight)
            out[i] = new
            change: dict[str, Any] = {
                "node": old.name, "family": entry.group, "kind": "scheduled",
                "before": old.policy.name, "after": new.policy.name,
                "reason": f"scheduled at generation {generation}",
            }
            if weight is not None:
                change |= {"weight_before": old.weight, "weight_after": new.weight}
            changes.append(change)
    return out, changes


def describe_population(
    pop: Population, generation: int | None, changes: list[dict[str, Any]]
) -> dict[str, Any]:
    """The JSON-able per-generation record of a population (see :func:`step`)."""
    index = {n: i for i, n in enumerate(pop.names)}
    edges = sorted((sorted((a, b), key=index.__getitem__) for a, b in pop.graph.edges),
                   key=lambda e: (index[e[0]], index[e[1]]))
    return {
        "generation": generation,
        "graph": pop.dynamics.graph.kind,
        "influence": pop.dynamics.influence.kind,
        "nodes": [
            {
                "name": g.name,
                "family": g.spec.name,
                "policy": g.policy.name,
                "policy_spec": g.spec.policy.model_dump(mode="json"),
                "params": policy_params(g.spec.policy),
                "tasks": None if g.spec.tasks is None else g.spec.tasks.model_dump(mode="json")["domains"],
                "weight": g.weight,
                "share": float(w),
                "community": g.community,
            }
            for g, w in zip(pop.groups, pop.weights, strict=True)
        ],
        "edges": [list(e) for e in edges],
        "changes": changes,
    }


def step(
    pop: Population, rng: np.random.Generator, *, generation: int | None = None
) -> tuple[Population, dict[str, Any]]:
    """One generation boundary: influence, then churn, then the changes ``dynamics.schedule``
    plants for ``generation`` (none when it is ``None``). Returns the new population and its
    record ``{generation, graph, influence, nodes, edges, changes}`` (``generation`` as given: the
    one the new population will serve). ``pop`` is not modified."""
    kind = pop.dynamics.influence.kind
    if kind == "degroot":
        groups, changes = _degroot(pop)
    elif kind == "threshold":
        groups, changes = _imitate(pop)
    else:
        groups, changes = list(pop.groups), []
    groups, graph, joined, churned = _churn(pop, groups, rng)
    groups, scheduled = _schedule(groups, pop.dynamics, generation)
    new = pop.with_members(groups, graph=graph, joined=joined)
    return new, describe_population(new, generation, changes + churned + scheduled)
