"""The world's boundary types: what avatars attempt (:class:`Action`), what happened
(:class:`Event`) and what an avatar sees (:class:`Observation`).

They are frozen, slotted dataclasses: cheap to build on the hot path (the Boltzmann
benchmark makes one ``Action`` and one ``Event`` per avatar per tick) and safe to share.
The world validates every field when it resolves an action; constructing an odd action
is allowed so that adversarial or garbled choices can be refused and logged, not crash.

Quantities and prices are integers (whole coins, whole items): the ledger stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACTION_KINDS",
    "EVENT_KINDS",
    "SYSTEM_ACCOUNTS",
    "Action",
    "Event",
    "Observation",
    "quantity_error",
]

#: Everything an avatar may attempt. ``give`` is a gift (Mesa's Boltzmann "give 1 coin").
ACTION_KINDS: tuple[str, ...] = (
    "move",
    "say",
    "give",
    "offer",
    "accept",
    "reject",
    "order",
    "gather",
    "craft",
    "consume",
    "rest",
    "project_propose",
    "project_join",
    "project_contribute",
    "report",
)

#: Event kinds written to the event store (docs/CONTRACTS.md).
EVENT_KINDS: tuple[str, ...] = (
    "say",
    "move",
    "give",
    "offer",
    "accept",
    "reject",
    "trade",
    "order",
    "gather",
    "craft",
    "consume",
    "rest",
    "project_propose",
    "project_join",
    "project_contribute",
    "project_complete",
    "project_fail",
    "report",
    "moderation",
    "sanction",
    "invalid_action",
    "interview",
)

#: Ledger accounts that are not avatars. ``mint`` creates, ``sink`` destroys.
SYSTEM_ACCOUNTS: tuple[str, ...] = ("mint", "sink", "treasury", "escrow")


def _goods(pairs: tuple[tuple[str, int], ...]) -> str:
    return " and ".join(f"{q} {i}" for i, q in pairs) or "nothing"


@dataclass(frozen=True, slots=True)
class Action:
    """One thing an avatar attempts this tick; the world decides whether it happens.

    Which fields matter depends on ``kind``:

    ========================  ====================================================
    move                      ``place``
    say                       ``text``, optional ``target`` (else everyone at the place)
    give                      ``target``, ``item`` (the currency or an item), ``qty``
    offer                     ``target`` (or None: anyone), ``give``, ``get``, ``expires_in``
    accept / reject           ``offer_id``
    order                     ``item``, ``side`` ("buy"/"sell"), ``qty``, ``price``, ``expires_in``
    gather                    ``item`` (optional: the place's first resource)
    craft                     ``recipe``
    consume                   ``item``, ``qty``
    rest                      (nothing)
    project_propose           ``text`` (the project template's name)
    project_join              ``project_id``
    project_contribute        ``project_id``, ``item`` (currency, item or "labour"), ``qty``
    report                    ``target``, optional ``text`` (the reason)
    ========================  ====================================================
    """

    actor: int
    kind: str
    target: int | None = None
    place: str | None = None
    item: str | None = None
    qty: int = 1
    price: int | None = None
    give: tuple[tuple[str, int], ...] = ()
    get: tuple[tuple[str, int], ...] = ()
    offer_id: int | None = None
    project_id: int | None = None
    recipe: str | None = None
    text: str = ""
    side: str | None = None
    expires_in: int | None = None
    #: Display name of ``target`` for :attr:`label` only (not part of the action's identity).
    target_name: str | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """A short English option text, e.g. ``give 1 coin to Ada``."""
        who = self.target_name or (f"#{self.target}" if self.target is not None else "everyone here")
        k = self.kind
        if k == "move":
            return f"walk to the {self.place}"
        if k == "say":
            return f"talk to {who}"
        if k == "give":
            return f"give {self.qty} {self.item} to {who}"
        if k == "offer":
            return f"offer {who} {_goods(self.give)} for {_goods(self.get)}"
        if k == "accept":
            return f"accept offer {self.offer_id}"
        if k == "reject":
            return f"reject offer {self.offer_id}"
        if k == "order":
            return f"{self.side} {self.qty} {self.item} at {self.price} each on the market"
        if k == "gather":
            return f"gather {self.item}" if self.item else "gather here"
        if k == "craft":
            return f"craft {self.recipe}"
        if k == "consume":
            return f"eat {self.qty} {self.item}"
        if k == "rest":
            return "rest"
        if k == "project_propose":
            return f"propose a {self.text} project"
        if k == "project_join":
            return f"join project {self.project_id}"
        if k == "project_contribute":
            return f"contribute {self.qty} {self.item} to project {self.project_id}"
        if k == "report":
            return f"report {who} to the moderators"
        return k

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (only the fields that are set), used in ``invalid_action`` events."""
        out: dict[str, Any] = {"actor": self.actor, "kind": self.kind}
        for name in (
            "target",
            "place",
            "item",
            "price",
            "offer_id",
            "project_id",
            "recipe",
            "side",
            "expires_in",
        ):
            v = getattr(self, name)
            if v is not None:
                out[name] = v
        out["qty"] = self.qty
        if self.give:
            out["give"] = [list(p) for p in self.give]
        if self.get:
            out["get"] = [list(p) for p in self.get]
        if self.text:
            out["text"] = self.text
        return out


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened, as written to the event store's ``events`` table."""

    tick: int
    kind: str
    actor: int | None = None
    target: int | None = None
    place: str | None = None
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Observation:
    """What one avatar perceives at the start of its turn (built cheaply by the world).

    ``needs`` are levels in [0, 1] where higher means more urgent (hunger, tiredness,
    loneliness). ``messages`` are the latest delivered ``(tick, sender, text)``.
    ``offers`` are pending offers addressed to the avatar (or to anyone) as
    ``(offer_id, sender, give, get, expires_tick)``. ``prices`` are the last clearing
    price of every item (its base price until it has traded). ``place_offers`` is what the current place offers (market, farm...).
    """

    avatar_id: int
    tick: int
    name: str
    place: str | None
    travelling_to: str | None
    coins: int
    inventory: dict[str, int]
    needs: dict[str, float]
    nearby: tuple[int, ...]
    messages: tuple[tuple[int, int, str], ...]
    offers: tuple[tuple[int, int, tuple[tuple[str, int], ...], tuple[tuple[str, int], ...], int], ...]
    prices: dict[str, int]
    place_offers: tuple[str, ...] = ()
    projects: tuple[tuple[int, str, int], ...] = ()
    muted_until: int | None = None
    banned: bool = False
    role: str = ""


def quantity_error(q: Any) -> str | None:
    """Why ``q`` is not a legal quantity (a positive whole number), or None if it is."""
    if type(q) is not int or q <= 0:
        return f"quantity must be a positive whole number, got {q!r}"
    return None
