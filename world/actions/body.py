"""Moving, resting, eating and work: ``move``, ``rest``, ``consume``, ``gather``, ``craft``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from world.actions.base import ActionSpec, Candidate, Situation
from world.needs import HUNGER, TIREDNESS
from world.types import Action, Event, quantity_error

if TYPE_CHECKING:
    from world.world import World

__all__ = ["Consume", "Craft", "Gather", "Move", "Rest"]

#: Hunger at which eating is listed first (else it is listed last, as a snack).
HUNGRY = 0.5
#: Tiredness at which resting is listed first.
WEARY = 0.7


class Move(ActionSpec):
    """Start a trip to ``place``; the avatar is at no place until it arrives."""

    kind = "move"

    @staticmethod
    def label(a: Action) -> str:
        return f"walk to the {a.place}"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        if a.place not in w.places.coords:
            return f"unknown place {a.place!r}"
        if a.place == w.places.at.get(a.actor):
            return f"already at the {a.place}"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        dest = a.place
        assert dest is not None
        src = w.places.at.get(a.actor)
        arrive = w.places.start_trip(a.actor, dest, w.tick)
        out.append(
            Event(w.tick, "move", a.actor, None, src, dest, {"from": src, "to": dest, "arrive": arrive})
        )

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        # The nearest four other places.
        if s.place is None:
            return
        here = s.place
        others = sorted(
            (p for p in w.places.names if p != here), key=lambda p: (w.places.distance(here, p), p)
        )
        for i, p in enumerate(others[:4]):
            yield (6, i), Action(s.actor, "move", place=p)


class Rest(ActionSpec):
    """Recover from tiredness (always legal, also while travelling)."""

    kind = "rest"

    @staticmethod
    def label(a: Action) -> str:
        return "rest"

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        level = w.needs.change(a.actor, TIREDNESS, -w.needs_cfg.rest_relief, w.tick)
        out.append(Event(w.tick, "rest", a.actor, None, w.places.at.get(a.actor), "", {"tiredness": level}))

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        # Listed first when weary; legal_actions always keeps one "rest" in the list anyway.
        if s.needs["tiredness"] >= WEARY:
            yield (0, 1), Action(s.actor, "rest")


class Consume(ActionSpec):
    """Eat ``qty`` of a food (or an item that gives energy)."""

    kind = "consume"

    @staticmethod
    def label(a: Action) -> str:
        return f"eat {a.qty} {a.item}"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        item = a.item
        cfg = w.item_cfg.get(item) if item is not None else None
        if item is None or cfg is None:
            return f"unknown item {item!r}"
        if cfg.food <= 0 and cfg.energy <= 0:
            return f"{item} cannot be eaten"
        err = quantity_error(a.qty)
        if err:
            return err
        have = w.ledger.balance(a.actor, item)
        if have < a.qty:
            return f"holds only {have} {a.item}"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        item = a.item
        assert item is not None
        cfg = w.item_cfg[item]
        w.ledger.transfer(a.actor, "sink", item, a.qty, "consume")
        hunger = w.needs.change(a.actor, HUNGER, -cfg.food * a.qty, w.tick)
        tired = w.needs.change(a.actor, TIREDNESS, -cfg.energy * a.qty, w.tick)
        out.append(
            Event(
                w.tick,
                "consume",
                a.actor,
                None,
                w.places.at.get(a.actor),
                item,
                {"item": item, "qty": a.qty, "hunger": hunger, "tiredness": tired},
            )
        )

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        # The most filling food: first when hungry, else last (a snack).
        if s.foods:
            key = (0, 0) if s.needs["hunger"] >= HUNGRY else (7,)
            yield key, Action(s.actor, "consume", item=s.foods[0], qty=1)


class Gather(ActionSpec):
    """Gather what the place yields (``item``, or its first resource)."""

    kind = "gather"

    @staticmethod
    def label(a: Action) -> str:
        return f"gather {a.item}" if a.item else "gather here"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        place = w.places.at.get(a.actor)
        yields = w.yields_here(place)
        if not yields:
            return f"nothing to gather at the {place}"
        item = a.item or sorted(yields)[0]
        if item not in yields:
            return f"no {item} at the {place}"
        if w.tired(a.actor):
            return "too tired: rest first"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        place = w.places.at.get(a.actor)
        yields = w.yields_here(place)
        item = a.item or sorted(yields)[0]
        q = yields[item]
        w.ledger.transfer("mint", a.actor, item, q, f"gather at {place}")
        w.needs.change(a.actor, TIREDNESS, w.needs_cfg.work_effort, w.tick)
        out.append(Event(w.tick, "gather", a.actor, None, place, item, {"item": item, "qty": q}))

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        if s.place is None or s.tired:
            return
        for i, item in enumerate(sorted(w.yields_here(s.place))):
            yield (2, 0, i), Action(s.actor, "gather", item=item)


class Craft(ActionSpec):
    """Turn a recipe's inputs into its outputs at the recipe's place."""

    kind = "craft"

    @staticmethod
    def label(a: Action) -> str:
        return f"craft {a.recipe}"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        r = w.recipes.get(a.recipe) if a.recipe is not None else None
        if r is None:
            return f"unknown recipe {a.recipe!r}"
        if not w.places.matches(w.places.at.get(a.actor), r.place):
            return f"{a.recipe} is crafted at a {r.place}"
        for item, q in r.inputs.items():
            have = w.ledger.balance(a.actor, item)
            if have < q:
                return f"holds only {have} {item}, needs {q}"
        if w.tired(a.actor):
            return "too tired: rest first"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        assert a.recipe is not None
        r = w.recipes[a.recipe]
        actor = a.actor
        memo = f"craft {a.recipe}"
        for item, q in r.inputs.items():
            w.ledger.transfer(actor, "sink", item, q, memo)
        for item, q in r.outputs.items():
            w.ledger.transfer("mint", actor, item, q, memo)
        w.needs.change(actor, TIREDNESS, w.needs_cfg.work_effort, w.tick)
        out.append(
            Event(
                w.tick,
                "craft",
                actor,
                None,
                w.places.at.get(actor),
                a.recipe,
                {"recipe": a.recipe, "inputs": dict(r.inputs), "outputs": dict(r.outputs)},
            )
        )

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        if s.place is None or s.tired:
            return
        for i, rname in enumerate(w.recipes):
            yield (2, 1, i), Action(s.actor, "craft", recipe=rname)
