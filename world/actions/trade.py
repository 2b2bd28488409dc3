"""Trade: bilateral ``offer`` / ``accept`` / ``reject``, and ``order`` on the market's book."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from world.actions.base import ActionSpec, Candidate, Situation, goods_text, who
from world.actions.social import target_error
from world.types import Action, Event, Goods, Offer, quantity_error

if TYPE_CHECKING:
    from world.world import World

__all__ = ["MAX_OPEN_ORDERS", "Accept", "OfferSpec", "Order", "Reject"]

MAX_OPEN_ORDERS = 20  # per avatar: a spammer cannot flood the book


def _goods_error(w: World, goods: Any, what: str) -> str | None:
    if not isinstance(goods, tuple | list) or not goods:
        return f"{what}: nothing listed"
    for pair in goods:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            return f"{what}: expected (item, qty) pairs"
        item, q = pair
        if item not in w.assets:
            return f"{what}: unknown item {item!r}"
        err = quantity_error(q)
        if err:
            return f"{what}: {err}"
    return None


def _open_offer(w: World, a: Action) -> tuple[Offer | None, str | None]:
    o = w.offers.open.get(a.offer_id) if a.offer_id is not None else None
    if o is None:
        return None, f"no open offer {a.offer_id!r}"
    if o.expires <= w.tick:
        return None, f"offer {a.offer_id} expired at tick {o.expires}"
    return o, None


class OfferSpec(ActionSpec):
    """Offer ``target`` (or anyone) ``give`` for ``get``; moderation screens it for scams first."""

    kind = "offer"

    @staticmethod
    def label(a: Action) -> str:
        return f"offer {who(a)} {goods_text(a.give)} for {goods_text(a.get)}"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        if w.mechanism not in ("offers", "both"):
            return "this world has no bilateral offers"
        if a.target is not None:
            err = target_error(w, a, same_place=False)
            if err:
                return err
        err = _goods_error(w, a.give, "give") or _goods_error(w, a.get, "get")
        if err:
            return err
        if {i for i, _ in a.give} & {i for i, _ in a.get}:
            return "the same item on both sides"
        ttl = w.spec.economy.market.offer_ttl if a.expires_in is None else a.expires_in
        if type(ttl) is not int or ttl <= 0:
            return f"expires_in must be a positive whole number, got {ttl!r}"
        mod = w.moderator
        if mod.is_muted(a.actor, w.tick):
            return f"muted until tick {mod.muted_until[a.actor]}"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        actor, tick = a.actor, w.tick
        ttl = w.spec.economy.market.offer_ttl if a.expires_in is None else a.expires_in
        assert ttl is not None
        give: Goods = tuple((i, q) for i, q in a.give)
        get: Goods = tuple((i, q) for i, q in a.get)
        d = w.moderator.screen_offer(
            actor, give, get, tick, lambda i: w.ledger.balance(actor, i), w.price_of, w.currency
        )
        place = w.places.at.get(actor)
        data: dict[str, Any] = {
            "give": [list(p) for p in give],
            "get": [list(p) for p in get],
            "flagged": d is not None,
            "rule": d.rule if d else None,
        }
        if d is not None and d.block:
            data.update(offer_id=None, delivered=False)
            out.append(Event(tick, "offer", actor, a.target, place, a.label, data))
            w.moderate(actor, d, out, a.label)
            return
        oid = w.offers.post(actor, a.target, give, get, tick, tick + ttl)
        data.update(offer_id=oid, delivered=True, expires=tick + ttl)
        out.append(Event(tick, "offer", actor, a.target, place, a.label, data))
        if d is not None:
            w.moderate(actor, d, out, a.label)

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        # Sell one of (at most two of) the items it holds to the last person listed, at market price.
        if not s.people:
            return
        b = s.people[-1]
        for i, item in enumerate(sorted(s.inventory)[:2]):
            price = max(1, w.price_of(item))
            yield (
                (4, 2, i),
                Action(
                    s.actor,
                    "offer",
                    target=b,
                    give=((item, 1),),
                    get=((w.currency, price),),
                    target_name=w.names[b],
                ),
            )


class Accept(ActionSpec):
    """Accept an open offer: both sides settle at once, or (if the sender can no longer deliver)
    the offer is void and counts as dishonoured."""

    kind = "accept"

    @staticmethod
    def label(a: Action) -> str:
        return f"accept offer {a.offer_id}"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        o, err = _open_offer(w, a)
        if o is None:
            return err
        if o.sender == a.actor:
            return "cannot accept one's own offer"
        if o.target is not None and o.target != a.actor:
            return f"offer {a.offer_id} is addressed to someone else"
        short = w.offers.shortfall(a.actor, o.get)
        if short:
            return f"cannot pay: {short}"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        actor, tick = a.actor, w.tick
        assert a.offer_id is not None  # check() found the offer
        o = w.offers.open[a.offer_id]
        sender = o.sender
        place = w.places.at.get(actor)
        short = w.offers.shortfall(sender, o.give)
        if short:
            # The sender promised what it no longer has: the offer is void, not the acceptor's fault.
            w.offers.close(o.id)
            n = w.offers.dishonoured[sender] = w.offers.dishonoured.get(sender, 0) + 1
            w.social.touch(actor, sender, "dishonoured_offer", tick)
            out.append(
                Event(
                    tick,
                    "reject",
                    actor,
                    sender,
                    place,
                    "dishonoured",
                    {"offer_id": o.id, "reason": f"dishonoured: {short}"},
                )
            )
            d = w.moderator.on_dishonoured(sender, n)
            if d is not None:
                w.moderate(sender, d, out, f"offer {o.id}")
            return
        s = w.offers.settle(o.id, actor)
        tr = s.data
        w.ledger.record_trade(s.goods_entry, s.pay_entry, tr["buyer"], tr["seller"])
        w.count_trade(tr)
        out.append(Event(tick, "accept", actor, sender, place, "", {"offer_id": o.id}))
        out.append(Event(tick, "trade", tr["buyer"], tr["seller"], place, "", tr))
        market = w.price_of(tr["item"])
        price = tr["price"]
        if price and market and (price > 2 * market or 2 * price < market):
            # The side with the worse deal trusts the other less.
            loser, winner = (tr["buyer"], tr["seller"]) if price > market else (tr["seller"], tr["buyer"])
            w.social.touch(loser, winner, "unfair_trade", tick)
            w.social.touch(winner, loser, "fair_trade", tick)
        else:
            w.social.interact(actor, sender, "fair_trade", tick)

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        for i, o in enumerate(s.offers):
            yield (
                (1, i, 0),
                Action(s.actor, "accept", offer_id=o.id, target=o.sender, target_name=w.names[o.sender]),
            )


class Reject(ActionSpec):
    """Reject an offer addressed to one, or withdraw one's own."""

    kind = "reject"

    @staticmethod
    def label(a: Action) -> str:
        return f"reject offer {a.offer_id}"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        o, err = _open_offer(w, a)
        if o is None:
            return err
        if a.actor != o.target and a.actor != o.sender:
            return f"offer {a.offer_id} is not addressed to you"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        assert a.offer_id is not None  # check() found the offer
        o = w.offers.close(a.offer_id)
        why = "withdrawn" if a.actor == o.sender else "rejected"
        other = o.target if why == "withdrawn" else o.sender
        out.append(
            Event(
                w.tick,
                "reject",
                a.actor,
                other,
                w.places.at.get(a.actor),
                why,
                {"offer_id": o.id, "reason": why},
            )
        )

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        for i, o in enumerate(s.offers):
            if o.target == s.actor:
                yield (
                    (1, i, 1),
                    Action(s.actor, "reject", offer_id=o.id, target=o.sender, target_name=w.names[o.sender]),
                )


