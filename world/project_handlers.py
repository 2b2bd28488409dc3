"""The collaboration-project actions (propose, join, contribute), mixed into :class:`world.World`.

Same contract as :mod:`world.handlers`: a handler appends events and returns None, or returns a
reason string and has changed nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from world.needs import TIREDNESS as _TIRED
from world.projects import LABOUR
from world.types import Action, Event
from world.types import quantity_error as _qty_error

if TYPE_CHECKING:
    from world.world import World

__all__ = ["ProjectHandlers"]


class ProjectHandlers:
    """``_do_propose``, ``_do_join`` and ``_do_contribute`` of :class:`world.World`."""

    def _do_propose(self: World, a: Action, out: list[Event]) -> str | None:
        name = a.text
        t = self.projects.templates.get(name)
        if t is None:
            return f"unknown project {name!r}"
        place = self.places.at.get(a.actor)
        if not self.places.matches(place, t.place):
            return f"a {name} is proposed at a {t.place}"
        if len(self.projects.active) >= self.spec.projects.max_active:
            return "too many projects under way"
        if t.reward_source == "sponsors":
            have = self.coins(a.actor)
            if have < t.reward:
                return f"holds only {have} {self.currency}, the pledge is {t.reward}"
        p = self.projects.propose(a.actor, name, self.tick)
        out.append(
            Event(
                self.tick,
                "project_propose",
                a.actor,
                None,
                place,
                name,
                {
                    "project_id": p["id"],
                    "template": name,
                    "deadline": p["deadline"],
                    "needs": dict(p["needs"]),
                    "pledge": p["pledge"],
                },
            )
        )
        return None

    def _project(self: World, a: Action) -> tuple[dict[str, Any] | None, str | None]:
        p = self.projects.active.get(a.project_id)  # type: ignore[arg-type]
        if p is None:
            return None, f"no active project {a.project_id!r}"
        return p, None

    def _do_join(self: World, a: Action, out: list[Event]) -> str | None:
        p, err = self._project(a)
        if err:
            return err
        if a.actor in p["members"]:  # type: ignore[index]
            return f"already in project {a.project_id}"
        self.projects.join(a.actor, a.project_id)  # type: ignore[arg-type]
        out.append(
            Event(
                self.tick,
                "project_join",
                a.actor,
                None,
                self.places.at.get(a.actor),
                p["template"],
                {"project_id": a.project_id},
            )  # type: ignore[index]
        )
        return None

    def _do_contribute(self: World, a: Action, out: list[Event]) -> str | None:
        p, err = self._project(a)
        if err:
            return err
        assert p is not None
        asset, q, actor = a.item, a.qty, a.actor
        if asset not in p["needs"]:
            return f"project {a.project_id} does not need {asset!r}"
        err = _qty_error(q)
        if err:
            return err
        t = self.projects.templates[p["template"]]
        place = self.places.at.get(actor)
        if not self.places.matches(place, t.place):
            return f"contributions to a {p['template']} are made at a {t.place}"
        left = self.projects.remaining(p, asset)
        if q > left:
            return f"the project needs only {left} more {asset}"
        cap = self.projects.cap(p, asset) - self.projects.given(p, actor, asset)
        if q > cap:
            return f"one avatar may give at most {cap} more {asset}"
        if asset == LABOUR:
            if q != 1:
                return "labour is given one tick at a time"
            if self._tired(actor):
                return "too tired: rest first"
        else:
            have = self.ledger.balance(actor, asset)
            if have < q:
                return f"holds only {have} {asset}"
        self.projects.contribute(actor, a.project_id, asset, q)  # type: ignore[arg-type]
        if asset == LABOUR:
            self.needs.change(actor, _TIRED, self.needs_cfg.work_effort, self.tick)
        out.append(
            Event(
                self.tick,
                "project_contribute",
                actor,
                None,
                place,
                p["template"],
                {"project_id": a.project_id, "item": asset, "qty": q},
            )
        )
        if self.projects.ready(a.project_id):  # type: ignore[arg-type]
            data = self.projects.complete(a.project_id)  # type: ignore[arg-type]
            members = data["contributors"][:50]  # ties among the first 50: O(k^2) stays small
            for i, x in enumerate(members):
                for y in members[i + 1 :]:
                    self.social.interact(x, y, "collaboration", self.tick)
            out.append(Event(self.tick, "project_complete", actor, None, place, data["template"], data))
        return None
