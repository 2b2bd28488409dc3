"""results.parquet and the reports, built from hand-made run records."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from sim.evaluation.plots import Series, errorbar_svg
from sim.evaluation.report import results_frame, write_report, write_results
from sim.evaluation.sweep import Sweep, expand

SWEEP = Sweep(
    name="tiny",
    scenarios=("configs/x.yaml",),
    grid={"economy.tax_rate": [0.0, 0.3]},
    seeds=(1, 2, 3),
    ticks=3,
    metrics=("trade.volume", "inequality.gini_final"),
)


def records() -> list[dict]:
    out = []
    for i, spec in enumerate(expand(SWEEP)):
        rate = spec.params["economy.tax_rate"]
        if i == 5:
            out.append({"spec": spec.to_json(), "status": "failed", "error": "UserError: bad | key"})
            continue
        metrics = {"trade.volume": 10 * (1 + spec.seed) * (1 - rate), "inequality.gini_final": 0.2 + rate}
        out.append({"spec": spec.to_json(), "status": "finished", "wall_s": 1.5, "metrics": metrics})
    return out


def test_results_have_one_row_per_run_with_params_status_and_metrics(tmp_path: Path) -> None:
    frame = results_frame(records())
    write_results(frame, tmp_path / "results.parquet")
    back = pd.read_parquet(tmp_path / "results.parquet")
    assert len(back) == 6
    assert back["status"].tolist() == ["finished"] * 5 + ["failed"]
    assert back["param.economy.tax_rate"].tolist() == [0.0, 0.0, 0.0, 0.3, 0.3, 0.3]
    assert back["seed"].tolist() == [1, 2, 3, 1, 2, 3]
    assert back.loc[0, "trade.volume"] == 20.0
    assert math.isnan(back.loc[5, "trade.volume"])
    assert back.loc[5, "error"] == "UserError: bad | key"


def test_report_gives_ci_per_setting_plots_tests_and_failed_runs(tmp_path: Path) -> None:
    md_path, html_path = write_report(results_frame(records()), SWEEP, tmp_path)
    md = md_path.read_text()
    assert "| scenario | setting | n | mean | ci95_low | ci95_high |" in md
    # tax 0: volumes 20, 30, 40 -> mean 30; tax 0.3 (seed 3 failed): 14, 21 -> mean 17.5
    assert "| x | economy.tax_rate=0.0 | 3 | 30 |" in md
    assert "| x | economy.tax_rate=0.3 | 2 | 17.5 |" in md
    assert "![trade.volume by economy.tax_rate](plots/trade_volume__economy_tax_rate.svg)" in md
    assert (tmp_path / "plots" / "trade_volume__economy_tax_rate.svg").read_text().startswith("<svg")
    assert "Holm" in md
    assert "UserError: bad \\| key" in md  # the failed run, its error escaped for the table
    page = html_path.read_text()
    assert page.count("<svg") == 2  # self-contained: plots inline
    assert "ci95_low" in page and "UserError: bad | key" in page


def test_plot_has_a_point_per_value_and_whiskers() -> None:
    svg = errorbar_svg(
        "m by p", "p", "m", [Series("s", [0, 1], [1.0, 2.0], [0.5, 1.5], [1.5, 2.5], [[1.0], [2.0]])]
    )
    assert svg.count('r="3.5"') == 2
    assert svg.count("<polyline") == 1


def test_report_without_finished_runs_still_lists_failures(tmp_path: Path) -> None:
    recs = [dict(r, status="failed", error="boom", metrics={}) for r in records()]
    md_path, _ = write_report(results_frame(recs), SWEEP, tmp_path)
    assert md_path.read_text().count("| boom |") == 6


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
