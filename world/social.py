"""The social graph: directed ties with affinity and trust, updated by every interaction.

A tie ``a -> b`` is what ``a`` feels about ``b``: affinity and trust in [-1, 1], how many
times they interacted and when last. Ties live in plain nested dicts (fast to update,
JSON-safe); a :class:`networkx.DiGraph` is built only when metrics are computed.

The initial graph comes from a networkx generator (watts_strogatz, barabasi_albert,
stochastic_block, complete, empty) over the avatars present when the world starts; each
undirected edge becomes two ties. Interaction effects are in :data:`EFFECTS`.

Graph metrics are computed in one place, :func:`graph_metrics`.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import networkx as nx
from networkx.algorithms import community

__all__ = ["EFFECTS", "SocialGraph", "graph_metrics"]

#: interaction -> (affinity change, trust change) for the tie of the one who experienced it.
EFFECTS: dict[str, tuple[float, float]] = {
    "conversation": (0.05, 0.02),
    "hostile_message": (-0.2, -0.1),  # the target's tie to a hostile sender
    "gift": (0.1, 0.05),
    "fair_trade": (0.05, 0.1),
    "unfair_trade": (-0.1, -0.2),  # the side that got the worse deal
    "dishonoured_offer": (-0.1, -0.3),
    "collaboration": (0.15, 0.15),
    "report": (-0.2, -0.2),  # the reporter's tie to the reported
    "sanctioned": (-0.05, -0.2),  # the reporters' ties to an avatar the moderators sanctioned
}


def _clip(v: float) -> float:
    return -1.0 if v < -1.0 else (1.0 if v > 1.0 else v)


class SocialGraph:
    """Directed ties between avatars: ``out[a][b] = [affinity, trust, count, last_tick]``."""

    def __init__(self, social_cfg: Any) -> None:
        self.cfg = social_cfg
        self.out: dict[int, dict[int, list[Any]]] = {}
        # Bumped when a tie or node appears: unweighted metrics only change then.
        self.version = 0

    def add_node(self, avatar: int) -> None:
        """A newcomer with no ties."""
        self.out.setdefault(avatar, {})
        self.version += 1

    def generate(self, avatars: list[int], rng: random.Random) -> None:
        """Lay down the configured initial graph over ``avatars`` (in their given order)."""
        g = self.cfg.generator
        n = len(avatars)
        seed = rng.randrange(2**32)
        kind = g.kind
        if n < 2 or kind == "empty":
            return
        if kind == "complete":
            base = nx.complete_graph(n)
        elif kind == "watts_strogatz":
            base = nx.watts_strogatz_graph(n, min(g.k, n - 1), g.p, seed=seed)
        elif kind == "barabasi_albert":
            base = nx.barabasi_albert_graph(n, min(g.m, n - 1), seed=seed)
        elif kind == "stochastic_block":
            b = min(g.blocks, n)
            sizes = [n // b + (1 if i < n % b else 0) for i in range(b)]
            probs = [[g.p_in if i == j else g.p_out for j in range(b)] for i in range(b)]
            base = nx.stochastic_block_model(sizes, probs, seed=seed)
        else:  # the config schema admits no other kind
            raise ValueError(f"unknown generator {kind!r}")
        aff, trust = self.cfg.initial_affinity, self.cfg.initial_trust
        for u, v in sorted(base.edges()):
            a, b = avatars[u], avatars[v]
            self.out[a][b] = [aff, trust, 0, -1]
            self.out[b][a] = [aff, trust, 0, -1]
        self.version += 1

    def tie(self, a: int, b: int) -> list[Any] | None:
        """``a``'s tie to ``b``, or None."""
        return self.out[a].get(b)

    def touch(self, a: int, b: int, effect: str, tick: int, create: bool = True) -> None:
        """Apply ``EFFECTS[effect]`` to ``a``'s tie to ``b`` (made if missing and ``create``)."""
        if a == b:
            return
        ties = self.out[a]
        t = ties.get(b)
        if t is None:
            if not create:
                return
            t = ties[b] = [0.0, 0.0, 0, tick]
            self.version += 1
        da, dt = EFFECTS[effect]
        t[0] = _clip(t[0] + da)
        t[1] = _clip(t[1] + dt)
        t[2] += 1
        t[3] = tick

    def interact(self, a: int, b: int, effect: str, tick: int, create: bool = True) -> None:
        """A symmetric interaction: both ties change the same way."""
        self.touch(a, b, effect, tick, create)
        self.touch(b, a, effect, tick, create)

    def choose_partner(self, avatar: int, candidates: list[int], rng: random.Random) -> int | None:
        """Friends first, strangers sometimes: with probability ``explore`` a uniform pick,
        else the candidate ``avatar`` has the highest affinity for (ties broken by id)."""
        pool = [c for c in candidates if c != avatar]
        if not pool:
            return None
        ties = self.out.get(avatar, {})
        friends = [c for c in pool if c in ties and ties[c][0] > 0]
        if not friends or rng.random() < self.cfg.explore:
            return pool[rng.randrange(len(pool))]
        return max(friends, key=lambda c: (ties[c][0], -c))

    def metrics(self, max_nodes: int) -> dict[str, float]:
        """:func:`graph_metrics` of the current ties (without building a graph when there are none)."""
        n = len(self.out)
        if self.edge_count() == 0:
            # An empty graph's metrics are known; building 100,000 networkx nodes is not free.
            out: dict[str, float] = {}
            if n:
                out["graph.density"] = 0.0
                out["graph.largest_component"] = 1.0
            if n > 2:
                out["graph.centralization"] = 0.0
            return out
        return graph_metrics(self.to_networkx(), max_nodes)

    def to_networkx(self) -> nx.DiGraph:
        """The ties as a weighted DiGraph (weight = affinity)."""
        g = nx.DiGraph()
        g.add_nodes_from(self.out)
        for a, ties in self.out.items():
            for b, t in ties.items():
                g.add_edge(a, b, affinity=t[0], trust=t[1], count=t[2], last_tick=t[3])
        return g

    def edge_count(self) -> int:
        """Number of directed ties."""
        return sum(len(t) for t in self.out.values())

    def get_state(self) -> list[list[Any]]:
        """JSON-safe state: one ``[a, [[b, affinity, trust, count, last], ...]]`` per avatar."""
        return [[a, [[b, *t] for b, t in ties.items()]] for a, ties in self.out.items()]

    def set_state(self, rows: list[list[Any]]) -> None:
        """Restore :meth:`get_state`'s output."""
        self.out = {a: {r[0]: [r[1], r[2], r[3], r[4]] for r in ties} for a, ties in rows}
        self.version += 1


