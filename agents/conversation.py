"""Conversations: several turns between two or more avatars at one place.

A conversation advances one turn per speaker per tick (each tick's speech is generated in one
batched call), so it spans ticks: A talks to B at tick 3, B answers at tick 4 with the
conversation so far in its prompt, and so on. It ends when a speaker says goodbye, after
``max_turns`` turns, or when nobody has spoken in it for ``idle_ticks`` ticks. When it ends,
each participant remembers a short summary of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.prompts import GOODBYE

__all__ = ["Conversation", "ConversationBook"]


@dataclass
class Conversation:
    """One conversation: who, where, and what was said (speaker id, text), oldest first."""

    id: int
    place: str | None
    started: int
    last_tick: int
    participants: list[int] = field(default_factory=list)
    turns: list[tuple[int, str]] = field(default_factory=list)
    ended: bool = False

    def summary(self, names: dict[int, str] | None = None, me: int | None = None, words: int = 10) -> str:
        """A one-line gist for participants' memories: who, where, when, the first words of each turn."""
        names = names or {}
        others = [names.get(p, f"#{p}") for p in self.participants if p != me]
        said = " | ".join(
            f"{names.get(s, f'#{s}')}: {' '.join(t.split()[:words])}{'...' if len(t.split()) > words else ''}"
            for s, t in self.turns
        )
        where = f" at {self.place}" if self.place else ""
        return f"Talked with {', '.join(others) or 'nobody'}{where} (ticks {self.started}-{self.last_tick}): {said}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for checkpoints."""
        return {
            "id": self.id,
            "place": self.place,
            "started": self.started,
            "last_tick": self.last_tick,
            "participants": list(self.participants),
            "turns": [list(t) for t in self.turns],
            "ended": self.ended,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Conversation:
        """Inverse of :meth:`to_dict`."""
        return cls(
            id=int(d["id"]),
            place=d["place"],
            started=int(d["started"]),
            last_tick=int(d["last_tick"]),
            participants=[int(p) for p in d["participants"]],
            turns=[(int(s), str(t)) for s, t in d["turns"]],
            ended=bool(d["ended"]),
        )


class ConversationBook:
    """The active conversations of a run, and the ids of ones that ended."""

    def __init__(self, max_turns: int = 6, idle_ticks: int = 3) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns: must be >= 1, got {max_turns}")
        self.max_turns = max_turns
        self.idle_ticks = idle_ticks
        self._active: dict[int, Conversation] = {}
        self._next_id = 1

    @property
    def active(self) -> list[Conversation]:
        """Conversations still going, oldest first."""
        return list(self._active.values())

    def find(self, speaker: int, target: int | None, place: str | None) -> Conversation | None:
        """The active conversation at ``place`` that ``speaker`` (or, addressed, ``target``) is in."""
        for conv in self._active.values():
            if conv.place != place:
                continue
            if speaker in conv.participants or (target is not None and target in conv.participants):
                return conv
        return None

    def turns_left(self, speaker: int, target: int | None, place: str | None) -> int:
        """Turns the conversation the speaker would speak in has left (a new one: ``max_turns``)."""
        conv = self.find(speaker, target, place)
        return self.max_turns - (len(conv.turns) if conv else 0)

    def record(
        self, tick: int, speaker: int, target: int | None, place: str | None, text: str
    ) -> tuple[Conversation, bool]:
        """Add a spoken turn; returns the conversation and whether this turn ended it."""
        conv = self.find(speaker, target, place)
        if conv is None:
            conv = Conversation(id=self._next_id, place=place, started=tick, last_tick=tick)
            self._next_id += 1
            self._active[conv.id] = conv
        for who in (speaker, target):
            if who is not None and who not in conv.participants:
                conv.participants.append(who)
        conv.turns.append((speaker, text))
        conv.last_tick = tick
        if GOODBYE.search(text) or len(conv.turns) >= self.max_turns:
            self._end(conv)
        return conv, conv.ended

    def expire(self, tick: int) -> list[Conversation]:
        """End the conversations nobody spoke in for ``idle_ticks``; returns them."""
        stale = [c for c in self._active.values() if tick - c.last_tick >= self.idle_ticks]
        for conv in stale:
            self._end(conv)
        return stale

    def _end(self, conv: Conversation) -> None:
        conv.ended = True
        self._active.pop(conv.id, None)

    def get_state(self) -> dict[str, Any]:
        """JSON-safe state for checkpoints."""
        return {"next_id": self._next_id, "active": [c.to_dict() for c in self._active.values()]}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s output."""
        self._next_id = int(state["next_id"])
        self._active = {}
        for d in state["active"]:
            conv = Conversation.from_dict(d)
            self._active[conv.id] = conv
