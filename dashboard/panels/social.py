"""Social graph: who interacts with whom, coloured by community, and the graph metrics over time.

The store has no edge table: ties are counted from events between two avatars (``SOCIAL_KINDS``),
incrementally in live mode (:class:`dashboard.live.EdgeTally`). The drawing shows the best-connected
avatars and each one's strongest ties, so it stays legible and cheap at 10,000 avatars; its layout and
communities are recomputed only when the ties grew by a quarter since the last drawing (or the avatar
set changed), so most live refreshes only update the counts.
"""

from __future__ import annotations

import heapq
from typing import Any

import altair as alt
import networkx as nx
import pandas as pd
import streamlit as st

from dashboard import live, queries
from dashboard.charts import line_chart
from dashboard.panels import PanelContext

__all__ = ["draw_frames", "drawing_graph", "render"]

MAX_DRAWN = 300
TIES_PER_AVATAR = 6
REDRAW_GROWTH = 1.25


def drawing_graph(
    tally: live.EdgeTally,
    names: dict[int, str],
    *,
    max_nodes: int = MAX_DRAWN,
    per_node: int = TIES_PER_AVATAR,
) -> nx.Graph:
    """The ``max_nodes`` best-connected avatars, each joined to its ``per_node`` strongest drawn ties."""
    keep = heapq.nlargest(max_nodes, tally.strength, key=lambda n: (tally.strength[n], -n))
    kept = set(keep)
    graph = nx.Graph()
    graph.add_nodes_from((n, {"name": names.get(n, str(n)), "ties": tally.strength[n]}) for n in keep)
    for a in keep:
        strongest = heapq.nlargest(per_node, ((w, b) for b, w in tally.adjacency[a].items() if b in kept))
        graph.add_edges_from((a, b, {"weight": w}) for w, b in strongest)
    return graph


def draw_frames(
    graph: nx.Graph, pos: dict[int, tuple[float, float]] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, tuple[float, float]]]:
    """Node and edge frames for Altair, with Louvain communities and a spring layout.

    Both are seeded (the same ties give the same picture); ``pos`` (the previous layout) seeds the
    new one, so the picture moves a little as ties grow instead of reshuffling.
    """
    community: dict[int, int] = {}
    if graph.number_of_edges():
        for i, members in enumerate(nx.community.louvain_communities(graph, weight="weight", seed=0)):
            community.update(dict.fromkeys(members, i))
    start = {n: p for n, p in (pos or {}).items() if n in graph}
    if len(start) < len(graph):
        start = {}  # spring_layout needs every node placed, or none
    layout = (
        nx.spring_layout(graph, weight="weight", seed=0, pos=start or None, iterations=15 if start else 40)
        if len(graph)
        else {}
    )
    nodes = pd.DataFrame(
        [
            {
                "agent_id": n,
                "name": d["name"],
                "community": community.get(n, -1),
                "ties": d["ties"],
                "x": float(layout[n][0]),
                "y": float(layout[n][1]),
            }
            for n, d in graph.nodes(data=True)
        ],
        columns=["agent_id", "name", "community", "ties", "x", "y"],
    )
    edge_rows = [
        {"x": layout[a][0], "y": layout[a][1], "x2": layout[b][0], "y2": layout[b][1], "weight": d["weight"]}
        for a, b, d in graph.edges(data=True)
    ]
    edges = pd.DataFrame(edge_rows, columns=["x", "y", "x2", "y2", "weight"])
    return nodes, edges, {n: (float(p[0]), float(p[1])) for n, p in layout.items()}


def _drawing(ctx: PanelContext, tally: live.EdgeTally, names: dict[int, str]) -> dict[str, Any]:
    """The cached drawing, recomputed when the ties grew enough (always in replay: the tick moved)."""
    key = f"drawing:{ctx.run.path}"
    cached = ctx.state.get(key)
    if (
        ctx.live
        and cached is not None
        and cached["total"] <= tally.total < REDRAW_GROWTH * max(cached["total"], 1)
        and cached["avatars"] == len(tally.strength)
    ):
        return cached
    graph = drawing_graph(tally, names)
    nodes, edges, pos = draw_frames(graph, pos=cached["pos"] if cached else None)
    drawing = {
        "total": tally.total,
        "avatars": len(tally.strength),
        "nodes": nodes,
        "edges": edges,
        "pos": pos,
    }
    ctx.state[key] = drawing
    return drawing


def render(ctx: PanelContext) -> None:
    """Counts, the drawing, and ``graph.*`` metrics over time."""
    agents = queries.agents_table(ctx.conn)
    names = dict(zip(agents["agent_id"], agents["name"], strict=True))

    def fetch(after_id: int) -> pd.DataFrame:
        return queries.edges(ctx.conn, after_id=after_id, upto_id=ctx.upto_id)

    tally = ctx.tracker("edges", live.EdgeTally) if ctx.live else live.EdgeTally()
    tally.refresh(fetch, ctx.upto_id)
    drawing = _drawing(ctx, tally, names)
    nodes, edge_frame = drawing["nodes"], drawing["edges"]

    c1, c2, c3 = st.columns(3)
    c1.metric("Avatars with ties", f"{len(tally.strength):,}")
    c2.metric("Ties", f"{tally.ties:,}")
    c3.metric("Communities (drawn)", f"{nodes['community'].nunique() if len(nodes) else 0:,}")
    if nodes.empty:
        st.info("No interactions between avatars yet.")
    else:
        if len(tally.strength) > MAX_DRAWN:
            st.caption(
                f"Drawing the {MAX_DRAWN} most connected of {len(tally.strength):,} avatars,"
                f" each with its {TIES_PER_AVATAR} strongest ties."
            )
        # One dataset for both layers (see world_map: Streamlit draws one layer per distinct dataset).
        data = pd.concat([edge_frame.assign(layer="tie"), nodes.assign(layer="avatar")], ignore_index=True)
        base = alt.Chart(data).encode(x=alt.X("x:Q", axis=None), y=alt.Y("y:Q", axis=None))
        lines = (
            base.transform_filter(alt.datum.layer == "tie")
            .mark_rule(color="gray")
            .encode(
                x2="x2:Q",
                y2="y2:Q",
                opacity=alt.Opacity("weight:Q", legend=None, scale=alt.Scale(range=[0.1, 0.6])),
            )
        )
        dots = (
            base.transform_filter(alt.datum.layer == "avatar")
            .mark_circle()
            .encode(
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
