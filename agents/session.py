"""An LLM avatar's prompt as a log that only grows: the serving side of a decision.

Every ``choose`` of an avatar is the same conversation carried on: the rules, the persona, then
one user entry per decision and the avatar's answer ("I will gather wheat"). The first entry
is the whole situation (as a fresh prompt would be); each later entry says only what changed
since the last one the avatar was told (its place, needs, holdings, the offers to it, who is
around, prices, projects) and what was just said to it. The engine keeps the KV of each
avatar's log through its last answer prefix (``ChooseRequest.session``), so a decision
computes the new entry and the options, not the whole prompt again.

When the log would pass ``limit`` tokens it is compacted: the next entry is a fresh full
situation (with retrieved memories) and the log restarts from it. A decision whose answer did
not come (a replica down) also restarts the log, since the engine that held it may be gone.
The log is not checkpointed: a resumed avatar starts a fresh one (one full prompt).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agents.lm import Message
from agents.memory import estimate_tokens
from world.types import Heard

__all__ = ["Session", "delta_entry"]


@dataclass
class Session:
    """One avatar's log: ``turns`` of (entry, answer), the facts it was last told, and the
    entry asked now, waiting for its answer."""

    turns: list[tuple[str, str]] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    tokens: int = 0
    asked: tuple[str, dict[str, str]] | None = None
    heard: frozenset[Heard] = frozenset()  # the lines already in the log

    def fits(self, entry: str, limit: int) -> bool:
        """Whether ``entry`` may extend the log (else the log is compacted first)."""
        return bool(self.turns) and self.tokens + estimate_tokens(entry) + 8 <= limit

    def new_lines(self, messages: Sequence[Heard]) -> list[Heard]:
        """The heard lines not yet in the log, oldest first."""
        return [m for m in messages if m not in self.heard]

    def ask(self, entry: str, facts: Mapping[str, str], fresh: bool, messages: Sequence[Heard] = ()) -> None:
        """Record the entry sent now (``fresh``: it starts a new log) and the lines it told."""
        if fresh:
            self.turns, self.facts, self.tokens = [], {}, 0
        self.asked = (entry, dict(facts))
        self.heard = frozenset(messages)

    def answered(self, label: str) -> None:
        """The model's answer to the asked entry: both join the log."""
        if self.asked is None:
            return
        entry, facts = self.asked
        self.turns.append((entry, label))
        self.facts = facts
        self.tokens += estimate_tokens(entry) + estimate_tokens(label) + 8
        self.asked = None

    def reset(self) -> None:
        """Forget the log (the next decision sends a full situation)."""
        self.turns, self.facts, self.tokens, self.asked, self.heard = [], {}, 0, None, frozenset()

    def messages(self, head: Sequence[Message], entry: str, answer_prefix: str) -> tuple[Message, ...]:
        """The request's messages: ``head`` (rules, persona), the log's turns, then ``entry``."""
        out = list(head)
        for said, label in self.turns:
            out += [Message("user", said), Message("assistant", f"{answer_prefix} {label}")]
        out.append(Message("user", entry))
        return tuple(out)


#: The order facts are told in a delta entry (the same order as in a full situation).
FACT_ORDER = ("where", "needs", "have", "offers", "prices", "projects", "muted", "people")


def delta_entry(tick: int, facts: Mapping[str, str], told: Mapping[str, str], heard: Sequence[str]) -> str:
    """A later entry of the log: the tick, the facts that changed since ``told`` (a fact gone
    is said in its ``none`` form by the caller), and the lines just heard."""
    changed = [facts[k] for k in FACT_ORDER if facts.get(k, "") != told.get(k, "") and facts.get(k)]
    lines = [f"Tick {tick}." + ("" if changed or heard else " Nothing has changed."), *changed]
    if heard:
        lines += ["You heard:", *heard]
    return "\n".join(lines) + "\n\nWhat do you do now?"
