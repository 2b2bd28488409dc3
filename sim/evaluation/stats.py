"""Statistics over runs: means with 95% confidence intervals, and tests between settings.

Seeds are the replicates: a setting's runs (one per seed) are independent samples of the metric, so
the interval is Student's t on the seed means, and two settings are compared with Welch's t-test
(unequal variances; effect size Cohen's d) or, for skewed metrics or few seeds, the Mann-Whitney U
test (effect size the rank-biserial correlation). With k settings there are k(k-1)/2 comparisons per
metric, so p-values are also given Holm-adjusted over every test of the report (family-wise error);
the raw p-value alone overstates significance.

Runs where a metric is NaN (nothing to measure) are left out of that metric, never counted as 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = [
    "Comparison",
    "compare",
    "holm",
    "mean_ci",
    "paired_differences",
    "pairwise_tests",
    "summary_table",
]


def _clean(values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float, int]:
    """``(mean, low, high, n)``: Student's t interval of the mean; NaN bounds with fewer than 2 values."""
    x = _clean(values)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, math.nan, 1
    half = float(sps.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half, n


@dataclass(frozen=True)
class Comparison:
    """One test of setting A against setting B on one metric."""

    test: str  # "welch" or "mannwhitney"
    statistic: float  # t, or U of A
    p: float
    effect: float  # Cohen's d (A - B) or rank-biserial r (> 0: A tends larger)
    effect_name: str


def compare(a: Sequence[float], b: Sequence[float], test: str = "welch") -> Comparison:
    """Welch's t (with Cohen's d) or Mann-Whitney U (with rank-biserial r) of ``a`` against ``b``."""
    x, y = _clean(a), _clean(b)
    if test == "welch":
        if len(x) < 2 or len(y) < 2:
            return Comparison(test, math.nan, math.nan, math.nan, "cohen_d")
        sd = math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2)
        diff = float(x.mean() - y.mean())
        # Spreads at rounding-noise level (0.2 + 0.3 summed in different orders) count as no spread.
        if sd <= 1e-12 * max(1.0, abs(float(x.mean())), abs(float(y.mean()))):
            # Identical spreads of zero: no test is possible; equal means are no difference at all.
            return Comparison(
                test, math.nan, 1.0 if diff == 0 else math.nan, 0.0 if diff == 0 else math.nan, "cohen_d"
            )
        res = sps.ttest_ind(x, y, equal_var=False)
        return Comparison(test, float(res.statistic), float(res.pvalue), diff / sd, "cohen_d")
    if test == "mannwhitney":
        if len(x) < 1 or len(y) < 1:
            return Comparison(test, math.nan, math.nan, math.nan, "rank_biserial")
        res = sps.mannwhitneyu(x, y, alternative="two-sided")
        u = float(res.statistic)
        return Comparison(test, u, float(res.pvalue), 2 * u / (len(x) * len(y)) - 1, "rank_biserial")
    raise ValueError(f"test: must be welch or mannwhitney, got {test!r}")


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(pvalues, dtype=float)
    idx = [i for i in np.argsort(p, kind="stable") if np.isfinite(p[i])]
    m = len(idx)
    out = [math.nan] * len(p)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def summary_table(results: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, 95% CI and n of each metric per (scenario, setting), over the finished runs.

    ``results`` is ``results.parquet``'s frame: columns ``scenario``, ``setting``, ``status`` and
    one column per metric. Settings keep the sweep's order.
    """
    done = results[results["status"] == "finished"]
    rows = []
    for (scenario, setting), group in done.groupby(["scenario", "setting"], sort=False):
        for metric in metrics:
            values = group[metric] if metric in group else pd.Series(dtype=float)
            mean, low, high, n = mean_ci(values)
            rows.append(
                {
                    "scenario": scenario,
                    "setting": setting,
                    "metric": metric,
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "n": n,
                }
            )
    return pd.DataFrame(rows, columns=["scenario", "setting", "metric", "mean", "ci_low", "ci_high", "n"])


def pairwise_tests(results: pd.DataFrame, metrics: Sequence[str], test: str = "welch") -> pd.DataFrame:
    """Every pair of settings within a scenario, for every metric, with Holm-adjusted p over all tests."""
    done = results[results["status"] == "finished"]
    rows = []
    for scenario, by_scenario in done.groupby("scenario", sort=False):
        settings = list(dict.fromkeys(by_scenario["setting"]))
        for metric in metrics:
            if metric not in by_scenario:
                continue
            for a, b in itertools.combinations(settings, 2):
                xa = by_scenario.loc[by_scenario["setting"] == a, metric]
                xb = by_scenario.loc[by_scenario["setting"] == b, metric]
                c = compare(xa, xb, test)
                rows.append(
                    {
                        "scenario": scenario,
                        "metric": metric,
                        "setting_a": a,
                        "setting_b": b,
                        "mean_a": float(_clean(xa).mean()) if len(_clean(xa)) else math.nan,
                        "mean_b": float(_clean(xb).mean()) if len(_clean(xb)) else math.nan,
                        "test": c.test,
                        "statistic": c.statistic,
                        "p": c.p,
                        "effect": c.effect,
                        "effect_name": c.effect_name,
                    }
                )
    cols = ["scenario", "metric", "setting_a", "setting_b", "mean_a", "mean_b", "test", "statistic", "p"]
    table = pd.DataFrame(rows, columns=[*cols, "effect", "effect_name"])
    table["p_holm"] = holm(table["p"].tolist()) if len(table) else []
    return table


def paired_differences(results: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Each setting minus the scenario's first setting, run by run on the same seed, per metric:
    the mean difference with its 95% CI (Student's t over the seed pairs) and the number of pairs.

    Paired runs share everything but the setting (same seed: same population, same draws until the
    setting makes them differ), so the seed-to-seed spread cancels and the interval is narrower
    than the difference of two independent means. Seeds where either run lacks the metric are left out.
    """
    done = results[results["status"] == "finished"]
    rows = []
    for scenario, by_scenario in done.groupby("scenario", sort=False):
        settings = list(dict.fromkeys(by_scenario["setting"]))
        if len(settings) < 2:
            continue
        base = by_scenario[by_scenario["setting"] == settings[0]].set_index("seed")
        for setting in settings[1:]:
            other = by_scenario[by_scenario["setting"] == setting].set_index("seed")
            seeds = base.index.intersection(other.index)
            for metric in metrics:
                if metric not in by_scenario:
                    continue
                diffs = (
                    other.loc[seeds, metric].astype(float) - base.loc[seeds, metric].astype(float)
                ).to_numpy()
                mean, low, high, n = mean_ci(diffs)
                rows.append(
                    {
                        "scenario": scenario,
                        "metric": metric,
                        "baseline": settings[0],
                        "setting": setting,
                        "mean_diff": mean,
                        "ci_low": low,
                        "ci_high": high,
                        "pairs": n,
                    }
                )
    cols = ["scenario", "metric", "baseline", "setting", "mean_diff", "ci_low", "ci_high", "pairs"]
    return pd.DataFrame(rows, columns=cols)
