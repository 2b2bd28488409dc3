"""The auditable ledger: every change of holdings is a transfer between two accounts.

Accounts are avatars (their integer ids) and the system accounts ``mint`` (creates),
``sink`` (destroys), ``treasury`` (taxes, project rewards) and ``escrow`` (goods held for
open orders, offers being settled and projects). Amounts are whole units, so the books are
exact.

Invariants (checked by :meth:`Ledger.check` at the end of every tick):

1. Conservation: per asset, the sum over holding accounts (everything but ``mint`` and
   ``sink``) equals everything minted minus everything burned, both recorded.
2. No account holds a negative amount of anything.
3. Every trade has both legs: the goods entry and the payment entry exist among the tick's
   entries (looked up by id), move the recorded amounts and go in opposite directions between the parties
   (through escrow where the trade settled through it).

A transfer that would break them is refused with :class:`LedgerError` before it changes
anything; a violation found by the check raises :class:`InvariantError` naming the entry.
Either stops the run: the world never continues on books it cannot trust.

Memory stays bounded: entries wait in a buffer until :meth:`Ledger.drain` hands them to the
event store; conservation uses running mint/burn totals, not the history.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Account", "InvariantError", "Ledger", "LedgerError"]

Account = int | str
#: A ledger entry: (id, tick, asset, src, dst, qty, memo).
Entry = tuple[int, int, str, Account, Account, int, str]
_NOT_HOLDERS = ("mint", "sink")


def _as_entry(row: Any) -> Entry:
    eid, tick, asset, src, dst, qty, memo = row
    return (eid, tick, asset, src, dst, qty, memo)


class LedgerError(ValueError):
    """A transfer that cannot happen (non-positive amount, overdraft): a bug in the caller."""


class InvariantError(RuntimeError):
    """The books do not balance. The message names the asset, the account and the entry."""


class Ledger:
    """Holdings per asset and account, plus the entries of the ticks not yet drained."""

    def __init__(self) -> None:
        self.tick = 0
        #: asset -> account -> amount. Read freely; change only through :meth:`transfer`.
        self.holdings: dict[str, dict[Account, int]] = {}
        self.minted: dict[str, int] = {}
        self.burned: dict[str, int] = {}
        # (id, tick, asset, src, dst, qty, memo); ids are global and never reused.
        self._entries: list[Entry] = []
        self._next_id = 1
        self._tick_first_id = 1  # first entry id of the current tick
        # Trades of the tick: (goods id, pay id, goods entry, pay entry, buyer, seller).
        self._trades: list[tuple[int, int, Entry | None, Entry | None, Account, Account]] = []

    # -- reading ------------------------------------------------------------------------

    def balance(self, account: Account, asset: str) -> int:
        """What ``account`` holds of ``asset`` (0 if nothing)."""
        h = self.holdings.get(asset)
        return h.get(account, 0) if h is not None else 0

    def supply(self, asset: str) -> int:
        """Minted minus burned: what the holding accounts must hold in total."""
        return self.minted.get(asset, 0) - self.burned.get(asset, 0)

    def assets_of(self, account: Account) -> dict[str, int]:
        """Every asset ``account`` holds a positive amount of."""
        out = {}
        for asset, h in self.holdings.items():
            q = h.get(account, 0)
            if q:
                out[asset] = q
        return out

    # -- writing ------------------------------------------------------------------------

    def transfer(self, src: Account, dst: Account, asset: str, qty: int, memo: str = "") -> int:
        """Move ``qty`` of ``asset`` from ``src`` to ``dst``; returns the entry id.

        ``src="mint"`` creates and ``dst="sink"`` destroys. Refuses (LedgerError, nothing
        changed) a non-positive or non-integer amount, a self-transfer and an overdraft.
        """
        if type(qty) is not int or qty <= 0:
            raise LedgerError(f"transfer of {qty!r} {asset} from {src} to {dst} ({memo}): amount must be > 0")
        if src == dst:
            raise LedgerError(f"transfer of {qty} {asset} from {src} to itself ({memo})")
        h = self.holdings.get(asset)
        if h is None:
            h = self.holdings[asset] = {}
        if src == "mint":
            self.minted[asset] = self.minted.get(asset, 0) + qty
        else:
            have = h.get(src, 0)
            if have < qty:
                raise LedgerError(
                    f"transfer of {qty} {asset} from {src} to {dst} ({memo}): {src} holds only {have}"
                )
            h[src] = have - qty
        if dst == "sink":
            self.burned[asset] = self.burned.get(asset, 0) + qty
        else:
            h[dst] = h.get(dst, 0) + qty
        eid = self._next_id
        self._next_id = eid + 1
        self._entries.append((eid, self.tick, asset, src, dst, qty, memo))
        return eid

    def move(self, src: int, dst: int, h: dict[Account, int], asset: str, qty: int, memo: str) -> None:
        """Fast path of :meth:`transfer` between two avatars for a caller that has already
        checked ``qty > 0``, ``src != dst`` and ``h[src] >= qty`` (``h = holdings[asset]``)."""
        h[src] -= qty
        h[dst] = h.get(dst, 0) + qty
        eid = self._next_id
        self._next_id = eid + 1
        self._entries.append((eid, self.tick, asset, src, dst, qty, memo))

    def record_trade(self, goods_entry: int, pay_entry: int, buyer: Account, seller: Account) -> None:
        """Remember a trade's two legs so :meth:`check` can prove both happened."""
        self._trades.append(
            (goods_entry, pay_entry, self._entry(goods_entry), self._entry(pay_entry), buyer, seller)
        )

    def _entry(self, eid: int) -> Entry | None:
        """The undrained entry with id ``eid`` (None if there is none), found by position:
        ids are consecutive and the buffer holds them in order, so the look-up is exact at any
        number of entries (a window of the last entries missed legs on a busy tick)."""
        entries = self._entries
        if not entries:
            return None
        i = eid - entries[0][0]
        if 0 <= i < len(entries) and entries[i][0] == eid:
            return entries[i]
        return None

    def drain(self) -> list[dict[str, Any]]:
        """Entries recorded since the last drain, as ``{id, tick, asset, src, dst, qty, memo}``."""
        out = [
            {"id": e[0], "tick": e[1], "asset": e[2], "src": e[3], "dst": e[4], "qty": e[5], "memo": e[6]}
            for e in self._entries
        ]
        self._entries = []
        return out

    # -- checking -----------------------------------------------------------------------

    def _describe(self, entry: Entry | None) -> str:
        if entry is None:
            return "no entry this tick (holdings changed outside the ledger)"
        eid, tick, asset, src, dst, qty, memo = entry
        return f"entry #{eid} (tick {tick}: {qty} {asset} {src} -> {dst}, {memo!r})"

    def _last_entry(self, asset: str, account: Account | None = None) -> Entry | None:
        for e in reversed(self._entries):
            if e[0] < self._tick_first_id:
                break
            if e[2] == asset and (account is None or account in (e[3], e[4])):
                return e
        return None

    def check(self) -> None:
        """Verify the invariants for the current tick; raise :class:`InvariantError` if broken."""
        for asset, h in self.holdings.items():
            total = sum(h.values())
            supply = self.supply(asset)
            if total != supply:
                raise InvariantError(
                    f"tick {self.tick}: {asset}: accounts hold {total} but minted - burned is {supply}; "
                    f"last {self._describe(self._last_entry(asset))}"
                )
            if h and min(h.values()) < 0:
                acct = next(a for a, q in h.items() if q < 0)
                raise InvariantError(
                    f"tick {self.tick}: {asset}: account {acct} holds {h[acct]}; "
                    f"last {self._describe(self._last_entry(asset, acct))}"
                )
        for goods, pay, g, p, buyer, seller in self._trades:
            if g is None or p is None:
                raise InvariantError(
                    f"tick {self.tick}: trade {buyer}<-{seller} is missing a leg: "
                    f"goods entry #{goods} {'found' if g else 'missing'}, "
                    f"payment entry #{pay} {'found' if p else 'missing'}"
                )
            # The goods reach the buyer and the payment reaches the seller.
            if g[4] != buyer or p[4] != seller:
                raise InvariantError(
                    f"tick {self.tick}: trade legs go the wrong way: {self._describe(g)}, {self._describe(p)}"
                )

    def end_tick(self) -> None:
        """Check the invariants, then start the next tick's entries."""
        self.check()
        self._trades = []
        self.tick += 1
        self._tick_first_id = self._next_id

    # -- state --------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """JSON-safe state (account keys keep their type: lists of pairs, not objects)."""
        return {
            "tick": self.tick,
            "holdings": {a: [[k, q] for k, q in h.items()] for a, h in self.holdings.items()},
            "minted": dict(self.minted),
            "burned": dict(self.burned),
            "entries": [list(e) for e in self._entries],
            "next_id": self._next_id,
            "tick_first_id": self._tick_first_id,
            "trades": [[t[0], t[1], list(t[2] or ()), list(t[3] or ()), t[4], t[5]] for t in self._trades],
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s output."""
        self.tick = state["tick"]
        self.holdings = {a: {k: q for k, q in pairs} for a, pairs in state["holdings"].items()}
        self.minted = dict(state["minted"])
        self.burned = dict(state["burned"])
        self._entries = [_as_entry(e) for e in state["entries"]]
        self._next_id = state["next_id"]
        self._tick_first_id = state["tick_first_id"]
        self._trades = [
            (t[0], t[1], _as_entry(t[2]) if t[2] else None, _as_entry(t[3]) if t[3] else None, t[4], t[5])
            for t in state["trades"]
        ]
