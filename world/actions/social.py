"""Speech, gifts and reports: ``say``, ``give``, ``report``."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from world.actions.base import ActionSpec, Candidate, Situation, who
from world.needs import LONELINESS
from world.types import Action, Event, Heard

if TYPE_CHECKING:
    from world.world import World

__all__ = ["MAX_TEXT", "Give", "Report", "Say", "target_error"]

MAX_TEXT = 1000  # characters in one message


def target_error(w: World, a: Action, same_place: bool) -> str | None:
    """Why ``a.target`` is no one the actor can address (None if it is fine)."""
    t = a.target
    if t is None:
        return "a target is required"
    if t not in w.names:
        return f"unknown target {t!r}"
    if t == a.actor:
        return "the target is the actor itself"
    # Presence as the tick began: someone leaving this tick was still here when addressed.
    if same_place and w.place_at_start(t) != w.places.at.get(a.actor):
        return f"{w.names[t]} is not here"
    return None


class Say(ActionSpec):
    """Say ``text`` to ``target`` (at the same place), or to the others nearby (``target`` None).

    Moderation screens the message first; a blocked one is recorded but not delivered. A
    broadcast reaches exactly the avatars the speaker's observation listed as nearby.
    Conversations are the simulation's: it adds ``conversation_id`` to the event.
    """

    kind = "say"

    @staticmethod
    def label(a: Action) -> str:
        return f"talk to {who(a)}"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        text = a.text
        if not draft:
            if not isinstance(text, str) or not text.strip():
                return "nothing to say"
            if len(text) > MAX_TEXT:
                return f"message too long (over {MAX_TEXT} characters)"
        if a.target is not None:
            err = target_error(w, a, same_place=True)
            if err:
                return err
        mod = w.moderator
        if mod.is_muted(a.actor, w.tick):
            if not draft:
                mod.withheld(a.actor, w.tick)  # not delivered: counts as moderated in the scores
            return f"muted until tick {mod.muted_until[a.actor]}"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        actor, tick, text = a.actor, w.tick, a.text
        place = w.places.at.get(actor)
        mod = w.moderator
        d = mod.screen_message(actor, a.target, text, tick, w.judged(a))
        delivered = d is None or not d.block
        recipients = (a.target,) if a.target is not None else w.listeners(actor)
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
                    "violation": violation,
                },
            )
        )
        if d is not None:
            w.moderate(actor, d, out, text)
        if delivered and recipients:
            hostile = mod.is_hostile(text)
            relief = -w.needs_cfg.talk_relief
            w.needs.change(actor, LONELINESS, relief, tick)
            heard = Heard(tick, actor, text)
            for r in recipients:
                box = w.inbox.get(r)
                if box is None:
                    box = w.inbox[r] = deque(maxlen=w.inbox_size)
                box.append(heard)
                w.needs.change(r, LONELINESS, relief, tick)
                if hostile:
                    w.social.touch(r, actor, "hostile_message", tick)
                else:
                    w.social.interact(actor, r, "conversation", tick)

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        for i, b in enumerate(s.people):
            yield (4, 0, i), Action(s.actor, "say", target=b, target_name=w.names[b])


class Give(ActionSpec):
    """A gift of ``qty`` of an item or the currency (Mesa's Boltzmann "give 1 coin")."""

    kind = "give"

    @staticmethod
    def label(a: Action) -> str:
        return f"give {a.qty} {a.item} to {who(a)}"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        # The hot path of the Boltzmann benchmark: keep it to a few dict lookups.
        actor, t = a.actor, a.target
        if t not in w.names:
            return f"unknown target {t!r}"
        if t == actor:
            return "cannot give to oneself"
        item = a.item or w.currency
        q = a.qty
        if type(q) is not int or q <= 0:
            return f"quantity must be a positive whole number, got {q!r}"
        h = w.ledger.holdings.get(item)
        if h is None:
            if item not in w.assets:
                return f"unknown item {item!r}"
            have = 0
        else:
            have = h.get(actor, 0)
        if have < q:
            return f"holds only {have} {item}"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        actor, t = a.actor, a.target
        assert t is not None
        item = a.item or w.currency
        w.ledger.move(actor, t, w.ledger.holdings[item], item, a.qty, "give")
        if w.gifts_create_edges or actor in w.social.out[t]:
            w.social.touch(t, actor, "gift", w.tick)
        w.count("gifts")
        out.append(Event(w.tick, "give", actor, t, w.places.at.get(actor), "", {"item": item, "qty": a.qty}))

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        if s.coins >= 1 and s.people:
            b = s.people[0]
            yield (4, 1), Action(s.actor, "give", target=b, item=w.currency, qty=1, target_name=w.names[b])


class Report(ActionSpec):
    """Report ``target`` to the moderators (``text``: the reason)."""

    kind = "report"

    @staticmethod
    def label(a: Action) -> str:
        return f"report {who(a)} to the moderators"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        return target_error(w, a, same_place=False)

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        tick, target = w.tick, a.target
        assert target is not None
        w.social.touch(a.actor, target, "report", tick)
        out.append(
            Event(tick, "report", a.actor, target, w.places.at.get(a.actor), a.text, {"reason": a.text})
        )
        d = w.moderator.on_report(a.actor, target, tick)
        if d is not None:
            sanction = w.moderate(target, d, out, a.text)
            if sanction != "none":
                for reporter in d.evidence["reporters"]:
                    w.social.touch(reporter, target, "sanctioned", tick)

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        # The latest hostile message in the inbox.
        box = w.inbox.get(s.actor)
        if not box:
            return
        for m in reversed(box):
            if m.sender in w.names and m.sender != s.actor and w.moderator.is_hostile(m.text):
                yield (
                    (4, 3),
                    Action(
                        s.actor,
                        "report",
                        target=m.sender,
                        text="hostile message",
                        target_name=w.names[m.sender],
                    ),
                )
                return
