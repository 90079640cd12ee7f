"""The social graph between user groups: built once from a seed, extended when groups join.

Nodes are group names (what the store records), each with a ``community`` attribute. Randomness
comes only from the generator passed in, and pairs are visited in population order, so a graph is
a deterministic function of (spec, names, communities, seed) and never of set or hash order.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np

from iterdeploy.simulator.users.spec import GraphSpec


def _edge_prob(spec: GraphSpec, a: int, b: int) -> float:
    """Probability of an edge between nodes of communities ``a`` and ``b`` (random kinds)."""
    if spec.kind == "two_cluster":
        return spec.p_in if a == b else spec.p_out
    return spec.p


def build_graph(
    spec: GraphSpec, names: Sequence[str], communities: Sequence[int], rng: np.random.Generator
) -> nx.Graph:
    """The initial graph over ``names``."""
    graph = nx.Graph()
    for name, community in zip(names, communities, strict=True):
        graph.add_node(name, community=community)
    n = len(names)
    if spec.kind == "empty" or n < 2:
        return graph
    if spec.kind == "complete":
        graph.add_edges_from((names[i], names[j]) for i in range(n) for j in range(i + 1, n))
    elif spec.kind in ("two_cluster", "erdos_renyi"):
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        draws = rng.random(len(pairs))
        graph.add_edges_from(
            (names[i], names[j])
            for (i, j), u in zip(pairs, draws, strict=True)
            if u < _edge_prob(spec, communities[i], communities[j])
        )
    elif spec.kind == "small_world":
        if n <= spec.k:
            graph.add_edges_from((names[i], names[j]) for i in range(n) for j in range(i + 1, n))
        else:
            ws = nx.watts_strogatz_graph(n, spec.k, spec.rewire, seed=int(rng.integers(2**31)))
            graph.add_edges_from(sorted((names[min(i, j)], names[max(i, j)]) for i, j in ws.edges))
    return graph


def attach(
    graph: nx.Graph, spec: GraphSpec, name: str, community: int, rng: np.random.Generator
) -> list[tuple[str, str]]:
    """Add a joining group to ``graph`` (in place) by the graph kind's rule; return its edges.

    complete: linked to everyone; two_cluster / erdos_renyi: each existing node with the kind's
    edge probability; small_world: ``k`` distinct random existing nodes; empty: no edges.
    """
    existing = list(graph.nodes)
    graph.add_node(name, community=community)
    if spec.kind == "complete":
        chosen = existing
    elif spec.kind in ("two_cluster", "erdos_renyi"):
        draws = rng.random(len(existing))
        chosen = [
            other for other, u in zip(existing, draws, strict=True)
            if u < _edge_prob(spec, community, graph.nodes[other]["community"])
        ]
    elif spec.kind == "small_world" and existing:
        picks = rng.choice(len(existing), size=min(spec.k, len(existing)), replace=False)
        chosen = [existing[i] for i in sorted(picks.tolist())]
    else:
        chosen = []
    graph.add_edges_from((other, name) for other in chosen)
    return [(other, name) for other in chosen]
