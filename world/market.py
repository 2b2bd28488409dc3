"""A per-item order book that clears once per tick (a call auction, price-time priority).

Placing an order locks what it could cost in escrow: a buy locks ``price * qty`` coins, a
sell locks ``qty`` items. At the end of the tick, per item (in name order), bids are ranked
by price then age, asks likewise; they are matched while the best bid is at least the best
ask. Every matched unit trades at one clearing price, the midpoint (rounded down) of the
last matched bid and ask, which lies within every matched pair's limits. Buyers get back
the difference between their limit and the clearing price; sellers pay the tax on what
they receive to the treasury. Unfilled quantity stays on the book until the order expires,
then its escrow is refunded.

An avatar cannot hold a buy and a sell on the same item at once (no trading with oneself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from world.ledger import Ledger
from world.offers import tax_on

__all__ = ["Order", "OrderBook"]


@dataclass(slots=True)
class Order:
    """An open order. ``qty`` is what is left to fill (it falls as the order matches)."""

    id: int
    avatar: int
    item: str
    side: str  # "buy" or "sell"
    qty: int
    price: int
    expires: int

    def as_row(self) -> list[Any]:
        """The checkpoint's form: ``[id, avatar, item, side, qty_left, price, expires]``."""
        return [self.id, self.avatar, self.item, self.side, self.qty, self.price, self.expires]


class OrderBook:
    """Open orders and last clearing prices, settled through the ledger's escrow account."""

    def __init__(self, ledger: Ledger, currency: str, tax_rate: float) -> None:
        self.ledger = ledger
        self.currency = currency
        self.tax_rate = tax_rate
        self.orders: dict[int, Order] = {}
        # avatar -> its open order ids: per-avatar checks stay O(own orders) on a big book.
        self._mine: dict[int, dict[int, None]] = {}
        self.next_id = 1
        self.prices: dict[str, int] = {}  # item -> last clearing price
        self.volume: dict[str, int] = {}  # item -> units traded at the last clearing

    def has_side(self, avatar: int, item: str, side: str) -> bool:
        """Whether ``avatar`` has an open ``side`` order on ``item``."""
        orders = self.orders
        return any(orders[i].item == item and orders[i].side == side for i in self._mine.get(avatar, ()))

    def open_count(self, avatar: int) -> int:
        """Open orders of ``avatar``."""
        return len(self._mine.get(avatar, ()))

    def place(self, avatar: int, item: str, side: str, qty: int, price: int, expires: int) -> int:
        """Lock the order's escrow and add it to the book (the world has validated it)."""
        oid = self.next_id
        self.next_id += 1
        memo = f"order {oid}"
        if side == "buy":
            if price * qty:
                self.ledger.transfer(avatar, "escrow", self.currency, price * qty, memo)
        else:
            self.ledger.transfer(avatar, "escrow", item, qty, memo)
        self.orders[oid] = Order(oid, avatar, item, side, qty, price, expires)
        self._mine.setdefault(avatar, {})[oid] = None
        return oid

    def _drop(self, oid: int) -> Order:
        o = self.orders.pop(oid)
        mine = self._mine[o.avatar]
        del mine[oid]
        if not mine:
            del self._mine[o.avatar]
        return o

    def escrowed(self) -> dict[str, int]:
        """What open orders hold in escrow, per asset (for the escrow invariant)."""
        out: dict[str, int] = {}
        for o in self.orders.values():
            if o.side == "buy":
                out[self.currency] = out.get(self.currency, 0) + o.price * o.qty
            else:
                out[o.item] = out.get(o.item, 0) + o.qty
        return out

    def clear(self) -> list[dict[str, Any]]:
        """Match every item's book once; returns one trade record per matched pair.

        A record is the ``trade`` event's data plus ``goods_entry``/``pay_entry`` ids.
        """
        by_item: dict[str, tuple[list[Order], list[Order]]] = {}
        for o in self.orders.values():
            bids, asks = by_item.setdefault(o.item, ([], []))
            (bids if o.side == "buy" else asks).append(o)
        trades: list[dict[str, Any]] = []
        self.volume = {}
        for item in sorted(by_item):
            bids, asks = by_item[item]
            if not bids or not asks:
                continue
            bids.sort(key=lambda o: (-o.price, o.id))
            asks.sort(key=lambda o: (o.price, o.id))
            matches: list[tuple[Order, Order, int]] = []
            i = j = 0
            left_b, left_a = bids[0].qty, asks[0].qty
            last_bid = last_ask = 0
            while i < len(bids) and j < len(asks) and bids[i].price >= asks[j].price:
                q = min(left_b, left_a)
                matches.append((bids[i], asks[j], q))
                last_bid, last_ask = bids[i].price, asks[j].price
                left_b -= q
                left_a -= q
                if left_b == 0:
                    i += 1
                    left_b = bids[i].qty if i < len(bids) else 0
                if left_a == 0:
                    j += 1
                    left_a = asks[j].qty if j < len(asks) else 0
            if not matches:
                continue
            price = (last_bid + last_ask) // 2
            self.prices[item] = price
            self.volume[item] = sum(q for _, _, q in matches)
            for bid, ask, q in matches:
                trades.append(self._execute(item, bid, ask, q, price))
        for oid in [oid for oid, o in self.orders.items() if o.qty == 0]:
            self._drop(oid)
        return trades

    def _execute(self, item: str, bid: Order, ask: Order, q: int, price: int) -> dict[str, Any]:
        led, cur = self.ledger, self.currency
        buyer, seller = bid.avatar, ask.avatar
        memo = f"book {item} {bid.id}x{ask.id}"
        goods = led.transfer("escrow", buyer, item, q, memo)
        pay = led.transfer("escrow", seller, cur, price * q, memo) if price * q else goods
        refund = (bid.price - price) * q
        if refund:
            led.transfer("escrow", buyer, cur, refund, memo + " refund")
        tax = tax_on(price * q, self.tax_rate)
        if tax:
            led.transfer(seller, "treasury", cur, tax, memo + " tax")
        bid.qty -= q
        ask.qty -= q
        return {
            "item": item,
            "qty": q,
            "price": price,
            "tax": tax,
            "buyer": buyer,
            "seller": seller,
            "via": "book",
            "goods_entry": goods,
            "pay_entry": pay,
        }

    def expire(self, tick: int) -> list[Order]:
        """Remove orders whose expiry has come and refund their escrow; returns them."""
        due = [o for o in self.orders.values() if o.expires <= tick]
        for o in due:
            self.cancel(o.id, "expired")
        return due

    def cancel(self, oid: int, why: str) -> None:
        """Remove an order and give its escrow back."""
        o = self._drop(oid)
        memo = f"order {oid} {why}"
        if o.side == "buy":
            if o.price * o.qty:
                self.ledger.transfer("escrow", o.avatar, self.currency, o.price * o.qty, memo)
        elif o.qty:
            self.ledger.transfer("escrow", o.avatar, o.item, o.qty, memo)

    def get_state(self) -> dict[str, Any]:
        """JSON-safe state."""
        return {
            "orders": [o.as_row() for o in self.orders.values()],
            "next_id": self.next_id,
            "prices": dict(self.prices),
            "volume": dict(self.volume),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s output."""
        self.orders = {row[0]: Order(*row) for row in state["orders"]}
        self._mine = {}
        for o in self.orders.values():
            self._mine.setdefault(o.avatar, {})[o.id] = None
        self.next_id = state["next_id"]
        self.prices = dict(state["prices"])
        self.volume = dict(state["volume"])
