"""Intentions: a decision that carries on for a few ticks without asking the model again.

When an LLM avatar chooses to work (``gather``, ``craft``, ``project_contribute``, an ``order`` on
the market's book; or is left only that work by its agenda), it keeps at it for up to
:data:`HOLD_TICKS` more ticks without a model call, as a person finishing a job would, until
something interrupts it: someone says something to it, an offer addresses it, a need turns
urgent, or the action is no longer among its legal options (the field is empty, the inputs are
used up, it is too tired). Each kept tick is the world's own option, so it is always legal. The
model is asked again as soon as the intention ends, so an avatar is never stuck in one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agents.agenda import URGENT, urgent_at
from world.types import Action, Observation

__all__ = ["HOLD_TICKS", "INTENDED_KINDS", "URGENT", "Intention", "carry_on", "intend"]

#: Ticks an intention may run after the tick it was chosen in.
HOLD_TICKS = 3
#: Kinds of action that start one (work that naturally takes several turns).
INTENDED_KINDS = ("gather", "craft", "project_contribute", "order")
#: A need at the policy's own urgency levels interrupts (hunger from the world's "hungry": at
#: 0.8, avatars kept gathering next to their bread): agents.agenda.urgent_at.


@dataclass(frozen=True, slots=True)
class Intention:
    """Keep doing ``action`` (as the world offers it) until tick ``until``; started at ``since``."""

    action: Action
    since: int
    until: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (checkpoints)."""
        return {"action": self.action.as_dict(), "since": self.since, "until": self.until}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Intention:
        """The inverse of :meth:`as_dict`."""
        a = d["action"]
        action = Action(
            a["actor"],
            a["kind"],
            item=a.get("item"),
            recipe=a.get("recipe"),
            qty=a.get("qty", 1),
            project_id=a.get("project_id"),
            side=a.get("side"),
            price=a.get("price"),
        )
        return cls(action, int(d["since"]), int(d["until"]))


def intend(action: Action, tick: int) -> Intention | None:
    """The intention a chosen ``action`` starts at ``tick`` (None for kinds that do not carry on)."""
    if action.kind not in INTENDED_KINDS:
        return None
    return Intention(action, since=tick, until=tick + HOLD_TICKS)


def interrupted(intention: Intention, obs: Observation) -> str | None:
    """Why the intention must stop now (None: it may carry on)."""
    if obs.tick > intention.until:
        return "done"
    me = obs.avatar_id
    if any(m.tick >= intention.since and m.sender != me for m in obs.messages):
        return "someone spoke"
    if any(o.target == me for o in obs.offers):
        return "an offer"
    if any(level >= urgent_at(n) for n, level in obs.needs.items()):
        return "an urgent need"
    return None


def carry_on(intention: Intention | None, obs: Observation, options: Sequence[Action]) -> Action | None:
    """The option that continues ``intention`` this tick, or None when it ends (or none is held)."""
    if intention is None or interrupted(intention, obs) is not None:
        return None
    want = intention.action
    for option in options:
        # At the world's current terms (an order's price follows the market's).
        same = (option.item, option.recipe, option.project_id, option.side) == (
            want.item,
            want.recipe,
            want.project_id,
            want.side,
        )
        if option.kind == want.kind and same:
            return option
    return None  # no longer legal here: ask again
