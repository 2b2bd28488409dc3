"""Confidence intervals, tests, effect sizes and the multiple-comparison correction, on hand-computed values."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sim.evaluation.stats import compare, holm, mean_ci, pairwise_tests, summary_table

T_975_2DF = 4.302652729911275  # Student's t, 97.5% quantile, 2 degrees of freedom


def test_mean_ci_is_students_t_interval() -> None:
    mean, low, high, n = mean_ci([1.0, 2.0, 3.0])
    half = T_975_2DF * 1.0 / math.sqrt(3)  # sd 1
    assert (mean, n) == (2.0, 3)
    assert low == pytest.approx(2 - half)
    assert high == pytest.approx(2 + half)


def test_mean_ci_drops_nan_and_has_no_interval_for_one_value() -> None:
    mean, low, high, n = mean_ci([5.0, math.nan])
    assert (mean, n) == (5.0, 1)
    assert math.isnan(low) and math.isnan(high)


def test_welch_gives_t_and_cohens_d() -> None:
    c = compare([1, 2, 3], [4, 5, 6], "welch")
    assert c.statistic == pytest.approx(-3 / math.sqrt(1 / 3 + 1 / 3))
    assert c.effect == pytest.approx(-3.0)  # mean difference 3 over sd 1
    assert c.effect_name == "cohen_d"
    assert 0.01 < c.p < 0.05


def test_mann_whitney_gives_u_and_rank_biserial() -> None:
    c = compare([1, 2, 3], [4, 5, 6], "mannwhitney")
    assert c.statistic == 0  # every value of A is below every value of B
    assert c.effect == -1.0
    assert c.p == pytest.approx(0.1)  # exact: 2 of the 20 orderings are as extreme


def test_holm_adjusts_in_order_and_keeps_nan() -> None:
    assert holm([0.01, 0.04, math.nan, 0.03]) == pytest.approx([0.03, 0.06, math.nan, 0.06], nan_ok=True)


def _frame() -> pd.DataFrame:
    rows = []
    for setting, values in (("a", [1.0, 2.0, 3.0]), ("b", [4.0, 5.0, 6.0]), ("c", [1.0, 2.0, 3.0])):
        rows += [{"scenario": "s", "setting": setting, "status": "finished", "m": v} for v in values]
    rows.append({"scenario": "s", "setting": "a", "status": "failed", "m": 100.0})
    return pd.DataFrame(rows)


def test_summary_table_ignores_failed_runs() -> None:
    table = summary_table(_frame(), ["m"])
    a = table[table["setting"] == "a"].iloc[0]
    assert (a["mean"], a["n"]) == (2.0, 3)
    assert list(table["setting"]) == ["a", "b", "c"]


def test_pairwise_tests_cover_every_pair_with_holm() -> None:
    tests = pairwise_tests(_frame(), ["m"], "welch")
    assert list(zip(tests["setting_a"], tests["setting_b"], strict=True)) == [
        ("a", "b"),
        ("a", "c"),
        ("b", "c"),
    ]
    ac = tests.iloc[1]
    assert (ac["p"], ac["effect"]) == (1.0, 0.0)  # identical samples
    assert tests["p_holm"].tolist() == pytest.approx(holm(tests["p"].tolist()))


def test_paired_differences_subtract_the_first_setting_seed_by_seed() -> None:
    import pandas as pd

    from sim.evaluation.stats import paired_differences

    rows = []
    for seed, (off, on) in enumerate([(10.0, 2.0), (14.0, 5.0), (12.0, 4.0)]):
        rows.append({"scenario": "m", "setting": "off", "seed": seed, "status": "finished", "harm": off})
        rows.append({"scenario": "m", "setting": "on", "seed": seed, "status": "finished", "harm": on})
    rows.append({"scenario": "m", "setting": "on", "seed": 9, "status": "finished", "harm": 0.0})  # unpaired
    table = paired_differences(pd.DataFrame(rows), ["harm"])
    (r,) = table.itertuples()
    assert (r.baseline, r.setting, r.pairs) == ("off", "on", 3)
    assert r.mean_diff == pytest.approx(-25 / 3)
    diffs = [-8.0, -9.0, -8.0]
    _, low, high, _ = mean_ci(diffs)
    assert (r.ci_low, r.ci_high) == (pytest.approx(low), pytest.approx(high))
