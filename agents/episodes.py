"""What an LLM avatar remembers of an event: one short sentence in its own words, and how much
it matters.

A memory line is read by the model on every later decision that retrieves it, so it says what
happened and no more: the avatar itself is "You" (never its own name, which a small model
reads as someone else), the place is named once, and an action the avatar repeats gets the
same words each time, so :meth:`agents.memory.Memory.add` folds the repeats into one line
("You gathered 2 wheat at the farm" five ticks running is one memory, "5 times").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from world.types import Event

__all__ = ["IMPORTANCE", "describe", "importance"]

#: How much each kind of event matters to the avatar that took part (1..10, Generative Agents'
#: poignancy): sanctions and completed work are remembered, a walk fades first.
IMPORTANCE = {
    "sanction": 9, "moderation": 7, "project_complete": 7, "project_fail": 6, "trade": 6,
    "give": 5, "offer": 5, "accept": 5, "reject": 4, "say": 4, "report": 6, "craft": 3,
    "project_join": 4, "project_contribute": 4, "project_propose": 5, "invalid_action": 3,
    "order": 3, "gather": 2, "harvest": 2, "consume": 2, "move": 1, "rest": 1,
}  # fmt: skip


def importance(e: Event, me: int) -> float:
    """How much ``e`` matters to avatar ``me``: a line said to it counts one more."""
    return IMPORTANCE.get(e.kind, 3) + (1 if e.target == me and e.kind == "say" else 0)


def describe(e: Event, names: dict[int, str], me: int) -> str:
    """``e`` as avatar ``me`` remembers it: one sentence, the avatar as "You"."""
    actor = _who(e.actor, names, me, "The town")
    target = _who(e.target, names, me, "").replace("You", "you")
    d, k = e.data, e.kind
    at = f" at the {e.place}" if e.place else ""
    if k == "say":
        to = f" to {target}" if target else ""
        return f'{actor} said{to}: "{e.text[:160]}"'
    if k == "trade":
        buyer = _who(d.get("buyer"), names, me, "someone")
        seller = _who(d.get("seller"), names, me, "someone").replace("You", "you")
        return f"{buyer} bought {d.get('qty')} {d.get('item')} from {seller} at {d.get('price')} each"
    if k in ("gather", "harvest"):
        return f"{actor} gathered {d.get('qty')} {d.get('item')}{at}"
    if k == "craft":
        made = " and ".join(f"{q} {i}" for i, q in (d.get("outputs") or {}).items()) or e.text
        return f"{actor} made {made}{at}"
    if k == "consume":
        return f"{actor} ate {d.get('qty')} {d.get('item')}"
    if k == "move":
        return f"{actor} walked to the {d.get('to') or e.text}"
    if k == "rest":
        return f"{actor} rested{at}"
    if k == "order":
        if d.get("status") == "expired":
            whose = "Your" if actor == "You" else f"{actor}'s"
            return f"{whose} order to {d.get('side')} {d.get('item')} expired unfilled"
        return f"{actor} put an order on the market: {e.text[:120]}"
    if k == "offer" and "give" in d:
        to = f" {target}" if target else " anyone"
        return f"{actor} offered{to} {_goods(d['give'])} for {_goods(d.get('get', ()))}"
    if k == "give":
        return f"{actor} gave {target or 'someone'} {d.get('qty')} {d.get('item')}"
    if k == "accept":
        return f"{actor} accepted the offer of {target or 'someone'}"
    if k == "reject":
        return _closed(e.text, actor, target or "someone")
    if k.startswith("project_"):
        pid = d.get("project_id")
        what = f"project {pid} (a {e.text})" if pid is not None else f"the {e.text} project"
        if k == "project_join":
            return f"{actor} joined {what}{at}"
        if k == "project_contribute":
            return f"{actor} gave {d.get('qty')} {d.get('item')} to {what}{at}"
        if k == "project_propose":
            return f"{actor} proposed {what}{at}"
        if k == "project_complete":
            return f"{what[0].upper()}{what[1:]} was completed{at}"
        if k == "project_fail":
            return f"{what[0].upper()}{what[1:]} failed: its deadline passed"
    if k == "sanction":
        until = f" until tick {d['until']}" if d.get("until") is not None else ""
        return f"{actor} got a sanction: {e.text}{until} ({d.get('rule')})"
    if k == "moderation":
        return f"Moderation flagged what {actor.replace('You', 'you')} did ({d.get('rule')})"
    if k == "invalid_action":
        return f"{actor} tried something not allowed: {d.get('reason', '')}"
    text = f" ({e.text[:120]})" if e.text else ""
    to = f" -> {target}" if target else ""
    return f"{actor}: {k}{to}{at}{text}"


def _closed(why: str, actor: str, other: str) -> str:
    """An offer that closed unmet, as its ``actor`` or the other side remembers it."""
    mine = actor == "You"
    theirs = "their" if mine else "your"
    if why == "rejected":  # the actor turned the other's offer down
        return f"You turned down {other}'s offer" if mine else f"{actor} turned down your offer"
    if why == "withdrawn":
        return f"You withdrew your offer to {other}" if mine else f"{actor} withdrew {theirs} offer to you"
    if why == "dishonoured":  # the actor tried to accept; the other no longer had the goods
        return (
            f"{other}'s offer to you was void: the goods were gone"
            if mine
            else f"Your offer to {actor} was void: you no longer had the goods"
        )
    return f"Your offer to {other} {why}" if mine else f"{actor}'s offer to you {why}"


def _goods(pairs: Iterable[Sequence[Any]]) -> str:
    return " and ".join(f"{q} {i}" for i, q in pairs) or "nothing"


def _who(avatar: int | None, names: dict[int, str], me: int, nobody: str) -> str:
    if avatar is None:
        return nobody
    return "You" if avatar == me else names.get(avatar, "someone")
