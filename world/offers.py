"""Bilateral offers: "I give you X, you give me Y", open until accepted, rejected or expired.

An offer is a promise: posting it moves nothing. Acceptance settles it atomically through
escrow: every holding is checked first, then both legs go into escrow and out to the other
side (tax on currency received goes to the treasury). If either side lacks anything, no
entry is written at all. An offer whose sender no longer holds what it promised fails on
acceptance and counts as *dishonoured* (moderation's ``scam_dishonoured`` rule reads it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from world.ledger import Ledger
from world.types import Goods, Offer

__all__ = ["Offers", "Settlement", "tax_on"]


def tax_on(amount: int, rate: float) -> int:
    """Tax on ``amount`` coins at ``rate``, rounded to the nearest whole coin (halves up).

    Rounding down made any rate under 1/amount free: at 10% every trade of 2 to 9 coins paid
    nothing, so a tax sweep saw no difference between 0% and 10%.
    """
    if rate <= 0 or amount <= 0:
        return 0
    return min(amount, int(amount * rate + 0.5))


def _totals(goods: Goods) -> dict[str, int]:
    out: dict[str, int] = {}
    for item, q in goods:
        out[item] = out.get(item, 0) + q
    return out


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a settled offer did: the trade event's data and its two ledger legs."""

    data: dict[str, Any]
    goods_entry: int
    pay_entry: int


class Offers:
    """Open offers by id, with an index by addressee (None: anyone who can see it)."""

    def __init__(self, ledger: Ledger, currency: str, tax_rate: float) -> None:
        self.ledger = ledger
        self.currency = currency
        self.tax_rate = tax_rate
        self.open: dict[int, Offer] = {}
        # addressee -> its open offer ids (a dict as an ordered set: O(1) removal)
        self._to: dict[int | None, dict[int, None]] = {}
        self.next_id = 1
        self.dishonoured: dict[int, int] = {}  # sender -> offers that failed on acceptance

    def post(self, sender: int, target: int | None, give: Goods, get: Goods, tick: int, expires: int) -> int:
        """Record an offer (already validated by the world); returns its id."""
        oid = self.next_id
        self.next_id += 1
        self.open[oid] = Offer(oid, sender, target, tuple(give), tuple(get), tick, expires)
        self._to.setdefault(target, {})[oid] = None
        return oid

    def visible_to(self, avatar: int, limit: int = 5) -> list[Offer]:
        """Open offers addressed to ``avatar`` first, then public ones (oldest first)."""
        out: list[Offer] = []
        for i in self._to.get(avatar, ()):
            if len(out) >= limit:
                break
            out.append(self.open[i])
        if len(out) < limit:
            for i in self._to.get(None, ()):
                o = self.open[i]
                if o.sender != avatar:
                    out.append(o)
                    if len(out) >= limit:
                        break
        return out

    def close(self, oid: int) -> Offer:
        """Remove an offer (accepted, rejected, expired or failed); returns it."""
        o = self.open.pop(oid)
        lst = self._to[o.target]
        del lst[oid]
        if not lst:
            del self._to[o.target]
        return o

    def shortfall(self, avatar: int, goods: Goods) -> str | None:
        """Why ``avatar`` cannot deliver ``goods`` (None if it can)."""
        for item, q in _totals(goods).items():
            have = self.ledger.balance(avatar, item)
            if have < q:
                return f"{avatar} holds {have} {item}, needs {q}"
        return None

    def settle(self, oid: int, acceptor: int) -> Settlement:
        """Settle an offer the world has checked both sides of: all entries or none.

        The caller has verified with :meth:`shortfall` that both sides hold their legs, so
        every transfer below succeeds; the ledger would refuse an overdraft anyway.
        """
        o = self.close(oid)
        sender = o.sender
        give = _totals(o.give)
        get = _totals(o.get)
        led, cur = self.ledger, self.currency
        memo = f"offer {oid}"
        for item, q in give.items():
            led.transfer(sender, "escrow", item, q, memo)
        for item, q in get.items():
            led.transfer(acceptor, "escrow", item, q, memo)
        tax = 0
        goods_entry = pay_entry = 0
        # The side that pays currency is the buyer; with currency on neither side (barter)
        # or both, the acceptor counts as the buyer of the sender's goods.
        acceptor_buys = cur not in give or cur in get
        # Whoever receives currency pays the tax on it, after receiving it: both legs of
        # the trade are always whole entries, whatever the rate.
        for item, q in give.items():
            eid = led.transfer("escrow", acceptor, item, q, memo)
            if acceptor_buys and not goods_entry:
                goods_entry = eid
            elif not acceptor_buys and not pay_entry:
                pay_entry = eid
            t = tax_on(q, self.tax_rate) if item == cur else 0
            if t:
                led.transfer(acceptor, "treasury", cur, t, memo + " tax")
                tax += t
        for item, q in get.items():
            eid = led.transfer("escrow", sender, item, q, memo)
            if acceptor_buys and not pay_entry:
                pay_entry = eid
            elif not acceptor_buys and not goods_entry:
                goods_entry = eid
            t = tax_on(q, self.tax_rate) if item == cur else 0
            if t:
                led.transfer(sender, "treasury", cur, t, memo + " tax")
                tax += t
        buyer, seller = (acceptor, sender) if acceptor_buys else (sender, acceptor)
        goods = give if acceptor_buys else get
        pay = get if acceptor_buys else give
        item = next(iter(goods))
        qty = goods[item]
        price = pay.get(cur, 0) // qty if cur in pay else 0
        data = {
            "item": item,
            "qty": qty,
            "price": price,
            "tax": tax,
            "buyer": buyer,
            "seller": seller,
            "via": "offer",
            "offer_id": oid,
            "give": [list(p) for p in o.give],
            "get": [list(p) for p in o.get],
        }
        return Settlement(data, goods_entry, pay_entry)

    def expire(self, tick: int) -> list[Offer]:
        """Close and return the offers whose expiry tick has come."""
        due = [oid for oid, o in self.open.items() if o.expires <= tick]
        return [self.close(oid) for oid in due]

    def get_state(self) -> dict[str, Any]:
        """JSON-safe state (offers in id order; the addressee index is rebuilt)."""
        return {
            "open": [o.as_dict() for o in self.open.values()],
            "next_id": self.next_id,
            "dishonoured": [[a, n] for a, n in self.dishonoured.items()],
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s output."""
        self.open = {}
        self._to = {}
        for d in state["open"]:
            o = Offer.from_dict(d)
            self.open[o.id] = o
            self._to.setdefault(o.target, {})[o.id] = None
        self.next_id = state["next_id"]
        self.dishonoured = {a: n for a, n in state["dishonoured"]}
