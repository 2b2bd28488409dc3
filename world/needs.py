"""Needs: hunger, tiredness and loneliness, levels in [0, 1] that rise every tick.

Levels are stored lazily as (level, tick it was set) and read as
``min(1, level + rate * (now - since))``: no per-tick loop over a population of 100,000,
and a level is only written when an action changes it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HUNGER", "LONELINESS", "NEEDS", "TIREDNESS", "Needs"]

NEEDS: tuple[str, ...] = ("hunger", "tiredness", "loneliness")
HUNGER, TIREDNESS, LONELINESS = 0, 1, 2  # indices into NEEDS


class Needs:
    """Every avatar's needs. ``rates`` are the rises per tick, in the order of :data:`NEEDS`."""

    def __init__(self, rates: tuple[float, float, float]) -> None:
        self.rates = rates
        # avatar -> [hunger, tiredness, loneliness, since_tick]
        self._levels: dict[int, list[float]] = {}

    def add(self, avatar: int, tick: int) -> None:
        """A newcomer starts with no needs."""
        self._levels[avatar] = [0.0, 0.0, 0.0, tick]

    def level(self, avatar: int, need: int, tick: int) -> float:
        """Current level of need number ``need`` (index into :data:`NEEDS`)."""
        rec = self._levels[avatar]
        v = rec[need] + self.rates[need] * (tick - rec[3])
        return 1.0 if v > 1.0 else v

    def as_dict(self, avatar: int, tick: int) -> dict[str, float]:
        """All three levels by name."""
        rec = self._levels[avatar]
        dt = tick - rec[3]
        r = self.rates
        return {
            "hunger": min(1.0, rec[0] + r[0] * dt),
            "tiredness": min(1.0, rec[1] + r[1] * dt),
            "loneliness": min(1.0, rec[2] + r[2] * dt),
        }

    def change(self, avatar: int, need: int, delta: float, tick: int) -> float:
        """Add ``delta`` (negative: relief) to one need, clipped to [0, 1]; returns the new level."""
        rec = self._levels[avatar]
        dt = tick - rec[3]
        if dt:
            # Materialise all three at ``tick`` so the shared ``since`` stays right.
            r = self.rates
            rec[0] = min(1.0, rec[0] + r[0] * dt)
            rec[1] = min(1.0, rec[1] + r[1] * dt)
            rec[2] = min(1.0, rec[2] + r[2] * dt)
            rec[3] = tick
        v = rec[need] + delta
        rec[need] = 0.0 if v < 0.0 else (1.0 if v > 1.0 else v)
        return rec[need]

    def get_state(self) -> list[list[Any]]:
        """JSON-safe state: ``[avatar, hunger, tiredness, loneliness, since]`` rows."""
        return [[a, *rec] for a, rec in self._levels.items()]

    def set_state(self, rows: list[list[Any]]) -> None:
        """Restore :meth:`get_state`'s output."""
        self._levels = {r[0]: [r[1], r[2], r[3], r[4]] for r in rows}
