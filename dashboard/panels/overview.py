"""Overview, the page that opens first: the map, the live dialogue, the key metrics, the interventions."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import live, queries, whatif
from dashboard.charts import marked_lines
from dashboard.panels import PanelContext
from dashboard.panels.dialogue import format_line
from dashboard.panels.world_map import layout, map_chart
from dashboard.text import Markup, bullets, caption, html, show

__all__ = ["KEY_METRICS", "intervention_table", "key_metrics", "marks", "render"]

#: The small charts, in order: (title, metric). A metric the store lacks is counted from its events
#: when :data:`dashboard.whatif.DERIVED_COUNTS` says how, else its chart is left out.
KEY_METRICS = (
    ("Population", "population"),
    ("Messages", "messages"),
    ("Trades", "trades"),
    ("Gini", "gini"),
    ("Sanctions", "sanctions"),
    ("LLM tokens/s", "llm.tokens_per_s"),
)
FEED_LIMIT = 40
_CELL = "border-top: 1px solid rgba(49, 51, 63, 0.15); padding: 0.2rem 0.5rem; vertical-align: top"


def key_metrics(ctx: PanelContext) -> pd.DataFrame:
    """The key metrics up to ``ctx.tick`` as one long ``tick, name, value`` frame.

    Stored metrics come through ``ctx.metrics`` (incremental in live mode); a missing count is derived
    from the events of its kind (incremental too, on the ``(kind, id)`` index), zero where a tick had none.
    """
    stored = set(queries.metric_names(ctx.conn))
    wanted = tuple(name for _, name in KEY_METRICS)
    frame = ctx.metrics(names=tuple(n for n in wanted if n in stored))
    derive = {n: kind for n, kind in whatif.DERIVED_COUNTS.items() if n in wanted and n not in stored}
    if not derive:
        return frame

    def fetch(after_id: int) -> pd.DataFrame:
        return whatif.kind_counts(ctx.conn, derive, after_id=after_id, upto_id=ctx.upto_id)

    if ctx.live:
        counts = ctx.tracker(f"overview:counts:{sorted(derive)}", live.CountTail).refresh(fetch, ctx.upto_id)
    else:
        counts = fetch(0)
    first = [int(f["tick"].min()) for f in (frame, counts) if len(f)]
    if not first:
        return frame
    ticks = range(min(first), ctx.tick + 1)
    filled = [
        counts[counts["name"] == name]
        .set_index("tick")["value"]
        .reindex(ticks, fill_value=0.0)
        .rename_axis("tick")
        .reset_index()
        .assign(name=name)
        for name in derive
    ]
    return pd.concat([frame, *filled], ignore_index=True)


def marks(run: queries.RunInfo, actions: pd.DataFrame) -> pd.DataFrame:
    """Vertical marks for the charts: the fork tick, and each applied intervention (``tick, mark``)."""
    rows = [] if run.fork_tick is None else [{"tick": run.fork_tick, "mark": "fork"}]
    applied = actions[actions["status"] == "applied"] if len(actions) else actions
    rows += [
        {"tick": int(t), "mark": f"intervention: {kind}"}
        for t, kind in zip(applied["tick"], applied["type"], strict=True)
    ]
    return pd.DataFrame(rows, columns=["tick", "mark"])


def intervention_table(actions: pd.DataFrame) -> Markup:
    """Interventions as an HTML table whose every cell is escaped text (with a ``run`` column if present)."""
    columns = [c for c in ("run", "tick", "type", "status", "text", "reason", "details") if c in actions]
    head = Markup("").join(html("<th>{}</th>", c) for c in columns)
    body = Markup("").join(
        html(
            "<tr>{}</tr>",
            Markup("").join(html('<td style="{}">{}</td>', _CELL, "" if pd.isna(v) else v) for v in row),
        )
        for row in actions[columns].itertuples(index=False, name=None)
    )
    return html(
        '<table class="mv-interventions" style="border-collapse: collapse; width: 100%; font-size: 0.875rem">'
        '<thead><tr style="text-align: left">{}</tr></thead><tbody>{}</tbody></table>',
        head,
        body,
    )


def _feed(ctx: PanelContext) -> pd.DataFrame:
    def fetch(after_id: int) -> pd.DataFrame:
        return queries.dialogue(ctx.conn, after_id=after_id, upto_id=ctx.upto_id, limit=FEED_LIMIT)

    if not ctx.live:
        return fetch(0)
    tail = ctx.tracker("overview:dialogue", lambda: live.RowTail(limit=FEED_LIMIT))
    tail.refresh(fetch)
    return tail.rows if tail.rows is not None else fetch(0)


def render(ctx: PanelContext) -> None:
    """Map and dialogue side by side, the key metrics below, then the interventions."""
    run = ctx.run
    if run.parent_run_id is not None or run.fork_tick is not None:
        caption(
            html(
                "A what-if run: fork of <b>{}</b> at tick <b>{}</b> (the Compare panel sets them side by side).",
                run.parent_run_id or "(unknown run)",
                "?" if run.fork_tick is None else run.fork_tick,
            )
        )
    world = queries.world_at(ctx.conn, ctx.tick)
    left, right = st.columns([3, 2])
    with left:
        if world.empty:
            st.info("No avatar positions recorded yet (agent_state is empty).")
        else:
            avatars, places = layout(world, whatif.place_centres(ctx.conn))
            st.caption(
                f"{len(avatars):,} avatars at {int((places['avatars'] > 0).sum())} of {len(places)} places"
                f" (snapshot of tick {int(world['snapshot_tick'].max())}); hover a dot for its name, role and coins."
            )
            st.altair_chart(map_chart(avatars, places, colour_by="role", height=460), width="stretch")
    with right:
        feed = _feed(ctx)
        st.caption(f"Latest dialogue: the {len(feed)} newest lines (the Dialogue panel filters them).")
        with st.container(height=480, border=False):
            if feed.empty:
                st.info("No messages yet.")
            else:
                bullets(format_line(row) for _, row in feed.iterrows())

    actions = whatif.interventions(ctx.conn, upto_id=ctx.upto_id)
    metrics = key_metrics(ctx)
    shown = [(title, name) for title, name in KEY_METRICS if name in set(metrics["name"])]
    if shown:
        rules = marks(run, actions)
        columns = st.columns(3)
        for i, (title, name) in enumerate(shown):
            part = metrics[metrics["name"] == name]
            marked_lines(columns[i % 3], part, rules, title=title, height=140, legend=False)
    else:
        st.caption("No key metrics recorded yet.")

    st.markdown("**Interventions**")
    if actions.empty:
        st.caption("No interventions in this run (`mesaverse inject`, or `mesaverse fork --events`).")
    else:
        applied = int((actions["status"] == "applied").sum())
        st.caption(
            f"{applied} applied, {len(actions) - applied} refused (newest first; dashed lines on the charts)."
        )
        show(intervention_table(actions))
