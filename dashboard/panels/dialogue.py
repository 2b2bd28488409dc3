"""Dialogue feed: what avatars say, newest first, with filters and moderation marks."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import live, queries
from dashboard.panels import PanelContext
from dashboard.text import Markup, bullets, html

__all__ = ["format_line", "render"]

FEED_LIMIT = 200


def format_line(row: pd.Series) -> Markup:
    """One line as escaped HTML: tick, speaker -> listener, place, the words; moderated lines carry their rule."""
    listener = "everyone" if pd.isna(row["listener_id"]) else row["listener"]
    head = html(
        "<code>t{}</code> <b>{}</b> → <b>{}</b> @ <i>{}</i>",
        int(row["tick"]),
        row["speaker"],
        listener,
        row["place"],
    )
    if row["flagged"]:
        rule = row["rule"] if isinstance(row["rule"], str) else "flagged"
        verdict = "blocked" if not row["delivered"] else "flagged"
        return html(
            '<span style="background: rgba(255, 43, 43, 0.15); color: rgb(125, 53, 59)">⚑ {} · rule {}</span>'
            " <s>{}</s> ← {}",
            verdict,
            rule,
            row["text"],
            head,
        )
    return html("{}: {}", head, row["text"])


def render(ctx: PanelContext) -> None:
    """Filters, then the feed (a live tail of new ``say`` events, or the messages up to the replay tick)."""
    agents = queries.agents_table(ctx.conn)
    names = dict(zip(agents["agent_id"], agents["name"], strict=True))
    f1, f2, f3 = st.columns([2, 2, 1])
    # -1 stands for "all": Streamlit shows a None option as an empty "Choose an option" box.
    choice = f1.selectbox(
        "Avatar",
        [-1, *names],
        format_func=lambda a: "all avatars" if a == -1 else f"{names[a]} ({a})",
        key="dlg_avatar",
    )
    avatar = None if choice == -1 else int(choice)
    place = f2.text_input("Place", value="", key="dlg_place", placeholder="all places").strip() or None
    flagged_only = f3.toggle("Moderated only", key="dlg_flagged")

    def fetch(after_id: int) -> pd.DataFrame:
        return queries.dialogue(
            ctx.conn,
            after_id=after_id,
            upto_id=ctx.upto_id,
            avatar=avatar,
            place=place,
            flagged_only=flagged_only,
            limit=FEED_LIMIT,
        )

    if ctx.live:
        # One tail per filter setting: changing a filter starts a new tail (one indexed query), and each
        # refresh after that reads only the messages written since.
        tail = ctx.tracker(
            f"dialogue:{avatar}:{place}:{flagged_only}", lambda: live.RowTail(limit=FEED_LIMIT)
        )
        tail.refresh(fetch)
        feed = tail.rows if tail.rows is not None else fetch(0)
    else:
        feed = fetch(0)

    flagged = int(feed["flagged"].sum()) if len(feed) else 0
    st.caption(f"{len(feed)} newest messages shown (up to {FEED_LIMIT}), {flagged} of them moderated.")
    if feed.empty:
        st.info("No messages yet" + (" for these filters." if avatar or place or flagged_only else "."))
        return
    bullets(format_line(row) for _, row in feed.iterrows())
