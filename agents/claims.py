"""Claims: what the tick's rule avatars have already chosen, so later deciders do not race them.

All avatars decide on the same world (nothing resolves until every avatar has chosen), so twenty
avatars who each see "the bridge needs 1 more labour" would all give it, and nineteen would be
refused. The model makes one :class:`Claims` per tick (in its :class:`~agents.policy.TickContext`)
and decides avatars in a fixed order, so a rule policy can ask whether an option is still free
after the claims made before it, and record its own: deterministic, and no one reaches into the
world. The world still checks every action; claims only keep rule avatars from choosing what
would be refused.
"""

from __future__ import annotations

from world.types import Action, Observation

__all__ = ["Claims"]


class Claims:
    """A per-tick tally of claimed project needs, proposals, offers and commons harvests."""

    __slots__ = ("_taken",)

    def __init__(self) -> None:
        self._taken: dict[tuple[object, ...], int] = {}

    @staticmethod
    def key(action: Action) -> tuple[object, ...] | None:
        """What ``action`` competes for with others' actions this tick (None: nothing)."""
        k = action.kind
        if k == "project_contribute":
            return ("project", action.project_id, action.item)
        if k == "project_propose":
            return ("propose",)
        if k in ("accept", "reject"):
            return ("offer", action.offer_id)
        if k == "harvest":
            return ("commons", action.item)
        return None

    def taken(self, key: tuple[object, ...]) -> int:
        """How much of ``key`` this tick's earlier deciders have claimed."""
        return self._taken.get(key, 0)

    def allows(self, action: Action, obs: Observation) -> bool:
        """Whether ``action`` (an offered option) still succeeds after the claims made so far.

        A contribution fits in what the project still misses; one proposal a tick (an offered
        proposal means there is room for at least one more project); one answer per offer.
        """
        key = self.key(action)
        if key is None:
            return True
        got = self._taken.get(key, 0)
        if key[0] == "commons":
            return True  # a harvest takes what is left: harvesting policies ration it themselves
        if key[0] == "project":
            for p in obs.projects:
                if p.id == action.project_id:
                    missing = dict(p.missing).get(action.item or "", 0)
                    return got + action.qty <= missing
            return False
        return got == 0

    def record(self, action: Action) -> None:
        """Claim what ``action`` takes."""
        key = self.key(action)
        if key is not None:
            self._taken[key] = self._taken.get(key, 0) + (
                action.qty if key[0] in ("project", "commons") else 1
            )
