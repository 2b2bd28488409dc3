"""The game master (skeleton: the public API of docs/CONTRACTS.md, filled in next)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from world.types import Action, Event, Observation

__all__ = ["World"]


class World:
    """Holds places, avatars, holdings and resolves actions. See docs/CONTRACTS.md."""

    def __init__(self, spec: Any, rng: random.Random, *, llm: Any = None) -> None:
        self.spec = spec
        self.rng = rng
        self.llm = llm
        self.tick = 0
        self._names: dict[int, str] = {}
        self._roles: dict[int, str] = {}
        self._place: dict[int, str | None] = {}
        self._coins: dict[int, int] = {}
        self._ledger: list[dict] = []

    def add_avatar(self, avatar_id: int, name: str, role: str = "", place: str | None = None) -> None:
        """Register an avatar (with its initial endowment) at ``place`` (default: its role's home)."""
        self._names[avatar_id] = name
        self._roles[avatar_id] = role
        self._place[avatar_id] = place
        self._coins[avatar_id] = 1

    def observation_for(self, avatar_id: int) -> Observation:
        """What ``avatar_id`` perceives now."""
        return Observation(
            avatar_id=avatar_id,
            tick=self.tick,
            name=self._names[avatar_id],
            place=self._place[avatar_id],
            travelling_to=None,
            coins=self._coins[avatar_id],
            inventory={},
            needs={},
            nearby=(),
            messages=(),
            offers=(),
            prices={},
            role=self._roles[avatar_id],
        )

    def legal_actions(self, avatar_id: int, limit: int = 26) -> list[Action]:
        """Options the avatar may choose from (each with a ``label``)."""
        return [Action(avatar_id, "rest")][:limit]

    def resolve(self, actions: Sequence[Action]) -> list[Event]:
        """Apply ``actions`` in order; an illegal one yields one ``invalid_action`` event."""
        events: list[Event] = []
        for a in actions:
            if a.kind == "rest":
                events.append(Event(self.tick, "rest", a.actor))
            else:
                events.append(
                    Event(
                        self.tick,
                        "invalid_action",
                        a.actor,
                        data={"reason": "not yet", "action": a.as_dict()},
                    )
                )
        return events

    def end_tick(self) -> list[Event]:
        """Close the tick: markets clear, offers expire, needs rise, invariants are checked."""
        self.tick += 1
        return []

    def metrics(self) -> dict[str, float]:
        """World metrics of the last ended tick."""
        return {"population": float(len(self._names))}

    def drain_ledger(self) -> list[dict]:
        """Ledger entries recorded since the last drain (and forget them)."""
        out, self._ledger = self._ledger, []
        return out

    def get_state(self) -> dict:
        """JSON-safe state."""
        return {"tick": self.tick}

    def set_state(self, state: dict) -> None:
        """Restore :meth:`get_state`'s output."""
        self.tick = state["tick"]
