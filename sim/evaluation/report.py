"""The evaluation's outputs: ``results.parquet``, ``report.md`` and ``report.html``.

``results.parquet`` has one row per run: its key, scenario, setting (a readable label), each swept
parameter as ``param.<key>``, seed, status, error, wall time and every summary metric. The reports are
built from that frame only, so a report can be rebuilt from the parquet alone (:func:`write_report`).

Per metric the reports give the mean and 95% CI per setting, one plot per swept parameter, and the
pairwise tests between settings with their effect sizes and Holm-adjusted p-values; then the runs
that failed, with their errors. The HTML file is self-contained (inline CSS and SVG).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sim.evaluation.metrics import METRICS
from sim.evaluation.plots import Series, errorbar_svg
from sim.evaluation.stats import mean_ci, paired_differences, pairwise_tests, summary_table
from sim.evaluation.sweep import Sweep

__all__ = ["BASE_COLUMNS", "results_frame", "write_report", "write_results"]

BASE_COLUMNS = ["key", "scenario", "setting", "seed", "status", "error", "wall_s", "overrides"]


def results_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run from the runs' result records (``spec``, ``status``, ``error``, ``metrics``...)."""
    rows = []
    for rec in records:
        spec = rec["spec"]
        row: dict[str, Any] = {
            "key": spec["key"],
            "scenario": spec["scenario_name"],
            "setting": spec["setting"],
            "seed": int(spec["seed"]),
            "status": rec.get("status", "pending"),
            "error": rec.get("error") or "",
            "wall_s": float(rec.get("wall_s") or math.nan),
            "overrides": json.dumps(spec["overrides"]),
        }
        for key, value in spec["params"].items():
            row[f"param.{key}"] = value
        for name, value in sorted((rec.get("metrics") or {}).items()):
            row[name] = math.nan if value is None else float(value)
        rows.append(row)
    frame = pd.DataFrame(rows)
    for col in BASE_COLUMNS:
        if col not in frame:
            frame[col] = pd.Series(dtype=object)
    return frame


