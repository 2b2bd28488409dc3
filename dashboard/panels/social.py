"""Social graph: who interacts with whom, coloured by community, and the graph metrics over time.

The store has no edge table: ties are counted from events between two avatars (``SOCIAL_KINDS``),
incrementally in live mode. The drawing keeps the most connected avatars so it stays legible.
"""

from __future__ import annotations

from collections import Counter

import altair as alt
import networkx as nx
import pandas as pd
import streamlit as st

from dashboard import live, queries
from dashboard.charts import line_chart
from dashboard.panels import PanelContext

__all__ = ["build_graph", "draw_frames", "render"]

MAX_DRAWN = 300


def build_graph(weights: Counter[tuple[int, int]], names: dict[int, str]) -> nx.Graph:
    """An undirected weighted graph of the tallied ties."""
    graph = nx.Graph()
    for (a, b), w in weights.items():
        graph.add_edge(a, b, weight=w)
    nx.set_node_attributes(graph, {n: names.get(n, str(n)) for n in graph.nodes}, "name")
    return graph


def draw_frames(
    graph: nx.Graph, *, max_nodes: int = MAX_DRAWN, pos: dict[int, tuple[float, float]] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, tuple[float, float]]]:
    """Node and edge frames for drawing the ``max_nodes`` best-connected avatars, with their communities.

    Communities are Louvain's (seeded: the same ties give the same colours). ``pos`` (the previous
    layout) seeds the new one, so the picture moves a little as ties grow instead of reshuffling.
    """
    strength = dict(graph.degree(weight="weight"))
    keep = sorted(strength, key=lambda n: (-strength[n], n))[:max_nodes]
    sub = graph.subgraph(keep)
    community: dict[int, int] = {}
    if sub.number_of_edges():
        for i, members in enumerate(nx.community.louvain_communities(sub, weight="weight", seed=0)):
            community.update(dict.fromkeys(members, i))
    start = {n: p for n, p in (pos or {}).items() if n in sub} or None
    layout = nx.spring_layout(sub, weight="weight", seed=0, pos=start, iterations=40) if len(sub) else {}
    nodes = pd.DataFrame(
        [
            {
                "agent_id": n,
                "name": sub.nodes[n]["name"],
                "community": community.get(n, -1),
                "ties": strength[n],
                "x": float(layout[n][0]),
                "y": float(layout[n][1]),
            }
            for n in sub.nodes
        ]
    )
    edge_rows = [
        {
            "x": float(layout[a][0]),
            "y": float(layout[a][1]),
            "x2": float(layout[b][0]),
            "y2": float(layout[b][1]),
            "weight": d["weight"],
        }
        for a, b, d in sub.edges(data=True)
    ]
    return (
        nodes,
        pd.DataFrame(edge_rows, columns=["x", "y", "x2", "y2", "weight"]),
        {n: tuple(p) for n, p in layout.items()},
    )


def render(ctx: PanelContext) -> None:
    """Counts, the drawing, and ``graph.*`` metrics over time."""
    agents = queries.agents_table(ctx.conn)
    names = dict(zip(agents["agent_id"], agents["name"], strict=True))

    def fetch(after_id: int) -> pd.DataFrame:
        return queries.edges(ctx.conn, after_id=after_id, upto_id=ctx.upto_id)

    tally = ctx.tracker("edges", live.EdgeTally) if ctx.live else live.EdgeTally()
    tally.refresh(fetch, ctx.upto_id)
    graph = build_graph(tally.weights, names)

    pos_key = f"layout:{ctx.run.path}"
    nodes, edge_frame, pos = draw_frames(graph, pos=ctx.state.get(pos_key))
    ctx.state[pos_key] = pos
    communities = nodes["community"].nunique() if len(nodes) else 0
    c1, c2, c3 = st.columns(3)
    c1.metric("Avatars with ties", f"{graph.number_of_nodes():,}")
    c2.metric("Ties", f"{graph.number_of_edges():,}")
    c3.metric("Communities (drawn)", f"{communities:,}")
    if nodes.empty:
        st.info("No interactions between avatars yet.")
    else:
        if graph.number_of_nodes() > MAX_DRAWN:
            st.caption(f"Drawing the {MAX_DRAWN} most connected of {graph.number_of_nodes():,} avatars.")
        lines = (
            alt.Chart(edge_frame)
            .mark_rule(color="gray")
            .encode(
                x=alt.X("x:Q", axis=None),
                y=alt.Y("y:Q", axis=None),
                x2="x2:Q",
                y2="y2:Q",
                opacity=alt.Opacity("weight:Q", legend=None, scale=alt.Scale(range=[0.1, 0.6])),
            )
        )
        dots = (
            alt.Chart(nodes)
            .mark_circle()
            .encode(
                x="x:Q",
                y="y:Q",
                color=alt.Color("community:N", title="community"),
                size=alt.Size("ties:Q", legend=None, scale=alt.Scale(range=[30, 400])),
                tooltip=["name:N", "community:N", "ties:Q"],
            )
        )
        st.altair_chart((lines + dots).properties(height=480), width="stretch")
    metrics = ctx.metrics(prefix="graph.")
    if metrics.empty:
        st.info("No graph metrics recorded yet.")
    else:
        st.altair_chart(
            line_chart(
                metrics.assign(name=metrics["name"].str.removeprefix("graph.")), title="Graph metrics"
            ),
            width="stretch",
        )