def graph_metrics(g: nx.DiGraph, max_nodes: int = 5000) -> dict[str, float]:
    """Every social-graph metric, computed here and nowhere else.

    ``graph.density`` (directed), ``graph.reciprocity`` (share of ties returned),
    ``graph.largest_component`` (nodes in the largest weakly connected component),
    ``graph.centralization`` (Freeman degree centralisation of the undirected graph, 1 for
    a star), and, for graphs of at most ``max_nodes`` nodes, ``graph.clustering`` (average
    clustering, undirected), ``graph.modularity`` (of Louvain communities, seed 0) and
    ``graph.assortativity`` (degree assortativity). A metric that does not apply (no
    edges, a regular graph's undefined assortativity) is left out rather than NaN.
    """
    n = g.number_of_nodes()
    out: dict[str, float] = {}
    if n == 0:
        return out
    m = g.number_of_edges()
    out["graph.density"] = nx.density(g) if n > 1 else 0.0
    out["graph.largest_component"] = float(max(len(c) for c in nx.weakly_connected_components(g)))
    u = nx.Graph()  # built directly: to_undirected() deep-copies every attribute
    u.add_nodes_from(g)
    u.add_edges_from(g.edges())
    if n > 2:
        degs = [d for _, d in u.degree()]
        dmax = max(degs)
        out["graph.centralization"] = sum(dmax - d for d in degs) / ((n - 1) * (n - 2))
    if m == 0:
        return out
    out["graph.reciprocity"] = float(nx.reciprocity(g))
    if n <= max_nodes:
        out["graph.clustering"] = float(nx.average_clustering(u))
        comms = community.louvain_communities(u, seed=0)
        out["graph.modularity"] = float(community.modularity(u, comms))
        with warnings.catch_warnings():
            # Undefined (0/0) for regular graphs: numpy warns and returns NaN, handled below.
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                a = nx.degree_assortativity_coefficient(u)
            except (ValueError, ZeroDivisionError):
                a = float("nan")
        if a == a:  # NaN for regular graphs: the coefficient is undefined there
            out["graph.assortativity"] = float(a)
    return out
