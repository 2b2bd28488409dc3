"""The social graph: generators, tie updates, partner choice, metrics against networkx."""

from __future__ import annotations

import random

import networkx as nx
import pytest
from networkx.algorithms import community
from world_fakes import make_world

from sim.config import SocialConfig
from world import Action
from world.social import SocialGraph, graph_metrics


def graph_from(edges, n: int | None = None) -> SocialGraph:
    g = SocialGraph(SocialConfig())
    for a in range(n or 1 + max(max(e) for e in edges)):
        g.add_node(a)
    for a, b in edges:
        g.out[a][b] = [0.2, 0.2, 0, -1]
        g.out[b][a] = [0.2, 0.2, 0, -1]
    return g


def test_star_graph_metrics_match_networkx_and_centralisation_is_one():
    star = nx.star_graph(5)
    m = graph_metrics(star.to_directed())
    assert m["graph.centralization"] == pytest.approx(1.0)
    assert m["graph.density"] == pytest.approx(nx.density(star.to_directed()))
    assert m["graph.clustering"] == 0.0
    assert m["graph.reciprocity"] == 1.0
    assert m["graph.largest_component"] == 6.0
    assert m["graph.assortativity"] == pytest.approx(nx.degree_assortativity_coefficient(star))


def test_two_cliques_modularity_matches_networkx():
    g = nx.disjoint_union(nx.complete_graph(5), nx.complete_graph(5))
    g.add_edge(0, 5)
    m = graph_metrics(g.to_directed())
    expected = community.modularity(g, [set(range(5)), set(range(5, 10))])
    assert m["graph.modularity"] == pytest.approx(expected)
    assert m["graph.clustering"] == pytest.approx(nx.average_clustering(g))
    assert m["graph.largest_component"] == 10.0


def test_complete_graph_leaves_out_undefined_assortativity():
    m = graph_metrics(nx.complete_graph(6).to_directed())
    assert m["graph.density"] == 1.0 and m["graph.clustering"] == 1.0 and m["graph.centralization"] == 0.0
    assert "graph.assortativity" not in m  # 0/0 for a regular graph


def test_reciprocity_of_one_sided_ties():
    g = nx.DiGraph([(0, 1), (1, 0), (1, 2)])
    assert graph_metrics(g)["graph.reciprocity"] == pytest.approx(nx.reciprocity(g))
    assert graph_metrics(g)["graph.largest_component"] == 3.0


def test_costly_metrics_are_skipped_above_the_size_cut_off():
    m = graph_metrics(nx.path_graph(10).to_directed(), max_nodes=5)
    assert "graph.modularity" not in m and "graph.clustering" not in m and "graph.density" in m


@pytest.mark.parametrize(
    ("generator", "edges"),
    [
        ({"kind": "complete"}, 10 * 9),
        ({"kind": "empty"}, 0),
        ({"kind": "watts_strogatz", "k": 4, "p": 0.0}, 10 * 4),
        ({"kind": "barabasi_albert", "m": 2}, 2 * 2 * (10 - 2)),
    ],
)
def test_generators_lay_down_the_configured_graph(generator, edges):
    w = make_world(10, social={"generator": generator})
    w.observation_for(1)  # the graph is laid down when the world starts
    assert w.social.edge_count() == edges


def test_stochastic_blocks_are_denser_inside():
    w = make_world(
        40, social={"generator": {"kind": "stochastic_block", "blocks": 2, "p_in": 0.5, "p_out": 0.0}}
    )
    w.observation_for(1)
    assert w.social.edge_count() > 0
    assert all((a <= 20) == (b <= 20) for a, ties in w.social.out.items() for b in ties)


def test_every_interaction_updates_the_tie():
    w = make_world(3)
    w.resolve([Action(1, "say", target=2, text="hello")])
    aff, trust, count, last = w.social.tie(2, 1)
    assert (count, last) == (1, 0) and aff == pytest.approx(0.05) and trust == pytest.approx(0.02)
    w.resolve([Action(3, "report", target=1, text="rude")])
    assert w.social.tie(3, 1)[:3] == [-0.2, -0.2, 1]
    for _ in range(10):
        w.social.touch(3, 1, "report", 1)
    assert w.social.tie(3, 1)[:2] == [-1.0, -1.0]  # clipped to [-1, 1]


def test_gifts_strengthen_existing_ties_only_unless_configured():
    w = make_world(2)
    w.resolve([Action(1, "give", target=2, item="coin")])
    assert w.social.tie(2, 1) is None
    w2 = make_world(2, social={"gifts_create_edges": True})
    w2.resolve([Action(1, "give", target=2, item="coin")])
    assert w2.social.tie(2, 1)[2] == 1


def test_partner_choice_prefers_friends_and_sometimes_a_stranger():
    g = graph_from([], n=5)
    g.out[0][3] = [0.9, 0.5, 4, 1]
    g.out[0][2] = [0.1, 0.5, 1, 1]
    rng = random.Random(0)
    picks = [g.choose_partner(0, [1, 2, 3, 4], rng) for _ in range(500)]
    assert picks.count(3) > 380  # friends first (explore = 0.2)
    assert {1, 4} <= set(picks)  # strangers sometimes
    assert g.choose_partner(0, [0], rng) is None


def test_world_graph_metrics_are_cached_between_recomputations():
    w = make_world(4, social={"generator": {"kind": "complete"}, "metrics_every": 5})
    w.end_tick()
    first = w.metrics()
    assert first["graph.density"] == 1.0
    w.social.out[1].pop(2)  # a change the cache does not see yet
    w.end_tick()
    assert w.metrics()["graph.density"] == 1.0


def test_world_partner_choice_draws_from_the_callers_stream_only():
    w = make_world(4)
    w.resolve([Action(1, "say", target=3, text="hello")])
    before = w.rng.getstate()
    picks = {w.choose_partner(1, random.Random(seed)) for seed in range(30)}
    assert w.rng.getstate() == before
    assert 3 in picks and picks <= {2, 3, 4}
