"""An avatar's memory: observations and conversation summaries, bounded by a token budget.

Retrieval follows Generative Agents (Park et al., 2023): each memory is scored by
``recency + importance + relevance``, each term scaled to [0, 1]:

- recency: ``decay ** (now - last_access)``, so memories fade unless they are recalled;
- importance: 1..10, given when the memory is stored (a trade matters more than a walk);
- relevance: word overlap (cosine of word sets) between the memory and the query - the
  paper uses embeddings; a word-set cosine needs no model call and is deterministic, and
  at our prompt sizes (a handful of memories) it picks the same kind of items.

Two budgets keep prompts bounded however long the run: the store itself never holds more
than ``capacity_tokens`` (the oldest, least important observations are folded into a short
summary line when it overflows), and :meth:`Memory.render` never returns more than the
prompt budget it is given. An observation that repeats one of the last few (the same words:
"You gathered 2 wheat at the farm" five ticks running) is not stored again: the earlier memory
moves forward and counts the repeat, so it renders as one line ("ticks 9-13, 5 times") and
leaves the retrieval slots to memories that say something new. Token counts are an estimate (4 characters per token), which
is cheap and the same on every machine, so the same seed gives the same prompts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["GROW_LINES", "REPEAT_WINDOW", "Memory", "MemoryItem", "estimate_tokens", "keywords"]

#: How far back (in memories) a repeated observation is found and folded into the earlier one:
#: an avatar stores a handful of memories a tick, so this spans about the last two ticks.
REPEAT_WINDOW = 6
#: How many lines past ``k`` a rendered memory block may grow before it is rendered afresh.
GROW_LINES = 4

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "by",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "you",
        "your",
        "i",
        "me",
        "my",
        "we",
        "our",
        "they",
        "them",
        "their",
        "he",
        "she",
        "his",
        "her",
        "him",
        "as",
        "so",
        "if",
        "then",
        "than",
        "not",
        "no",
        "yes",
        "do",
        "did",
        "does",
        "have",
        "has",
        "had",
        "will",
        "would",
        "can",
        "could",
        "should",
        "just",
        "very",
        "some",
        "any",
        "all",
        "there",
        "here",
        "what",
        "who",
    ]
)


def estimate_tokens(text: str) -> int:
    """A deterministic token estimate: ~4 characters per token, at least 1."""
    return max(1, (len(text) + 3) // 4)


def keywords(text: str) -> frozenset[str]:
    """Lower-case content words of ``text`` (stop words dropped) for relevance scoring."""
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1)


@dataclass(slots=True)
class MemoryItem:
    """One memory. ``last_access`` moves forward when retrieval puts it in a prompt."""

    tick: int
    kind: str  # "observation", "conversation" (a summary), "summary" (folded observations)
    text: str
    importance: float  # 1..10
    last_access: int
    tokens: int
    words: frozenset[str]
    first_tick: int = -1  # the first time it happened when it repeated (-1: once, at ``tick``)
    times: int = 1

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form for checkpoints (``words`` and ``tokens`` are recomputed on load)."""
        out: dict[str, object] = {
            "tick": self.tick,
            "kind": self.kind,
            "text": self.text,
            "importance": self.importance,
            "last_access": self.last_access,
        }
        if self.times > 1:
            out.update(first_tick=self.first_tick, times=self.times)
        return out

    @property
    def since(self) -> int:
        """The tick it first happened."""
        return self.first_tick if self.times > 1 else self.tick

    def line(self) -> str:
        """The memory as a prompt line: ``- (tick 4) ...`` or ``- (ticks 4-8, 5 times) ...``."""
        if self.times > 1:
            return f"- (ticks {self.since}-{self.tick}, {self.times} times) {self.text}"
        return f"- (tick {self.tick}) {self.text}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryItem:
        """Inverse of :meth:`to_dict`."""
        text = str(data["text"])
        return cls(
            tick=int(data["tick"]),
            kind=str(data["kind"]),
            text=text,
            importance=float(data["importance"]),
            last_access=int(data["last_access"]),
            tokens=estimate_tokens(text),
            words=keywords(text),
            first_tick=int(data.get("first_tick", -1)),
            times=int(data.get("times", 1)),
        )