def write_results(frame: pd.DataFrame, path: Path) -> None:
    """Write ``results.parquet`` atomically (temp file, then rename): a killed eval never leaves half a file."""
    tmp = path.with_suffix(".parquet.tmp")
    # Parameter columns may mix numbers and strings across scenarios: store those as text.
    frame = frame.copy()
    for col in frame.columns:
        if col.startswith("param.") and frame[col].map(type).nunique() > 1:
            frame[col] = frame[col].astype(str)
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def _f(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return _f(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_f(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _plot(frame: pd.DataFrame, metric: str, param: str) -> str:
    """The metric's mean and CI against one swept parameter (marginal over the others), a series per scenario."""
    done = frame[frame["status"] == "finished"]
    col = "scenario" if param == "scenario" else f"param.{param}"
    series = []
    groups = [("all", done)] if param == "scenario" else list(done.groupby("scenario", sort=False))
    for label, group in groups:
        if metric not in group or col not in group:
            continue
        xs, means, lows, highs, points = [], [], [], [], []
        for x, sub in group.groupby(col, sort=param == "scenario" or group[col].dtype.kind in "if"):
            m, lo, hi, _ = mean_ci(sub[metric])
            xs.append(x.item() if hasattr(x, "item") else x)
            means.append(m)
            lows.append(lo)
            highs.append(hi)
            points.append(sub[metric].tolist())
        series.append(Series(str(label), xs, means, lows, highs, points))
    return errorbar_svg(f"{metric} by {param}", param, metric, series)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


_CSS = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}.plots{display:flex;flex-wrap:wrap;gap:8px}
.note{color:#555;font-size:.92em}"""

_NOTE = (
    "Tests compare every pair of settings within a scenario, so many tests run at once: "
    "`p_holm` is the Holm-Bonferroni adjusted p-value over all tests in this report (family-wise "
    "error at 5% when p_holm < 0.05); raw p-values alone overstate significance. Seeds are the "
    "replicates; with few seeds the tests have little power, so read the effect sizes and intervals too."
)


def write_report(
    frame: pd.DataFrame,
    sweep: Sweep,
    out_dir: Path,
    *,
    telemetry: Mapping[str, Any] | None = None,
    wall_s: float | None = None,
) -> tuple[Path, Path]:
    """Write ``report.md`` (plots as files under ``plots/``) and a self-contained ``report.html``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots_dir = out_dir / "plots"
    plots_dir.mkdir(exist_ok=True)
    metrics = list(sweep.metrics)
    summary = summary_table(frame, metrics)
    tests = pairwise_tests(frame, metrics, sweep.test)
    paired = paired_differences(frame, metrics) if sweep.paired else None
    n_done = int((frame["status"] == "finished").sum())
    failed = frame[frame["status"] == "failed"]
    params = sweep.swept_parameters

    md = [f"# Evaluation: {sweep.name}", ""]
    hb = [f"<h1>Evaluation: {html.escape(sweep.name)}</h1>"]
    intro = (
        f"{len(frame)} runs ({n_done} finished, {len(failed)} failed) · scenarios: "
        f"{', '.join(sweep.scenarios)} · seeds: {len(sweep.seeds)} · ticks: {sweep.ticks} · "
        f"test: {sweep.test} · written {datetime.now(UTC).isoformat(timespec='seconds')}"
    )
    if wall_s is not None:
        intro += f" · wall time {wall_s:.0f} s"
    if sweep.description:
        md += [sweep.description.strip(), ""]
        hb.append(f"<p>{html.escape(sweep.description.strip())}</p>")
    md += [intro, ""]
    hb.append(f"<p>{html.escape(intro)}</p>")

    ci_headers = ["scenario", "setting", "n", "mean", "ci95_low", "ci95_high"]
    test_headers = [
        "scenario",
        "setting A",
        "setting B",
        "mean A",
        "mean B",
        "statistic",
        "p",
        "effect",
        "p_holm",
    ]
    for metric in metrics:
        what = METRICS.get(metric, "mean score of the survey answers")
        md += [f"## {metric}", "", f"_{what}_", ""]
        hb.append(f"<h2>{html.escape(metric)}</h2><p class='note'>{html.escape(what)}</p>")
        sub = summary[summary["metric"] == metric]
        rows = [[r.scenario, r.setting, r.n, r.mean, r.ci_low, r.ci_high] for r in sub.itertuples()]
        md += [_md_table(ci_headers, rows), ""]
        hb.append(_html_table(ci_headers, rows))
        svgs = []
        for param in params:
            svg = _plot(frame, metric, param)
            name = f"{_slug(metric)}__{_slug(param)}.svg"
            (plots_dir / name).write_text(svg)
            md += [f"![{metric} by {param}](plots/{name})", ""]
            svgs.append(svg)
        if svgs:
            hb.append("<div class='plots'>" + "".join(svgs) + "</div>")
        t = tests[tests["metric"] == metric]
        if len(t):
            effect = t["effect_name"].iloc[0]
            rows = [
                [
                    r.scenario,
                    r.setting_a,
                    r.setting_b,
                    r.mean_a,
                    r.mean_b,
                    r.statistic,
                    r.p,
                    r.effect,
                    r.p_holm,
                ]
                for r in t.itertuples()
            ]
            md += [f"Tests ({sweep.test}; effect = {effect}):", "", _md_table(test_headers, rows), ""]
            hb.append(f"<p>Tests ({html.escape(sweep.test)}; effect = {html.escape(effect)}):</p>")
            hb.append(_html_table(test_headers, rows))
        if paired is not None:
            p = paired[paired["metric"] == metric]
            if len(p):
                headers = [
                    "scenario",
                    "setting",
                    "minus",
                    "pairs",
                    "mean difference",
                    "ci95_low",
                    "ci95_high",
                ]
                rows = [
                    [r.scenario, r.setting, r.baseline, r.pairs, r.mean_diff, r.ci_low, r.ci_high]
                    for r in p.itertuples()
                ]
                md += ["Paired by seed (setting minus the first setting):", "", _md_table(headers, rows), ""]
                hb.append("<p>Paired by seed (setting minus the first setting):</p>")
                hb.append(_html_table(headers, rows))

    md += ["## Multiple comparisons", "", _NOTE, ""]
    hb.append(f"<h2>Multiple comparisons</h2><p class='note'>{html.escape(_NOTE)}</p>")

    fail_headers = ["run", "scenario", "setting", "seed", "error"]
    fail_rows = [[r.key, r.scenario, r.setting, r.seed, r.error] for r in failed.itertuples()]
    md += ["## Failed runs", ""]
    hb.append("<h2>Failed runs</h2>")
    if fail_rows:
        md += [_md_table(fail_headers, fail_rows), ""]
        hb.append(_html_table(fail_headers, fail_rows))
    else:
        md += ["None.", ""]
        hb.append("<p>None.</p>")

    if telemetry:
        keys = [k for k in sorted(telemetry) if isinstance(telemetry[k], int | float)]
        rows = [[k, float(telemetry[k])] for k in keys]
        md += ["## LLM pool", "", _md_table(["figure", "value"], rows), ""]
        hb += ["<h2>LLM pool</h2>", _html_table(["figure", "value"], rows)]

    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text("\n".join(md))
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(sweep.name)}</title>"
        f"<style>{_CSS}</style></head><body>{''.join(hb)}</body></html>"
    )
    html_path.write_text(page)
    return md_path, html_path
