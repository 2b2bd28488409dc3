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

from typing import Any

from world.ledger import Ledger
from world.offers import tax_on

__all__ = ["OrderBook"]

# An order: [id, avatar, item, side, qty_left, price, expires_tick]
_ID, _AV, _ITEM, _SIDE, _QTY, _PRICE, _EXP = range(7)


class OrderBook:
    """Open orders and last clearing prices, settled through the ledger's escrow account."""

    def __init__(self, ledger: Ledger, currency: str, tax_rate: float) -> None:
        self.ledger = ledger
        self.currency = currency
        self.tax_rate = tax_rate
        self.orders: dict[int, list[Any]] = {}
        # avatar -> its open order ids: per-avatar checks stay O(own orders) on a big book.
        self._mine: dict[int, dict[int, None]] = {}
        self.next_id = 1
        self.prices: dict[str, int] = {}  # item -> last clearing price
        self.volume: dict[str, int] = {}  # item -> units traded at the last clearing

    def has_side(self, avatar: int, item: str, side: str) -> bool:
        """Whether ``avatar`` has an open ``side`` order on ``item``."""
        orders = self.orders
        return any(orders[i][_ITEM] == item and orders[i][_SIDE] == side for i in self._mine.get(avatar, ()))

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
        self.orders[oid] = [oid, avatar, item, side, qty, price, expires]
        self._mine.setdefault(avatar, {})[oid] = None
        return oid

    def _drop(self, oid: int) -> list[Any]:
        o = self.orders.pop(oid)
        mine = self._mine[o[_AV]]
        del mine[oid]
        if not mine:
            del self._mine[o[_AV]]
        return o

    def escrowed(self) -> dict[str, int]:
        """What open orders hold in escrow, per asset (for the escrow invariant)."""
        out: dict[str, int] = {}
        for o in self.orders.values():
            if o[_SIDE] == "buy":
                out[self.currency] = out.get(self.currency, 0) + o[_PRICE] * o[_QTY]
            else:
                out[o[_ITEM]] = out.get(o[_ITEM], 0) + o[_QTY]
        return out

    def clear(self) -> list[dict[str, Any]]:
        """Match every item's book once; returns one trade record per matched pair.

        A record is the ``trade`` event's data plus ``goods_entry``/``pay_entry`` ids.
        """
        by_item: dict[str, tuple[list, list]] = {}
        for o in self.orders.values():
            bids, asks = by_item.setdefault(o[_ITEM], ([], []))
            (bids if o[_SIDE] == "buy" else asks).append(o)
        trades: list[dict[str, Any]] = []
        self.volume = {}
        for item in sorted(by_item):
            bids, asks = by_item[item]
            if not bids or not asks:
                continue
            bids.sort(key=lambda o: (-o[_PRICE], o[_ID]))
            asks.sort(key=lambda o: (o[_PRICE], o[_ID]))
            matches = []
            i = j = 0
            left_b, left_a = bids[0][_QTY], asks[0][_QTY]
            while i < len(bids) and j < len(asks) and bids[i][_PRICE] >= asks[j][_PRICE]:
                q = min(left_b, left_a)
                matches.append((bids[i], asks[j], q))
                last_bid, last_ask = bids[i][_PRICE], asks[j][_PRICE]
                left_b -= q
                left_a -= q
                if left_b == 0:
                    i += 1
                    left_b = bids[i][_QTY] if i < len(bids) else 0
                if left_a == 0:
                    j += 1
                    left_a = asks[j][_QTY] if j < len(asks) else 0
            if not matches:
                continue
            price = (last_bid + last_ask) // 2
            self.prices[item] = price
            self.volume[item] = sum(q for _, _, q in matches)
            for bid, ask, q in matches:
                trades.append(self._execute(item, bid, ask, q, price))
        for oid in [oid for oid, o in self.orders.items() if o[_QTY] == 0]:
            self._drop(oid)
        return trades

    def _execute(self, item: str, bid: list, ask: list, q: int, price: int) -> dict[str, Any]:
        led, cur = self.ledger, self.currency
        buyer, seller = bid[_AV], ask[_AV]
        memo = f"book {item} {bid[_ID]}x{ask[_ID]}"
        goods = led.transfer("escrow", buyer, item, q, memo)
        pay = led.transfer("escrow", seller, cur, price * q, memo) if price * q else goods
        refund = (bid[_PRICE] - price) * q
        if refund:
            led.transfer("escrow", buyer, cur, refund, memo + " refund")
        tax = tax_on(price * q, self.tax_rate)
        if tax:
            led.transfer(seller, "treasury", cur, tax, memo + " tax")
        bid[_QTY] -= q
        ask[_QTY] -= q
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

    def expire(self, tick: int) -> list[list[Any]]:
        """Remove orders whose expiry has come and refund their escrow; returns them."""
        due = [o for o in self.orders.values() if o[_EXP] <= tick]
        for o in due:
            self.cancel(o[_ID], "expired")
        return due

    def cancel(self, oid: int, why: str) -> None:
        """Remove an order and give its escrow back."""
        o = self._drop(oid)
        memo = f"order {oid} {why}"
        if o[_SIDE] == "buy":
            if o[_PRICE] * o[_QTY]:
                self.ledger.transfer("escrow", o[_AV], self.currency, o[_PRICE] * o[_QTY], memo)
        elif o[_QTY]:
            self.ledger.transfer("escrow", o[_AV], o[_ITEM], o[_QTY], memo)

    def get_state(self) -> dict[str, Any]:
        """JSON-safe state."""
        return {
            "orders": [list(o) for o in self.orders.values()],
            "next_id": self.next_id,
            "prices": dict(self.prices),
            "volume": dict(self.volume),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s output."""
        self.orders = {o[_ID]: list(o) for o in state["orders"]}
        self._mine = {}
        for o in self.orders.values():
            self._mine.setdefault(o[_AV], {})[o[_ID]] = None
        self.next_id = state["next_id"]
        self.prices = dict(state["prices"])
        self.volume = dict(state["volume"])