class Memory:
    """A bounded store of :class:`MemoryItem` with Generative-Agents retrieval."""

    __slots__ = ("_items", "_shown", "_tokens", "capacity_tokens", "decay")

    def __init__(self, capacity_tokens: int = 2000, decay: float = 0.95) -> None:
        if capacity_tokens < 16:
            raise ValueError(f"capacity_tokens: must be >= 16, got {capacity_tokens}")
        if not 0 < decay < 1:
            raise ValueError(f"decay: must be in (0, 1), got {decay}")
        self.capacity_tokens = capacity_tokens
        self.decay = decay
        self._items: list[MemoryItem] = []
        self._tokens = 0
        self._shown: list[tuple[MemoryItem, str]] = []  # the last render's memories and lines

    def __len__(self) -> int:
        return len(self._items)

    @property
    def tokens(self) -> int:
        """Estimated tokens held (always <= ``capacity_tokens``)."""
        return self._tokens

    @property
    def items(self) -> tuple[MemoryItem, ...]:
        """All memories, oldest first."""
        return tuple(self._items)

    def add(self, tick: int, text: str, importance: float = 3.0, kind: str = "observation") -> None:
        """Store a memory; folds old observations into a summary when over capacity."""
        text = " ".join(text.split())
        if not text:
            return
        # One memory may never take more than a quarter of the store, so one huge message
        # (spam, an injection attempt) cannot wipe everything else out.
        limit_chars = self.capacity_tokens  # ~ a quarter of capacity in tokens (4 chars/token)
        if len(text) > limit_chars:
            text = text[: limit_chars - 3] + "..."
        importance = min(10.0, max(1.0, float(importance)))
        if kind == "observation" and self._repeat(tick, text, importance):
            return
        item = MemoryItem(
            tick=tick,
            kind=kind,
            text=text,
            importance=importance,
            last_access=tick,
            tokens=estimate_tokens(text),
            words=keywords(text),
        )
        self._items.append(item)
        self._tokens += item.tokens
        if self._tokens > self.capacity_tokens:
            self._compact()

    def _repeat(self, tick: int, text: str, importance: float) -> bool:
        """Fold ``text`` into the same observation among the last :data:`REPEAT_WINDOW` items,
        moved to the end (it is now the newest); False when there is none."""
        start = max(0, len(self._items) - REPEAT_WINDOW)
        for pos in range(len(self._items) - 1, start - 1, -1):
            m = self._items[pos]
            if m.kind == "observation" and m.text == text:
                del self._items[pos]
                if m.times == 1:
                    m.first_tick = m.tick
                m.times += 1
                m.tick = m.last_access = tick
                m.importance = max(m.importance, importance)
                self._items.append(m)
                return True
        return False

    def recent(self, n: int = 3) -> list[str]:
        """The texts of the ``n`` newest memories, newest last."""
        return [m.text for m in self._items[-n:]] if n > 0 else []

    def retrieve(self, query: str, now: int, k: int = 5) -> list[MemoryItem]:
        """The ``k`` best memories for ``query`` at tick ``now``, in the order they happened.

        Ties break towards the newer memory, so the choice is deterministic. Retrieved items
        count as accessed (recency is measured from the last access, as in the paper).
        """
        if not self._items or k <= 0:
            return []
        q = keywords(query)
        scored = []
        for pos, m in enumerate(self._items):
            recency = self.decay ** max(0, now - m.last_access)
            importance = (m.importance - 1.0) / 9.0
            relevance = len(q & m.words) / math.sqrt(len(q) * len(m.words)) if q and m.words else 0.0
            scored.append((recency + importance + relevance, pos))
        scored.sort(reverse=True)
        best = sorted(pos for _, pos in scored[:k])
        for pos in best:
            self._items[pos].last_access = now
        return [self._items[pos] for pos in best]

    def render(self, query: str, now: int, budget_tokens: int, k: int = 6) -> str:
        """Retrieved memories as prompt lines, never more than ``budget_tokens`` in total.

        The block only grows from one call to the next: the lines shown last time stay, word
        for word and in their place, and the newly retrieved memories follow them (oldest
        first), so the engine reuses the avatar's previous prompt through every line it saw
        before (an avatar's memories are the first lines of its situation). A memory that
        repeated since keeps its line until then. When the block would pass ``k`` +
        :data:`GROW_LINES` lines or the budget, or a shown memory was folded away, it starts
        afresh from the ``k`` best (one compaction, then growth again).
        """
        best = self.retrieve(query, now, k)
        present = {id(m) for m in self._items}
        shown = self._shown if all(id(m) in present for m, _ in self._shown) else []
        seen = {id(m) for m, _ in shown}
        added = [(m, m.line()) for m in best if id(m) not in seen]
        grown = shown + added
        used = sum(estimate_tokens(line) + 1 for _, line in grown)
        if not shown or len(grown) > k + GROW_LINES or used > budget_tokens:
            grown, used = [], 0
            for m in best:  # in time order (retrieve's)
                line = m.line()
                cost = estimate_tokens(line) + 1
                if used + cost <= budget_tokens:  # a shorter, later memory may still fit
                    grown.append((m, line))
                    used += cost
        self._shown = grown
        return "\n".join(line for _, line in grown)

    def get_state(self) -> dict[str, object]:
        """JSON-safe state for checkpoints."""
        return {
            "capacity_tokens": self.capacity_tokens,
            "decay": self.decay,
            "items": [m.to_dict() for m in self._items],
            "shown": [[pos, line] for pos, (m, line) in self._shown_positions()],
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`get_state`."""
        self.capacity_tokens = int(state["capacity_tokens"])
        self.decay = float(state["decay"])
        self._items = [MemoryItem.from_dict(d) for d in state["items"]]
        self._tokens = sum(m.tokens for m in self._items)
        self._shown = [(self._items[int(pos)], str(line)) for pos, line in state.get("shown", [])]

    def _shown_positions(self) -> list[tuple[int, tuple[MemoryItem, str]]]:
        where = {id(m): pos for pos, m in enumerate(self._items)}
        return [(where[id(m)], (m, line)) for m, line in self._shown if id(m) in where]

    def _compact(self) -> None:
        """Fold the least valuable older memories into one summary line until under capacity.

        Only the older half is eligible (the newest memories are the avatar's working context);
        among those, the least important go first, the oldest first on ties. Their gist (first
        words of each) survives in one "summary" memory whose importance is their maximum.
        """
        while self._tokens > self.capacity_tokens and len(self._items) > 1:
            older = self._items[: max(1, len(self._items) // 2)]
            if len(older) < 2:
                # Too few to fold (folding one into one frees nothing): forget the oldest.
                self._drop([0])
                continue
            victims = sorted(range(len(older)), key=lambda i: (older[i].importance, older[i].tick))
            victims = sorted(victims[: max(2, len(older) // 2)])
            folded = [self._items[i] for i in victims]
            gist = "; ".join(_gist(m.text) + (f" ({m.times} times)" if m.times > 1 else "") for m in folded)
            summary_text = f"Earlier (ticks {min(m.since for m in folded)}-{folded[-1].tick}): {gist}"
            summary_text = summary_text[: self.capacity_tokens // 2]
            summary = MemoryItem(
                tick=folded[-1].tick,
                kind="summary",
                text=summary_text,
                importance=max(m.importance for m in folded),
                last_access=max(m.last_access for m in folded),
                tokens=estimate_tokens(summary_text),
                words=keywords(summary_text),
            )
            self._drop(victims)
            # The summary takes the place of the newest folded memory, keeping time order.
            insert_at = sum(1 for m in self._items if m.tick <= summary.tick)
            self._items.insert(insert_at, summary)
            self._tokens += summary.tokens

    def _drop(self, positions: Iterable[int]) -> None:
        drop = set(positions)
        self._tokens -= sum(self._items[i].tokens for i in drop)
        self._items = [m for i, m in enumerate(self._items) if i not in drop]


def _gist(text: str, words: int = 8) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + ("..." if len(parts) > words else "")
