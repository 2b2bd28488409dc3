"""Small Altair helpers shared by the panels (run text on the page: dashboard/text.py)."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

__all__ = ["histogram", "line_chart", "marked_lines"]

# 10,000 avatars are more rows than Altair's default limit of 5,000; the data goes to the browser anyway.
alt.data_transformers.disable_max_rows()


def line_chart(frame: pd.DataFrame, *, title: str, y_title: str = "value", height: int = 220) -> alt.Chart:
    """One line per ``name`` of a long ``tick, name, value`` frame."""
    return (
        alt.Chart(frame, title=title, height=height)
        .mark_line(point=len(frame) < 60)
        .encode(
            x=alt.X("tick:Q", title="tick"),
            y=alt.Y("value:Q", title=y_title),
            color=alt.Color("name:N", title=None),
            tooltip=["tick:Q", "name:N", alt.Tooltip("value:Q", format=".4g")],
        )
    )


def histogram(frame: pd.DataFrame, column: str, *, title: str, bins: int = 30) -> alt.Chart:
    """A histogram of one numeric column."""
    return (
        alt.Chart(frame, title=title, height=220)
        .mark_bar()
        .encode(
            x=alt.X(f"{column}:Q", bin=alt.Bin(maxbins=bins), title=column),
            y=alt.Y("count():Q", title="avatars"),
        )
    )


def marked_lines(
    where: Any,
    frame: pd.DataFrame,
    marks: pd.DataFrame,
    *,
    title: str,
    colour: str = "name",
    height: int = 160,
    legend: bool = True,
    palette: list[str] | None = None,
) -> None:
    """Draw, in ``where``, lines of a long ``tick, <colour>, value`` frame with a dashed vertical rule at
    each ``marks`` row.

    ``marks`` has ``tick`` and ``mark`` (what happened then: "fork", "intervention: tax"...), shown on
    hover. ``palette`` fixes the line colours (in the order of the sorted ``colour`` values). Lines and
    rules share one dataset (a ``layer`` column), as Streamlit draws only one layer of a chart whose
    layers carry different datasets. The spec is a plain Vega-Lite dict, not an Altair chart: the
    overview draws six of these per refresh, and Altair's schema validation of six layered charts cost
    more than all of the page's queries (``mesaverse bench dashboard``).
    """
    lines = frame[["tick", colour, "value"]].assign(layer="line", mark="")
    rules = marks[["tick", "mark"]].drop_duplicates().assign(layer="rule")
    data = pd.concat([lines, rules], ignore_index=True)
    scale: dict[str, Any] = {"range": palette} if palette else {}
    spec = {
        "title": {"text": title, "fontSize": 12},
        "height": height,
        "layer": [
            {
                "transform": [{"filter": "datum.layer === 'line'"}],
                "mark": {"type": "line", "point": len(lines) < 60},
                "encoding": {
                    "x": {
                        "field": "tick",
                        "type": "quantitative",
                        "title": None,
                        "axis": {"format": "d", "tickMinStep": 1},
                    },
                    "y": {
                        "field": "value",
                        "type": "quantitative",
                        "title": None,
                        "axis": {"format": ",.4~g"},
                    },
                    "color": {
                        "field": colour,
                        "type": "nominal",
                        "title": None,
                        "legend": {"orient": "bottom"} if legend else None,
                        "scale": scale,
                    },
                    "tooltip": [
                        {"field": "tick", "type": "quantitative"},
                        {"field": colour, "type": "nominal"},
                        {"field": "value", "type": "quantitative", "format": ".4g"},
                    ],
                },
            },
            {
                "transform": [{"filter": "datum.layer === 'rule'"}],
                "mark": {"type": "rule", "strokeDash": [4, 3], "color": "#c44", "opacity": 0.7},
                "encoding": {
                    "x": {"field": "tick", "type": "quantitative"},
                    "tooltip": [
                        {"field": "tick", "type": "quantitative"},
                        {"field": "mark", "type": "nominal"},
                    ],
                },
            },
        ],
    }
    where.vega_lite_chart(data, spec, width="stretch")
