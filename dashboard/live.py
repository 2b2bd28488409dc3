"""Incremental state for live mode: each refresh reads only what the store gained since the last one.

A panel keeps one of these in ``st.session_state`` (via :func:`tracker`) and calls ``refresh`` with a
query function from :mod:`dashboard.queries`; the query gets the last id (or tick) seen, so it is an
indexed range scan over the new rows only, however long the run has been going.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd

__all__ = ["ConfusionTally", "CountTail", "EdgeTally", "MetricTail", "RowTail", "tracker"]

T = TypeVar("T")


def tracker(state: MutableMapping[str, Any], key: str, make: Callable[[], T], *, store_end: int) -> T:
    """The tracker stored under ``key``, made afresh when missing or when the store shrank.

    ``store_end`` is the store's current last event id: if it is below what the tracker saw, the run
    was truncated (resumed after a crash) and everything cached past that point is stale.
    """
    current = state.get(key)
    if current is None or getattr(current, "last_id", 0) > store_end:
        current = make()
        state[key] = current
    return current


@dataclass
class RowTail:
    """The newest ``limit`` rows of a newest-first event query (dialogue feed, latest trades)."""

    limit: int = 200
    last_id: int = 0
    rows: pd.DataFrame | None = None

    def refresh(self, fetch: Callable[[int], pd.DataFrame]) -> int:
        """Fetch rows with ``id > last_id`` (newest first) and put them on top; returns how many were new."""
        new = fetch(self.last_id)
        if self.rows is None or self.rows.empty:
            self.rows = new.head(self.limit).reset_index(drop=True)
        elif not new.empty:
            self.rows = pd.concat([new, self.rows], ignore_index=True).head(self.limit)
        if not new.empty:
            self.last_id = int(new["id"].max())
        return len(new)


@dataclass
class EdgeTally:
    """Undirected interaction counts between avatars, grown from the events new at each refresh.

    Kept as adjacency maps plus each avatar's total, so the social panel can pick the best-connected
    avatars and their strongest ties without rebuilding a graph of every pair on each refresh.
    """

    last_id: int = 0
    adjacency: dict[int, Counter[int]] = field(default_factory=dict)
    strength: Counter[int] = field(default_factory=Counter)
    ties: int = 0
    total: int = 0

    def refresh(self, fetch: Callable[[int], pd.DataFrame], upto_id: int) -> int:
        """Add the directed counts of events ``last_id < id <= upto_id``; returns how many rows came."""
        if upto_id <= self.last_id:
            return 0
        new = fetch(self.last_id)
        adjacency, strength = self.adjacency, self.strength
        for actor, target, weight in new.itertuples(index=False):
            a, b, w = int(actor), int(target), int(weight)
            row_a = adjacency.setdefault(a, Counter())
            if b not in row_a:
                self.ties += 1
            row_a[b] += w
            adjacency.setdefault(b, Counter())[a] += w
            strength[a] += w
            strength[b] += w
            self.total += w
        self.last_id = upto_id
        return len(new)


@dataclass
class MetricTail:
    """A long ``tick, name, value`` frame extended with the ticks written since the last refresh."""

    last_tick: int = -(2**62)
    frame: pd.DataFrame | None = None
    last_id: int = 0  # the store's last event id at the last refresh: lets :func:`tracker` see truncation

    def refresh(self, fetch: Callable[[int | None], pd.DataFrame], upto_id: int) -> pd.DataFrame:
        """Fetch rows with ``tick > last_tick`` and append them; returns the whole frame."""
        self.last_id = upto_id
        after = None if self.frame is None else self.last_tick
        new = fetch(after)
        if self.frame is None:
            self.frame = new
        elif not new.empty:
            self.frame = pd.concat([self.frame, new], ignore_index=True)
        if not self.frame.empty:
            self.last_tick = int(self.frame["tick"].max())
        return self.frame


@dataclass
class ConfusionTally:
    """Running moderation confusion counts (flagged vs. ground truth), summed over refreshes."""

    last_id: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"labelled": 0, "tp": 0, "fp": 0, "fn": 0})

    def refresh(self, fetch: Callable[[int], dict[str, int]], upto_id: int) -> dict[str, int]:
        """Add the counts of ``last_id < id <= upto_id``; returns the running totals."""
        if upto_id > self.last_id:
            for name, value in fetch(self.last_id).items():
                self.counts[name] += value
            self.last_id = upto_id
        return self.counts


@dataclass
class CountTail:
    """Per-tick event counts (a long ``tick, name, value`` frame), summed over refreshes.

    A tick is one transaction, so the events ``last_id < id <= upto_id`` of one refresh never split a
    tick with the next: each refresh's counts are whole ticks, appended as they are.
    """

    last_id: int = 0
    frame: pd.DataFrame | None = None

    def refresh(self, fetch: Callable[[int], pd.DataFrame], upto_id: int) -> pd.DataFrame:
        """Add the counts of ``last_id < id <= upto_id``; returns the whole frame."""
        if self.frame is None or upto_id > self.last_id:
            new = fetch(self.last_id)
            self.frame = new if self.frame is None else pd.concat([self.frame, new], ignore_index=True)
            self.last_id = upto_id
        return self.frame
