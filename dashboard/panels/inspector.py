"""Avatar inspector: persona, needs, inventory and coins over time, strongest ties, memory and dialogue."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import queries, whatif
from dashboard.panels import PanelContext
from dashboard.panels.dialogue import format_line
from dashboard.text import Markup, bullets, heading, html, metric, show

__all__ = ["render"]


def _as_table(mapping: object, value: str) -> pd.DataFrame:
    """``{name: number}`` (needs, inventory) as a two-column frame; other shapes give an empty one."""
    if not isinstance(mapping, dict):
        return pd.DataFrame(columns=["name", value])
    return pd.DataFrame(sorted(mapping.items()), columns=["name", value])


def _interviews(ctx: PanelContext, agent_id: int) -> None:
    """The avatar's interviews (``mesaverse interview``), newest first, when the store has the table."""
    asked = whatif.interviews(ctx.conn, agent_id, upto_tick=ctx.tick)
    if asked is None:
        return
    st.markdown("**Interviews**")
    if asked.empty:
        st.caption('Not interviewed yet (mesaverse interview RUN_DIR AVATAR "question").')
        return
    show(
        Markup("").join(
            html(
                '<div class="mv-interview" style="margin: 0 0 0.75rem 0">'
                '<p style="margin: 0"><code>t{}</code> <b>Q:</b> {}</p>'
                '<p style="margin: 0; white-space: pre-wrap"><b>A:</b> {}</p>'
                '<p style="margin: 0; font-size: 0.75rem; color: rgba(49, 51, 63, 0.6)">{} · {}</p></div>',
                int(row["tick"]),
                row["question"],
                row["answer"],
                row["model"] if isinstance(row["model"], str) else "model not recorded",
                row["asked_at"],
            )
            for _, row in asked.iterrows()
        )
    )


def render(ctx: PanelContext) -> None:
    """Pick an avatar (by name), then its profile at ``ctx.tick``."""
    agents = queries.agents_table(ctx.conn)
    if agents.empty:
        st.info("No avatars registered in this run.")
        return
    names = dict(zip(agents["agent_id"], agents["name"], strict=True))
    agent_id = st.selectbox(
        "Avatar", list(names), format_func=lambda a: f"{names[a]} ({a})", key="inspect_avatar"
    )
    profile = queries.agent_profile(ctx.conn, int(agent_id))
    history = queries.agent_history(ctx.conn, int(agent_id), upto_tick=ctx.tick)
    assert profile is not None  # chosen from the agents table
    persona = profile["persona"]
    now = history.iloc[-1] if len(history) else None
    data = now["data"] if now is not None else {}

    heading(f"{profile['name']} ({profile['policy']})")
    c1, c2, c3 = st.columns(3)
    c1.metric("Coins", "–" if now is None or pd.isna(now["coins"]) else f"{now['coins']:,.2f}")
    metric(c2, "Place", "–" if now is None else now["place"])
    metric(c3, "Role", persona.get("role") or data.get("role") or "–")

    left, right = st.columns(2)
    with left:
        st.markdown("**Persona**")
        st.json(persona, expanded=1)
        st.markdown("**Needs**")
        needs = _as_table(data.get("needs"), "level")
        if needs.empty:
            st.caption("No needs recorded.")
        else:
            st.dataframe(needs, hide_index=True, width="stretch")
        st.markdown("**Inventory**")
        inventory = _as_table(data.get("inventory"), "qty")
        if inventory.empty:
            st.caption("Empty inventory.")
        else:
            st.dataframe(inventory, hide_index=True, width="stretch")
    with right:
        if len(history):
            st.markdown("**Coins over time**")
            st.line_chart(history, x="tick", y="coins", height=200)
        st.markdown("**Strongest ties**")
        ties = queries.strongest_ties(ctx.conn, int(agent_id), upto_id=ctx.upto_id)
        if ties.empty:
            st.caption("No interactions yet.")
        else:
            st.dataframe(ties, hide_index=True, width="stretch")
        st.markdown("**Recent memory**")
        memory = data.get("memories") or data.get("memory") or []  # the sim writes "memories", newest last
        if memory:
            bullets(html("{}", m) for m in list(memory)[-10:][::-1])
        else:
            st.caption("No memories recorded.")
    _interviews(ctx, int(agent_id))
    st.markdown("**Recent dialogue**")
    talk = queries.dialogue(ctx.conn, upto_id=ctx.upto_id, avatar=int(agent_id), limit=20)
    if talk.empty:
        st.caption("Has not spoken or been spoken to yet.")
    else:
        bullets(format_line(row) for _, row in talk.iterrows())
