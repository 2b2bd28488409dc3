"""World map: the places and the avatars at them, coloured by role or by wealth."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from dashboard import queries
from dashboard.panels import PanelContext

__all__ = ["layout", "render"]


def layout(world: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map coordinates for avatars and places.

    Avatars with a position keep it; the others are scattered around their place, which sits on a
    circle. The scatter is seeded by the avatar id, so an avatar does not jump between refreshes.
    Returns ``(avatars with px, py; places with place, px, py, avatars)``.
    """
    avatars = world.copy()
    place_names = sorted(avatars["place"].fillna("(nowhere)").unique())
    counts = avatars["place"].fillna("(nowhere)").value_counts()
    has_xy = avatars["x"].notna() & avatars["y"].notna()
    if has_xy.all() and len(avatars):
        avatars["px"], avatars["py"] = avatars["x"], avatars["y"]
        centres = avatars.groupby(avatars["place"].fillna("(nowhere)"))[["px", "py"]].mean()
    else:
        angle = {p: 2 * math.pi * i / max(len(place_names), 1) for i, p in enumerate(place_names)}
        centres = pd.DataFrame(
            {
                "px": [10 * math.cos(angle[p]) for p in place_names],
                "py": [10 * math.sin(angle[p]) for p in place_names],
            },
            index=place_names,
        )
        ids = avatars["agent_id"].to_numpy()
        # Deterministic per-avatar offsets (a hash of the id), spread by the crowd's size.
        r = np.sqrt(((ids * 2654435761) % 1000) / 1000.0)
        theta = 2 * math.pi * ((ids * 40503) % 997) / 997.0
        places = avatars["place"].fillna("(nowhere)")
        spread = places.map(lambda p: min(3.5, 0.6 + 0.25 * math.sqrt(counts[p]))).to_numpy()
        avatars["px"] = places.map(centres["px"]).to_numpy() + spread * r * np.cos(theta)
        avatars["py"] = places.map(centres["py"]).to_numpy() + spread * r * np.sin(theta)
    places_frame = centres.rename_axis("place").reset_index()
    places_frame["avatars"] = places_frame["place"].map(counts).fillna(0).astype(int)
    return avatars, places_frame


def point_size(n_avatars: int) -> float:
    """Marker area that keeps 10 avatars visible and 10,000 from merging into one blot."""
    return float(max(6.0, min(80.0, 8000.0 / max(n_avatars, 1))))


def render(ctx: PanelContext) -> None:
    """Draw the map at ``ctx.tick`` and the avatars-per-place table."""
    world = queries.world_at(ctx.conn, ctx.tick)
    if world.empty:
        st.info("No avatar positions recorded yet (agent_state is empty).")
        return
    avatars, places = layout(world)
    colour_by = st.radio("Colour by", ["role", "wealth"], horizontal=True, key="map_colour")
    c1, c2, c3 = st.columns(3)
    c1.metric("Avatars", f"{len(avatars):,}")
    c2.metric("Places", f"{len(places):,}")
    c3.metric("Coins held", f"{avatars['coins'].fillna(0).sum():,.0f}")

    colour = (
        alt.Color("role:N", title="role")
        if colour_by == "role"
        else alt.Color("coins:Q", title="coins", scale=alt.Scale(scheme="viridis"))
    )
    # One dataset with a "layer" column, each layer filtering its rows: Streamlit's Vega-Lite renderer
    # draws only one of the layers when they carry different datasets.
    data = pd.concat(
        [
            avatars[["name", "role", "place", "coins", "px", "py"]].assign(layer="avatar", avatars=0),
            places[["place", "px", "py", "avatars"]].assign(layer="place"),
        ],
        ignore_index=True,
    )
    # The same domain on both axes, so a crowd is round and distances read the same either way.
    lo = float(min(data["px"].min(), data["py"].min())) - 2.0
    hi = float(max(data["px"].max(), data["py"].max())) + 2.0
    square = alt.Scale(domain=[lo, hi], zero=False, nice=False)
    base = alt.Chart(data).encode(
        x=alt.X("px:Q", axis=None, scale=square), y=alt.Y("py:Q", axis=None, scale=square)
    )
    rings = (
        base.transform_filter(alt.datum.layer == "place")
        .mark_circle(opacity=0.12, color="gray")
        .encode(size=alt.Size("avatars:Q", legend=None, scale=alt.Scale(range=[400, 6000])))
    )
    dots = (
        base.transform_filter(alt.datum.layer == "avatar")
        .mark_circle(size=point_size(len(avatars)), opacity=0.75 if len(avatars) < 2000 else 0.45)
        .encode(
            color=colour,
            tooltip=["name:N", "role:N", "place:N", alt.Tooltip("coins:Q", format=",.1f")],
        )
    )
    labels = (
        base.transform_filter(alt.datum.layer == "place")
        .mark_text(dy=-14, fontWeight="bold")
        .encode(text=alt.Text("place:N"))
    )
    st.altair_chart((rings + dots + labels).properties(height=520), width="stretch")
    st.dataframe(
        places[["place", "avatars"]].sort_values(["avatars", "place"], ascending=[False, True]),
        hide_index=True,
        width="stretch",
    )
