"""The world's boundary types: what avatars attempt (:class:`Action`), what happened
(:class:`Event`) and what an avatar sees (:class:`Observation`).

They are frozen, slotted dataclasses: cheap to build on the hot path (the Boltzmann
benchmark makes one ``Action`` and one ``Event`` per avatar per tick) and safe to share.
The world validates every field when it resolves an action; constructing an odd action
is allowed so that adversarial or garbled choices can be refused and logged, not crash.

Quantities and prices are integers (whole coins, whole items): the ledger stays exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "EVENT_KINDS",
    "LABELS",
    "SYSTEM_ACCOUNTS",
    "Action",
    "Event",
    "Goods",
    "Heard",
    "Observation",
    "Offer",
    "ProjectView",
    "quantity_error",
]

#: Goods as ``(item, qty)`` pairs; the currency counts as an item.
Goods = tuple[tuple[str, int], ...]

#: Action kind -> the function that writes its option text; filled by each kind's spec
#: (world.actions) when the package loads, so the text of a kind is written in one place.
LABELS: dict[str, Callable[[Action], str]] = {}

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
    "llm_fallback",
)

#: Ledger accounts that are not avatars. ``mint`` creates, ``sink`` destroys.
SYSTEM_ACCOUNTS: tuple[str, ...] = ("mint", "sink", "treasury", "escrow")


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
        """A short English option text, e.g. ``give 1 coin to Ada`` (written by the kind's spec)."""
        write = LABELS.get(self.kind)
        return write(self) if write is not None else self.kind

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


class Heard(NamedTuple):
    """A message delivered to an avatar."""

    tick: int
    sender: int
    text: str


@dataclass(frozen=True, slots=True)
class Offer:
    """A bilateral offer: ``sender`` gives ``give`` for ``get``; ``target`` None means anyone.

    Open from ``tick`` until ``expires`` (exclusive): at tick ``expires`` it is gone.
    """

    id: int
    sender: int
    target: int | None
    give: Goods
    get: Goods
    tick: int
    expires: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (the checkpoint's)."""
        return {
            "id": self.id,
            "sender": self.sender,
            "target": self.target,
            "give": [list(p) for p in self.give],
            "get": [list(p) for p in self.get],
            "tick": self.tick,
            "expires": self.expires,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Offer:
        """The inverse of :meth:`as_dict`."""
        return cls(
            id=d["id"],
            sender=d["sender"],
            target=d["target"],
            give=tuple((str(i), int(q)) for i, q in d["give"]),
            get=tuple((str(i), int(q)) for i, q in d["get"]),
            tick=d["tick"],
            expires=d["expires"],
        )


@dataclass(frozen=True, slots=True)
class ProjectView:
    """What an avatar sees of an active project: what it still needs, who is in, when it is due.

    ``missing`` lists the needs not yet met as ``(asset, qty)`` (``labour`` counts ticks of work);
    ``contributors`` have given something, ``min_contributors`` must have by the deadline.
    """

    id: int
    template: str
    place: str | None
    proposer: int
    deadline: int
    missing: Goods
    contributors: int
    min_contributors: int
    members: int
    reward: int


@dataclass(frozen=True, slots=True)
class Observation:
    """What one avatar perceives at the start of its turn (built once per tick by the world).

    ``needs`` are levels in [0, 1] where higher means more urgent (hunger, tiredness,
    loneliness). ``messages`` are the latest delivered ones. ``offers`` are open offers addressed
    to the avatar (first) or to anyone. ``prices`` are the last clearing price of every item
    (its base price until it has traded). ``place_offers`` is what the current place offers
    (market, farm...). ``nearby`` are the others here the avatar notices (at most
    ``world.nearby_limit``): a broadcast ``say`` reaches exactly them.
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
    messages: tuple[Heard, ...]
    offers: tuple[Offer, ...]
    prices: dict[str, int]
    place_offers: tuple[str, ...] = ()
    projects: tuple[ProjectView, ...] = ()
    muted_until: int | None = None
    banned: bool = False
    role: str = ""


def quantity_error(q: Any) -> str | None:
    """Why ``q`` is not a legal quantity (a positive whole number), or None if it is."""
    if type(q) is not int or q <= 0:
        return f"quantity must be a positive whole number, got {q!r}"
    return None
