"""Projects: each shared project's progress, contributors and outcome."""

from __future__ import annotations

import streamlit as st

from dashboard import queries
from dashboard.panels import PanelContext

__all__ = ["render"]


def render(ctx: PanelContext) -> None:
    """Counts by outcome, then one row per project (project events are few: one indexed query)."""
    table = queries.projects(ctx.conn, upto_id=ctx.upto_id)
    outcomes = table["outcome"].value_counts()
    c1, c2, c3 = st.columns(3)
    c1.metric("Active", int(outcomes.get("active", 0)))
    c2.metric("Completed", int(outcomes.get("completed", 0)))
    c3.metric("Failed", int(outcomes.get("failed", 0)))
    if table.empty:
        st.info("No projects yet.")
        return
    st.dataframe(
        table.sort_values(["outcome", "last_tick"], ascending=[True, False]),
        hide_index=True,
        width="stretch",
        column_config={
            "progress": st.column_config.ProgressColumn(
                "progress", min_value=0.0, max_value=1.0, format="percent"
            ),
            "n_contributors": st.column_config.NumberColumn("contributors (n)"),
        },
    )
