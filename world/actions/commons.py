"""Harvesting a commons (world.commons): ``harvest``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from world.actions.base import ActionSpec, Candidate, Situation
from world.needs import TIREDNESS
from world.types import Action, Event, quantity_error

if TYPE_CHECKING:
    from world.world import World

__all__ = ["Harvest"]


class Harvest(ActionSpec):
    """Take up to ``qty`` of a commons resource (``item``) at its place; an empty stock yields nothing."""

    kind = "harvest"

    @staticmethod
    def label(a: Action) -> str:
        return f"harvest {a.qty} {a.item}" + (f" ({a.note})" if a.note else "")

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        r = w.commons.cfg.get(a.item) if a.item is not None else None
        if r is None:
            return f"no commons resource {a.item!r}"
        if not w.places.matches(w.places.at.get(a.actor), r.place):
            return f"{a.item} is harvested at a {r.place}"
        err = quantity_error(a.qty)
        if err:
            return err
        if a.qty > r.max_take:
            return f"one may harvest at most {r.max_take} {a.item} a tick"
        if w.tired(a.actor):
            return "too tired: rest first"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        item = a.item
        assert item is not None
        place = w.places.at.get(a.actor)
        got = w.commons.take(item, a.qty)
        if got:
            w.ledger.transfer("mint", a.actor, item, got, f"harvest at {place}")
        w.needs.change(a.actor, TIREDNESS, w.needs_cfg.work_effort, w.tick)
        out.append(
            Event(
                w.tick,
                "harvest",
                a.actor,
                None,
                place,
                item,
                {"item": item, "qty": got, "asked": a.qty, "stock": w.commons.stock[item]},
            )
        )

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        # Every amount one may take (1 .. max_take), for each resource with stock left here.
        if s.place is None or s.tired or not w.commons:
            return
        for i, (name, r) in enumerate(w.commons.cfg.items()):
            stock = w.commons.stock[name]
            if stock <= 0 or not w.places.matches(s.place, r.place):
                continue
            note = f"{stock} of {r.capacity} left"
            for q in range(1, r.max_take + 1):
                yield (2, 0, 10 + i, q), Action(s.actor, "harvest", item=name, qty=q, note=note)
