"""One handler per action kind, mixed into :class:`world.World`.

A handler gets the action and the tick's event list. It returns None after appending the
events of what happened, or a reason string when the action is illegal, in which case it
must not have changed anything: every check comes before the first write.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from world.needs import HUNGER as _HUNGER
from world.needs import LONELINESS as _LONELY
from world.needs import TIREDNESS as _TIRED
from world.project_handlers import ProjectHandlers
from world.types import Action, Event
from world.types import quantity_error as _qty_error

if TYPE_CHECKING:
    from world.world import World

__all__ = ["HANDLERS", "ActionHandlers"]

HANDLERS: dict[str, str] = {
    "move": "_do_move",
    "say": "_do_say",
    "give": "_do_give",
    "offer": "_do_offer",
    "accept": "_do_accept",
    "reject": "_do_reject",
    "order": "_do_order",
    "gather": "_do_gather",
    "craft": "_do_craft",
    "consume": "_do_consume",
    "rest": "_do_rest",
    "project_propose": "_do_propose",
    "project_join": "_do_join",
    "project_contribute": "_do_contribute",
    "report": "_do_report",
}


def _pair_key(a: int, b: int) -> str:
    return f"{a}-{b}" if a < b else f"{b}-{a}"


class ActionHandlers(ProjectHandlers):
    """The ``_do_<kind>`` methods of :class:`world.World` (see :data:`HANDLERS`); the project
    actions are in :mod:`world.project_handlers`."""

    # -- shared checks ------------------------------------------------------------------

    def _target_error(self: World, a: Action, same_place: bool) -> str | None:
        t = a.target
        if t is None:
            return "a target is required"
        if t not in self.names:
            return f"unknown target {t!r}"
        if t == a.actor:
            return "the target is the actor itself"
        if same_place:
            here = self.places.at.get(a.actor)
            if self.places.at.get(t) != here:
                return f"{self.names[t]} is not here"
        return None

    def _goods_error(self: World, goods: Any, what: str) -> str | None:
        if not isinstance(goods, tuple | list) or not goods:
            return f"{what}: nothing listed"
        for pair in goods:
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                return f"{what}: expected (item, qty) pairs"
            item, q = pair
            if item not in self.assets:
                return f"{what}: unknown item {item!r}"
            err = _qty_error(q)
            if err:
                return f"{what}: {err}"
        return None

    def _tired(self: World, actor: int) -> bool:
        return self.needs.level(actor, _TIRED, self.tick) >= 1.0

    # -- moving, resting, eating ----------------------------------------------------------

    def _do_move(self: World, a: Action, out: list[Event]) -> str | None:
        dest = a.place
        if dest not in self.places.coords:
            return f"unknown place {dest!r}"
        src = self.places.at.get(a.actor)
        if dest == src:
            return f"already at the {dest}"
        arrive = self.places.start_trip(a.actor, dest, self.tick)
        out.append(
            Event(self.tick, "move", a.actor, None, src, dest, {"from": src, "to": dest, "arrive": arrive})
        )
        return None

    def _do_rest(self: World, a: Action, out: list[Event]) -> str | None:
        level = self.needs.change(a.actor, _TIRED, -self.needs_cfg.rest_relief, self.tick)
        out.append(
            Event(self.tick, "rest", a.actor, None, self.places.at.get(a.actor), "", {"tiredness": level})
        )
        return None

    def _do_consume(self: World, a: Action, out: list[Event]) -> str | None:
        item = a.item
        cfg = self.item_cfg.get(item)  # type: ignore[arg-type]
        if cfg is None:
            return f"unknown item {item!r}"
        if cfg.food <= 0 and cfg.energy <= 0:
            return f"{item} cannot be eaten"
        err = _qty_error(a.qty)
        if err:
            return err
        have = self.ledger.balance(a.actor, item)
        if have < a.qty:
            return f"holds only {have} {item}"
        self.ledger.transfer(a.actor, "sink", item, a.qty, "consume")
        hunger = self.needs.change(a.actor, _HUNGER, -cfg.food * a.qty, self.tick)
        tired = self.needs.change(a.actor, _TIRED, -cfg.energy * a.qty, self.tick)
        out.append(
            Event(
                self.tick,
                "consume",
                a.actor,
                None,
                self.places.at.get(a.actor),
                item,
                {"item": item, "qty": a.qty, "hunger": hunger, "tiredness": tired},
            )
        )
        return None

    # -- gifts ----------------------------------------------------------------------------

    def _do_give(self: World, a: Action, out: list[Event]) -> str | None:
        # The hot path of the Boltzmann benchmark: keep it to a few dict lookups.
        actor, t = a.actor, a.target
        if t not in self.names:
            return f"unknown target {t!r}"
        if t == actor:
            return "cannot give to oneself"
        item = a.item or self.currency
        q = a.qty
        if type(q) is not int or q <= 0:
            return f"quantity must be a positive whole number, got {q!r}"
        h = self.ledger.holdings.get(item)
        if h is None:
            if item not in self.assets:
                return f"unknown item {item!r}"
            have = 0
        else:
            have = h.get(actor, 0)
        if have < q:
            return f"holds only {have} {item}"
        self.ledger.move(actor, t, h, item, q, "give")  # type: ignore[arg-type]
        ties = self.social.out[t]
        if self._gift_edges or actor in ties:
            self.social.touch(t, actor, "gift", self.tick)
        self._counts["gifts"] += 1
        out.append(
            Event(self.tick, "give", actor, t, self.places.at.get(actor), "", {"item": item, "qty": q})
        )
        return None

    # -- speech and reports ---------------------------------------------------------------

    def _do_say(self: World, a: Action, out: list[Event]) -> str | None:
        text = a.text
        if not isinstance(text, str) or not text.strip():
            return "nothing to say"
        if len(text) > 1000:
            return "message too long (over 1000 characters)"
        actor, tick = a.actor, self.tick
        place = self.places.at.get(actor)
        if a.target is not None:
            err = self._target_error(a, same_place=True)
            if err:
                return err
        mod = self.moderator
        if mod.is_muted(actor, tick):
            return f"muted until tick {mod.muted_until[actor]}"
        llm_yes = None
        if self._judged is not None:
            llm_yes = next(self._judged, None)
        d = mod.screen_message(actor, a.target, text, tick, llm_yes)
        delivered = d is None or not d.block
        if a.target is not None:
            recipients: tuple[int, ...] = (a.target,)
            conv = _pair_key(actor, a.target)
        else:
            recipients = self.places.nearby(actor, self._nearby_limit, tick)
            conv = f"place:{place}"
        violation = (actor in mod.violators) if mod.violators else None
        out.append(
            Event(
                tick,
                "say",
                actor,
                a.target,
                place,
                text,
                {
                    "flagged": d is not None,
                    "rule": d.rule if d else None,
                    "delivered": delivered,
                    "conversation_id": conv,
                    "violation": violation,
                },
            )
        )
        if d is not None:
            self._moderate(actor, d, out, text)
        if delivered and recipients:
            hostile = mod.is_hostile(text)
            relief = -self.needs_cfg.talk_relief
            self.needs.change(actor, _LONELY, relief, tick)
            for r in recipients:
                box = self.inbox.get(r)
                if box is None:
                    box = self.inbox[r] = deque(maxlen=self._inbox_size)
                box.append((tick, actor, text))
                self.needs.change(r, _LONELY, relief, tick)
                if hostile:
                    self.social.touch(r, actor, "hostile_message", tick)
                else:
                    self.social.interact(actor, r, "conversation", tick)
        return None

    def _do_report(self: World, a: Action, out: list[Event]) -> str | None:
        err = self._target_error(a, same_place=False)
        if err:
            return err
        tick = self.tick
        self.social.touch(a.actor, a.target, "report", tick)  # type: ignore[arg-type]
        out.append(
            Event(tick, "report", a.actor, a.target, self.places.at.get(a.actor), a.text, {"reason": a.text})
        )
        d = self.moderator.on_report(a.actor, a.target, tick)  # type: ignore[arg-type]
        if d is not None:
            sanction = self._moderate(a.target, d, out, a.text)  # type: ignore[arg-type]
            if sanction != "none":
                for reporter in d.evidence["reporters"]:
                    self.social.touch(reporter, a.target, "sanctioned", tick)  # type: ignore[arg-type]
        return None

    # -- offers ---------------------------------------------------------------------------

    def _do_offer(self: World, a: Action, out: list[Event]) -> str | None:
        if self.mechanism not in ("offers", "both"):
            return "this world has no bilateral offers"
        actor, tick = a.actor, self.tick
        if a.target is not None:
            err = self._target_error(a, same_place=False)
            if err:
                return err
        err = self._goods_error(a.give, "give") or self._goods_error(a.get, "get")
        if err:
            return err
        if {i for i, _ in a.give} & {i for i, _ in a.get}:
            return "the same item on both sides"
        ttl = self.spec.economy.market.offer_ttl if a.expires_in is None else a.expires_in
        if type(ttl) is not int or ttl <= 0:
            return f"expires_in must be a positive whole number, got {ttl!r}"
        mod = self.moderator
        if mod.is_muted(actor, tick):
            return f"muted until tick {mod.muted_until[actor]}"
        give = tuple((i, q) for i, q in a.give)
        get = tuple((i, q) for i, q in a.get)
        d = mod.screen_offer(
            actor, give, get, tick, lambda i: self.ledger.balance(actor, i), self.price_of, self.currency
        )
        place = self.places.at.get(actor)
        data: dict[str, Any] = {
            "give": [list(p) for p in give],
            "get": [list(p) for p in get],
            "flagged": d is not None,
            "rule": d.rule if d else None,
        }
        if d is not None and d.block:
            data.update(offer_id=None, delivered=False)
            out.append(Event(tick, "offer", actor, a.target, place, a.label, data))
            self._moderate(actor, d, out, a.label)
            return None
        oid = self.offers.post(actor, a.target, give, get, tick, tick + ttl)
        data.update(offer_id=oid, delivered=True, expires=tick + ttl)
        out.append(Event(tick, "offer", actor, a.target, place, a.label, data))
        if d is not None:
            self._moderate(actor, d, out, a.label)
        return None

    def _open_offer(self: World, a: Action) -> tuple[dict[str, Any] | None, str | None]:
        o = self.offers.open.get(a.offer_id)  # type: ignore[arg-type]
        if o is None:
            return None, f"no open offer {a.offer_id!r}"
        if o["expires"] <= self.tick:
            return None, f"offer {a.offer_id} expired at tick {o['expires']}"
        return o, None

    def _do_accept(self: World, a: Action, out: list[Event]) -> str | None:
        o, err = self._open_offer(a)
        if err:
            return err
        actor, tick = a.actor, self.tick
        sender = o["sender"]  # type: ignore[index]
        if sender == actor:
            return "cannot accept one's own offer"
        if o["target"] is not None and o["target"] != actor:  # type: ignore[index]
            return f"offer {a.offer_id} is addressed to someone else"
        get = tuple(map(tuple, o["get"]))  # type: ignore[index]
        give = tuple(map(tuple, o["give"]))  # type: ignore[index]
        short = self.offers.shortfall(actor, get)  # type: ignore[arg-type]
        if short:
            return f"cannot pay: {short}"
        place = self.places.at.get(actor)
        short = self.offers.shortfall(sender, give)  # type: ignore[arg-type]
        if short:
            # The sender promised what it no longer has: the offer is void, not the acceptor's fault.
            self.offers.close(a.offer_id)  # type: ignore[arg-type]
            n = self.offers.dishonoured[sender] = self.offers.dishonoured.get(sender, 0) + 1
            self.social.touch(actor, sender, "dishonoured_offer", tick)
            out.append(
                Event(
                    tick,
                    "reject",
                    actor,
                    sender,
                    place,
                    "dishonoured",
                    {"offer_id": a.offer_id, "reason": f"dishonoured: {short}"},
                )
            )
            d = self.moderator.on_dishonoured(sender, n)
            if d is not None:
                self._moderate(sender, d, out, f"offer {a.offer_id}")
            return None
        s = self.offers.settle(a.offer_id, actor)  # type: ignore[arg-type]
        tr = s.data
        self.ledger.record_trade(s.goods_entry, s.pay_entry, tr["buyer"], tr["seller"])
        self._count_trade(tr)
        out.append(Event(tick, "accept", actor, sender, place, "", {"offer_id": a.offer_id}))
        out.append(Event(tick, "trade", tr["buyer"], tr["seller"], place, "", tr))
        market = self.price_of(tr["item"])
        price = tr["price"]
        if price and market and (price > 2 * market or 2 * price < market):
            # The side with the worse deal trusts the other less.
            loser, winner = (tr["buyer"], tr["seller"]) if price > market else (tr["seller"], tr["buyer"])
            self.social.touch(loser, winner, "unfair_trade", tick)
            self.social.touch(winner, loser, "fair_trade", tick)
        else:
            self.social.interact(actor, sender, "fair_trade", tick)
        return None

    def _do_reject(self: World, a: Action, out: list[Event]) -> str | None:
        o, err = self._open_offer(a)
        if err:
            return err
        if a.actor != o["target"] and a.actor != o["sender"]:  # type: ignore[index]
            return f"offer {a.offer_id} is not addressed to you"
        self.offers.close(a.offer_id)  # type: ignore[arg-type]
        why = "withdrawn" if a.actor == o["sender"] else "rejected"  # type: ignore[index]
        other = o["target"] if why == "withdrawn" else o["sender"]  # type: ignore[index]
        out.append(
            Event(
                self.tick,
                "reject",
                a.actor,
                other,
                self.places.at.get(a.actor),
                why,
                {"offer_id": a.offer_id, "reason": why},
            )
        )
        return None

    # -- the order book -------------------------------------------------------------------

    def _do_order(self: World, a: Action, out: list[Event]) -> str | None:
        if self.mechanism not in ("order_book", "both"):
            return "this world has no order book"
        item, side, q, price, actor = a.item, a.side, a.qty, a.price, a.actor
        if item not in self.item_cfg:
            return f"unknown item {item!r}"
        if side not in ("buy", "sell"):
            return f"side must be buy or sell, got {side!r}"
        err = _qty_error(q)
        if err:
            return err
        if type(price) is not int or price <= 0:
            return f"price must be a positive whole number, got {price!r}"
        ttl = self.spec.economy.market.order_ttl if a.expires_in is None else a.expires_in
        if type(ttl) is not int or ttl <= 0:
            return f"expires_in must be a positive whole number, got {ttl!r}"
        place = self.places.at.get(actor)
        markets = self.places.offering("market")
        if markets and place not in markets:
            return "orders are placed at a market"
        if self.book.has_side(actor, item, "sell" if side == "buy" else "buy"):  # type: ignore[arg-type]
            return f"already {'selling' if side == 'buy' else 'buying'} {item}: would trade with oneself"
        if self.book.open_count(actor) >= 20:
            return "too many open orders"
        asset, need = (self.currency, price * q) if side == "buy" else (item, q)  # type: ignore[operator]
        have = self.ledger.balance(actor, asset)  # type: ignore[arg-type]
        if have < need:
            return f"holds only {have} {asset}, needs {need}"
        oid = self.book.place(actor, item, side, q, price, self.tick + ttl)  # type: ignore[arg-type]
        out.append(
            Event(
                self.tick,
                "order",
                actor,
                None,
                place,
                a.label,
                {
                    "order_id": oid,
                    "item": item,
                    "side": side,
                    "qty": q,
                    "price": price,
                    "status": "open",
                    "expires": self.tick + ttl,
                },
            )
        )
        return None

    # -- work -----------------------------------------------------------------------------

    def _yields_here(self: World, place: str | None) -> dict[str, int]:
        out: dict[str, int] = {}
        if place is None:
            return out
        for kind in self.places.offers[place]:
            for item, q in self.gathering.get(kind, {}).items():
                out[item] = out.get(item, 0) + q
        return out

    def _do_gather(self: World, a: Action, out: list[Event]) -> str | None:
        place = self.places.at.get(a.actor)
        yields = self._yields_here(place)
        if not yields:
            return f"nothing to gather at the {place}"
        item = a.item or sorted(yields)[0]
        if item not in yields:
            return f"no {item} at the {place}"
        if self._tired(a.actor):
            return "too tired: rest first"
        q = yields[item]
        self.ledger.transfer("mint", a.actor, item, q, f"gather at {place}")
        self.needs.change(a.actor, _TIRED, self.needs_cfg.work_effort, self.tick)
        out.append(Event(self.tick, "gather", a.actor, None, place, item, {"item": item, "qty": q}))
        return None

    def _do_craft(self: World, a: Action, out: list[Event]) -> str | None:
        r = self.recipes.get(a.recipe)  # type: ignore[arg-type]
        if r is None:
            return f"unknown recipe {a.recipe!r}"
        actor = a.actor
        place = self.places.at.get(actor)
        if not self.places.matches(place, r.place):
            return f"{a.recipe} is crafted at a {r.place}"
        for item, q in r.inputs.items():
            have = self.ledger.balance(actor, item)
            if have < q:
                return f"holds only {have} {item}, needs {q}"
        if self._tired(actor):
            return "too tired: rest first"
        memo = f"craft {a.recipe}"
        for item, q in r.inputs.items():
            self.ledger.transfer(actor, "sink", item, q, memo)
        for item, q in r.outputs.items():
            self.ledger.transfer("mint", actor, item, q, memo)
        self.needs.change(actor, _TIRED, self.needs_cfg.work_effort, self.tick)
        out.append(
            Event(
                self.tick,
                "craft",
                actor,
                None,
                place,
                a.recipe or "",
                {"recipe": a.recipe, "inputs": dict(r.inputs), "outputs": dict(r.outputs)},
            )
        )
        return None

    # -- projects -------------------------------------------------------------------------
