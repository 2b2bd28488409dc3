"""Facts defined once: inequality of holdings and the scores of a yes/no detector.

Every layer above reads these (the world's own metrics, the evaluation, the dashboard's
queries), so a figure means the same thing wherever it is shown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DetectionScores", "detection_scores", "gini", "inequality", "top_share"]


def inequality(values: Iterable[float], top_fraction: float = 0.1) -> tuple[float, float]:
    """(Gini coefficient, share of the total held by the richest ``top_fraction``), from one sort.

    Gini is the sorted-rank formula ``1 + 1/n - 2 * sum((n - i) x_i) / (n * sum x)`` (Mesa's
    Boltzmann example computes the same); the top share counts the ``max(1, floor(n * fraction))``
    largest holders. Both are 0 for an empty population or one that holds nothing.
    """
    xs = sorted(values)
    n = len(xs)
    total = sum(xs)
    if n == 0 or total <= 0:
        return 0.0, 0.0
    b = sum(x * (n - i) for i, x in enumerate(xs)) / (n * total)
    k = max(1, math.floor(n * top_fraction + 1e-9))
    return 1 + 1 / n - 2 * b, sum(xs[n - k :]) / total


def gini(values: Iterable[float]) -> float:
    """Gini coefficient of non-negative ``values`` (0: equal; towards 1: one holds everything)."""
    return inequality(values)[0]


def top_share(values: Iterable[float], fraction: float = 0.1) -> float:
    """Share of the total held by the richest ``fraction`` of holders."""
    return inequality(values, fraction)[1]


@dataclass(frozen=True, slots=True)
class DetectionScores:
    """How well a detector's flags match the labels: counts, and the ratios (NaN where undefined)."""

    true_pos: int
    false_pos: int
    false_neg: int
    true_neg: int = 0

    @property
    def precision(self) -> float:
        """Flagged and harmful / flagged."""
        flagged = self.true_pos + self.false_pos
        return self.true_pos / flagged if flagged else math.nan

    @property
    def recall(self) -> float:
        """Flagged and harmful / harmful."""
        harmful = self.true_pos + self.false_neg
        return self.true_pos / harmful if harmful else math.nan

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        if math.isnan(p) or math.isnan(r) or p + r == 0:
            return math.nan if math.isnan(p) or math.isnan(r) else 0.0
        return 2 * p * r / (p + r)


def detection_scores(pairs: Iterable[tuple[bool, bool | None]]) -> DetectionScores:
    """Per-message scores from ``(flagged, harmful)`` pairs; pairs with ``harmful=None`` (no label)
    are left out. This is the one definition of moderation precision and recall: the world's
    per-tick metrics, ``mesaverse moderate --eval``, the evaluation and the dashboard use it."""
    tp = fp = fn = tn = 0
    for flagged, harmful in pairs:
        if harmful is None:
            continue
        if flagged and harmful:
            tp += 1
        elif flagged:
            fp += 1
        elif harmful:
            fn += 1
        else:
            tn += 1
    return DetectionScores(tp, fp, fn, tn)
