"""Places on a Mesa grid, who is where, and travel that takes time.

The grid is a :class:`mesa.discrete_space.OrthogonalMooreGrid`; each named place is one of
its cells. On a Moore grid the walking distance is the Chebyshev distance, and a trip takes
``ceil(distance / speed)`` ticks (at least one). While travelling an avatar is at no place.

Who is at a place is kept as a list plus an index (swap-remove), so moving, counting and
listing a few neighbours are O(1) even with 100,000 avatars in one plaza.
"""

from __future__ import annotations

import random
from typing import Any

from mesa.discrete_space import OrthogonalMooreGrid

__all__ = ["Places"]


class Places:
    """Named places, avatar positions and trips in progress."""

    def __init__(self, world_cfg: Any, rng: random.Random) -> None:
        self.width = world_cfg.width
        self.height = world_cfg.height
        self.speed = world_cfg.speed
        self.grid = OrthogonalMooreGrid((self.width, self.height), random=rng)
        self.coords: dict[str, tuple[int, int]] = {n: (p.x, p.y) for n, p in world_cfg.places.items()}
        self.offers: dict[str, tuple[str, ...]] = {n: tuple(p.offers) for n, p in world_cfg.places.items()}
        self.names: tuple[str, ...] = tuple(world_cfg.places)
        self.at: dict[int, str | None] = {}  # avatar -> place (None while travelling)
        self._present: dict[str, list[int]] = {n: [] for n in self.names}
        self._index: dict[int, int] = {}  # avatar -> position in its place's list
        self.trips: dict[int, tuple[str, int]] = {}  # avatar -> (destination, arrival tick)

    def cell(self, place: str) -> Any:
        """The Mesa cell of a place (for Mesa agents and visualisation)."""
        return self.grid._cells[self.coords[place]]

    def offering(self, kind: str) -> list[str]:
        """Places that offer ``kind`` (e.g. "market")."""
        return [n for n in self.names if kind in self.offers[n]]

    def matches(self, place: str | None, where: str | None) -> bool:
        """Whether ``place`` is ``where`` (a place name or an offer kind); None matches anywhere."""
        if where is None:
            return True
        return place is not None and (place == where or where in self.offers[place])

    def distance(self, a: str, b: str) -> int:
        """Chebyshev (Moore) distance between two places."""
        (ax, ay), (bx, by) = self.coords[a], self.coords[b]
        return max(abs(ax - bx), abs(ay - by))

    def travel_ticks(self, a: str, b: str) -> int:
        """Ticks a trip from ``a`` to ``b`` takes: proportional to distance, at least 1."""
        return max(1, int(-(-self.distance(a, b) // self.speed)))

    # -- presence -----------------------------------------------------------------------

    def _enter(self, avatar: int, place: str) -> None:
        lst = self._present[place]
        self._index[avatar] = len(lst)
        lst.append(avatar)
        self.at[avatar] = place

    def _leave(self, avatar: int) -> None:
        place = self.at[avatar]
        if place is None:
            return
        lst = self._present[place]
        i = self._index.pop(avatar)
        last = lst.pop()
        if last != avatar:
            lst[i] = last
            self._index[last] = i
        self.at[avatar] = None

    def add(self, avatar: int, place: str) -> None:
        """Put a newcomer at ``place``."""
        self._enter(avatar, place)

    def start_trip(self, avatar: int, dest: str, tick: int) -> int:
        """Leave the current place for ``dest``; returns the arrival tick."""
        src = self.at[avatar]
        arrive = tick + self.travel_ticks(src, dest) if src is not None else tick + 1
        self._leave(avatar)
        self.trips[avatar] = (dest, arrive)
        return arrive

    def arrivals(self, tick: int) -> list[tuple[int, str]]:
        """Finish every trip due by ``tick``; returns (avatar, place) in departure order."""
        done = [(a, d) for a, (d, t) in self.trips.items() if t <= tick]
        for a, d in done:
            del self.trips[a]
            self._enter(a, d)
        return done

    def count(self, place: str) -> int:
        """How many avatars are at ``place``."""
        return len(self._present[place])

    def present(self, place: str) -> list[int]:
        """The avatars at ``place`` (the live list: do not modify)."""
        return self._present[place]

    def nearby(self, avatar: int, limit: int, offset: int) -> tuple[int, ...]:
        """Up to ``limit`` others at the avatar's place, starting at a rotating ``offset``.

        No random draw: observation must not disturb the world's random stream.
        """
        place = self.at.get(avatar)
        if place is None or limit <= 0:
            return ()
        lst = self._present[place]
        n = len(lst)
        if n <= limit + 1:
            return tuple(a for a in lst if a != avatar)
        out: list[int] = []
        i = offset % n
        while len(out) < limit:
            a = lst[i]
            if a != avatar:
                out.append(a)
            i = (i + 1) % n
        return tuple(out)

    # -- state --------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """JSON-safe state: presence lists in order, and trips."""
        return {
            "present": {p: list(lst) for p, lst in self._present.items()},
            "travelling": [[a, d, t] for a, (d, t) in self.trips.items()],
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s output."""
        self._present = {p: list(lst) for p, lst in state["present"].items()}
        self._index = {}
        self.at = {}
        for p, lst in self._present.items():
            for i, a in enumerate(lst):
                self._index[a] = i
                self.at[a] = p
        self.trips = {}
        for a, d, t in state["travelling"]:
            self.trips[a] = (d, t)
            self.at[a] = None
