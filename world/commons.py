"""Commons: shared resources that regrow, which avatars harvest (a fishery, a pasture).

In the spirit of GovSim's fishery and Melting Pot's commons harvest: each resource has a stock
(whole units) that avatars take from with ``harvest`` at its place, at most ``max_take`` each a
tick, and that regrows at the end of every tick logistically,

    stock += round(growth * stock * (1 - stock / capacity))      (halves round up)

so it grows fastest at half its capacity (the maximum sustainable yield is ``growth * capacity / 4``
a tick) and not at all when full or empty. The rounding makes a nearly empty stock stay empty: a
fishery fished out does not come back, which is the collapse the commons scenario measures.
Harvests take what is there: a harvest at an empty stock yields nothing (no race to refuse).

Pure Python and deterministic (no random draw); :meth:`Commons.get_state` / :meth:`Commons.set_state`
for checkpoints. Harvested units are minted into the harvester's holdings by the world's ledger.
"""

from __future__ import annotations

from typing import Any

from world.types import CommonsView

__all__ = ["Commons", "regrowth"]


def regrowth(stock: int, capacity: int, growth: float) -> int:
    """Whole units a stock regrows in one tick (logistic, rounded half up; never below 0)."""
    if stock <= 0 or capacity <= 0:
        return 0
    return max(0, int(growth * stock * (1 - stock / capacity) + 0.5))


class Commons:
    """The scenario's commons resources (``commons.resources``: item -> settings) and their stocks.
    ``cfg`` None: a world without commons."""

    def __init__(self, cfg: Any | None) -> None:
        self.cfg = dict(cfg.resources) if cfg is not None else {}
        self.stock: dict[str, int] = {
            name: (r.capacity if r.start is None else r.start) for name, r in self.cfg.items()
        }
        self.start: dict[str, int] = dict(self.stock)
        self.taken: dict[str, int] = dict.fromkeys(self.cfg, 0)  # harvested in the current tick

    def __bool__(self) -> bool:
        return bool(self.cfg)

    def take(self, resource: str, qty: int) -> int:
        """Harvest up to ``qty`` of ``resource``; returns what was taken (0 from an empty stock)."""
        got = min(qty, self.stock[resource])
        self.stock[resource] -= got
        self.taken[resource] += got
        return got

    def regrow(self) -> dict[str, int]:
        """End of tick: every stock regrows; returns the regrowth per resource."""
        out = {}
        for name, r in self.cfg.items():
            g = min(regrowth(self.stock[name], r.capacity, r.growth), r.capacity - self.stock[name])
            self.stock[name] += g
            out[name] = g
            self.taken[name] = 0
        return out

    def views(self, present: Any) -> tuple[CommonsView, ...]:
        """What avatars see of the commons; ``present(place)`` counts the avatars at a resource's place."""
        return tuple(
            CommonsView(
                resource=name,
                place=r.place,
                stock=self.stock[name],
                capacity=r.capacity,
                growth=r.growth,
                max_take=r.max_take,
                present=present(r.place),
            )
            for name, r in self.cfg.items()
        )

    def metrics(self) -> dict[str, float]:
        """``commons.<resource>`` (its stock) and ``commons.level`` (all stocks over all starts)."""
        if not self.cfg:
            return {}
        out = {f"commons.{name}": float(q) for name, q in self.stock.items()}
        start = sum(self.start.values())
        out["commons.level"] = sum(self.stock.values()) / start if start else 0.0
        return out

    def get_state(self) -> dict[str, Any]:
        """JSON-safe state."""
        return {"stock": dict(self.stock), "start": dict(self.start), "taken": dict(self.taken)}

    def set_state(self, s: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s output."""
        self.stock = {k: int(v) for k, v in s["stock"].items()}
        self.start = {k: int(v) for k, v in s["start"].items()}
        self.taken = {k: int(v) for k, v in s["taken"].items()}
