"""Projects: each shared project's progress, contributors and outcome."""

from __future__ import annotations

import streamlit as st

from dashboard import queries
from dashboard.charts import line_chart
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
    _collaboration(ctx)
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


def _collaboration(ctx: PanelContext) -> None:
    """The world's collaboration figures at this moment (its ``projects.*`` metrics: one definition,
    which the evaluation reads too), and the commons' stock over time where the scenario has one."""
    names = ("projects.ticks_to_complete", "projects.contributors", "projects.reward_to_non_contributors")
    frame = ctx.metrics(names)

    def shown(name: str, fmt: str) -> str:
        v = ctx.latest(frame, name)
        return "-" if v is None else fmt.format(v)

    c1, c2, c3 = st.columns(3)
    c1.metric("Ticks to complete", shown("projects.ticks_to_complete", "{:.1f}"))
    c2.metric("Contributors / project", shown("projects.contributors", "{:.1f}"))
    c3.metric("Rewards to non-contributors", shown("projects.reward_to_non_contributors", "{:.0%}"))
    stocks = ctx.metrics(prefix="commons.")
    level = ctx.latest(stocks, "commons.level")
    stocks = stocks[stocks["name"] != "commons.level"]
    if not stocks.empty:
        st.metric("Commons level (stock over start)", "-" if level is None else f"{level:.0%}")
        stocks = stocks.assign(name=stocks["name"].str.removeprefix("commons."))
        st.altair_chart(line_chart(stocks, title="Commons stock over time"), width="stretch")
