"""Small pieces the domain generators share: naming, random choices, connected graphs, paths.

All randomness comes from the ``numpy.random.Generator`` a generator is given, and every draw is
made in a fixed order, so the same seed gives the same task on every machine.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np

from iterdeploy.simulator.planning._pddl import build_task, shipped_domain
from iterdeploy.simulator.planning._task import Atom, GroundTask

T = TypeVar("T")


def numbered(prefix: str, n: int, *, start: int = 1) -> list[str]:
    """``prefix1 .. prefixN``: object names as the IPC generators write them."""
    return [f"{prefix}{i}" for i in range(start, start + n)]


def typed(names: Sequence[str], type_name: str) -> list[tuple[str, str]]:
    """``(name, type)`` pairs for :func:`new_task`."""
    return [(n, type_name) for n in names]


def pick(rng: np.random.Generator, items: Sequence[T]) -> T:
    """One item, uniformly."""
    return items[int(rng.integers(len(items)))]


def shuffled(rng: np.random.Generator, items: Sequence[T]) -> list[T]:
    """A new list with the items in random order."""
    return [items[i] for i in rng.permutation(len(items))]


def new_task(
    domain: str,
    name: str,
    objects: list[tuple[str, str]],
    init: set[Atom],
    goal: set[Atom],
    params: Mapping[str, int],
) -> GroundTask:
    """The task for the shipped domain ``domain``, tagged with ``params`` (in their order)."""
    return build_task(shipped_domain(domain), name, objects, init, goal, tuple(params.items()))


def random_connected_graph(nodes: Sequence[str], rng: np.random.Generator) -> set[tuple[str, str]]:
    """A random connected undirected graph as a set of directed edges (both directions).

    As the IPC-2023 generators do it: a random spanning tree (each node, in random order, joins a
    random node already in the tree), then a uniformly drawn number of extra edges up to the
    complete graph. The tree is what makes every node reachable from every other.
    """
    return random_connected_graph_with_tree(nodes, rng)[0]


def random_connected_graph_with_tree(
    nodes: Sequence[str], rng: np.random.Generator
) -> tuple[set[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """``(edges, tree, extra)``: all directed edges, and the tree's and the extra undirected edges."""
    order = shuffled(rng, nodes)
    tree: list[tuple[str, str]] = []
    for i, node in enumerate(order[1:], start=1):
        tree.append((node, order[int(rng.integers(i))]))
    linked = {frozenset(e) for e in tree}
    others = [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1:] if frozenset((a, b)) not in linked]
    n = len(nodes)
    total = int(rng.integers(n - 1, n * (n - 1) // 2, endpoint=True)) if n > 1 else 0
    extra = shuffled(rng, others)[: max(0, total - (n - 1))]
    edges = {e for a, b in tree + extra for e in ((a, b), (b, a))}
    return edges, tree, extra


def shortest_path(edges: set[tuple[str, str]], start: str, goal: str) -> list[str]:
    """Nodes from ``start`` to ``goal`` (both included) along directed ``edges``, fewest hops first.

    Raises:
        RuntimeError: when ``goal`` is unreachable (generators only ask on connected graphs).
    """
    if start == goal:
        return [start]
    succ: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        succ.setdefault(a, []).append(b)
    parent: dict[str, str] = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in succ.get(node, []):
            if nxt not in parent:
                parent[nxt] = node
                if nxt == goal:
                    path = [goal]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return path[::-1]
                queue.append(nxt)
    raise RuntimeError(f"no path from {start} to {goal}")
