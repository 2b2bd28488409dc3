"""Small Altair helpers shared by the panels (run text on the page: dashboard/text.py)."""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["histogram", "line_chart"]

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
