"""Social dynamics: graphs, DeGroot averaging, threshold imitation, churn, determinism, records."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest

from iterdeploy.simulator.users import GraphSpec, Population
from iterdeploy.simulator.users.graph import build_graph


def _noisy(name: str, false_accept: float, community: int | None = None) -> dict:
    return {"name": name, "community": community,
            "policy": {"noisy_validator": {"false_accept": false_accept, "false_reject": 0.0}}}


def _false_accepts(pop: Population) -> list[float]:
    return [g.spec.policy.stages[0].false_accept for g in pop.groups]


def _run(pop: Population, steps: int, seed: int) -> tuple[Population, list[dict]]:
    rng = np.random.default_rng(seed)
    records = []
    for g in range(1, steps + 1):
        pop, record = pop.step(rng, generation=g)
        records.append(record)
    return pop, records


def test_degroot_reaches_consensus_on_a_connected_graph() -> None:
    start = [0.05 * i for i in range(12)]
    pop = Population([_noisy(f"u{i}", fa) for i, fa in enumerate(start)],
                     dynamics={"graph": {"kind": "small_world", "k": 2, "rewire": 0.3},
                               "influence": {"kind": "degroot", "self_weight": 0.3}}, seed=4)
    assert nx.is_connected(pop.graph) and not nx.is_isomorphic(pop.graph, nx.complete_graph(12))
    _, records = _run(pop, 1, seed=0)
    changes = records[0]["changes"]
    assert changes and {c["kind"] for c in changes} == {"degroot"}
    assert {c["parameter"] for c in changes} == {"noisy_validator.false_accept"}  # false_reject all equal
    final, _ = _run(pop, 150, seed=0)
    values = _false_accepts(final)
    assert max(values) - min(values) < 1e-3
    assert min(start) < values[0] < max(start)
    assert final.policies[0].name == final.policies[-1].name or max(values) - min(values) < 1e-5


def test_two_clusters_without_bridges_keep_two_opinions() -> None:
    low = [_noisy(f"low{i}", 0.05 + 0.05 * i, community=0) for i in range(5)]
    high = [_noisy(f"high{i}", 0.6 + 0.05 * i, community=1) for i in range(5)]
    pop = Population(low + high, dynamics={"graph": {"kind": "two_cluster", "p_in": 1.0, "p_out": 0.0},
                                           "influence": "degroot"})
    community = nx.get_node_attributes(pop.graph, "community")
    assert all(community[a] == community[b] for a, b in pop.graph.edges)
    final, _ = _run(pop, 60, seed=1)
    values = _false_accepts(final)
    assert max(values[:5]) - min(values[:5]) < 1e-3 and max(values[5:]) - min(values[5:]) < 1e-3
    assert values[5] - values[0] > 0.5
    bridged = Population(low + high, dynamics={"graph": {"kind": "two_cluster", "p_in": 1.0, "p_out": 0.2},
                                               "influence": "degroot"}, seed=2)
    assert nx.is_connected(bridged.graph)
    values = _false_accepts(_run(bridged, 200, seed=1)[0])
    assert max(values) - min(values) < 1e-2


def test_stubborn_groups_do_not_move() -> None:
    groups = [_noisy("a", 0.1), _noisy("b", 0.5) | {"stubbornness": 1.0}]
    final, _ = _run(Population(groups, dynamics={"influence": "degroot"}), 30, seed=0)
    assert _false_accepts(final) == pytest.approx([0.5, 0.5], abs=1e-5)


def test_degroot_parameters_whitelist() -> None:
    groups = [{"name": "a", "policy": {"noisy_validator": {"false_accept": 0.0, "false_reject": 0.0}}},
              {"name": "b", "policy": {"noisy_validator": {"false_accept": 0.4, "false_reject": 0.4}}}]
    pop = Population(groups, dynamics={"influence": {"kind": "degroot",
                                                      "parameters": ["noisy_validator.false_reject"]}})
    new, record = pop.step(np.random.default_rng(0))
    assert {c["parameter"] for c in record["changes"]} == {"noisy_validator.false_reject"}
    assert _false_accepts(new) == [0.0, 0.4]


def test_threshold_imitation_adopts_the_local_majority() -> None:
    groups = [(f"v{i}", "validity", 1.0) for i in range(4)] + [("odd", "accept_all", 1.0)]
    pop = Population(groups, dynamics={"influence": {"kind": "threshold", "threshold": 0.75}})
    new, record = pop.step(np.random.default_rng(0), generation=3)
    assert [p.name for p in new.policies] == ["validity-v1"] * 5
    assert record["generation"] == 3
    assert record["changes"] == [{"node": "odd", "kind": "imitate", "before": "accept_all-v1",
                                  "after": "validity-v1",
                                  "reason": "4 of 4 neighbours (100%) use validity-v1 (threshold 0.75)"}]
    # a 3-vs-2 split: each "o" sees 3 of 4 neighbours on validity (75%), each "v" a 2-2 tie
    groups = [(f"v{i}", "validity", 1.0) for i in range(3)]
    groups += [("o1", "accept_all", 1.0), ("o2", "accept_all", 1.0)]
    pop = Population(groups, dynamics={"influence": {"kind": "threshold", "threshold": 0.75}})
    new, record = pop.step(np.random.default_rng(0))
    assert [c["node"] for c in record["changes"]] == ["o1", "o2"]
    assert [p.name for p in new.policies] == ["validity-v1"] * 5
    pop = Population(groups, dynamics={"influence": {"kind": "threshold", "threshold": 0.8}})
    new, record = pop.step(np.random.default_rng(0))
    assert record["changes"] == [] and [p.name for p in new.policies] == [p.name for p in pop.policies]


def test_churn_changes_membership_and_respects_min_groups() -> None:
    pop = Population([{"name": "u", "count": 10, "policy": "validity"}],
                     dynamics={"graph": "erdos_renyi", "churn": {"leave": 0.3, "join": 0.3}}, seed=0)
    final, records = _run(pop, 5, seed=7)
    kinds = {c["kind"] for r in records for c in r["changes"]}
    assert kinds == {"leave", "join"}
    assert set(final.names) != set(pop.names)
    assert any(n.startswith("u-j") for n in final.names)
    assert len(set(final.names)) == len(final.names)
    for r in records:
        for c in r["changes"]:
            if c["kind"] == "join":
                assert all(c["node"] in e for e in c["edges"])
    everyone_leaves = Population([{"name": "u", "count": 6}],
                                 dynamics={"churn": {"leave": 1.0, "min_groups": 2}})
    after, record = everyone_leaves.step(np.random.default_rng(0))
    assert len(after) == 2 and sum(c["kind"] == "leave" for c in record["changes"]) == 4


def test_joiners_from_a_template() -> None:
    pop = Population([("a", "validity", 1.0), ("b", "validity", 1.0)],
                     dynamics={"churn": {"join": 1.0, "template": {"name": "newcomer", "policy": "accept_all",
                                                                   "weight": 2.0}}})
    new, _ = pop.step(np.random.default_rng(0))
    assert new.names == ["a", "b", "newcomer-j0", "newcomer-j1"]
    assert [p.name for p in new.policies][2:] == ["accept_all-v1"] * 2
    assert new.weights.tolist() == pytest.approx([1 / 6, 1 / 6, 2 / 6, 2 / 6])
    assert nx.is_isomorphic(new.graph, nx.complete_graph(4))  # complete graphs stay complete
    newer, _ = new.step(np.random.default_rng(1))
    assert "newcomer-j2" in newer.names and len(set(newer.names)) == len(newer.names)


def test_same_seed_same_sequence_and_records_are_json() -> None:
    def make() -> Population:
        return Population([_noisy(f"u{i}", 0.1 * i) for i in range(6)],
                          dynamics={"graph": {"kind": "erdos_renyi", "p": 0.5}, "influence": "degroot",
                                    "churn": {"leave": 0.2, "join": 0.2}}, seed=11)
    a = json.dumps(_run(make(), 6, seed=5)[1])
    b = json.dumps(_run(make(), 6, seed=5)[1])
    c = json.dumps(_run(make(), 6, seed=6)[1])
    assert a == b
    assert a != c


def test_record_describes_the_new_population() -> None:
    pop = Population([_noisy("a", 0.1), _noisy("b", 0.3), ("c", "validity", 2.0)],
                     dynamics={"influence": "degroot"})
    new, record = pop.step(np.random.default_rng(0), generation=1)
    assert json.loads(json.dumps(record)) == record
    assert [n["name"] for n in record["nodes"]] == new.names
    assert [n["policy"] for n in record["nodes"]] == [p.name for p in new.policies]
    # "a" averages only with "b": "c" (validity) has no false_accept to offer
    assert sum(n["share"] for n in record["nodes"]) == pytest.approx(1.0)
    assert record["nodes"][0]["params"] == {"noisy_validator.false_accept": 0.2,
                                            "noisy_validator.false_reject": 0.0}
    assert {frozenset(e) for e in record["edges"]} == {frozenset(e) for e in new.graph.edges}
    assert record["changes"][0] == {"node": "a", "kind": "degroot", "before": 0.1, "after": 0.2,
                                    "parameter": "noisy_validator.false_accept",
                                    "reason": "DeGroot averaging with 1 neighbour(s), self-weight 0.5"}
    snapshot = pop.snapshot(0)
    assert snapshot["changes"] == [] and snapshot["nodes"][0]["params"]["noisy_validator.false_accept"] == 0.1


@pytest.mark.parametrize("kind", ["complete", "two_cluster", "erdos_renyi", "small_world", "empty"])
def test_graph_kinds_are_seeded(kind: str) -> None:
    names = [f"n{i}" for i in range(12)]
    communities = [i % 2 for i in range(12)]
    spec = GraphSpec(kind=kind)
    g1 = build_graph(spec, names, communities, np.random.default_rng(3))
    g2 = build_graph(spec, names, communities, np.random.default_rng(3))
    assert list(g1.nodes) == names and list(g1.edges) == list(g2.edges)
    expected_edges = {"complete": 66, "small_world": 12 * spec.k // 2, "empty": 0}
    if kind in expected_edges:
        assert g1.number_of_edges() == expected_edges[kind]
    else:
        assert 0 < g1.number_of_edges() < 66


def test_two_cluster_edge_probabilities() -> None:
    names = [f"n{i}" for i in range(40)]
    communities = [0] * 20 + [1] * 20
    g = build_graph(GraphSpec(kind="two_cluster", p_in=0.5, p_out=0.1), names, communities,
                    np.random.default_rng(0))
    inside = sum(communities[int(a[1:])] == communities[int(b[1:])] for a, b in g.edges)
    across = g.number_of_edges() - inside
    from users_strategies import within_binomial
    assert within_binomial(inside, 2 * 190, 0.5) and within_binomial(across, 400, 0.1)