class Order(ActionSpec):
    """A limit order on the market's book (``side`` buy or sell); it locks its cost in escrow."""

    kind = "order"

    @staticmethod
    def label(a: Action) -> str:
        return f"{a.side} {a.qty} {a.item} at {a.price} each on the market"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        if w.mechanism not in ("order_book", "both"):
            return "this world has no order book"
        item, side, q, price, actor = a.item, a.side, a.qty, a.price, a.actor
        if item not in w.item_cfg:
            return f"unknown item {item!r}"
        if side not in ("buy", "sell"):
            return f"side must be buy or sell, got {side!r}"
        err = quantity_error(q)
        if err:
            return err
        if type(price) is not int or price <= 0:
            return f"price must be a positive whole number, got {price!r}"
        ttl = w.spec.economy.market.order_ttl if a.expires_in is None else a.expires_in
        if type(ttl) is not int or ttl <= 0:
            return f"expires_in must be a positive whole number, got {ttl!r}"
        markets = w.places.offering("market")
        if markets and w.places.at.get(actor) not in markets:
            return "orders are placed at a market"
        assert item is not None
        if w.book.has_side(actor, item, "sell" if side == "buy" else "buy"):
            return f"already {'selling' if side == 'buy' else 'buying'} {item}: would trade with oneself"
        if w.book.open_count(actor) >= MAX_OPEN_ORDERS:
            return "too many open orders"
        asset, need = (w.currency, price * q) if side == "buy" else (item, q)
        have = w.ledger.balance(actor, asset)
        if have < need:
            return f"holds only {have} {asset}, needs {need}"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        item, side, price = a.item, a.side, a.price
        assert item is not None and side is not None and price is not None
        ttl = w.spec.economy.market.order_ttl if a.expires_in is None else a.expires_in
        assert ttl is not None
        oid = w.book.place(a.actor, item, side, a.qty, price, w.tick + ttl)
        out.append(
            Event(
                w.tick,
                "order",
                a.actor,
                None,
                w.places.at.get(a.actor),
                a.label,
                {
                    "order_id": oid,
                    "item": item,
                    "side": side,
                    "qty": a.qty,
                    "price": price,
                    "status": "open",
                    "expires": w.tick + ttl,
                },
            )
        )

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        # One unit of each item, sold if held, bought if affordable, at the market price.
        if w.mechanism not in ("order_book", "both"):
            return
        markets = w.places.offering("market")
        if markets and s.place not in markets:
            return
        for k, item in enumerate(w.item_names):
            price = max(1, w.price_of(item))
            if s.inventory.get(item, 0) >= 1:
                yield (5, k, 0), Action(s.actor, "order", item=item, side="sell", qty=1, price=price)
            if s.coins >= price:
                yield (5, k, 1), Action(s.actor, "order", item=item, side="buy", qty=1, price=price)
