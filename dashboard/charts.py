"""Small Altair helpers shared by the panels (run text on the page: dashboard/text.py)."""

from __future__ import annotations

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
    frame: pd.DataFrame,
    marks: pd.DataFrame,
    *,
    title: str,
    colour: str = "name",
    height: int = 160,
    legend: bool = True,
    palette: list[str] | None = None,
) -> alt.LayerChart:
    """Lines of a long ``tick, <colour>, value`` frame, with a dashed vertical rule at each ``marks`` row.

    ``palette`` fixes the line colours (in the order of the sorted ``colour`` values).
    ``marks`` has ``tick`` and ``mark`` (what happened then: "fork", "intervention: tax"...), shown on
    hover. Lines and rules share one dataset (a ``layer`` column), as Streamlit draws only one layer
    of a chart whose layers carry different datasets.
    """
    lines = frame[["tick", colour, "value"]].assign(layer="line", mark="")
    rules = marks[["tick", "mark"]].drop_duplicates().assign(layer="rule")
    data = pd.concat([lines, rules], ignore_index=True)
    base = alt.Chart(data, title=alt.TitleParams(title, fontSize=12), height=height)
    line = (
        base.transform_filter(alt.datum.layer == "line")
        .mark_line(point=len(lines) < 60)
        .encode(
            x=alt.X("tick:Q", title=None),
            y=alt.Y("value:Q", title=None, axis=alt.Axis(format="~g")),
            color=alt.Color(
                f"{colour}:N", title=None, legend=alt.Legend(orient="bottom") if legend else None
            ),
            tooltip=["tick:Q", f"{colour}:N", alt.Tooltip("value:Q", format=".4g")],
        )
    )
    rule = (
        base.transform_filter(alt.datum.layer == "rule")
        .mark_rule(strokeDash=[4, 3], color="#c44", opacity=0.7)
        .encode(x="tick:Q", tooltip=["tick:Q", "mark:N"])
    )
    return line + rule
