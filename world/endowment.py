"""Endowments: what each newcomer is given, drawn from the scenario's distributions."""

from __future__ import annotations

import random
from typing import Any

__all__ = ["draw_endowment"]


def draw_endowment(dist: Any, rng: random.Random) -> int:
    """One whole, non-negative endowment drawn from a ``DistributionConfig``."""
    k = dist.kind
    if k == "constant":
        v = dist.value
    elif k == "uniform":
        v = rng.randint(dist.low, max(dist.low, dist.high))
    elif k == "normal":
        v = rng.gauss(dist.value, dist.std)
    elif k == "exponential":
        v = rng.expovariate(1.0 / dist.value) if dist.value > 0 else 0.0
    elif k == "pareto":
        v = dist.value * rng.paretovariate(dist.alpha)
    else:
        raise ValueError(f"unknown distribution {k!r}")
    return max(0, int(v))
