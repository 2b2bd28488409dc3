"""World map: the places and the avatars at them, coloured by role or by wealth."""

from __future__ import annotations

import math
from collections.abc import Mapping

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from dashboard import queries, whatif
from dashboard.panels import PanelContext

__all__ = ["TRAVELLING", "layout", "map_chart", "point_size", "render"]


#: The group of avatars with no place (travelling between two).
TRAVELLING = "(travelling)"


def _hash01(ids: np.ndarray, salt: int) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per avatar id (splitmix64's finaliser): no rng, no jumps.

    A full mixer, not a single multiply: the avatars at one place often have ids in an arithmetic
    progression (every 8th), which a multiplicative hash turns into a visible spiral.
    """
    with np.errstate(over="ignore"):
        x = ids.astype(np.uint64) + np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


def layout(
    world: pd.DataFrame, centres: Mapping[str, tuple[float, float]] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map coordinates for avatars and places.

    A place sits at its position from the run's config (``centres``), else at the mean position of the
    avatars there, else on a circle. Every avatar is drawn scattered around its place's position (the
    sim gives everyone at a place the place's own x, y, so they would otherwise be one dot), within a
    disc whose radius grows with the crowd up to under half the distance to the nearest other place.
    The scatter is a hash of the avatar id, so an avatar does not jump between refreshes.
    Returns ``(avatars with px, py; places with place, px, py, avatars)``.
    """
    avatars = world.copy()
    places = avatars["place"].fillna(TRAVELLING).astype(str)
    counts = places.value_counts()
    known = dict(centres or {})
    has_xy = avatars["x"].notna() & avatars["y"].notna()
    means = avatars[has_xy].groupby(places[has_xy])[["x", "y"]].mean()
    for place, row in means.iterrows():
        known.setdefault(str(place), (float(row["x"]), float(row["y"])))
    names = sorted(set(counts.index) | set(known))
    missing = [p for p in names if p not in known]
    if missing:
        # On a circle around what is placed already (or around the origin): 10 units out, evenly spaced.
        cx = float(np.mean([xy[0] for xy in known.values()])) if known else 0.0
        cy = float(np.mean([xy[1] for xy in known.values()])) if known else 0.0
        ring = 3.0 + (max((math.dist((cx, cy), xy) for xy in known.values()), default=7.0))
        for i, p in enumerate(missing):
            angle = 2 * math.pi * i / len(missing)
            known[p] = (cx + ring * math.cos(angle), cy + ring * math.sin(angle))
    centre = pd.DataFrame.from_dict(known, orient="index", columns=["px", "py"]).loc[names]
    xy = centre.to_numpy()
    if len(xy) > 1:
        gaps = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
        np.fill_diagonal(gaps, np.inf)
        # Under half the gap to the nearest place, and no more than a tenth of the map's extent, so one
        # lonely place (or the travellers' group) does not get a disc that dwarfs the rest.
        extent = float(np.ptp(xy, axis=0).max()) or 10.0
        room = pd.Series(np.minimum(0.45 * gaps.min(axis=1), 0.1 * extent), index=names)
    else:
        room = pd.Series(3.0, index=names)
    biggest = float(counts.max()) if len(counts) else 1.0
    radius = room * (0.3 + 0.7 * np.sqrt(counts.reindex(names, fill_value=0) / biggest))
    ids = avatars["agent_id"].to_numpy()
    r = np.sqrt(_hash01(ids, 1)) * places.map(radius).to_numpy()
    theta = 2 * math.pi * _hash01(ids, 2)
    avatars["px"] = places.map(centre["px"]).to_numpy() + r * np.cos(theta)
    avatars["py"] = places.map(centre["py"]).to_numpy() + r * np.sin(theta)
    places_frame = centre.rename_axis("place").reset_index()
    places_frame["avatars"] = places_frame["place"].map(counts).fillna(0).astype(int)
    places_frame["radius"] = places_frame["place"].map(radius).to_numpy()
    return avatars, places_frame


def point_size(n_avatars: int) -> float:
    """Marker area that keeps 10 avatars visible and 10,000 from merging into one blot."""
    return float(max(6.0, min(80.0, 8000.0 / max(n_avatars, 1))))


def map_chart(avatars: pd.DataFrame, places: pd.DataFrame, *, colour_by: str, height: int) -> alt.LayerChart:
    """The map: each place's disc outlined and labelled, its avatars as small dots inside (from :func:`layout`).

    Drawn on a canvas by Vega, so 1,000 or 10,000 dots stay quick; a dot's tooltip has the avatar's
    name, role, place and coins (text, escaped by the tooltip handler).
    """
    colour = (
        alt.Color("role:N", title="role")
        if colour_by == "role"
        else alt.Color("coins:Q", title="coins", scale=alt.Scale(scheme="viridis"))
    )
    step = np.linspace(0.0, 2 * math.pi, 41)
    rings = pd.DataFrame(
        [
            {"place": p, "px": x + r * math.cos(a), "py": y + r * math.sin(a), "order": i}
            for p, x, y, r in places[["place", "px", "py", "radius"]].itertuples(index=False)
            for i, a in enumerate(step)
        ],
        columns=["place", "px", "py", "order"],
    )
    label_rows = places.assign(py=places["py"] + places["radius"])
    # One dataset with a "layer" column, each layer filtering its rows: Streamlit's Vega-Lite renderer
    # draws only one of the layers when they carry different datasets.
    data = pd.concat(
        [
            avatars[["name", "role", "place", "coins", "px", "py"]].assign(layer="avatar"),
            rings.assign(layer="ring"),
            label_rows[["place", "px", "py", "avatars"]].assign(layer="place"),
        ],
        ignore_index=True,
    )
    # The same domain on both axes, so a crowd is round and distances read the same either way.
    lo = float(min(data["px"].min(), data["py"].min())) - 1.0
    hi = float(max(data["px"].max(), data["py"].max())) + 1.5
    square = alt.Scale(domain=[lo, hi], zero=False, nice=False)
    base = alt.Chart(data).encode(
        x=alt.X("px:Q", axis=None, scale=square), y=alt.Y("py:Q", axis=None, scale=square)
    )
    outline = (
        base.transform_filter(alt.datum.layer == "ring")
        .mark_line(color="gray", opacity=0.35, strokeWidth=1)
        .encode(detail="place:N", order="order:Q")
    )
    dots = (
        base.transform_filter(alt.datum.layer == "avatar")
        .mark_circle(size=point_size(len(avatars)), opacity=0.75 if len(avatars) < 2000 else 0.5)
        .encode(
            color=colour,
            tooltip=["name:N", "role:N", "place:N", alt.Tooltip("coins:Q", format=",.1f")],
        )
    )
    labels = (
        base.transform_filter(alt.datum.layer == "place")
        .mark_text(dy=-8, fontWeight="bold")
        .encode(text=alt.Text("place:N"), tooltip=["place:N", "avatars:Q"])
    )
    # Canvas, not SVG (Streamlit's default below 2,000 data points): one draw call for all the dots.
    return (outline + dots + labels).properties(
        height=height, usermeta={"embedOptions": {"renderer": "canvas"}}
    )


def render(ctx: PanelContext) -> None:
    """Draw the map at ``ctx.tick`` and the avatars-per-place table."""
    world = queries.world_at(ctx.conn, ctx.tick)
    if world.empty:
        st.info("No avatar positions recorded yet (agent_state is empty).")
        return
    avatars, places = layout(world, whatif.place_centres(ctx.conn))
    colour_by = st.radio("Colour by", ["role", "wealth"], horizontal=True, key="map_colour")
    c1, c2, c3 = st.columns(3)
    c1.metric("Avatars", f"{len(avatars):,}")
    c2.metric("Places", f"{len(places):,}")
    c3.metric("Coins held", f"{avatars['coins'].fillna(0).sum():,.0f}")

    st.altair_chart(map_chart(avatars, places, colour_by=colour_by, height=520), width="stretch")
    st.dataframe(
        places[["place", "avatars"]].sort_values(["avatars", "place"], ascending=[False, True]),
        hide_index=True,
        width="stretch",
    )
