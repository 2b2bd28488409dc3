"""Collaboration: ``project_propose``, ``project_join``, ``project_contribute``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from world.actions.base import ActionSpec, Candidate, Situation
from world.needs import TIREDNESS
from world.projects import LABOUR, Project
from world.types import Action, Event, quantity_error

if TYPE_CHECKING:
    from world.world import World

__all__ = ["Contribute", "Join", "Propose"]


def _active(w: World, a: Action) -> tuple[Project | None, str | None]:
    p = w.projects.active.get(a.project_id) if a.project_id is not None else None
    if p is None:
        return None, f"no active project {a.project_id!r}"
    return p, None


class Propose(ActionSpec):
    """Open a project from a template (``text``: its name) at a place the template allows."""

    kind = "project_propose"

    @staticmethod
    def label(a: Action) -> str:
        return f"propose a {a.text} project"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        name = a.text
        t = w.projects.templates.get(name)
        if t is None:
            return f"unknown project {name!r}"
        if not w.places.matches(w.places.at.get(a.actor), t.place):
            return f"a {name} is proposed at a {t.place}"
        if len(w.projects.active) >= w.spec.projects.max_active:
            return "too many projects under way"
        if t.reward_source == "sponsors":
            have = w.coins(a.actor)
            if have < t.reward:
                return f"holds only {have} {w.currency}, the pledge is {t.reward}"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        p = w.projects.propose(a.actor, a.text, w.tick)
        out.append(
            Event(
                w.tick,
                "project_propose",
                a.actor,
                None,
                w.places.at.get(a.actor),
                a.text,
                {
                    "project_id": p.id,
                    "template": a.text,
                    "deadline": p.deadline,
                    "needs": dict(p.needs),
                    "pledge": p.pledge,
                },
            )
        )

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        for i, name in enumerate(w.projects.templates):
            yield (3, 1, 0, i), Action(s.actor, "project_propose", text=name)


class Join(ActionSpec):
    """Become a member of an active project."""

    kind = "project_join"

    @staticmethod
    def label(a: Action) -> str:
        return f"join project {a.project_id}"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        p, err = _active(w, a)
        if p is None:
            return err
        if a.actor in p.members:
            return f"already in project {a.project_id}"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        assert a.project_id is not None  # check() found the project
        p = w.projects.active[a.project_id]
        w.projects.join(a.actor, p.id)
        out.append(
            Event(
                w.tick,
                "project_join",
                a.actor,
                None,
                w.places.at.get(a.actor),
                p.template,
                {"project_id": p.id},
            )
        )

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        # Projects that can be worked on here (after their contributions: see Contribute).
        for i, p in enumerate(w.projects.active.values()):
            if w.places.matches(s.place, w.projects.templates[p.template].place):
                yield (3, 0, i, len(p.needs)), Action(s.actor, "project_join", project_id=p.id)


class Contribute(ActionSpec):
    """Give ``qty`` of what a project needs (an item, the currency, or a tick of ``labour``)."""

    kind = "project_contribute"

    @staticmethod
    def label(a: Action) -> str:
        return f"contribute {a.qty} {a.item} to project {a.project_id}"

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        p, err = _active(w, a)
        if p is None:
            return err
        asset, q, actor = a.item, a.qty, a.actor
        if asset not in p.needs:
            return f"project {a.project_id} does not need {asset!r}"
        err = quantity_error(q)
        if err:
            return err
        t = w.projects.templates[p.template]
        if not w.places.matches(w.places.at.get(actor), t.place):
            return f"contributions to a {p.template} are made at a {t.place}"
        left = w.projects.remaining(p, asset)
        if q > left:
            return f"the project needs only {left} more {asset}"
        cap = w.projects.cap(p, asset) - w.projects.given(p, actor, asset)
        if q > cap:
            return f"one avatar may give at most {cap} more {asset}"
        if asset == LABOUR:
            if q != 1:
                return "labour is given one tick at a time"
            if w.tired(actor):
                return "too tired: rest first"
        else:
            have = w.ledger.balance(actor, asset)
            if have < q:
                return f"holds only {have} {asset}"
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        assert a.project_id is not None  # check() found the project
        p = w.projects.active[a.project_id]
        asset, actor = a.item, a.actor
        assert asset is not None
        place = w.places.at.get(actor)
        w.projects.contribute(actor, p.id, asset, a.qty)
        if asset == LABOUR:
            w.needs.change(actor, TIREDNESS, w.needs_cfg.work_effort, w.tick)
        out.append(
            Event(
                w.tick,
                "project_contribute",
                actor,
                None,
                place,
                p.template,
                {"project_id": p.id, "item": asset, "qty": a.qty},
            )
        )
        if w.projects.ready(p.id):
            data = w.projects.complete(p.id)
            members = data["contributors"][:50]  # ties among the first 50: O(k^2) stays small
            for i, x in enumerate(members):
                for y in members[i + 1 :]:
                    w.social.interact(x, y, "collaboration", w.tick)
            out.append(Event(w.tick, "project_complete", actor, None, place, data["template"], data))

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        # One unit of each need still open, for projects that can be worked on here.
        for i, p in enumerate(w.projects.active.values()):
            if not w.places.matches(s.place, w.projects.templates[p.template].place):
                continue
            for j, asset in enumerate(p.needs):
                yield (3, 0, i, j), Action(s.actor, "project_contribute", project_id=p.id, item=asset, qty=1)
