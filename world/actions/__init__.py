"""Every action kind as one :class:`~world.actions.base.ActionSpec`, and the options they offer.

:data:`SPECS` is the registry (kind -> spec); :data:`ACTION_KINDS` its keys. :func:`legal_actions`
lists what an avatar may do now: every spec's candidates, kept only where the spec's own
``check`` accepts them (legality is written once), most pressing first, capped at ``limit``
with "rest" always among them. No random draw: listing options must not disturb the world's
random stream.

``say`` options carry an empty ``text``: the caller fills in speech with
``dataclasses.replace(action, text=...)`` before resolving.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from world.actions.base import ActionSpec, Candidate, Situation
from world.actions.body import Consume, Craft, Gather, Move, Rest
from world.actions.commons import Harvest
from world.actions.projects import Contribute, Join, Propose
from world.actions.social import MAX_TEXT, Give, Report, Say
from world.actions.trade import MAX_OPEN_ORDERS, Accept, OfferSpec, Order, Reject
from world.types import Action, Observation

if TYPE_CHECKING:
    from world.world import World

__all__ = ["ACTION_KINDS", "MAX_OPEN_ORDERS", "MAX_TEXT", "SPECS", "ActionSpec", "legal_actions"]

#: kind -> its spec, in the order the contracts list the kinds.
SPECS: dict[str, ActionSpec] = {
    spec.kind: spec
    for spec in (
        Move(),
        Say(),
        Give(),
        OfferSpec(),
        Accept(),
        Reject(),
        Order(),
        Gather(),
        Craft(),
        Consume(),
        Rest(),
        Harvest(),
        Propose(),
        Join(),
        Contribute(),
        Report(),
    )
}

#: Everything an avatar may attempt.
ACTION_KINDS: tuple[str, ...] = tuple(SPECS)

#: How many others the people options (talk, give, offer) name.
PEOPLE_OPTIONS = 3
#: How many waiting offers get accept / reject options.
OFFER_OPTIONS = 3


def situation(w: World, a: int, obs: Observation | None = None) -> Situation:
    """What the specs need to know about avatar ``a`` to list its options; the parts its
    observation of this tick already holds (``obs``) are taken from it, not computed again."""
    tick = w.tick
    needs = obs.needs if obs is not None else w.needs.as_dict(a, tick)
    inv = obs.inventory if obs is not None else w.inventory(a)
    foods = tuple(sorted((i for i in inv if w.item_cfg[i].food > 0), key=lambda i: -w.item_cfg[i].food))
    return Situation(
        actor=a,
        tick=tick,
        place=w.places.at.get(a),
        needs=needs,
        inventory=inv,
        coins=obs.coins if obs is not None else w.coins(a),
        tired=needs["tiredness"] >= 1.0,
        muted=(obs.muted_until is not None) if obs is not None else w.moderator.is_muted(a, tick),
        people=w.places.nearby(a, PEOPLE_OPTIONS, tick + a),
        # The observation lists the visible offers in the same order: its first few are these.
        offers=obs.offers[:OFFER_OPTIONS]
        if obs is not None
        else tuple(w.offers.visible_to(a, limit=OFFER_OPTIONS)),
        foods=foods,
    )


def legal_actions(w: World, a: int, limit: int = 26, obs: Observation | None = None) -> list[Action]:
    """Actions ``a`` may take now, most pressing first, at most ``limit`` (rest always included).
    ``obs``: the avatar's observation of this tick, when the caller has it (nothing is computed twice)."""
    if a in w.moderator.banned or limit <= 0:
        return []
    rest = Action(a, "rest")
    if a in w.places.trips:
        return [rest]
    s = situation(w, a, obs)
    found: list[Candidate] = []
    for spec in SPECS.values():
        for key, option in spec.options(w, s):
            if spec.check(w, option, draft=True) is None:
                found.append((key, option))
    found.sort(key=lambda c: c[0])  # stable: equal keys keep the spec's own order
    seen: set[Action] = set()
    out: list[Action] = []
    for _, o in found:
        if o not in seen:
            seen.add(o)
            out.append(o)
    out = out[:limit]
    if rest not in out:
        out = [*out[: limit - 1], rest]
    return out
