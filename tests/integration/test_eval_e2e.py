"""``mesaverse eval`` end to end: a tiny sweep, the real model, a real Ray cluster, one shared pool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sim.evaluation.metrics import load_log

pytestmark = pytest.mark.slow

SCENARIO = {
    "name": "tiny",
    "population": {"count": 3, "llm_share": 1.0},
    "llm": {"max_new_tokens": 8, "device": "cpu"},
    "run": {"checkpoint_every": 0},
}


def test_tiny_sweep_with_the_real_model_gives_a_row_per_run_and_a_report(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(SCENARIO))
    sweep = {
        "name": "tiny",
        "scenarios": ["tiny.yaml"],
        "grid": {"economy.tax_rate": [0.0, 0.2]},
        "seeds": 2,
        "ticks": 2,
        "metrics": ["moderation.messages", "dialogue.persona_consistency", "survey.mood"],
        "survey": [{"id": "mood", "text": "How was your day?", "options": ["bad", "fine", "good"]}],
        "persona_samples": 4,
        "parallel": 4,
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    out = tmp_path / "ev"
    proc = subprocess.run(
        [sys.executable, "-c", "from sim.cli import main; main()", "eval", "sweep.yaml", "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == str(out / "report.html")

    results = pd.read_parquet(out / "results.parquet")
    assert len(results) == 2 * 2  # settings x seeds
    assert results["status"].tolist() == ["finished"] * 4, results["error"].tolist()
    assert sorted(results["param.economy.tax_rate"]) == [0.0, 0.0, 0.2, 0.2]
    assert results["run.ticks"].tolist() == [2.0] * 4
    # every avatar answered: scores are in 1..3, and the store holds one interview per avatar
    assert results["survey.mood"].between(1, 3).all()
    for key in results["key"]:
        log = load_log(out / "runs" / key / "events.db")
        assert (log.events["kind"] == "interview").sum() == 3
    report = (out / "report.md").read_text()
    assert "| scenario | setting | n | mean | ci95_low | ci95_high |" in report
    assert "| tiny | economy.tax_rate=0.0 | 2 |" in report
    assert "## LLM pool" in report
    assert "<svg" in (out / "report.html").read_text()
