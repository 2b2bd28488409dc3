"""The legal options an avatar is offered each tick (``World.legal_actions``).

Options are concrete :class:`~world.types.Action` values the world would accept now, most
pressing first (a hungry avatar sees "eat" near the top), capped at ``limit`` (26, the
letters A to Z of a ``choose`` request) with "rest" always among them. No random draw:
listing options must not disturb the world's random stream.

``say`` options carry an empty ``text``: the caller fills in generated speech with
``dataclasses.replace(action, text=...)`` before resolving.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from world.projects import LABOUR
from world.types import Action

if TYPE_CHECKING:
    from world.world import World

__all__ = ["legal_actions"]


def legal_actions(w: World, a: int, limit: int = 26) -> list[Action]:
    """Actions ``a`` may take now, most pressing first, at most ``limit`` (rest always included)."""
    if a in w.moderator.banned or limit <= 0:
        return []
    rest = Action(a, "rest")
    if a in w.places.trips:
        return [rest]
    tick = w.tick
    needs = w.needs.as_dict(a, tick)
    place = w.places.at.get(a)
    inv = w.inventory(a)
    coins = w.coins(a)
    names = w.names
    muted = w.moderator.is_muted(a, tick)
    opts: list[Action] = []
    tired = needs["tiredness"] >= 1.0

    # Pressing needs first.
    foods = sorted((i for i in inv if w.item_cfg[i].food > 0), key=lambda i: -w.item_cfg[i].food)
    if foods and needs["hunger"] >= 0.5:
        opts.append(Action(a, "consume", item=foods[0], qty=1))
    if needs["tiredness"] >= 0.7:
        opts.append(rest)

    # Offers waiting for an answer.
    for o in w.offers.visible_to(a, limit=3):
        if o["expires"] <= tick:
            continue
        get = tuple((i, q) for i, q in o["get"])
        if w.offers.shortfall(a, get) is None:
            opts.append(
                Action(a, "accept", offer_id=o["id"], target=o["sender"], target_name=names[o["sender"]])
            )
        if o["target"] == a:
            opts.append(
                Action(a, "reject", offer_id=o["id"], target=o["sender"], target_name=names[o["sender"]])
            )

    # Work at this place.
    if place is not None and not tired:
        for item in sorted(w._yields_here(place)):
            opts.append(Action(a, "gather", item=item))
        for rname, r in w.recipes.items():
            if w.places.matches(place, r.place) and all(
                w.ledger.balance(a, i) >= q for i, q in r.inputs.items()
            ):
                opts.append(Action(a, "craft", recipe=rname))

    # Projects.
    for pid, p in w.projects.active.items():
        t = w.projects.templates[p["template"]]
        if not w.places.matches(place, t.place):
            continue
        for asset in p["needs"]:
            if w.projects.remaining(p, asset) <= 0:
                continue
            if w.projects.cap(p, asset) - w.projects.given(p, a, asset) <= 0:
                continue
            if asset == LABOUR:
                if not tired:
                    opts.append(Action(a, "project_contribute", project_id=pid, item=LABOUR, qty=1))
            elif w.ledger.balance(a, asset) >= 1:
                opts.append(Action(a, "project_contribute", project_id=pid, item=asset, qty=1))
        if a not in p["members"]:
            opts.append(Action(a, "project_join", project_id=pid))
    if len(w.projects.active) < w.spec.projects.max_active:
        for tname, t in w.projects.templates.items():
            if w.places.matches(place, t.place) and (t.reward_source != "sponsors" or coins >= t.reward):
                opts.append(Action(a, "project_propose", text=tname))

    # People here.
    nearby = w.places.nearby(a, 3, tick + a)
    if not muted:
        for b in nearby:
            opts.append(Action(a, "say", target=b, target_name=names[b]))
    if coins >= 1 and nearby:
        b = nearby[0]
        opts.append(Action(a, "give", target=b, item=w.currency, qty=1, target_name=names[b]))
    if not muted and nearby and w.mechanism in ("offers", "both"):
        b = nearby[-1]
        for item in sorted(inv)[:2]:
            price = max(1, w.price_of(item))
            opts.append(
                Action(
                    a, "offer", target=b, give=((item, 1),), get=((w.currency, price),), target_name=names[b]
                )
            )
    box = w.inbox.get(a)
    if box:
        for _, sender, text in reversed(box):
            if sender in names and sender != a and w.moderator.is_hostile(text):
                opts.append(
                    Action(a, "report", target=sender, text="hostile message", target_name=names[sender])
                )
                break

    # The market.
    markets = w.places.offering("market")
    if w.mechanism in ("order_book", "both") and (not markets or place in markets):
        for item in w.item_names:
            price = max(1, w.price_of(item))
            if inv.get(item, 0) >= 1 and not w.book.has_side(a, item, "buy"):
                opts.append(Action(a, "order", item=item, side="sell", qty=1, price=price))
            if coins >= price and not w.book.has_side(a, item, "sell"):
                opts.append(Action(a, "order", item=item, side="buy", qty=1, price=price))

    # Going elsewhere, nearest first.
    if place is not None:
        others = sorted(
            (p for p in w.places.names if p != place), key=lambda p: (w.places.distance(place, p), p)
        )
        for p in others[:4]:
            opts.append(Action(a, "move", place=p))
    if foods and needs["hunger"] < 0.5:
        opts.append(Action(a, "consume", item=foods[0], qty=1))

    seen: set[Action] = set()
    out: list[Action] = []
    for o in opts:
        if o not in seen:
            seen.add(o)
            out.append(o)
    out = out[:limit]
    if rest not in out:
        out = [*out[: limit - 1], rest]
    return out
